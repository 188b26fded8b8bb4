"""Ingest of real sample files (sunpy, sunkit-image) and well-formed synthetic feeds."""

from __future__ import annotations

import hashlib
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.ingest import IngestSettings, RejectReason, read_observation
from monitor.ingest.samples import SyntheticSpec, real_sample_paths, write_synthetic_fits

SAMPLES = real_sample_paths()


def _require(name: str) -> Path:
    path = SAMPLES[name]
    if path is None:
        pytest.skip(f"sample file {name} is not installed")
    return path


def _sunpy_centre(path: Path) -> tuple[float, float]:
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smap = sunpy.map.Map(path)
        pix = smap.world_to_pixel(SkyCoord(0 * u.arcsec, 0 * u.arcsec,
                                           frame=smap.coordinate_frame))
    return float(pix.x.value), float(pix.y.value)


def test_ingest_sunpy_aia_171_level1() -> None:
    path = _require("aia_171_level1")
    result = read_observation(path)
    assert result.ok, result.rejection
    obs, image = result.observation, result.image
    assert obs is not None and image is not None
    assert (obs.telescope, obs.instrument, obs.wavelength) == ("SDO/AIA", "AIA_3", 171)
    assert obs.t_obs == datetime(2011, 2, 15, 0, 0, 1, 340000, tzinfo=UTC)
    assert obs.exposure_s == pytest.approx(2.000191)
    assert obs.level == 1.0 and obs.quality == 0 and obs.quality_flags == ()
    assert obs.file_format == "fits" and obs.compression is None
    assert obs.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert obs.fsn == 20781661
    assert image.pixels.shape == (128, 128)
    assert obs.geometry.crota2 == pytest.approx(0.019413)
    assert obs.geometry.sun_center_pixel() == pytest.approx(_sunpy_centre(path), abs=1e-6)
    assert obs.key.as_string() == "SDO/AIA|171|2011-02-15T00:00:01.340Z"
    assert obs.disk_mean_dn_per_s is not None and obs.disk_mean_dn_per_s > 50


def test_ingest_sunkit_rice_cutout() -> None:
    path = _require("aia_171_cutout")
    result = read_observation(path)
    assert result.ok, result.rejection
    obs, image = result.observation, result.image
    assert obs is not None and image is not None
    assert obs.compression == "RICE_1"
    assert image.pixels.dtype == np.int16 and image.pixels.shape == (705, 769)
    assert image.blank == -32768 and image.n_invalid == 0
    assert obs.geometry.sun_center_pixel() == pytest.approx(_sunpy_centre(path), abs=1e-6)
    assert obs.geometry.rsun_pixels() == pytest.approx(966.0587709802244 / 0.599488974)
    # The cutout is off-centre but holds part of the disk, so darkness is judged.
    assert obs.disk_mean_dn_per_s is not None


def test_ingest_sunpy_aia_193_jp2() -> None:
    path = _require("aia_193_jp2")
    result = read_observation(path)
    assert result.ok, result.rejection
    obs, image = result.observation, result.image
    assert obs is not None and image is not None
    assert obs.file_format == "jp2" and obs.compression == "jpeg2000"
    assert obs.level == 1.5 and obs.wavelength == 193
    assert "near_real_time" in obs.quality_flags  # QUALITY = 0x40000000 only flags
    assert {"jp2_8bit", "jp2_rescaled_wcs"} <= set(obs.flags)
    # The 410-px reduction keeps the 4096-px header: the WCS is rescaled to it.
    geo = obs.geometry
    assert (geo.naxis1, geo.naxis2) == (410, 410)
    assert geo.cdelt1 == pytest.approx(0.6 * 4096 / 410)
    assert geo.sun_center_pixel() == pytest.approx((204.5, 204.5))
    # Inverting Helioviewer's log10 byte scaling recovers the header statistics.
    dn_per_s = image.pixels / obs.exposure_s
    assert np.median(dn_per_s) == pytest.approx(171 / 1.999637, rel=0.03)
    assert np.mean(dn_per_s) == pytest.approx(326.94 / 1.999637, rel=0.03)


def test_ingest_synthetic_feed_with_blanks_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "f.fits"
    quality = (1 << 30) | (1 << 8)  # near real time + some missing pixels
    write_synthetic_fits(path, SyntheticSpec(size=256, blank_fraction=0.01, quality=quality,
                                             center_offset_px=(12.5, -3.25), crota2=0.3))
    result = read_observation(path)
    assert result.ok, result.rejection
    obs, image = result.observation, result.image
    assert obs is not None and image is not None
    assert obs.quality_flags == ("missing_pixels", "near_real_time")
    assert 0 < obs.n_missing == image.n_invalid == int(np.count_nonzero(image.pixels == -32768))
    assert obs.n_missing / obs.n_pixels < 0.02
    cx, cy = obs.geometry.sun_center_pixel()
    assert (cx, cy) == pytest.approx((127.5 + 12.5, 127.5 - 3.25))
    assert set(result.timings_s) == {"read", "header", "decode", "pixels"}


def test_ingest_uncompressed_level15_synoptic_style(tmp_path: Path) -> None:
    """JSOC synoptic copies: level 1.5, 2.4"/px, BSCALE 0.0625, uncompressed."""
    from astropy.io import fits

    from monitor.ingest.samples import header_for, render_scene

    spec = SyntheticSpec(size=1024)
    rate = render_scene(spec)
    header = header_for(spec)
    header["LVL_NUM"] = 1.5
    header["BSCALE"] = 0.0625
    header["BZERO"] = 0.0
    raw = np.rint(rate * spec.exposure_s / 0.0625).astype(np.int16)
    path = tmp_path / "AIA20240514_1700_0171.fits"
    hdu = fits.PrimaryHDU(raw, header=header, do_not_scale_image_data=True)
    hdu.header["BSCALE"] = 0.0625
    hdu.writeto(path)
    result = read_observation(path)
    assert result.ok, result.rejection
    assert result.observation is not None and result.image is not None
    assert result.observation.level == 1.5
    assert result.image.bscale == 0.0625
    np.testing.assert_allclose(result.image.to_dn(), raw * 0.0625, rtol=1e-6)


def test_ingest_date_obs_fallback_flagged(tmp_path: Path) -> None:
    from astropy.io import fits

    from monitor.ingest.samples import header_for

    header = header_for(SyntheticSpec(size=64))
    del header["T_OBS"]
    header["DATE-OBS"] = "2024-05-14T17:00:00.350"
    path = tmp_path / "d.fits"
    fits.PrimaryHDU(np.full((64, 64), 800, dtype=np.int16), header=header).writeto(path)
    result = read_observation(path)
    assert result.ok, result.rejection
    assert result.observation is not None
    assert "t_obs_from_date_obs" in result.observation.flags
    assert result.observation.t_obs == datetime(2024, 5, 14, 17, 0, 1, 350000, tzinfo=UTC)
    strict = read_observation(path, IngestSettings(allow_date_obs=False))
    assert strict.rejection is not None
    assert strict.rejection.reason is RejectReason.MISSING_KEYWORD


def test_ingest_pc_matrix_header(tmp_path: Path) -> None:
    from astropy.io import fits

    from monitor.ingest.samples import header_for

    header = header_for(SyntheticSpec(size=64))
    del header["CROTA2"]
    angle = np.radians(10.0)
    header["PC1_1"], header["PC1_2"] = np.cos(angle), -np.sin(angle)
    header["PC2_1"], header["PC2_2"] = np.sin(angle), np.cos(angle)
    path = tmp_path / "pc.fits"
    fits.PrimaryHDU(np.full((64, 64), 800, dtype=np.int16), header=header).writeto(path)
    result = read_observation(path)
    assert result.ok, result.rejection
    assert result.observation is not None
    assert result.observation.geometry.crota2 == pytest.approx(10.0)


def test_ingest_results_cross_pool_boundaries(tmp_path: Path) -> None:
    """Results pickle (process pools) and the reader is safe in a thread pool."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i in range(4):
        path = tmp_path / f"f{i}.fits"
        write_synthetic_fits(path, SyntheticSpec(size=128, seed=i,
                                                 t_obs=f"2024-05-14T17:00:{i:02d}.00Z"))
        paths.append(path)
    paths.append(tmp_path / "missing.fits")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read_observation, paths))
    assert [r.ok for r in results] == [True, True, True, True, False]
    for result in results:
        clone = pickle.loads(pickle.dumps(result))
        if result.ok:
            assert clone.observation == result.observation
            np.testing.assert_array_equal(clone.image.pixels, result.image.pixels)
        else:
            assert clone.rejection == result.rejection
