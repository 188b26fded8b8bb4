"""A reality report read back for a model card: checked field by field, misses kept."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.reality.compare import Row
from monitor.reality.report import ReportError, read_report, write_report
from monitor.train.report import reality_section

SDO_MONITOR = Path(sys.executable).parent / "sdo-monitor"
ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    Row("a", "quiet Fe IX 17.11", 6.1e-05, 6.0e-05, "±25 %", True, "W m^-2"),
    Row("a", "model: quiet Fe XX 13.29", 1e-06, 0.00773, "±25 %", False, "W m^-2"),
    Row("a", "model: quiet He II 30.38", 0.000564, 0.000466, "±25 %", True, "W m^-2"),
    Row("e", "Fe XX rise vs GOES peak: log-log slope", 1.12, math.nan),
]


def test_report_round_trip_keeps_misses_and_unmeasured_values(tmp_path: Path) -> None:
    write_report(tmp_path, ROWS, "v2", [], [], {"quiet_samples": 400, "seed": 0})
    doc = read_report(tmp_path / "reality_report.json")
    assert doc["world"] == "v2" and doc["summary"] == "2 of 3 targets met"
    assert doc["settings"] == {"quiet_samples": 400, "seed": 0}
    assert doc["rows"][3]["synthetic"] is None    # NaN is stored as null, read back as n/a
    text = "\n".join(reality_section(doc))
    assert "## Against real data (world v2)" in text
    assert "2 of 3 targets met; the model rows alone: 1 of 2 targets met" in text
    assert "(quiet samples 400, seed 0)" in text
    assert "| a. model: quiet Fe XX 13.29 [W m^-2] | 1e-06 | 0.00773 | ±25 % | NO |" in text
    assert "| e. Fe XX rise vs GOES peak: log-log slope | 1.12 | n/a | — | — |" in text


@pytest.mark.parametrize("content,reason", [
    (None, "missing"),
    ("{not json", "unreadable"),
    (json.dumps({"world": "v2", "rows": {}}), "not_a_report"),
    (json.dumps({"rows": []}), "not_a_report"),
    (json.dumps({"world": "v2", "rows": []}), "empty"),
    (json.dumps({"world": "v2", "rows": [{"section": "a", "quantity": "q", "real": "1",
                                          "synthetic": 1.0}]}), "bad_row"),
    (json.dumps({"world": "v2", "rows": [{"section": "a", "quantity": "q", "real": 1.0,
                                          "synthetic": 1.0, "met": "yes"}]}), "bad_row"),
    (json.dumps({"world": "v2", "rows": [{"section": "", "quantity": "q", "real": 1.0,
                                          "synthetic": 1.0}]}), "bad_row"),
])
def test_a_file_that_is_not_a_report_is_refused_with_a_reason(
        tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError) as info:
        read_report(path)
    assert info.value.reason == reason


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SDO_MONITOR), "train", "-c",
                           str(ROOT / "config" / "train-default.yaml"), *args],
                          check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ})


def test_train_refuses_a_bad_reality_report_before_evaluating(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"world": "v2", "rows": "none"}))
    done = _train("--evaluate", str(tmp_path / "no-package"), "--reality", str(bad),
                  "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "--reality: not a reality report (not_a_report)" in done.stderr
    assert "Traceback" not in done.stderr
    alone = _train("--reality", str(bad), "--out", str(tmp_path / "out"))
    assert alone.returncode == 2 and "--reality needs --evaluate" in alone.stderr
    assert not (tmp_path / "out").exists()
