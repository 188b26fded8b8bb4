"""Where inside a CAM region the flare is: the hot channels at model-grid resolution.

The class-activation map has the resolution of the feature map (16 grid px,
about 150 arcsec at 256 px): its thresholded region is the model's evidence,
several feature cells wide, and its area (tens of thousands of MSH) is that of
a smoothed map, not of anything on the Sun. A flare, though, is the brightest
thing in the hot AIA channels (94 Å: Fe XVIII; 131 Å: Fe XXI) wherever it
happens, so inside the region the map points at, the hot channels say where
it is to a grid pixel:

1. the window is the CAM region: the connected pixels at or above
   ``threshold_fraction`` of the map's peak that contain the region's peak
   (the same component :func:`monitor.saliency.regions.measure_regions`
   measured);
2. each hot channel (DN/s on the grid), smoothed by a Gaussian of one grid
   pixel against noise, is rescaled inside the window to
   ``(I - median) / (max - median)`` so that channels of very different
   brightness count alike, and the channels are averaged;
3. the flare is the connected part of that map at or above half its maximum
   (a full width at half maximum) around the maximum: its excess-weighted
   centroid is the location, its pixels deprojected with ``mu`` (as region
   areas are) its area.

The CAM itself is untouched (it remains exactly Grad-CAM, see
:mod:`monitor.saliency.cam`); the refinement only decides where, inside the
region the CAM chose, the flare's hot plasma sits. If the CAM chose the wrong
region, the refinement finds the hottest spot of the wrong region: the
pointing error in the package's ``metrics.json`` measures both steps together.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from monitor.saliency.geometry import FrameGeometry
from monitor.saliency.regions import (
    EIGHT_CONNECTED,
    FlarePixels,
    PixelRegion,
    deprojected_area_msh,
)

__all__ = ["refine_flare"]

#: Smoothing of the hot channels before the maximum is taken (grid px, Gaussian sigma).
SMOOTH_PX = 1.0
#: The flare is the part of the combined hot map at or above this fraction of its maximum.
HALF_MAXIMUM = 0.5


def refine_flare(cam: np.ndarray, region: PixelRegion, hot: Mapping[int, np.ndarray],
                 geometry: FrameGeometry, *, threshold_fraction: float = 0.5,
                 min_mu: float = 0.1) -> FlarePixels | None:
    """Locate the flare inside ``region`` of ``cam`` in the hot channels.

    Parameters
    ----------
    cam : numpy.ndarray
        ``(N, N)`` grid map the region was cut from.
    region : PixelRegion
        The region (its peak pixel picks the component of the map).
    hot : mapping of int to numpy.ndarray
        Hot channels (AIA wavelength -> ``(N, N)`` DN/s on the grid); empty
        means nothing to refine with.
    geometry : FrameGeometry
        The frame's geometry (``mu`` for the area).
    threshold_fraction : float
        The threshold the region was cut at.
    min_mu : float
        Floor of ``mu`` in the area deprojection.

    Returns
    -------
    FlarePixels or None
        None without hot channels, or when none has any structure in the window.
    """
    if not hot:
        return None
    cam = np.asarray(cam, dtype=np.float32)
    labels, _ = ndimage.label(cam >= threshold_fraction * float(cam.max()),
                              structure=EIGHT_CONNECTED)
    label = labels[region.peak_y_px, region.peak_x_px]
    if label == 0:
        return None
    rows, cols = np.nonzero(labels == label)
    # Work on the window's bounding box, padded for the smoothing kernel.
    pad = int(4 * SMOOTH_PX) + 1
    y0, y1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, cam.shape[0])
    x0, x1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, cam.shape[1])
    window = labels[y0:y1, x0:x1] == label
    combined = np.zeros(window.shape, dtype=np.float64)
    used = []
    for wavelength in sorted(hot):
        image = np.asarray(hot[wavelength], dtype=np.float64)
        if image.shape != cam.shape:
            raise ValueError(f"hot channel {wavelength} has shape {image.shape}, map {cam.shape}")
        smooth = ndimage.gaussian_filter(np.nan_to_num(image[y0:y1, x0:x1]), SMOOTH_PX)
        inside = smooth[window]
        base, top = float(np.median(inside)), float(inside.max())
        if not top > base:
            continue
        combined += (smooth - base) / (top - base)
        used.append(int(wavelength))
    if not used:
        return None
    combined = np.where(window, combined / len(used), -np.inf)
    py, px = np.unravel_index(int(np.argmax(combined)), combined.shape)
    parts, _ = ndimage.label(combined >= HALF_MAXIMUM * combined[py, px],
                             structure=EIGHT_CONNECTED)
    member = parts == parts[py, px]
    fy, fx = np.nonzero(member)
    weight = combined[member]
    fx_grid, fy_grid = fx + x0, fy + y0
    return FlarePixels(
        centroid_x_px=float(np.sum(weight * fx_grid) / weight.sum()),
        centroid_y_px=float(np.sum(weight * fy_grid) / weight.sum()),
        pixels=int(member.sum()),
        area_msh=deprojected_area_msh(geometry, fx_grid, fy_grid, min_mu),
        channels=tuple(used))
