"""The files: level-1 format, sunpy reads them as AIAMap, the WCS matches what was drawn."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from astropy.coordinates import SkyCoord
from astropy.io import fits
from sunpy.map.sources.sdo import AIAMap

from monitor.synth import CHANNELS, SynthFeed

NAME = re.compile(r"^aia\.lev1\.(\d+)A_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d\dZ\.image_lev1\.fits$")


def _files(out: Path) -> list[Path]:
    return sorted(out.glob("*.fits"))


def test_every_channel_reads_as_aiamap(m_flare_run: tuple[Path, list[dict]]) -> None:
    out, truth = m_flare_run
    exposure = {name: line["exposure_s"][w] for line in truth for w, name in line["files"].items()}
    seen = set()
    for path in _files(out):
        m = sunpy.map.Map(path)
        assert isinstance(m, AIAMap), path.name
        wavelength = int(NAME.match(path.name).group(1))
        seen.add(wavelength)
        assert m.wavelength == wavelength * u.AA
        assert m.unit == u.DN
        assert m.exposure_time.to_value(u.s) == pytest.approx(exposure[path.name])
        assert m.data.shape == (1024, 1024)
        assert m.meta["quality"] == 0
        assert m.rsun_obs.to_value(u.arcsec) == pytest.approx(975, abs=20)
    assert seen == set(CHANNELS)
    assert len(exposure) == len(_files(out))
    assert not list(out.glob(".*.part")), "temporary files left behind"


def test_file_layout_matches_level1(m_flare_run: tuple[Path, list[dict]]) -> None:
    out, _ = m_flare_run
    path = _files(out)[0]
    with fits.open(path, disable_image_compression=True) as raw:
        assert len(raw) == 2 and raw[0].header["NAXIS"] == 0
        table = raw[1].header
        assert table["ZCMPTYPE"] == "RICE_1"
        assert table["ZBITPIX"] == 16
        assert (table["ZTILE1"], table["ZTILE2"]) == (1024, 1)
    # The stored header (a scaled read drops BLANK/BSCALE once it has applied them).
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        header = hdul[1].header
        assert hdul[1].data.dtype == np.int16
        for key in ("T_OBS", "DATE-OBS", "WAVELNTH", "WAVEUNIT", "EXPTIME", "QUALITY", "CRPIX1",
                    "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2", "CUNIT1", "CTYPE1",
                    "CROTA2", "RSUN_OBS", "RSUN_REF", "DSUN_OBS", "HGLN_OBS", "HGLT_OBS", "FSN",
                    "INSTRUME", "TELESCOP", "PIXLUNIT", "HAEX_OBS", "BLANK", "T_REC"):
            assert key in header, key
        assert header["BLANK"] == -32768
        assert header["CTYPE1"] == "HPLN-TAN" and header["CUNIT1"] == "arcsec"
        assert NAME.match(path.name)


def test_wcs_disk_centre_is_where_the_sun_was_drawn(m_flare_run: tuple[Path, list[dict]]
                                                    ) -> None:
    out, truth = m_flare_run
    geometry = truth[0]["geometry"]
    drawn = np.array([geometry["sun_center_x_px"], geometry["sun_center_y_px"]])
    # The offset (18, -11) full-res px at 1024 px is 4.5, -2.75 px: well away from the centre.
    assert np.hypot(*(drawn - 511.5)) > 4
    for path in _files(out)[:7]:
        m = sunpy.map.Map(path)
        centre = SkyCoord(0 * u.arcsec, 0 * u.arcsec, frame=m.coordinate_frame)
        wcs_centre = np.array([float(v) for v in m.wcs.world_to_pixel(centre)])
        assert np.hypot(*(wcs_centre - drawn)) < 1.0
        if m.wavelength.to_value(u.AA) in (171, 193, 304):
            # The disk in the data itself: centroid of pixels brighter than half the
            # disk median lies on the WCS centre (limb brightening is symmetric).
            data = np.nan_to_num(np.asarray(m.data, dtype=float))
            disk_level = np.median(data[412:612, 412:612])
            yy, xx = np.nonzero(data > 0.5 * disk_level)
            data_centre = np.array([xx.mean(), yy.mean()])
            assert np.hypot(*(data_centre - wcs_centre)) < 1.0, m.wavelength


def test_kernel_positions_agree_with_file_wcs(m_flare_run: tuple[Path, list[dict]]) -> None:
    out, truth = m_flare_run
    flaring = [line for line in truth if line["flares"]]
    assert flaring, "the m_flare run should contain flare frames"
    line = flaring[0]
    path = out / line["files"]["131"]
    m = sunpy.map.Map(path)
    for kernel in line["flares"][0]["kernels"]:
        coord = SkyCoord(kernel["tx_arcsec"] * u.arcsec, kernel["ty_arcsec"] * u.arcsec,
                         frame=m.coordinate_frame)
        x, y = (float(v) for v in m.wcs.world_to_pixel(coord))
        assert x == pytest.approx(kernel["x_px"], abs=0.01)
        assert y == pytest.approx(kernel["y_px"], abs=0.01)


def test_fixed_seed_reproduces_files_byte_for_byte(tmp_path: Path) -> None:
    def run(seed: int, out: Path) -> dict[str, str]:
        feed = SynthFeed("c_flare", out, size=512, speed=0, seed=seed, duration_s=120,
                         cadence_s=60)
        list(feed.run())
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(out.iterdir())}

    first = run(3, tmp_path / "a")
    again = run(3, tmp_path / "b")
    other = run(4, tmp_path / "c")
    assert len(first) == 3 * 7 + 1  # three observations of seven channels, plus the truth
    assert first == again
    fits_names = [n for n in first if n.endswith(".fits")]
    assert all(first[n] != other.get(n) for n in fits_names)


def test_full_resolution_file_is_aia_sized(tmp_path: Path) -> None:
    feed = SynthFeed("quiet_sun", tmp_path, size=4096, speed=0, seed=2, duration_s=1,
                     channels=(193,))
    (written,) = list(feed.run())
    size_mb = written.path.stat().st_size / 1e6
    assert 5 < size_mb < 16  # real level-1 files are 7-14 MB
    m = sunpy.map.Map(written.path)
    assert m.scale.axis1.to_value(u.arcsec / u.pix) == pytest.approx(0.6)
    assert m.data.shape == (4096, 4096)
