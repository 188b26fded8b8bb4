"""The ``goes`` config section through the project's typed YAML loader."""

from __future__ import annotations

import pytest

from monitor.goes.settings import GoesSettings
from monitor.typedyaml import ConfigError, build, parse_yaml


def load(text: str) -> GoesSettings:
    data, marks = parse_yaml(text, "<goes>")
    return build(GoesSettings, data, "<goes>", marks)


def test_defaults_and_overrides() -> None:
    settings = load("""
enabled: true
feed: {url: "http://127.0.0.1:8080/json/goes/primary/xrays-6-hour.json", poll_interval_s: 30}
verification:
  thresholds: [M, X]
  windows_s: {24h: 86400, 7d: 604800}
  horizon_s: 3600
""")
    assert settings.enabled and settings.feed.poll_interval_s == 30
    assert settings.verification.thresholds == ("M", "X")
    assert settings.verification.windows_s == {"24h": 86400.0, "7d": 604800.0}
    assert GoesSettings().verification.windows_s == {"24h": 86400.0, "27d": 27 * 86400.0}
    assert GoesSettings().feed.flux_scale == 1.0 and not GoesSettings().enabled


@pytest.mark.parametrize(("text", "path"), [
    ('feed: {url: "ftp://x"}', "feed.url"),
    ("feed: {backoff_initial_s: 10, backoff_max_s: 5}", "feed.backoff_max_s"),
    ("verification: {thresholds: [Q]}", "verification.thresholds[0]"),
    ('verification: {windows_s: {"a b": 10}}', "verification.windows_s"),
    ("verification: {probability_threshold: 0}", "verification.probability_threshold"),
    ("history_s: 7200", "history_s"),
])
def test_errors_name_the_yaml_path(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert any(issue.path == path for issue in info.value.issues), str(info.value)
