"""Geometry: the projection matches astropy's WCS, the observer matches sunpy's ephemeris."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from sunpy.coordinates import sun

from monitor.grid import ModelGrid
from monitor.synth.geometry import (
    ImageGeometry,
    impact_parameter_map,
    noaa_location,
    observer_at,
    observer_fast,
)


def _wcs(geometry: ImageGeometry) -> WCS:
    header = fits.Header()
    for key, value in (("NAXIS", 2), ("NAXIS1", geometry.size), ("NAXIS2", geometry.size),
                       ("CTYPE1", "HPLN-TAN"), ("CTYPE2", "HPLT-TAN"), ("CUNIT1", "arcsec"),
                       ("CUNIT2", "arcsec"), ("CRVAL1", 0.0), ("CRVAL2", 0.0),
                       ("CDELT1", geometry.cdelt_arcsec), ("CDELT2", geometry.cdelt_arcsec),
                       ("CRPIX1", geometry.crpix1), ("CRPIX2", geometry.crpix2),
                       ("CROTA2", geometry.crota2_deg)):
        header[key] = value
    return WCS(header)


@pytest.mark.parametrize("crota", [0.0, 0.03, 7.0])
def test_projection_matches_astropy_wcs(crota: float) -> None:
    geometry = ImageGeometry.aia(4096, offset_px=(6.5, -3.2), crota2_deg=crota)
    rng = np.random.default_rng(0)
    tx, ty = rng.uniform(-1200, 1200, 200), rng.uniform(-1200, 1200, 200)
    x, y = geometry.hpc_to_pixel(tx, ty)
    wx, wy = _wcs(geometry).world_to_pixel_values(tx / 3600, ty / 3600)
    assert np.max(np.abs(x - wx)) < 1e-6 and np.max(np.abs(y - wy)) < 1e-6
    back_tx, back_ty = geometry.pixel_to_hpc(x, y)
    assert np.max(np.abs(back_tx - tx)) < 1e-8 and np.max(np.abs(back_ty - ty)) < 1e-8


def test_binned_geometry_keeps_the_sun_in_place() -> None:
    full = ImageGeometry.aia(4096, offset_px=(8.0, -4.0))
    small = ImageGeometry.aia(1024, offset_px=(8.0, -4.0))
    regrown = small.with_size(4096)
    assert (regrown.crpix1, regrown.crpix2) == pytest.approx((full.crpix1, full.crpix2))
    assert regrown.cdelt_arcsec == pytest.approx(full.cdelt_arcsec)
    x_full, y_full = full.hpc_to_pixel(np.array([300.0]), np.array([-150.0]))
    x_small, y_small = small.hpc_to_pixel(np.array([300.0]), np.array([-150.0]))
    # 4x4 binning: small pixel i covers full pixels 4i..4i+3, centre at 4i + 1.5.
    assert x_full[0] == pytest.approx(4 * x_small[0] + 1.5)
    assert y_full[0] == pytest.approx(4 * y_small[0] + 1.5)
    assert small.full_res_pixels_per_pixel == pytest.approx(16)


def test_observer_matches_sunpy_ephemeris() -> None:
    when = datetime(2014, 3, 5, 7, 0, tzinfo=UTC)
    observer = observer_at(when)
    assert observer.hglt_deg == pytest.approx(sun.B0(when).deg, abs=0.01)
    earth = sun.earth_distance(when).to_value("m")
    assert abs(observer.dsun_m - earth) < 50_000_000  # SDO is ~42,000 km from the Earth
    assert abs(observer.hgln_deg) < 0.02
    fast = observer_fast(63.3)
    assert fast.hglt_deg == pytest.approx(observer.hglt_deg, abs=0.05)
    assert fast.dsun_m == pytest.approx(observer.dsun_m, rel=5e-4)  # Earth vs SDO


def test_limb_of_impact_parameter_map_is_at_rsun() -> None:
    observer = observer_fast(100.0)
    geometry = ImageGeometry.model_grid(ModelGrid(512), observer.rsun_obs_arcsec)
    rho = impact_parameter_map(geometry, observer.distance_rsun)
    centre = round(ModelGrid(512).center)
    row = rho[centre]
    limb_px = np.interp(1.0, row[centre:], np.arange(centre, 512)) - ModelGrid(512).center
    assert limb_px == pytest.approx(ModelGrid(512).radius_px, abs=0.05)


def test_noaa_location_strings() -> None:
    assert noaa_location(15.2, 30.4) == "N15W30"
    assert noaa_location(-8.0, -62.6) == "S08E63"
