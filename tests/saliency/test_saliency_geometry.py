"""Grid pixels to solar coordinates: known Stonyhurst points come back where they were put."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from sunpy.coordinates import HeliographicStonyhurst, Helioprojective

from monitor.saliency import FrameGeometry, SaliencySettings, Target, explain_maps, noaa_location
from monitor.saliency.geometry import ARCSEC_PER_RAD

T_OBS = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)
SETTINGS = SaliencySettings(top_k=3)


def geometry(b0: float = 0.0, hgln: float = 0.0, size: int = 256) -> FrameGeometry:
    return FrameGeometry(t_obs=T_OBS, rsun_obs_arcsec=951.2, dsun_obs_m=1.5094e11,
                         hgln_obs_deg=hgln, hglt_obs_deg=b0, size=size)


def grid_px_of(g: FrameGeometry, lat: float, lon: float) -> tuple[float, float]:
    """Stonyhurst point -> HPC (sunpy, observer of the frame) -> grid px (TAN, written out)."""
    rsun = g.rsun_m * u.m
    observer = SkyCoord(g.hgln_obs_deg * u.deg, g.hglt_obs_deg * u.deg, g.dsun_obs_m * u.m,
                        frame=HeliographicStonyhurst(obstime=g.t_obs, rsun=rsun))
    point = SkyCoord(lon * u.deg, lat * u.deg, rsun,
                     frame=HeliographicStonyhurst(obstime=g.t_obs, rsun=rsun))
    hpc = point.transform_to(Helioprojective(observer=observer, obstime=g.t_obs, rsun=rsun))
    tx = hpc.Tx.to_value(u.rad)
    ty = hpc.Ty.to_value(u.rad)
    # Gnomonic projection written out, independent of the module's WCS.
    scale = g.arcsec_per_px / ARCSEC_PER_RAD
    x = g.grid.center + math.tan(tx) / scale
    y = g.grid.center + math.tan(ty) / math.cos(tx) / scale
    wx, wy = g.world_to_pixel(hpc.Tx.to_value(u.arcsec), hpc.Ty.to_value(u.arcsec))
    assert (float(wx), float(wy)) == pytest.approx((x, y), abs=1e-6)
    return x, y


def blob(size: int, x: float, y: float, sigma: float = 3.0, amp: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


def top_region(g: FrameGeometry, cam: np.ndarray):  # -> SaliencyRegion
    summary = explain_maps(cam[None], [Target("class", 2, "M", 0.9)], g, SETTINGS)
    regions = summary.targets[0].regions
    assert regions, "no region found"
    return regions[0]


@pytest.mark.parametrize(("lat", "lon", "b0", "expected"), [
    (15.0, 30.0, 0.0, "N15W30"),
    (15.0, 30.0, -6.8, "N15W30"),
    (-20.0, -45.0, 7.2, "S20E45"),
    (8.0, 62.0, 3.0, "N08W62"),
])
def test_stonyhurst_point_round_trips(lat: float, lon: float, b0: float, expected: str) -> None:
    g = geometry(b0=b0)
    x, y = grid_px_of(g, lat, lon)
    region = top_region(g, blob(g.size, x, y))
    assert region.on_disk is True
    assert region.hgs_lat_deg == pytest.approx(lat, abs=1.0)
    assert region.hgs_lon_deg == pytest.approx(lon, abs=1.0)
    assert region.noaa_location == expected
    assert (region.centroid_x_px, region.centroid_y_px) == pytest.approx((x, y), abs=0.05)


def test_b0_moves_the_disk_centre_to_latitude_b0() -> None:
    # Independent of sunpy's transform: the sub-observer point is (HGLN_OBS, HGLT_OBS).
    g = geometry(b0=7.25, hgln=0.3)
    c = g.grid.center
    where = g.pixel_to_solar(np.array([c]), np.array([c]))
    assert where.hpc_x_arcsec[0] == pytest.approx(0.0, abs=1e-6)
    assert where.hpc_y_arcsec[0] == pytest.approx(0.0, abs=1e-6)
    assert where.hgs_lat_deg[0] == pytest.approx(7.25, abs=1e-6)
    assert where.hgs_lon_deg[0] == pytest.approx(0.3, abs=1e-6)
    region = top_region(g, blob(g.size, c, c))
    assert region.noaa_location == "N07W00"


def test_disk_centre_is_origin_and_n00w00() -> None:
    g = geometry()
    c = g.grid.center
    region = top_region(g, blob(g.size, c, c))
    assert region.hgs_lat_deg == pytest.approx(0.0, abs=0.05)
    assert region.hgs_lon_deg == pytest.approx(0.0, abs=0.05)
    assert region.hpc_x_arcsec == pytest.approx(0.0, abs=1.0)
    assert region.noaa_location == "N00W00"


def test_north_is_up_and_west_is_right() -> None:
    g = geometry()
    c, r = g.grid.center, g.radius_px
    where = g.pixel_to_solar(np.array([c, c + 0.5 * r]), np.array([c + 0.5 * r, c]))
    assert where.hpc_y_arcsec[0] > 0 and where.hgs_lat_deg[0] > 20   # higher row = north
    assert where.hpc_x_arcsec[1] > 0 and where.hgs_lon_deg[1] > 20   # higher column = west
    # The limb sits at R_px and at RSUN_OBS.
    limb = g.pixel_to_solar(np.array([c + r * 0.999, c + r * 1.001]), np.array([c, c]))
    assert limb.on_disk.tolist() == [True, False]
    assert limb.hpc_x_arcsec[0] == pytest.approx(g.rsun_obs_arcsec, rel=2e-3)


def test_off_limb_blob_has_no_heliographic_position() -> None:
    g = geometry(b0=-3.0)
    c, r = g.grid.center, g.radius_px
    angle = math.radians(135.0)
    x, y = c + 1.15 * r * math.cos(angle), c + 1.15 * r * math.sin(angle)
    region = top_region(g, blob(g.size, x, y, sigma=2.0))
    assert region.on_disk is False
    assert region.hgs_lon_deg is None and region.hgs_lat_deg is None
    assert region.noaa_location is None and region.area_msh is None
    assert region.area_arcsec2 > 0
    # Helioprojective still reported: north-east of the Sun, 1.15 radii out.
    assert region.hpc_x_arcsec < 0 < region.hpc_y_arcsec
    assert math.hypot(region.hpc_x_arcsec, region.hpc_y_arcsec) == pytest.approx(
        1.15 * g.rsun_obs_arcsec, rel=0.01)
    d = region.to_dict()
    assert d["hgs_lon_deg"] is None and d["noaa_location"] is None and d["on_disk"] is False


@pytest.mark.parametrize(("lat", "lon", "expected"), [
    (15.2, 29.6, "N15W30"), (-0.4, 0.3, "N00W00"), (-0.6, -0.6, "S01E01"),
    (0.0, -0.49, "N00W00"), (-9.5, -70.5, "S10E70"), (45.0, 90.0, "N45W90"),
])
def test_noaa_location_convention(lat: float, lon: float, expected: str) -> None:
    # Rounded to whole degrees (half to even); letters follow the rounded value, 0 -> N/W.
    assert noaa_location(lat, lon) == expected


def test_geometry_from_real_aia_header_matches_the_file_wcs() -> None:
    # The chain grid px -> HPC -> HGS through FrameGeometry gives what sunpy gives
    # for the same sky positions through the file's own WCS and observer.
    import sunpy.data.test
    import sunpy.map

    aia = sunpy.map.Map(sunpy.data.test.get_test_filepath("aia_171_level1.fits"))
    g = FrameGeometry.from_header(aia.meta, size=256)
    assert g.t_obs == datetime(2011, 2, 15, 0, 0, 1, 340000, tzinfo=UTC)
    assert g.hglt_obs_deg == pytest.approx(-6.820544)
    assert g.rsun_m == pytest.approx(aia.meta["rsun_ref"], rel=1e-3)

    file_px = np.array([[40.0, 80.0], [70.0, 30.0], [63.0, 64.0], [20.0, 100.0]])
    sky = aia.pixel_to_world(file_px[:, 0] * u.pix, file_px[:, 1] * u.pix)
    truth = sky.transform_to(HeliographicStonyhurst(obstime=sky.obstime))
    gx, gy = g.world_to_pixel(sky.Tx.to_value(u.arcsec), sky.Ty.to_value(u.arcsec))
    ours = g.pixel_to_solar(gx, gy)
    np.testing.assert_allclose(ours.hpc_x_arcsec, sky.Tx.to_value(u.arcsec), atol=1e-6)
    np.testing.assert_allclose(ours.hpc_y_arcsec, sky.Ty.to_value(u.arcsec), atol=1e-6)
    disk = np.isfinite(truth.lat.deg)
    assert disk.sum() >= 3
    assert ours.on_disk.tolist() == disk.tolist()
    np.testing.assert_allclose(ours.hgs_lat_deg[disk], truth.lat.deg[disk], atol=0.05)
    np.testing.assert_allclose(ours.hgs_lon_deg[disk], truth.lon.wrap_at(180 * u.deg).deg[disk],
                               atol=0.05)


def sunpy_pixel_to_solar(g: FrameGeometry, xs: np.ndarray, ys: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reference: astropy's WCS of the grid, then sunpy's HPC -> Stonyhurst transform."""
    hpc = g.wcs().pixel_to_world(xs, ys)
    hgs = hpc.transform_to(HeliographicStonyhurst(obstime=hpc.obstime))
    return (hpc.Tx.to_value(u.arcsec), hpc.Ty.to_value(u.arcsec),
            hgs.lon.wrap_at(180 * u.deg).deg, hgs.lat.deg)


@pytest.mark.parametrize(("b0", "hgln", "size"), [
    (0.0, 0.0, 256), (7.25, 0.8, 256), (-6.8, -0.5, 512), (3.1, 179.7, 128)])
def test_closed_form_matches_astropy_wcs_and_sunpy(b0: float, hgln: float, size: int) -> None:
    # The closed form is what the analysis runs; astropy and sunpy stay the reference,
    # on a dense sample of the disk, the last pixel inside the limb and beyond it.
    g = geometry(b0=b0, hgln=hgln, size=size)
    c, r = g.grid.center, g.radius_px
    rng = np.random.default_rng(size)
    radius = np.concatenate([rng.uniform(0.0, 1.3, 400), [0.0, 0.5, 0.999999, 1.000001, 2.0]])
    angle = rng.uniform(0.0, 2 * math.pi, radius.size)
    xs, ys = c + r * radius * np.cos(angle), c + r * radius * np.sin(angle)
    tx, ty, lon, lat = sunpy_pixel_to_solar(g, xs, ys)
    ours = g.pixel_to_solar(xs, ys)
    np.testing.assert_allclose(ours.hpc_x_arcsec, tx, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.hpc_y_arcsec, ty, rtol=0, atol=1e-6)
    disk = np.isfinite(lat)
    assert ours.on_disk.tolist() == disk.tolist()
    assert 0 < disk.sum() < disk.size
    assert np.isnan(ours.hgs_lat_deg[~disk]).all() and np.isnan(ours.hgs_lon_deg[~disk]).all()
    np.testing.assert_allclose(ours.hgs_lat_deg[disk], lat[disk], rtol=0, atol=1e-6)
    # 1e-6 deg = 4 mas: near the limb a position is ill-conditioned in the last digits;
    # longitudes are compared on the circle (an observer near 180 deg wraps)
    dlon = (ours.hgs_lon_deg[disk] - lon[disk] + 180.0) % 360.0 - 180.0
    np.testing.assert_allclose(dlon, 0.0, atol=1e-6)


def test_geometry_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rsun_obs"):
        FrameGeometry(t_obs=T_OBS, rsun_obs_arcsec=0.0, dsun_obs_m=1.5e11)
    with pytest.raises(ValueError, match="hglt"):
        FrameGeometry(t_obs=T_OBS, rsun_obs_arcsec=950.0, dsun_obs_m=1.5e11, hglt_obs_deg=95)
    naive = FrameGeometry(t_obs=datetime(2024, 1, 1), rsun_obs_arcsec=975.0, dsun_obs_m=1.47e11)
    assert naive.t_obs.tzinfo is UTC
