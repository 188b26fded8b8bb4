"""Records that leave the ingest layer: the observation, its geometry, its pixels.

These are plain dataclasses so they pickle across a process pool and serialise
to JSON for messages without surprises. Pixel arrays stay in the form they were
decoded in (int16 for RICE level-1 files): converting 16 M pixels to float
costs more than the whole geometric step, so :mod:`monitor.preprocess` applies
BSCALE/BZERO, BLANK and the exposure after resampling, where it is linear and
cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from monitor.ingest.reasons import Rejection

__all__ = [
    "Geometry", "ImageData", "IngestResult", "Observation", "ObservationKey", "observation_key",
]


@dataclass(frozen=True)
class Geometry:
    """World coordinate system of the image as read from its header.

    Pixel coordinates follow FITS: ``crpix`` is 1-based, axis 1 is the column
    (solar west for an unrotated image), axis 2 the row (solar north).
    Helioprojective offsets are in arcsec.

    Attributes
    ----------
    naxis1, naxis2 : int
        Width and height of the pixel array (after any JPEG 2000 size fix).
    crpix1, crpix2 : float
        Reference pixel (1-based).
    crval1, crval2 : float
        Helioprojective longitude/latitude of the reference pixel, arcsec.
    cdelt1, cdelt2 : float
        Plate scale, arcsec per pixel.
    pc : tuple
        The PC matrix ``((pc1_1, pc1_2), (pc2_1, pc2_2))``; from CROTA2 when
        the header has no PCi_j (sunpy's convention).
    crota2 : float
        Rotation of the image relative to solar north, degrees (derived from
        ``pc`` when the header gave a matrix).
    rsun_obs : float
        Apparent photospheric radius, arcsec.
    dsun_obs : float or None
        Observer-Sun distance, metres.
    hgln_obs, hglt_obs : float or None
        Observer Stonyhurst longitude/latitude, degrees.
    """

    naxis1: int
    naxis2: int
    crpix1: float
    crpix2: float
    crval1: float
    crval2: float
    cdelt1: float
    cdelt2: float
    pc: tuple[tuple[float, float], tuple[float, float]]
    crota2: float
    rsun_obs: float
    dsun_obs: float | None = None
    hgln_obs: float | None = None
    hglt_obs: float | None = None

    def pixel_matrix(self) -> np.ndarray:
        """2x2 matrix from 0-based pixel offsets (x, y) to arcsec: ``diag(cdelt) @ pc``."""
        pc = np.asarray(self.pc, dtype=np.float64)
        return np.diag([self.cdelt1, self.cdelt2]) @ pc

    def sun_center_pixel(self) -> tuple[float, float]:
        """0-based (x, y) pixel of disk centre, helioprojective (0, 0).

        The gnomonic projection is treated as linear: across the solar disk the
        difference is below 1e-3 pixel for AIA (|x| < 0.005 rad).
        """
        offset = np.linalg.solve(self.pixel_matrix(), -np.array([self.crval1, self.crval2]))
        return float(self.crpix1 - 1.0 + offset[0]), float(self.crpix2 - 1.0 + offset[1])

    def rsun_pixels(self) -> float:
        """Solar radius in image pixels (geometric mean of both axes)."""
        return float(self.rsun_obs / np.sqrt(abs(self.cdelt1 * self.cdelt2)))


@dataclass(frozen=True)
class ObservationKey:
    """Identity of an observation regardless of file name or format."""

    telescope: str
    wavelength: int
    t_obs: str  # ISO 8601 UTC, millisecond precision, 'Z' suffix

    def as_string(self) -> str:
        """Stable text form for ledgers and message ids."""
        return f"{self.telescope}|{self.wavelength}|{self.t_obs}"


@dataclass(frozen=True)
class Observation:
    """One accepted AIA exposure: what, when, how good, where, and from which file.

    Attributes
    ----------
    telescope, instrument : str
        Normalised telescope (``SDO/AIA``) and the INSTRUME value (camera).
    wavelength : int
        Channel in angstrom.
    t_obs : datetime
        Mid-exposure time, timezone-aware UTC.
    exposure_s : float
        EXPTIME in seconds.
    quality : int
        QUALITY keyword (unsigned 32-bit).
    quality_flags : tuple of str
        Names of QUALITY bits set that the policy only flags.
    flags : tuple of str
        Other remarks about the file (e.g. ``jp2_8bit``, ``t_obs_from_date_obs``).
    level : float
        Processing level (1.0 or 1.5).
    geometry : Geometry
        The header WCS.
    path, file_format, size_bytes, content_sha256 : provenance
        Where it came from; the hash is of the file bytes.
    compression : str or None
        ZCMPTYPE for tile-compressed FITS, ``jpeg2000`` or ``None``.
    fsn : int or None
        Frame serial number.
    img_type : str or None
        IMG_TYPE (``LIGHT`` for science frames).
    n_pixels, n_missing, n_saturated : int
        Pixel statistics from the checks.
    disk_mean_dn_per_s : float or None
        Mean count rate in the central disk box (the darkness test).
    """

    telescope: str
    instrument: str
    wavelength: int
    t_obs: datetime
    exposure_s: float
    quality: int
    quality_flags: tuple[str, ...]
    flags: tuple[str, ...]
    level: float
    geometry: Geometry
    path: str
    file_format: Literal["fits", "jp2"]
    size_bytes: int
    content_sha256: str
    compression: str | None = None
    fsn: int | None = None
    img_type: str | None = None
    n_pixels: int = 0
    n_missing: int = 0
    n_saturated: int = 0
    disk_mean_dn_per_s: float | None = None

    @property
    def key(self) -> ObservationKey:
        """The duplicate-detection key (telescope, wavelength, T_OBS)."""
        return observation_key(self.telescope, self.wavelength, self.t_obs)


def observation_key(telescope: str, wavelength: int, t_obs: datetime) -> ObservationKey:
    """Build the key with T_OBS in UTC rounded to the millisecond (format noise ignored)."""
    if t_obs.tzinfo is not None:
        t_obs = t_obs.astimezone(UTC)
    rounded = t_obs.replace(microsecond=0, tzinfo=None) + timedelta(
        milliseconds=round(t_obs.microsecond / 1000))
    stamp = rounded.strftime("%Y-%m-%dT%H:%M:%S") + f".{rounded.microsecond // 1000:03d}Z"
    return ObservationKey(telescope=telescope, wavelength=int(wavelength), t_obs=stamp)


@dataclass(frozen=True)
class ImageData:
    """Decoded pixels plus what turns them into level-1 DN.

    ``DN = bzero + bscale * pixels`` wherever ``pixels != blank`` (integer
    arrays) and ``pixels`` is finite (float arrays).

    Attributes
    ----------
    pixels : numpy.ndarray
        2-D array, row 0 = southernmost row (FITS order), as decoded.
    bscale, bzero : float
        Linear scaling to DN.
    blank : int or None
        Integer sentinel of missing pixels, for integer arrays.
    n_invalid : int or None
        Number of BLANK / non-finite pixels if already counted, so the
        resampler can skip masking when it is zero.
    invalid_index : numpy.ndarray or None
        Flat indices of those pixels when ingest listed them (few of them);
        lets the resampler correct for them without a full-size mask.
    """

    pixels: np.ndarray
    bscale: float = 1.0
    bzero: float = 0.0
    blank: int | None = None
    n_invalid: int | None = None
    invalid_index: np.ndarray | None = None

    def invalid_mask(self) -> np.ndarray | None:
        """Boolean mask of missing pixels, or ``None`` when there cannot be any."""
        px = self.pixels
        if np.issubdtype(px.dtype, np.floating):
            return ~np.isfinite(px)
        if self.blank is None:
            return None
        return px == self.blank

    def to_dn(self) -> np.ndarray:
        """Float32 DN with NaN for missing pixels (slow; for references and plots)."""
        out = self.pixels.astype(np.float32)
        if self.bscale != 1.0 or self.bzero != 0.0:
            out = (out * np.float32(self.bscale) + np.float32(self.bzero)).astype(np.float32)
        mask = self.invalid_mask()
        if mask is not None:
            out[mask] = np.nan
        return out


@dataclass(frozen=True)
class IngestResult:
    """Outcome of reading one file: an observation with its image, or a rejection.

    Attributes
    ----------
    observation, image : set together when the file was accepted
    rejection : set when it was refused
    timings_s : dict
        Seconds spent per stage (``stat``, ``read``, ``header``, ``decode``,
        ``pixels``) for the latency histograms.
    """

    observation: Observation | None = None
    image: ImageData | None = None
    rejection: Rejection | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the file was accepted."""
        return self.rejection is None and self.observation is not None
