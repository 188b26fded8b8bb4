"""Real full-disk AIA images from Helioviewer JPEG 2000 files, and their shape.

The files hold 8-bit images scaled by JP2Gen; the inversion back to
exposure-normalised DN/s is the ingest's (``monitor.ingest.jp2read``, the
setup file named in the XML box), applied here to a reduced-resolution decode
(JPEG 2000 resolution levels, ~512 px). Values at byte 0 are only bounds.
What survives the unknowns (the exposure reference, uncorrected instrument
degradation by 2021) is the *shape* of the intensity distribution, so
:func:`disk_shape` reports quantiles relative to the on-disk median and the
limb profile relative to the inner disk -- both free of any overall gain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.ingest.jp2read import HELIOVIEWER_SCALINGS
from monitor.reality.real import RealDataError

__all__ = ["DiskShape", "Jp2Image", "disk_shape", "read_jp2"]

#: Quantiles of the on-disk distribution reported (relative to the median).
QUANTILES: tuple[float, ...] = (0.1, 0.9, 0.99)
#: Radii (solar radii) of the limb profile, relative to the mean inside 0.5.
PROFILE_RADII: tuple[float, ...] = (0.9, 0.98, 1.02, 1.1, 1.2)


@dataclass(frozen=True)
class Jp2Image:
    """A real image in scaled-back DN/s, its disk centre and radius (px), its channel."""

    wavelength: int
    data: np.ndarray
    centre: tuple[float, float]
    radius_px: float
    clipped_low: np.ndarray


def _tag(xml: str, name: str) -> float:
    match = re.search(rf"<{name}>\s*([-+0-9.eE]+)\s*</{name}>", xml)
    if not match:
        raise RealDataError("bad_jp2_header", f"no {name} in the JP2 XML box")
    return float(match.group(1))


def read_jp2(path: Path, size: int = 512) -> Jp2Image:
    """Decode ``path`` at about ``size`` px (JPEG 2000 resolution levels) and unscale it."""
    from PIL import Image

    raw = path.read_bytes()
    start, end = raw.find(b"<fits"), raw.find(b"</fits>")
    if start < 0 or end < 0:
        raise RealDataError("bad_jp2_header", f"{path}: no FITS header in the XML box")
    xml = raw[start:end].decode("utf-8", "replace")
    wavelength = int(_tag(xml, "WAVELNTH"))
    setup = re.search(r"<HV_HVS_DETAILS_FILENAME>\s*([^<]*?)\s*</", raw.decode("latin-1"))
    scaling = HELIOVIEWER_SCALINGS.get(setup.group(1) if setup else "", {}).get(wavelength)
    if scaling is None:
        raise RealDataError("bad_jp2_scaling", f"{path}: no known Helioviewer scaling")
    try:
        with Image.open(path) as im:
            full = im.size[0]
            im.reduce = max(0, int(np.log2(full / size))) if full > size else 0
            im.load()
            byte = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise RealDataError("bad_jp2", f"{path}: {exc}") from None
    # The header describes the original image, which a file may hold resized.
    factor = _tag(xml, "NAXIS1") / byte.shape[1]
    # JP2 stores the top row first; FITS (whose CRPIX places the disk) the bottom row.
    byte = byte[::-1]
    data = scaling.to_value(byte).astype(np.float64) / scaling.data_exptime
    # FITS CRPIX is 1-based on the full image; rows stay in file order.
    centre = ((_tag(xml, "CRPIX1") - 0.5) / factor - 0.5, (_tag(xml, "CRPIX2") - 0.5) / factor - 0.5)
    radius = _tag(xml, "RSUN_OBS") / _tag(xml, "CDELT1") / factor
    return Jp2Image(wavelength, data, centre, radius, byte <= 0)


@dataclass(frozen=True)
class DiskShape:
    """Gain-free shape of a full-disk image.

    ``quantiles``: on-disk (r < 0.95) quantiles over the median, NaN where
    the quantile falls on clipped pixels; ``profile``: mean intensity in thin
    rings at :data:`PROFILE_RADII` over the mean inside r = 0.5, NaN where
    most of a ring is clipped.
    """

    quantiles: dict[float, float]
    profile: dict[float, float]


def disk_shape(data: np.ndarray, centre: tuple[float, float], radius_px: float,
               clipped: np.ndarray | None = None) -> DiskShape:
    """Quantiles and limb profile of ``data`` (see :class:`DiskShape`)."""
    ny, nx = data.shape
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(xx - centre[0], yy - centre[1]) / radius_px
    disk = r < 0.95
    values = data[disk]
    median = float(np.median(values))
    quantiles = {}
    censored = float(clipped[disk].mean()) if clipped is not None else 0.0
    for q in QUANTILES:
        quantiles[q] = float(np.quantile(values, q)) / median if q > censored else float("nan")
    inner = float(data[r < 0.5].mean())
    width = 0.01 if radius_px > 150 else 0.02
    profile = {}
    for rho in PROFILE_RADII:
        ring = np.abs(r - rho) < width
        low = float(clipped[ring].mean()) if clipped is not None else 0.0
        # A ring mostly at the clipping floor only bounds the profile from above.
        profile[rho] = float(data[ring].mean()) / inner if low < 0.5 else float("nan")
    return DiskShape(quantiles, profile)
