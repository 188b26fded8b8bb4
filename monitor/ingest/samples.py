"""Sample inputs for tests and benchmarks: the real files that ship with sunpy and
sunkit-image, and synthetic AIA-format files with chosen pointing and rotation.

The synthetic files render a scene that is a function of helioprojective
position, so any pointing offset, plate scale or CROTA2 can be written with an
exactly known truth: the disk centre is where the header says. Two scenes:

* ``analytic``: limb-brightened disk, exponential corona, a few compact bright
  regions and a fine deterministic texture (structure at all scales, so
  interpolation errors show up);
* ``real``: a real AIA image (sunpy's ``aia_171_level1.fits``) resampled by
  cubic spline through its own WCS, i.e. the real Sun re-pointed and rotated.

Counts are Poisson around ``scene * EXPTIME``, stored as RICE-compressed int16
with BLANK = -32768 behind an empty primary HDU, like level-1 AIA files. This
module is deliberately independent of :mod:`monitor.synth` (the full synthetic
Sun) so ingest tests do not move when that model changes.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits

__all__ = ["SyntheticSpec", "real_sample_paths", "render_scene", "write_synthetic_fits"]

BLANK = -32768


_SUNPY_SAMPLES = {
    "aia_171_level1": "aia_171_level1.fits",
    "aia_193_jp2": "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2",
    "lasco_c3_jp2": "2013_05_13__16_54_06_137__SOHO_LASCO_C3_white-light.jp2",
    "hmi_continuum_jp2": "2023_01_31__03_39_23_200__SDO_HMI_HMI_continuum.jp2",
    "eui_fsi_jp2": "2022_04_01__00_00_45__SOLO-EUI-FSI_EUI_FSI_174.jp2",
}


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # the parent package is not installed
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def real_sample_paths() -> dict[str, Path | None]:
    """Paths of the real sample files (``None`` for packages that are not installed)."""
    paths: dict[str, Path | None] = {}
    sunpy_dir = _package_dir("sunpy.data.test")
    for name, filename in _SUNPY_SAMPLES.items():
        paths[name] = sunpy_dir / filename if sunpy_dir else None
    sunkit_dir = _package_dir("sunkit_image.data.test")
    paths["aia_171_cutout"] = sunkit_dir / "aia_171_cutout.fits" if sunkit_dir else None
    return {k: (v if v is not None and v.exists() else None) for k, v in paths.items()}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to write.

    Attributes
    ----------
    size : int
        Image side in pixels (4096 for full resolution).
    cdelt : float
        Plate scale in arcsec/pixel; default 0.6 * 4096 / size.
    center_offset_px : tuple
        Disk centre minus array centre, pixels (x, y).
    crota2 : float
        Degrees.
    rsun_obs : float
        Arcsec.
    wavelength, exposure_s, quality : header values
    t_obs : str
        ISO time.
    scene : {"analytic", "real"}
    counts_scale : float
        Disk-centre count rate of the analytic scene, DN/s.
    blank_fraction : float
        Fraction of pixels set to BLANK (random rows of 32-pixel packets).
    dark : bool
        Write an eclipse-dark frame (noise only).
    seed : int
    """

    size: int = 1024
    cdelt: float | None = None
    center_offset_px: tuple[float, float] = (0.0, 0.0)
    crota2: float = 0.0
    rsun_obs: float = 960.0
    wavelength: int = 171
    exposure_s: float = 2.0
    quality: int = 0
    t_obs: str = "2024-05-14T17:00:01.35Z"
    scene: Literal["analytic", "real"] = "analytic"
    counts_scale: float = 400.0
    blank_fraction: float = 0.0
    dark: bool = False
    seed: int = 0

    @property
    def plate_scale(self) -> float:
        return self.cdelt if self.cdelt is not None else 0.6 * 4096 / self.size

    @property
    def crpix(self) -> tuple[float, float]:
        """1-based reference pixel (= disk centre, CRVAL = 0)."""
        return ((self.size + 1) / 2 + self.center_offset_px[0],
                (self.size + 1) / 2 + self.center_offset_px[1])


def _pixel_to_hpc(spec: SyntheticSpec) -> tuple[np.ndarray, np.ndarray]:
    """Helioprojective (Tx, Ty) in arcsec of every pixel (linear TAN, CRVAL = 0)."""
    idx = np.arange(spec.size, dtype=np.float64)
    dx = idx[None, :] - (spec.crpix[0] - 1.0)
    dy = idx[:, None] - (spec.crpix[1] - 1.0)
    rho = math.radians(spec.crota2)
    c, s = math.cos(rho), math.sin(rho)
    tx = spec.plate_scale * (c * dx - s * dy)
    ty = spec.plate_scale * (s * dx + c * dy)
    return tx, ty


def _analytic(tx: np.ndarray, ty: np.ndarray, rsun: float) -> np.ndarray:
    x, y = tx / rsun, ty / rsun
    r2 = x * x + y * y
    r = np.sqrt(r2)
    mu = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    disk = 0.55 + 0.45 * (1.0 - mu) ** 0.5  # EUV limb brightening
    corona = np.exp(-(r - 1.0) / 0.05) * 0.9
    scene = np.where(r <= 1.0, disk, corona)
    for (x0, y0, amp, width) in ((0.3, 0.2, 6.0, 0.03), (-0.5, -0.35, 3.0, 0.05),
                                 (0.1, -0.6, 10.0, 0.012), (0.85, 0.3, 4.0, 0.02)):
        scene = scene + amp * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * width ** 2))
    # Texture tied to the Sun (not to pixels) with periods of ~3-40 arcsec.
    texture = (np.sin(tx / 2.1) * np.cos(ty / 3.3) + 0.5 * np.sin((tx + ty) / 7.9)
               + 0.3 * np.cos(tx / 13.0 - ty / 21.0))
    return scene * (1.0 + 0.15 * texture * (r < 1.2))


def _real(tx: np.ndarray, ty: np.ndarray, rsun: float) -> np.ndarray:
    from scipy import ndimage

    path = real_sample_paths()["aia_171_level1"]
    if path is None:
        raise RuntimeError("sunpy's aia_171_level1.fits is not available")
    with fits.open(path) as hdul:
        hdr = hdul[0].header
        data = np.asarray(hdul[0].data, dtype=np.float64) / float(hdr["EXPTIME"])
    scale = hdr["RSUN_OBS"] / rsun  # resize the real Sun to the requested radius
    rho = math.radians(hdr["CROTA2"])
    c, s = math.cos(rho), math.sin(rho)
    ux = (tx * scale - hdr["CRVAL1"]) / hdr["CDELT1"]
    uy = (ty * scale - hdr["CRVAL2"]) / hdr["CDELT2"]
    px = hdr["CRPIX1"] - 1 + c * ux + s * uy
    py = hdr["CRPIX2"] - 1 - s * ux + c * uy
    out = ndimage.map_coordinates(data, [py, px], order=3, mode="nearest")
    return np.clip(out, 0.0, None) / np.median(data[data > np.percentile(data, 60)])


def render_scene(spec: SyntheticSpec) -> np.ndarray:
    """Expected count rate (DN/s) at every pixel centre, float64."""
    tx, ty = _pixel_to_hpc(spec)
    if spec.dark:
        return np.zeros_like(tx)
    scene = _analytic if spec.scene == "analytic" else _real
    return scene(tx, ty, spec.rsun_obs) * spec.counts_scale


def header_for(spec: SyntheticSpec) -> fits.Header:
    """Level-1-like header matching ``spec``."""
    h = fits.Header()
    crpix1, crpix2 = spec.crpix
    cards: list[tuple[str, object]] = [
        ("TELESCOP", "SDO/AIA"), ("INSTRUME", "AIA_3"), ("ORIGIN", "sdo-monitor test"),
        ("T_OBS", spec.t_obs), ("DATE-OBS", spec.t_obs.rstrip("Z")),
        ("WAVELNTH", spec.wavelength), ("WAVEUNIT", "angstrom"),
        ("EXPTIME", spec.exposure_s), ("QUALITY", spec.quality), ("LVL_NUM", 1.0),
        ("IMG_TYPE", "LIGHT"), ("FSN", 123456 + spec.seed),
        ("CTYPE1", "HPLN-TAN"), ("CUNIT1", "arcsec"), ("CRVAL1", 0.0),
        ("CDELT1", spec.plate_scale), ("CRPIX1", crpix1),
        ("CTYPE2", "HPLT-TAN"), ("CUNIT2", "arcsec"), ("CRVAL2", 0.0),
        ("CDELT2", spec.plate_scale), ("CRPIX2", crpix2), ("CROTA2", spec.crota2),
        ("RSUN_OBS", spec.rsun_obs), ("DSUN_OBS", 1.496e11 * 959.63 / spec.rsun_obs),
        ("RSUN_REF", 696000000.0), ("HGLN_OBS", 0.0), ("HGLT_OBS", -3.2),
        ("BLANK", BLANK),
    ]
    for key, value in cards:
        h[key] = value
    return h


def write_synthetic_fits(path: str | os.PathLike[str], spec: SyntheticSpec, *,
                         compress: bool = True) -> np.ndarray:
    """Write a synthetic level-1 file; returns the noiseless DN/s image.

    Parameters
    ----------
    path : path-like
    spec : SyntheticSpec
    compress : bool
        RICE tile compression in HDU 1 (level-1 layout) or a plain primary image.
    """
    rng = np.random.default_rng(spec.seed)
    rate = render_scene(spec)
    counts = rng.poisson(np.clip(rate * spec.exposure_s, 0, None)).astype(np.float64)
    if spec.dark:
        counts = rng.normal(0.0, 1.0, rate.shape)  # read noise around a subtracted dark
    data = np.clip(np.rint(counts), -32767, 32767).astype(np.int16)
    if spec.blank_fraction > 0:
        n_packets = int(spec.blank_fraction * data.size / 32)
        rows = rng.integers(0, spec.size, n_packets)
        cols = rng.integers(0, spec.size // 32, n_packets) * 32
        for r, c in zip(rows, cols, strict=True):
            data[r, c:c + 32] = BLANK
    header = header_for(spec)
    if compress:
        hdul = fits.HDUList([fits.PrimaryHDU(),
                             fits.CompImageHDU(data, header=header, compression_type="RICE_1")])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(data, header=header)])
    hdul.writeto(path, overwrite=True)
    return rate
