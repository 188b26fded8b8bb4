"""``sdo-monitor inspect`` on real files: verdict, header, geometry, degradation, grid, preview."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.grid import ModelGrid
from monitor.ingest.samples import real_sample_paths

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("sdo-monitor")
REAL = ROOT.parent / "shared" / "data" / "real"
JP2 = REAL / "aia_jp2"
V9 = REAL / "aia_degradation_v9"
SAMPLES = real_sample_paths()


def _inspect(*args: str) -> tuple[int, list[dict], str]:
    done = subprocess.run([str(EXE), "inspect", "--json", *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=ROOT)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _v9_factor(channel: int, t: datetime) -> float:
    """The factor at ``t`` read straight from the v9 source CSV (linear between daily rows)."""
    rows = [(datetime.fromisoformat(r[0] + "+00:00"), float(r[1]))
            for r in csv.reader((V9 / f"degrad_{channel}.csv").read_text().splitlines())]
    for (t0, f0), (t1, f1) in itertools.pairwise(rows):
        if t0 <= t <= t1:
            return f0 + (f1 - f0) * (t - t0).total_seconds() / (t1 - t0).total_seconds()
    raise AssertionError(f"{t} outside the v9 table")


def _limb_is_drawn(png: Path, size: int) -> None:
    """The preview's limb circle (yellow) sits on the model grid's radius."""
    import matplotlib.image

    rgb = matplotlib.image.imread(png)[..., :3]
    yellow = (rgb[..., 0] > 0.8) & (rgb[..., 1] > 0.6) & (rgb[..., 2] < 0.3)
    ys, xs = np.nonzero(yellow)
    assert len(xs) > 200, "no limb drawn"
    cx, cy = xs.mean(), ys.mean()
    radii = np.hypot(xs - cx, ys - cy)
    # a circle: every yellow pixel at one radius, which is the grid's limb scaled to the axes
    assert radii.std() < 0.02 * radii.mean()
    grid = ModelGrid(size)
    assert radii.mean() / rgb.shape[0] == pytest.approx(grid.radius_px / size * 0.85, rel=0.15)


def test_inspect_real_helioviewer_jp2(tmp_path: Path) -> None:
    if not JP2.is_dir() or not V9.is_dir():
        pytest.skip(f"real data folder {JP2} or {V9} is absent (shared data not mounted)")
    files = sorted(JP2.glob("*.jp2"))
    assert len(files) == 4
    code, reports, err = _inspect("--png", str(tmp_path), *map(str, files))
    assert code == 0, err
    assert len(reports) == 4
    for path, report in zip(files, reports):
        assert report["verdict"] == "accepted" and report["reason"] is None
        header, geometry = report["header"], report["geometry"]
        assert header["channel"] == int(path.stem.rsplit("_", 1)[1])
        assert header["format"] == "jp2" and header["level"] == 1.5
        assert header["instrument"].startswith("AIA_")
        assert header["quality_bits"] == ["near_real_time"]  # Helioviewer serves NRT data
        assert 940 < geometry["radius_arcsec"] < 980
        naxis = geometry["naxis"][0]
        assert geometry["disk_center_px"] == pytest.approx([(naxis - 1) / 2] * 2, abs=1.0)
        assert geometry["roll_deg"] == pytest.approx(0.0, abs=0.01)  # level 1.5: north up
        t_obs = datetime.fromisoformat(header["t_obs"])
        degradation = report["degradation"]
        assert degradation["table"] == "builtin" and degradation["extrapolated_days"] == 0
        assert degradation["factor"] == pytest.approx(_v9_factor(header["channel"], t_obs),
                                                      rel=1e-9)
        stats = report["grid"]["dn_per_s"]
        assert stats["disk_mean"] > 2 * stats["off_disk_mean"] > 0  # the disk is on the grid
        _limb_is_drawn(Path(report["png"]), report["grid"]["size"])
    by_name = {Path(r["path"]).name: r for r in reports}
    # 304 A had lost 94 % of its sensitivity by 2021: the correction is a factor ~17
    assert by_name["2021_06_01__00_01_29_132__SDO_AIA_AIA_304.jp2"]["degradation"]["factor"] \
        == pytest.approx(0.0593, abs=0.0005)


def test_inspect_real_level1_fits_with_and_without_correction(tmp_path: Path) -> None:
    path = SAMPLES["aia_171_level1"]
    if path is None:
        pytest.skip("sunpy's aia_171_level1.fits test file is not installed")
    config = tmp_path / "none.yaml"
    config.write_text("preprocess:\n  degradation_table: none\n")
    code, (corrected,), err = _inspect(str(path))
    assert code == 0, err
    code, (plain,), err = _inspect("-c", str(config), str(path))
    assert code == 0, err
    header = corrected["header"]
    assert (header["instrument"], header["channel"], header["level"]) == ("AIA_3", 171, 1.0)
    assert header["t_obs"] == "2011-02-15T00:00:01.340000+00:00"
    assert header["exposure_s"] == pytest.approx(2.000191) and header["quality_bits"] == []
    assert corrected["geometry"]["roll_deg"] == pytest.approx(0.019413, abs=1e-5)
    factor = corrected["degradation"]["factor"]
    assert 0.9 < factor < 1.0 and plain["degradation"] is None
    ratio = corrected["grid"]["dn_per_s"]["mean"] / plain["grid"]["dn_per_s"]["mean"]
    assert ratio == pytest.approx(1 / factor, rel=1e-5)
    if V9.is_dir():
        t_obs = datetime.fromisoformat(header["t_obs"])
        assert factor == pytest.approx(_v9_factor(171, t_obs), rel=1e-9)


def test_inspect_refusals_name_the_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"this is not a FITS file".ljust(2880, b" "))
    args = [str(junk)]
    cutout = SAMPLES["aia_171_cutout"]
    if cutout is not None:
        args.append(str(cutout))
    code, reports, err = _inspect(*args)
    assert code == 1, err
    assert reports[0]["verdict"] == "refused" and reports[0]["reason"] == "unknown_format"
    assert reports[0]["message"] and "Traceback" not in err
    if cutout is not None:
        # a real RICE level-1 cutout: readable, but too little of the grid for the model
        assert reports[1]["reason"] == "no_grid_overlap"
        assert reports[1]["header"]["channel"] == 171
        assert reports[1]["geometry"]["radius_px"] == pytest.approx(1611.47, abs=0.01)
