"""Small FITS files shaped like JSOC's AIA synoptic (level 1.5) product, for feed tests.

The real product (see /work/shared/notes/feeds.md) is a 4k level-1 image
made level 1.5 and binned 4x4 to 1024x1024 at 2.4 arcsec/px, in DN per
original 0.6 arcsec pixel, with all level-1 keywords copied and DATE, T_REC,
CDELT, CRPIX, CROTA2, X0/Y0 overwritten; pixel-unit keys such as R_SUN and
X0_MP still describe the 4k frame. BSCALE 0.0625, BZERO 0. Files come either
uncompressed or as a RICE tile-compressed image in HDU 1 behind an empty
primary HDU; the daemon must accept both, so this writer makes both.

The image is only a plausible disc (limb-brightened, with a faint corona and
noise), not physics: the synthetic Sun in ``monitor.synth`` is the science
model. This writer exists so feed tests need nothing but astropy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.atomicfile import atomic_path

__all__ = ["EXPOSURE_S", "write_synoptic_fits"]

#: Typical AIA exposure times (s) per channel.
EXPOSURE_S = {94: 2.9, 131: 2.9, 171: 2.0, 193: 2.0, 211: 2.9, 304: 2.9, 335: 2.9,
              1600: 2.9, 1700: 1.0, 4500: 1.0}
_DISC_DN_S = {94: 2.0, 131: 8.0, 171: 400.0, 193: 600.0, 211: 200.0, 304: 80.0, 335: 10.0,
              1600: 150.0, 1700: 2500.0, 4500: 9000.0}
_INSTRUMENT = {94: "AIA_4", 131: "AIA_1", 171: "AIA_3", 193: "AIA_2", 211: "AIA_2",
               304: "AIA_4", 335: "AIA_1", 1600: "AIA_3", 1700: "AIA_3", 4500: "AIA_3"}


def _iso(when: datetime, digits: int = 2) -> str:
    text = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - (6 - digits)] + "Z"


def write_synoptic_fits(path: Path, t_rec: datetime, wavelength: int, *, size: int = 1024,
                        compressed: bool = False, quality: int = 0, seed: int | None = None,
                        pad_bytes: int = 0) -> Path:
    """Write a level-1.5-like synoptic AIA file (rename into place) and return its path.

    Parameters
    ----------
    path : Path
        Destination; written to a hidden temporary name first, then renamed.
    t_rec : datetime
        The slot time (UTC); T_OBS is a few seconds later.
    wavelength : int
        Channel in Angstrom.
    size : int
        Image side in pixels (1024 for the real product; tests use less). CDELT
        scales so the field of view stays the real one.
    compressed : bool
        RICE tile-compressed image in HDU 1 (as 2026 consumers see it) instead
        of an uncompressed primary HDU.
    quality : int
        QUALITY keyword (0 = good).
    seed : int, optional
        Noise seed; default derived from the time and channel (reproducible).
    pad_bytes : int
        Extra bytes in a trailing HISTORY-free padding HDU, to make large files
        for size-limit tests.
    """
    from astropy.io import fits

    t_rec = t_rec.astimezone(UTC) if t_rec.tzinfo else t_rec.replace(tzinfo=UTC)
    exptime = EXPOSURE_S.get(wavelength, 2.0)
    t_obs = t_rec + timedelta(seconds=1.0 + (wavelength % 11) * 0.5)
    date_obs = t_obs - timedelta(seconds=exptime / 2)
    cdelt = 0.6 * 4096 / size
    rsun_obs = 950.0  # arcsec, close to the yearly mean
    crpix = (size + 1) / 2.0
    rng = np.random.default_rng(seed if seed is not None
                                else int(t_rec.timestamp()) * 10000 + wavelength)

    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(x + 1 - crpix, y + 1 - crpix) * cdelt / rsun_obs  # in solar radii
    disc = _DISC_DN_S.get(wavelength, 100.0) * exptime
    mu = np.sqrt(np.clip(1 - r**2, 0, 1))
    image = np.where(r <= 1, disc * (0.6 + 0.4 * mu), disc * 0.3 * np.exp(-(r - 1) * 8))
    image = rng.poisson(np.maximum(image, 0)).astype(np.float32)
    raw = np.clip(np.round(image / 0.0625), -32767, 32767).astype(np.int16)

    header = fits.Header()
    cards = {
        "TELESCOP": "SDO/AIA", "INSTRUME": _INSTRUMENT.get(wavelength, "AIA_3"),
        "DETECTOR": "AIA", "ORIGIN": "SDO/JSOC-SDP",
        "DATE": _iso(datetime.now(UTC)), "DATE-OBS": _iso(date_obs),
        "T_OBS": _iso(t_obs), "T_REC": t_rec.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "WAVELNTH": int(wavelength), "WAVEUNIT": "angstrom",
        "WAVE_STR": f"{wavelength}_THIN" if wavelength < 1000 else str(wavelength),
        "EXPTIME": exptime, "QUALITY": int(quality), "IMG_TYPE": "LIGHT",
        "FSN": int(t_rec.timestamp() // 3) % 2**31, "LVL_NUM": 1.5, "BUNIT": "DN",
        "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
        "CRPIX1": crpix, "CRPIX2": crpix, "CRVAL1": 0.0, "CRVAL2": 0.0,
        "CDELT1": cdelt, "CDELT2": cdelt, "CROTA2": 0.0, "X0": 0.0, "Y0": 0.0,
        # Pixel-unit keys left describing the 4k frame, as the real producer does.
        "X0_MP": 2052.3, "Y0_MP": 2046.9, "R_SUN": rsun_obs / 0.6,
        "RSUN_OBS": rsun_obs, "RSUN_REF": 696000000.0, "DSUN_OBS": 1.5185e11,
        "HGLN_OBS": 0.0, "HGLT_OBS": 1.5, "CRLN_OBS": 120.0, "CRLT_OBS": 1.5,
        "BSCALE": 0.0625, "BZERO": 0.0,
    }
    for key, value in cards.items():
        header[key] = value
    if compressed:
        primary = fits.PrimaryHDU()
        image_hdu: fits.hdu.base.ExtensionHDU = fits.CompImageHDU(
            data=raw, header=header, compression_type="RICE_1")
        image_hdu.header["BSCALE"], image_hdu.header["BZERO"] = 0.0625, 0.0
        hdus = fits.HDUList([primary, image_hdu])
    else:
        primary = fits.PrimaryHDU(data=raw, header=header)
        primary.header["BSCALE"], primary.header["BZERO"] = 0.0625, 0.0
        hdus = fits.HDUList([primary])
    if pad_bytes > 0:
        hdus.append(fits.ImageHDU(np.zeros(pad_bytes, dtype=np.uint8), name="PADDING"))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        hdus.writeto(temp, overwrite=True, output_verify="silentfix")
    return path
