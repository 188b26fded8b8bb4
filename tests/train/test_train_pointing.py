"""The pointing error: scoring on known positions, and the default package through files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.models import default_package_path, load_package
from monitor.train.filecheck import run_package
from monitor.train.pointing import Located, pointing_error
from monitor.train.sources import TwinDraw

NAN = float("nan")


def kernels(*rows: tuple[float, float, float]) -> np.ndarray:
    """``(K, 5)`` kernel rows from ``(x, y, visible)``."""
    out = np.full((3, 5), np.nan)
    for i, (x, y, visible) in enumerate(rows):
        out[i] = (x, y, 1.0, 1.0 / len(rows), visible)
    return out


def test_scoring_uses_the_loop_top_and_the_plate_scale() -> None:
    located = Located(
        cam_xy=np.array([[100.0, 100.0], [60.0, 60.0], [0.0, 0.0], [10.0, 10.0], [5.0, 5.0]]),
        flare_xy=np.array([[103.0, 104.0], [50.0, 51.0], [0.0, 0.0], [NAN, NAN], [5.0, 5.0]]),
        cam_area_msh=np.array([80000.0, 60000.0, 1.0, 70000.0, 1.0]),
        flare_area_msh=np.array([200.0, 100.0, 1.0, NAN, 1.0]),
        arcsec_per_px=np.array([10.0, 5.0, 10.0, 10.0, 10.0]))
    truth = np.stack([
        kernels((100.0, 100.0, 1.0), (103.0, 104.0, 1.0)),  # loop top at the CAM, not the flare
        kernels((70.0, 70.0, 0.0), (50.0, 50.0, 1.0), (90.0, 90.0, 1.0)),  # loop top hidden
        kernels((0.0, 0.0, 1.0)),                            # no flare predicted: not scored
        kernels((10.0, 10.0, 1.0)),                          # predicted, nothing located
        kernels((5.0, 5.0, 1.0))])                           # true class none: not scored
    result = pointing_error(located, truth, np.array([2, 1, 3, 1, 0]), np.array([2, 2, 0, 3, 1]))
    assert result["frames"] == 3 and result["located"] == 2
    # Flare 0: 5 px from the loop top at 10"/px; flare 1: 1 px from the nearest kernel at 5"/px.
    assert result["median_arcsec"] == pytest.approx(27.5)
    assert result["max_arcsec"] == pytest.approx(50.0)
    cam = result["cam_region"]
    assert cam["located"] == 3 and cam["max_arcsec"] == pytest.approx(0.0 + 14.142 * 5, abs=0.01)
    assert result["area_msh"]["median"] == pytest.approx(150.0)
    assert cam["area_msh"]["median"] == pytest.approx(70000.0)


@pytest.fixture(scope="module")
def package():   # type: ignore[no-untyped-def]
    return load_package(default_package_path(), verify=True)


def test_default_package_locates_flares_in_files_within_its_goal(package) -> None:  # type: ignore[no-untyped-def]
    """Fresh Suns (seed 9001, used by no training config) as 1024 px FITS files."""
    data = json.loads((package.path / "metrics.json").read_text())["data"]
    twin = TwinDraw(size=256, channels=package.manifest.input.channels, seed=9001,
                    class_mix=tuple(data["class_mix"]), max_regions=data["max_regions"],
                    noise=True, file_size=1024, world=data["world"])
    frames = []
    for i in range(10):
        try:
            frames.append(twin.frame(i))
        except RuntimeError:
            continue   # ingest refused a file, as the daemon would
    samples = [s for s, _ in frames]
    pred = run_package(package, [s[0] for s in samples], geometries=[g for _, g in frames])
    rows = np.full((len(samples), 3, 5), np.nan)
    for i, s in enumerate(samples):
        rows[i, :len(s[4])] = s[4][:3]
    result = pointing_error(pred.location, rows, np.array([s[1] for s in samples]),
                            pred.predicted)
    assert result["frames"] >= 4 and result["located"] == result["frames"], result
    assert result["median_arcsec"] <= 30.0 and result["p90_arcsec"] <= 90.0, result
    # Flare areas a forecaster can read (real flaring regions: 100-3,000 MSH), far below
    # the CAM region's, whose extent is that of a 16 px feature map.
    assert 20.0 <= result["area_msh"]["p10"] and result["area_msh"]["p90"] <= 3000.0, result
    assert result["cam_region"]["area_msh"]["median"] > 20 * result["area_msh"]["median"]
