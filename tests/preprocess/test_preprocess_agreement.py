"""The fast path agrees with the standard slow path (register, then downsample).

Tolerances (docs/ingest.md): disk centre within 0.25 grid px -- measured as the
sub-pixel shift between fast and slow images and as the disk centroid -- and
mean relative intensity difference on the disk below 1 %, i.e.
|mean_disk(fast) / mean_disk(slow) - 1| < 0.01. The per-pixel mean absolute
relative difference is asserted as well: < 1 % except on sunpy's 128-pixel
(19 arcsec/pixel) test file, where structure at the pixel scale makes cubic
interpolation and box averaging differ by a few percent pixel by pixel
(< 3 %) while agreeing on average.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from monitor.grid import ModelGrid
from monitor.ingest import read_observation
from monitor.ingest.samples import SyntheticSpec, real_sample_paths, write_synthetic_fits
from monitor.preprocess import PreprocessSettings, preprocess_detailed
from monitor.preprocess.reference import (
    aiapy_available,
    aiapy_register_reference,
    register_reference,
)

SAMPLES = real_sample_paths()
CENTRE_TOL_PX = 0.25
MEAN_TOL = 0.01


def disk_centroid(image: np.ndarray, grid: ModelGrid) -> tuple[float, float]:
    """Disk centre from a soft threshold at 30-70 % of the disk median (0-based x, y)."""
    yy, xx = np.mgrid[0:grid.size, 0:grid.size]
    rr = np.hypot(xx - grid.center, yy - grid.center) / grid.radius_px
    median = np.nanmedian(image[rr < 0.8])
    weight = np.clip((np.nan_to_num(image) - 0.3 * median) / (0.4 * median), 0.0, 1.0)
    weight[rr > 1.1] = 0.0
    return float((weight * xx).sum() / weight.sum()), float((weight * yy).sum() / weight.sum())


def subpixel_shift(moving: np.ndarray, fixed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares shift d (x, y) with moving(p + d) ~ fixed(p) (one Lucas-Kanade step)."""
    gy, gx = np.gradient(moving)
    m = binary_erosion(mask, iterations=2)
    residual = (fixed - moving)[m]
    normal = np.array([[np.sum(gx[m] ** 2), np.sum(gx[m] * gy[m])],
                       [np.sum(gx[m] * gy[m]), np.sum(gy[m] ** 2)]])
    return np.linalg.solve(normal, np.array([np.sum(gx[m] * residual),
                                             np.sum(gy[m] * residual)]))


def compare(fast: np.ndarray, slow: np.ndarray, coverage: np.ndarray, grid: ModelGrid
            ) -> dict[str, float]:
    """Shift, disk-mean ratio and per-pixel relative difference of two grid images."""
    yy, xx = np.mgrid[0:grid.size, 0:grid.size]
    rr = np.hypot(xx - grid.center, yy - grid.center) / grid.radius_px
    ok = np.isfinite(slow) & (coverage >= 0.999)
    disk = ok & (rr < 0.98)
    assert disk.sum() > 100, "too few comparable disk pixels"
    shift = subpixel_shift(np.where(ok, fast, 0.0).astype(np.float64),
                           np.where(ok, slow, 0.0).astype(np.float64), ok)
    return {"shift": float(np.hypot(*shift)),
            "mean_ratio_error": float(abs(fast[disk].mean() / slow[disk].mean() - 1.0)),
            "pixel_rel": float(np.mean(np.abs(fast[disk] - slow[disk]) / slow[disk]))}


def _run(path: Path, size: int, settings: PreprocessSettings | None = None):
    result = read_observation(path)
    assert result.ok, result.rejection
    grid = ModelGrid(size)
    fast = preprocess_detailed(result.observation, result.image, grid, settings)
    slow = register_reference(result.observation, result.image, grid)
    return result, grid, fast, slow


@pytest.mark.parametrize(("name", "size", "pixel_tol"), [
    ("aia_171_level1", 64, 0.03),
    ("aia_171_level1", 32, 0.01),
    ("aia_193_jp2", 128, 0.01),
    ("aia_193_jp2", 64, 0.01),
])
def test_preprocess_real_full_disk_agrees_with_slow_path(name: str, size: int,
                                                         pixel_tol: float) -> None:
    path = SAMPLES[name]
    if path is None:
        pytest.skip(f"sample {name} is not installed")
    _, grid, fast, slow = _run(path, size)
    metrics = compare(fast.data, slow, fast.coverage, grid)
    assert metrics["shift"] < CENTRE_TOL_PX, metrics
    assert metrics["mean_ratio_error"] < MEAN_TOL, metrics
    assert metrics["pixel_rel"] < pixel_tol, metrics
    fast_centre = np.array(disk_centroid(fast.data, grid))
    slow_centre = np.array(disk_centroid(slow, grid))
    assert np.hypot(*(fast_centre - slow_centre)) < CENTRE_TOL_PX


def test_preprocess_real_rice_cutout_agrees_with_slow_path() -> None:
    """The cutout lies wholly on the disk, away from centre: compare where it covers."""
    path = SAMPLES["aia_171_cutout"]
    if path is None:
        pytest.skip("sunkit-image's aia_171_cutout.fits is not installed")
    _, grid, fast, slow = _run(path, 512, PreprocessSettings(min_grid_coverage=0.01))
    assert 0.02 < fast.covered_fraction < 0.05
    metrics = compare(fast.data, slow, fast.coverage, grid)
    assert metrics["shift"] < CENTRE_TOL_PX, metrics
    assert metrics["mean_ratio_error"] < MEAN_TOL, metrics
    assert metrics["pixel_rel"] < 0.01, metrics
    # Where the grid is not covered, the fill value is written.
    assert np.all(fast.data[fast.coverage < 0.5] == 0.0)


@pytest.mark.skipif(not aiapy_available(), reason="aiapy is not installed")
@pytest.mark.parametrize("size", [32, 64])
def test_preprocess_matches_aiapy_register(size: int) -> None:
    path = SAMPLES["aia_171_level1"]
    if path is None:
        pytest.skip("sunpy's aia_171_level1.fits is not installed")
    result, grid, fast, _ = _run(path, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = aiapy_register_reference(str(path), result.observation, grid)
    metrics = compare(fast.data, slow, fast.coverage, grid)
    assert metrics["shift"] < CENTRE_TOL_PX, metrics
    assert metrics["mean_ratio_error"] < MEAN_TOL, metrics
    assert metrics["pixel_rel"] < 0.01, metrics


SYNTHETIC = [
    # size, grid, centre offset (px), CROTA2 (deg), RSUN_OBS, scene
    (2048, 256, (13.3, -7.6), 0.0, 950.0, "analytic"),
    (2048, 256, (-20.7, 11.2), 2.5, 975.0, "analytic"),
    (2048, 256, (40.0, 25.0), 45.0, 960.0, "analytic"),
    (2048, 256, (5.5, 3.1), 30.0, 968.0, "real"),
    (1024, 256, (0.0, 0.0), 0.02, 944.0, "analytic"),
    (1024, 128, (-3.3, 2.9), -0.1, 955.0, "real"),
]


@pytest.mark.parametrize(("size", "grid_size", "offset", "crota2", "rsun", "scene"), SYNTHETIC)
def test_preprocess_synthetic_pointing_and_rotation(
        tmp_path: Path, size: int, grid_size: int, offset: tuple[float, float], crota2: float,
        rsun: float, scene: str) -> None:
    path = tmp_path / "syn.fits"
    write_synthetic_fits(path, SyntheticSpec(size=size, center_offset_px=offset, crota2=crota2,
                                             rsun_obs=rsun, scene=scene))  # type: ignore[arg-type]
    _, grid, fast, slow = _run(path, grid_size)
    metrics = compare(fast.data, slow, fast.coverage, grid)
    assert metrics["shift"] < CENTRE_TOL_PX, metrics
    assert metrics["mean_ratio_error"] < MEAN_TOL, metrics
    assert metrics["pixel_rel"] < 0.01, metrics
    if scene == "analytic":  # symmetric disk: its centroid is the truth
        cx, cy = disk_centroid(fast.data, grid)
        assert np.hypot(cx - grid.center, cy - grid.center) < CENTRE_TOL_PX / 5


def test_preprocess_real_scene_repointed_matches_centred_copy(tmp_path: Path) -> None:
    """Truth for the real-Sun scene: an offset, rotated file lands where the centred one does."""
    grid = ModelGrid(128)
    images = []
    for name, offset, crota2 in (("centred", (0.0, 0.0), 0.0), ("moved", (37.0, -21.5), 12.0)):
        path = tmp_path / f"{name}.fits"
        write_synthetic_fits(path, SyntheticSpec(size=1024, center_offset_px=offset,
                                                 crota2=crota2, scene="real", seed=3))
        result = read_observation(path)
        assert result.ok, result.rejection
        images.append(preprocess_detailed(result.observation, result.image, grid))
    ok = (images[0].coverage >= 0.999) & (images[1].coverage >= 0.999)
    shift = subpixel_shift(images[1].data.astype(np.float64), images[0].data.astype(np.float64),
                           ok)
    assert np.hypot(*shift) < CENTRE_TOL_PX / 2
    disk = ok & (images[0].data > np.percentile(images[0].data, 60))
    ratio = images[1].data[disk].mean() / images[0].data[disk].mean()
    assert abs(ratio - 1) < MEAN_TOL


def test_preprocess_full_resolution_4096_to_512(tmp_path: Path) -> None:
    """The production case: a full-resolution RICE file with pointing offset and roll."""
    path = tmp_path / "full.fits"
    write_synthetic_fits(path, SyntheticSpec(size=4096, center_offset_px=(-17.25, 9.5),
                                             crota2=0.6, rsun_obs=972.0, scene="real",
                                             blank_fraction=0.002))
    result, grid, fast, slow = _run(path, 512)
    assert fast.box_px == 8
    assert result.image is not None and (result.image.n_invalid or 0) > 0
    metrics = compare(fast.data, slow, fast.coverage, grid)
    assert metrics["shift"] < CENTRE_TOL_PX, metrics
    assert metrics["mean_ratio_error"] < MEAN_TOL, metrics
    assert metrics["pixel_rel"] < 0.01, metrics
