"""``sdo-monitor reality`` on the real data folder, both worlds."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
SDO_MONITOR = Path(sys.executable).parent / "sdo-monitor"

pytestmark = pytest.mark.skipif(not (REAL / "eve_megsa_flares.npz").exists(),
                                reason=f"real observations not present at {REAL}")


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SDO_MONITOR), "reality", "--real-data", str(REAL), "--out", str(out),
         "--quiet-samples", "8", "--flares-per-class", "4", "--disk-samples", "1", *extra],
        check=False, capture_output=True, text=True, timeout=300, env={**os.environ})


@pytest.mark.parametrize("world", ["v1", "v2"])
def test_reality_report_has_every_row_with_numbers(tmp_path: Path, world: str) -> None:
    done = _run(tmp_path, "--world", world)
    assert done.returncode == 0, done.stderr
    assert "quantity" in done.stdout and "targets met" in done.stdout
    doc = json.loads((tmp_path / "reality_report.json").read_text())
    assert doc["world"] == world
    rows = doc["rows"]
    sections = {r["section"] for r in rows}
    assert sections == {"a", "b", "c", "d", "e"}
    quiet = [r for r in rows if r["section"] == "a"]
    assert len(quiet) == 14
    disk = [r for r in rows if r["quantity"].startswith("full-disk mean")]
    assert len(disk) == 7
    for r in quiet + disk:
        assert math.isfinite(r["real"]) and r["real"] > 0
        assert math.isfinite(r["synthetic"]) and r["synthetic"] > 0
        assert r["met"] in (True, False)
    m1 = [r for r in rows if r["section"] == "b" and ">=M1" in r["quantity"]]
    assert len(m1) == 14 * 3
    assert sum(r["met"] is not None for r in m1) >= 14
    region = [r for r in rows if r["section"] == "c" and "rise per GOES" in r["quantity"]]
    assert len(region) == 15 and all(r["real"] is not None for r in region)
    assert {r["quantity"].split(" rise")[0] for r in rows if r["section"] == "e"} == {
        "Fe XX 13.29", "Fe XVIII 9.39"}
    shape = [r for r in rows if r["quantity"].startswith("JP2 ")]
    assert {r["quantity"].split(" Å")[0] for r in shape} == {"JP2 171", "JP2 193", "JP2 304"}
    assert len(shape) == 4 * 8                     # 4 images x (3 quantiles + 5 radii)
    assert all(math.isfinite(r["synthetic"]) for r in shape)
    assert sum(r["real"] is not None for r in shape) >= 24    # clipped rings are n/a
    md = (tmp_path / "reality_report.md").read_text()
    assert "| quantity | real | synthetic | target | met |" in md
    for name in doc["figures"]:
        assert (tmp_path / name).stat().st_size > 10_000
    assert set(doc["figures"]) == {"eve_profiles.png", "quiet_levels.png", "aia_response.png"}


def test_reality_refuses_a_folder_without_the_data(tmp_path: Path) -> None:
    empty = tmp_path / "real"
    empty.mkdir()
    done = subprocess.run([str(SDO_MONITOR), "reality", "--real-data", str(empty), "--out",
                           str(tmp_path / "out")], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "real data unreadable (missing)" in done.stderr
    assert "Traceback" not in done.stderr
