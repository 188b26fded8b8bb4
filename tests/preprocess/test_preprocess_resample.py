"""The resampler is an exact area average, and the WCS -> grid map matches sunpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from monitor.grid import ModelGrid
from monitor.ingest import read_observation
from monitor.ingest.samples import real_sample_paths
from monitor.preprocess import GridMapping, area_resample, grid_mapping


def brute_box_mean(image: np.ndarray, invalid: np.ndarray | None, xc: float, yc: float,
                   w: int) -> tuple[float, float]:
    """Exact integral of the piecewise-constant image over the box, by overlap weights."""
    height, width = image.shape
    xs, ys = np.arange(width), np.arange(height)
    ox = np.clip(np.minimum(xs + 0.5, xc + w / 2) - np.maximum(xs - 0.5, xc - w / 2), 0, None)
    oy = np.clip(np.minimum(ys + 0.5, yc + w / 2) - np.maximum(ys - 0.5, yc - w / 2), 0, None)
    weight = np.outer(oy, ox)
    if invalid is not None:
        weight = weight * ~invalid
    total = weight.sum()
    mean = float((weight * np.nan_to_num(image)).sum() / total) if total > 0 else float("nan")
    return mean, float(total / (w * w))


def _mapping(footprint: float, angle_deg: float, offset: tuple[float, float], n: int,
             shape: tuple[int, int]) -> GridMapping:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return GridMapping(((footprint * c, -footprint * s), (footprint * s, footprint * c)),
                       offset, n, shape)


@pytest.mark.parametrize(("footprint", "angle", "offset"), [
    (8.0, 0.0, (3.5, 3.5)),      # integer-aligned: plain block means
    (8.3, 0.0, (2.7, 5.1)),      # fractional scale and offset
    (7.0, 0.0, (3.2, 3.9)),      # odd box
    (8.0, 0.3, (10.2, 4.4)),     # small roll
    (6.0, 40.0, (150.0, -20.0)),  # large roll, corners outside
    (0.7, 0.1, (1.3, 2.2)),      # upsampling: bilinear
    (8.0, 0.0, (-20.0, -9.0)),   # grid partly off the image
])
def test_preprocess_resample_is_exact_box_mean(footprint: float, angle: float,
                                               offset: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(-20, 16000, (256, 256)).astype(np.int16)
    mapping = _mapping(footprint, angle, offset, 32, image.shape)
    result = area_resample(image, mapping)
    x, y = mapping.input_coords()
    for v, u in [(0, 0), (5, 7), (31, 31), (16, 3), (20, 30), (1, 30), (31, 0)]:
        expected, coverage = brute_box_mean(image, None, x[v, u], y[v, u], result.box_px)
        assert result.coverage[v, u] == pytest.approx(coverage, abs=1e-9)
        if coverage > 0:
            assert result.mean[v, u] == pytest.approx(expected, rel=1e-6, abs=1e-3)
        else:
            assert np.isnan(result.mean[v, u])


def test_preprocess_resample_excludes_missing_pixels() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 1000, (256, 256)).astype(np.int16)
    invalid = rng.random(image.shape) < 0.1
    mapping = _mapping(8.3, 0.5, (2.7, 5.1), 32, image.shape)
    result = area_resample(np.where(invalid, np.int16(-32768), image), mapping, invalid=invalid)
    x, y = mapping.input_coords()
    for v, u in [(3, 4), (10, 20), (30, 2)]:
        expected, coverage = brute_box_mean(image, invalid, x[v, u], y[v, u], 8)
        assert result.mean[v, u] == pytest.approx(expected, rel=1e-6)
        assert result.coverage[v, u] == pytest.approx(coverage, abs=1e-6)
    as_float = np.where(invalid, np.nan, image.astype(np.float32))
    again = area_resample(as_float, mapping, invalid=~np.isfinite(as_float))
    np.testing.assert_allclose(again.mean, result.mean, rtol=1e-5)


def test_preprocess_resample_constant_and_threads_agree() -> None:
    image = np.full((1024, 1024), 1234, dtype=np.int16)
    mapping = _mapping(4.02, 0.2, (1.5, 2.5), 256, image.shape)
    one = area_resample(image, mapping, threads=1)
    two = area_resample(image, mapping, threads=2)
    inside = one.coverage >= 1.0
    assert inside.mean() > 0.95
    np.testing.assert_allclose(one.mean[inside], 1234.0, rtol=1e-6)
    np.testing.assert_array_equal(one.mean, two.mean)


def test_preprocess_resample_rejects_non_2d() -> None:
    with pytest.raises(ValueError):
        area_resample(np.zeros((2, 3, 4)), _mapping(1.0, 0.0, (0.0, 0.0), 4, (3, 4)))


def test_preprocess_mapping_matches_sunpy_wcs() -> None:
    """Grid pixels land where sunpy's full WCS (TAN included) puts their helioprojective point."""
    path = real_sample_paths()["aia_171_level1"]
    if path is None:
        pytest.skip("sunpy's aia_171_level1.fits is not installed")
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord

    result = read_observation(path)
    assert result.observation is not None
    grid = ModelGrid(64)
    mapping = grid_mapping(result.observation.geometry, grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smap = sunpy.map.Map(path)
    g = grid.arcsec_per_px(result.observation.geometry.rsun_obs)
    for u_px, v_px in [(grid.center, grid.center), (0.0, 0.0), (63.0, 10.0), (20.5, 50.25)]:
        tx, ty = g * (u_px - grid.center), g * (v_px - grid.center)
        pix = smap.world_to_pixel(SkyCoord(tx * u.arcsec, ty * u.arcsec,
                                           frame=smap.coordinate_frame))
        ours = mapping.to_input(u_px, v_px)
        assert ours == pytest.approx((pix.x.value, pix.y.value), abs=2e-3)
    centre = mapping.to_input(grid.center, grid.center)
    assert centre == pytest.approx(result.observation.geometry.sun_center_pixel(), abs=1e-9)
    assert mapping.to_grid(*centre) == pytest.approx((grid.center, grid.center))
    # The grid's solar radius is 1600/4096 of its width, whatever the file's plate scale.
    assert mapping.footprint_px * grid.radius_px == pytest.approx(
        result.observation.geometry.rsun_pixels(), rel=1e-9)


@pytest.mark.parametrize(("footprint", "angle", "offset"), [
    (8.3, 0.5, (2.7, 5.1)), (6.0, 40.0, (150.0, -20.0)), (0.7, 10.0, (1.3, 2.2)),
    (8.0, 0.0, (-20.0, -9.0)),
])
def test_preprocess_sparse_blank_correction_equals_mask(footprint: float, angle: float,
                                                        offset: tuple[float, float]) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 4000, (256, 256)).astype(np.int16)
    invalid = rng.random(image.shape) < 0.01
    invalid[100:102, 30:62] = True  # a lost packet
    image[invalid] = -32768
    mapping = _mapping(footprint, angle, offset, 32, image.shape)
    dense = area_resample(image, mapping, invalid=invalid)
    sparse = area_resample(image, mapping, invalid_index=np.flatnonzero(invalid))
    # The dense path interpolates its counts in float32: agreement to ~1e-7.
    np.testing.assert_allclose(sparse.coverage, dense.coverage, atol=1e-6)
    ok = dense.coverage > 0.05
    np.testing.assert_allclose(sparse.mean[ok], dense.mean[ok], rtol=1e-4)
    x, y = mapping.input_coords()
    for v, u in [(3, 4), (12, 5), (30, 30)]:
        expected, coverage = brute_box_mean(image, invalid, x[v, u], y[v, u], sparse.box_px)
        if coverage > 0.05:
            assert sparse.mean[v, u] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("angle", [0.0, 0.5, 40.0])
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_preprocess_resample_bands_equal_single_thread(angle: float, threads: int) -> None:
    rng = np.random.default_rng(4)
    image = rng.integers(0, 16000, (512, 512)).astype(np.int16)
    mapping = _mapping(8.1, angle, (-30.0, 12.0), 64, image.shape)
    one = area_resample(image, mapping, threads=1)
    many = area_resample(image, mapping, threads=threads)
    np.testing.assert_allclose(many.mean, one.mean, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(many.coverage, one.coverage)
