"""Checks on decoded pixels: missing, saturated, dark.

Counting works on the stored integers (comparisons against BLANK and against
the saturation level converted to raw units), which for a 4096x4096 int16
image costs a few milliseconds per count; no float copy of the image is made.
The darkness test samples a box well inside the disk (from the header
geometry) on a sparse grid, because an eclipse darkens the whole Sun and a
mean over ~65 000 pixels is far more precise than the thresholds need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.ingest.header import IngestRejected
from monitor.ingest.reasons import RejectReason
from monitor.ingest.records import Geometry, ImageData
from monitor.ingest.settings import PixelChecks

__all__ = ["SPARSE_INVALID_FRACTION", "PixelStats", "check_pixels", "dark_box_mean",
           "invalid_pixels"]

_DARK_SAMPLES_PER_SIDE = 256


@dataclass(frozen=True)
class PixelStats:
    """Counts and the disk mean found by :func:`check_pixels`."""

    n_pixels: int
    n_missing: int
    n_saturated: int
    disk_mean_dn_per_s: float | None
    invalid_index: np.ndarray | None = None


#: Up to this fraction of invalid pixels, their flat indices are listed for the
#: resampler (sparse correction); beyond it a full mask is cheaper.
SPARSE_INVALID_FRACTION = 0.01


def invalid_pixels(image: ImageData) -> tuple[int, np.ndarray | None]:
    """Count of BLANK / non-finite pixels and, when few, their flat indices."""
    px = image.pixels
    if px.dtype.kind == "f":
        mask = ~np.isfinite(px)
    elif image.blank is None:
        return 0, None
    else:
        mask = px == image.blank
    count = int(np.count_nonzero(mask))
    if 0 < count <= SPARSE_INVALID_FRACTION * px.size:
        return count, np.flatnonzero(mask)
    return count, None


def _count_saturated(image: ImageData, saturation_dn: float) -> int:
    px = image.pixels
    if px.dtype.kind == "f" or image.bscale <= 0:
        dn = px.astype(np.float64) * image.bscale + image.bzero
        return int(np.count_nonzero(dn >= saturation_dn))
    raw = math.ceil((saturation_dn - image.bzero) / image.bscale - 1e-9)
    info = np.iinfo(px.dtype)
    if raw > info.max:
        return 0
    return int(np.count_nonzero(px >= max(raw, info.min + 1)))


def dark_box_mean(image: ImageData, geometry: Geometry, exposure_s: float,
                  half_width_rsun: float) -> float | None:
    """Mean DN/s in a box centred on the disk, or None if the box misses the image."""
    px = image.pixels
    height, width = px.shape
    cx, cy = geometry.sun_center_pixel()
    half = half_width_rsun * geometry.rsun_pixels()
    x0, x1 = max(0, math.ceil(cx - half)), min(width, math.floor(cx + half) + 1)
    y0, y1 = max(0, math.ceil(cy - half)), min(height, math.floor(cy + half) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    step = max(1, min(x1 - x0, y1 - y0) // _DARK_SAMPLES_PER_SIDE)
    sample = px[y0:y1:step, x0:x1:step]
    if sample.dtype.kind == "f":
        values = sample[np.isfinite(sample)].astype(np.float64)
    elif image.blank is not None:
        values = sample[sample != image.blank].astype(np.float64)
    else:
        values = sample.astype(np.float64).ravel()
    if values.size == 0:
        return None
    return float((values.mean() * image.bscale + image.bzero) / exposure_s)


def check_pixels(image: ImageData, settings: PixelChecks, *, wavelength: int,
                 exposure_s: float, geometry: Geometry, count_saturation: bool = True
                 ) -> PixelStats:
    """Refuse frames with too many bad pixels or a dark disk; return the counts.

    Raises
    ------
    IngestRejected
        NO_VALID_PIXELS, TOO_MANY_MISSING_PIXELS, TOO_MANY_SATURATED_PIXELS or
        DARK_FRAME.
    """
    n_pixels = int(image.pixels.size)
    n_missing, invalid_index = invalid_pixels(image)
    if n_missing == n_pixels:
        raise IngestRejected(RejectReason.NO_VALID_PIXELS, "every pixel is BLANK/non-finite",
                             {"n_pixels": n_pixels})
    missing_fraction = n_missing / n_pixels
    if missing_fraction > settings.max_missing_fraction:
        raise IngestRejected(RejectReason.TOO_MANY_MISSING_PIXELS,
                             f"{missing_fraction:.2%} of pixels missing "
                             f"(limit {settings.max_missing_fraction:.2%})",
                             {"fraction": round(missing_fraction, 6)})
    n_saturated = _count_saturated(image, settings.saturation_dn) if count_saturation else 0
    saturated_fraction = n_saturated / n_pixels
    if saturated_fraction > settings.max_saturated_fraction:
        raise IngestRejected(RejectReason.TOO_MANY_SATURATED_PIXELS,
                             f"{saturated_fraction:.2%} of pixels >= {settings.saturation_dn} DN "
                             f"(limit {settings.max_saturated_fraction:.2%})",
                             {"fraction": round(saturated_fraction, 6)})
    disk_mean = dark_box_mean(image, geometry, exposure_s, settings.dark_box_half_width_rsun)
    threshold = settings.dark_threshold_dn_per_s.get(str(wavelength),
                                                     settings.dark_default_dn_per_s)
    if disk_mean is not None and disk_mean < threshold:
        raise IngestRejected(RejectReason.DARK_FRAME,
                             f"disk mean {disk_mean:.3g} DN/s below the {wavelength} A dark "
                             f"threshold {threshold:g}",
                             {"disk_mean_dn_per_s": round(disk_mean, 6), "threshold": threshold})
    return PixelStats(n_pixels=n_pixels, n_missing=n_missing, n_saturated=n_saturated,
                      disk_mean_dn_per_s=disk_mean, invalid_index=invalid_index)
