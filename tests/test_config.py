"""Configuration: examples load, every invalid config names its YAML path, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.commands.demo import demo_config
from monitor.config import Config, ConfigError, load_config, parse_config
from monitor.credentials import read_secret
from monitor.sources import SpoolFeedSettings
from monitor.typedyaml import override

ROOT = Path(__file__).resolve().parents[1]


def test_production_example_loads_with_operations_defaults() -> None:
    config = load_config(ROOT / "config" / "sdo-monitor.yaml")
    assert config.http.host == "127.0.0.1"
    assert config.kafka.security_protocol == "SASL_SSL"
    assert config.kafka.sasl_password_env == "SDO_MONITOR_KAFKA_PASSWORD"
    feed = config.feeds[0]
    assert isinstance(feed, SpoolFeedSettings)
    assert feed.channels == (94, 131, 171, 193, 211, 304, 335)


def test_demo_example_is_the_embedded_default() -> None:
    assert load_config(ROOT / "config" / "demo.yaml") == demo_config()
    assert demo_config().kafka.uses_local_broker


def test_empty_document_gives_defaults_that_bind_loopback() -> None:
    config = parse_config("")
    assert config == Config()
    assert config.http.host == "127.0.0.1"
    assert config.service.mode == "live"


SPOOL = "feeds:\n  - {kind: spool, name: aia, path: /s, %s}\n"

INVALID = [
    # (yaml, path that must be named, words the message must contain)
    (SPOOL % "cadence_s: -5", "feeds[0].cadence_s", "must be > 0, got -5"),
    ("http: {port: 70000}", "http.port", "<= 65535"),
    ("http: {port: eighty}", "http.port", "integer"),
    ("kafka: {topic_prefx: sdo}", "kafka.topic_prefx", "did you mean 'topic_prefix'"),
    ("servce: {}", "servce", "unknown key"),
    ("logging: {level: LOUD}", "logging.level", "one of"),
    ("service: {mode: fast}", "service.mode", "'live', 'replay'"),
    ("service: {queue_size: 0}", "service.queue_size", ">= 1"),
    ("service: {watchdog: 'yes'}", "service.watchdog", "true or false"),
    ("kafka: {bootstrap_servers: ['kafka1']}", "kafka.bootstrap_servers[0]", "host:port"),
    ("kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, sasl_username: u}",
     "kafka.sasl_password_env", "password"),
    ("kafka: {security_protocol: SASL_SSL, sasl_password_env: X, sasl_username: u}",
     "kafka.sasl_mechanism", "required"),
    ("feeds:\n  - {kind: ftp, name: x}", "feeds[0].kind", "one of"),
    ("feeds:\n  - {name: x, path: /s}", "feeds[0].kind", "required"),
    ("feeds:\n  - {kind: spool, name: x}", "feeds[0].path", "required"),
    (SPOOL % "channels: [171, 1234]", "feeds[0].channels", "one of"),
    (SPOOL % "after_processing: shred", "feeds[0].after_processing", "one of"),
    ("feeds:\n  - {kind: http, name: h, url: 'ftp://x', spool: /s}", "feeds[0].url", "http://"),
    ("feeds:\n  - {kind: spool, name: a, path: /s}\n  - {kind: spool, name: a, path: /t}",
     "feeds[1].name", "duplicate"),
    ("feeds: {kind: spool}", "feeds", "must be a list"),
    ("http: {token_env: A, token_file: /b}", "http.token_file", "not both"),
    ("kafka: {partitions: 2.5}", "kafka.partitions", "integer"),
    ("service: {drain_timeout_s: .nan}", "service.drain_timeout_s", "finite"),
    ("kafka:\n  local: {port: -1}", "kafka.local.port", ">= 0"),
    ("http:\n  port: 1\n  port: 2", "http.port", "duplicate key"),
    ("http: [1, 2]", "http", "must be a mapping"),
    ("feeds:\n  - {kind: spool, name: bad name!, path: /s}", "feeds[0].name", "letters"),
]


@pytest.mark.parametrize("text,path,words", INVALID, ids=[c[1] + ":" + c[2] for c in INVALID])
def test_invalid_config_names_the_yaml_path(text: str, path: str, words: str,
                                            tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file)
    rendered = info.value.render()
    matching = [i for i in info.value.issues if i.path == path]
    assert matching, rendered
    assert any(words in i.message for i in matching), rendered
    assert str(file) in rendered  # the file is named too


def test_invalid_yaml_syntax_reports_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("http:\n  port: 1\n  host: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert "not valid YAML" in info.value.render()
    assert info.value.issues[0].line is not None


def test_every_problem_is_reported_at_once_with_lines() -> None:
    text = textwrap.dedent("""\
        http:
          port: -1
        kafka:
          partitions: 0
        """)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "ops.yaml")
    by_path = {i.path: i for i in info.value.issues}
    assert set(by_path) == {"http.port", "kafka.partitions"}
    assert by_path["http.port"].line == 2
    assert by_path["kafka.partitions"].line == 4
    assert "ops.yaml:2: http.port" in info.value.render()


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "missing.yaml")


def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDO_TEST_TOKEN", "tok-123")
    config = parse_config("http: {token_env: SDO_TEST_TOKEN}")
    assert read_secret(config.http.token_env, config.http.token_file, "http") == "tok-123"


def test_missing_secret_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDO_TEST_ABSENT", raising=False)
    with pytest.raises(ConfigError, match="SDO_TEST_ABSENT is not set"):
        read_secret("SDO_TEST_ABSENT", None, "kafka.sasl_password_env")


def test_secret_from_credential_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("from-file\n")
    config = parse_config(
        f"kafka: {{security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, "
        f"sasl_username: u, sasl_password_file: {secret}}}")
    assert read_secret(None, config.kafka.sasl_password_file, "kafka") == "from-file"


def test_no_secret_configured_is_none() -> None:
    assert read_secret(None, None, "http.token_env") is None


def test_override_applies_nested_changes_and_ignores_unset_ones() -> None:
    base = Config()
    changed = override(base.inference, {"max_batch": 2, "tensorrt.engine_cache_dir": Path("/e"),
                                        "device": None})
    assert changed.max_batch == 2
    assert changed.tensorrt.engine_cache_dir == Path("/e")
    assert changed.device == base.inference.device
    assert override(load_config(ROOT / "config" / "sdo-monitor.yaml"), {}) == \
        load_config(ROOT / "config" / "sdo-monitor.yaml")


@pytest.mark.parametrize(("changes", "words"), [
    ({"max_batch": 0}, "max_batch: must be >= 1, got 0"),            # a bound
    ({"precision": "fp8"}, "precision: must be one of"),              # a Literal
    ({"backend": "torch_cpu", "precision": "fp16"}, "runs the fp32 graph"),  # check()
])
def test_override_validates_like_yaml(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        override(Config().inference, changes)
    assert words in str(err.value)
    assert "<command line>" in str(err.value)
