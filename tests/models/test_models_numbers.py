"""A package's key numbers from its metrics.json (the model card's promise), never raising."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.models.layout import default_package_path
from monitor.models.numbers import card_numbers


def test_the_shipped_package_promises_its_measured_tss() -> None:
    numbers = card_numbers(default_package_path())
    metrics = json.loads((default_package_path() / "metrics.json").read_text())
    assert numbers.status == "evaluated"
    tss_m = next(t for t in numbers.targets if t.target == "TSS >= M")
    assert tss_m.met is True and tss_m.goal == ">= 0.9"
    assert numbers.test_tss is not None and numbers.test_hss is not None
    assert numbers.test_tss["M"] == metrics["test"]["classification"]["thresholds"][">=M"]["tss"]
    assert set(numbers.test_tss) == {"C", "M", "X"}
    assert numbers.to_dict()["targets"][0]["target"] == numbers.targets[0].target


def test_missing_broken_or_odd_files_give_a_status_and_no_numbers(tmp_path: Path) -> None:
    assert card_numbers(tmp_path).status == "missing"
    (tmp_path / "metrics.json").write_text("{not json")
    assert card_numbers(tmp_path).status == "unreadable"
    (tmp_path / "metrics.json").write_text("[1, 2]")
    assert card_numbers(tmp_path).status == "unreadable"
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"status": "not evaluated", "targets": 7, "test": {"classification": "x"}}))
    odd = card_numbers(tmp_path)
    assert (odd.status, odd.targets, odd.test_tss) == ("not evaluated", (), None)
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"targets": [{"target": "TSS >= M", "value": "high", "met": "yes"}, "junk"]}))
    [target] = card_numbers(tmp_path).targets
    assert (target.value, target.met) == (None, None)
