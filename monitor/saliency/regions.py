"""Salient regions of a map on the model grid, measured in solar units.

A region is a connected component (8-connectivity) of the pixels whose
saliency reaches ``threshold_fraction`` of the map's peak. Regions are ranked
by integrated saliency (the sum of the map over the region), which favours a
large moderately salient active region over a single hot pixel; each reports:

* centroid: saliency-weighted mean pixel position on the grid, converted to
  helioprojective ``(Tx, Ty)`` and, when it lies on the disk, Stonyhurst
  ``(lon, lat)`` and a NOAA location (``monitor.saliency.geometry``);
* ``area_arcsec2``: projected area of all region pixels (``n * CDELT^2``);
* ``area_msh``: deprojected area of the region's on-disk pixels in millionths
  of the solar hemisphere, ``1e6 * sum(1/mu) / (2 pi R_px^2)`` with ``mu``
  floored at ``min_mu`` near the limb; None when no pixel is on the disk;
* ``peak``: the map's maximum in the region (CAM units: head-output units per
  feature position);
* ``share``: the region's integrated saliency over the whole map's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from monitor.saliency.geometry import FrameGeometry, noaa_location

__all__ = [
    "PixelRegion",
    "SaliencyRegion",
    "extract_regions",
    "locate_regions",
    "measure_regions",
]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class PixelRegion:
    """A region measured on the grid, before coordinates are attached."""

    centroid_x_px: float
    centroid_y_px: float
    pixels: int
    integrated: float
    peak: float
    share: float
    area_msh: float | None


@dataclass(frozen=True)
class SaliencyRegion:
    """One salient region (the ``region`` object of the ``saliency.v1`` message).

    Parameters
    ----------
    rank : int
        1 = largest integrated saliency.
    centroid_x_px, centroid_y_px : float
        Saliency-weighted centroid, 0-based model-grid pixels (not published).
    hpc_x_arcsec, hpc_y_arcsec : float
        Helioprojective centroid (west +, north +).
    hgs_lon_deg, hgs_lat_deg : float or None
        Stonyhurst centroid; None off the disk.
    noaa_location : str or None
        E.g. ``"N15W30"``; None off the disk.
    on_disk : bool
        Whether the centroid lies inside the limb.
    area_arcsec2 : float
        Projected area.
    area_msh : float or None
        Deprojected on-disk area, millionths of the hemisphere.
    peak : float
        Largest saliency in the region.
    share : float
        Fraction of the map's total saliency inside the region.
    """

    rank: int
    centroid_x_px: float
    centroid_y_px: float
    hpc_x_arcsec: float
    hpc_y_arcsec: float
    hgs_lon_deg: float | None
    hgs_lat_deg: float | None
    noaa_location: str | None
    on_disk: bool
    area_arcsec2: float
    area_msh: float | None
    peak: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        """The message form: exactly the fields of the ``saliency.v1`` region."""
        return {
            "rank": self.rank,
            "hpc_x_arcsec": round(self.hpc_x_arcsec, 2),
            "hpc_y_arcsec": round(self.hpc_y_arcsec, 2),
            "hgs_lon_deg": None if self.hgs_lon_deg is None else round(self.hgs_lon_deg, 3),
            "hgs_lat_deg": None if self.hgs_lat_deg is None else round(self.hgs_lat_deg, 3),
            "noaa_location": self.noaa_location,
            "on_disk": self.on_disk,
            "area_msh": None if self.area_msh is None else round(self.area_msh, 2),
            "area_arcsec2": round(self.area_arcsec2, 1),
            "peak": float(self.peak),
            "share": round(min(max(self.share, 0.0), 1.0), 6),
        }


def measure_regions(saliency: np.ndarray, geometry: FrameGeometry, *,
                    threshold_fraction: float = 0.5, top_k: int = 3,
                    min_region_px: int = 4, min_mu: float = 0.1) -> list[PixelRegion]:
    """Threshold, label and rank the regions of one grid-resolution map.

    Parameters
    ----------
    saliency : numpy.ndarray
        ``(N, N)`` non-negative map on the model grid, indexed ``[y, x]``.
    geometry : FrameGeometry
        The frame's geometry (for the on-disk test and ``mu``).
    threshold_fraction : float
        Pixels at or above this fraction of the peak form regions.
    top_k : int
        Number of regions kept, largest integrated saliency first.
    min_region_px : int
        Components with fewer pixels are dropped.
    min_mu : float
        Floor of ``mu`` in the area deprojection.

    Returns
    -------
    list of PixelRegion
        At most ``top_k``; empty if the map has no positive value.
    """
    cam = np.asarray(saliency, dtype=np.float32)
    if cam.shape != (geometry.size, geometry.size):
        raise ValueError(f"map shape {cam.shape} is not the grid ({geometry.size}, {geometry.size})")
    peak = float(cam.max(initial=0.0))
    if not math.isfinite(peak) or peak <= 0.0:
        return []
    labels, count = ndimage.label(cam >= threshold_fraction * peak, structure=_EIGHT_CONNECTED)
    if count == 0:
        return []
    # Work on the labelled pixels only (a few % of the grid): one bincount per
    # statistic over all components at once; label 0 (background) is unused.
    idx = np.flatnonzero(labels)
    lab = labels.ravel()[idx]
    weights = cam.ravel()[idx].astype(np.float64)
    n = geometry.size
    cols = (idx % n).astype(np.float64)
    rows = (idx // n).astype(np.float64)
    pixels = np.bincount(lab, minlength=count + 1)
    integrated = np.bincount(lab, weights=weights, minlength=count + 1)
    sum_x = np.bincount(lab, weights=weights * cols, minlength=count + 1)
    sum_y = np.bincount(lab, weights=weights * rows, minlength=count + 1)
    peaks = np.zeros(count + 1)
    np.maximum.at(peaks, lab, weights)
    total = float(cam.sum(dtype=np.float64))

    candidates = [i for i in range(1, count + 1) if pixels[i] >= min_region_px]
    candidates.sort(key=lambda i: integrated[i], reverse=True)
    hemisphere_px = 2.0 * math.pi * geometry.radius_px ** 2
    out: list[PixelRegion] = []
    for i in candidates[:top_k]:
        member = lab == i
        mu = geometry.mu(cols[member], rows[member])
        disk = mu > 0.0
        area_msh = (1e6 * float(np.sum(1.0 / np.maximum(mu[disk], min_mu))) / hemisphere_px
                    if disk.any() else None)
        out.append(PixelRegion(
            centroid_x_px=float(sum_x[i] / integrated[i]),
            centroid_y_px=float(sum_y[i] / integrated[i]),
            pixels=int(pixels[i]), integrated=float(integrated[i]),
            peak=float(peaks[i]), share=float(integrated[i] / total), area_msh=area_msh))
    return out


def locate_regions(groups: Sequence[Sequence[PixelRegion]], geometry: FrameGeometry
                   ) -> list[list[SaliencyRegion]]:
    """Attach solar coordinates to the regions of several maps in one transform.

    Parameters
    ----------
    groups : sequence of sequences of PixelRegion
        Ranked regions of each map of one frame.
    geometry : FrameGeometry
        The frame's geometry.
    """
    flat = [r for group in groups for r in group]
    if not flat:
        return [[] for _ in groups]
    where = geometry.pixel_to_solar(np.array([r.centroid_x_px for r in flat]),
                                    np.array([r.centroid_y_px for r in flat]))
    px_area = geometry.arcsec_per_px ** 2
    out: list[list[SaliencyRegion]] = []
    j = 0
    for group in groups:
        located = []
        for rank, r in enumerate(group, start=1):
            on_disk = bool(where.on_disk[j])
            lon = float(where.hgs_lon_deg[j]) if on_disk else None
            lat = float(where.hgs_lat_deg[j]) if on_disk else None
            located.append(SaliencyRegion(
                rank=rank, centroid_x_px=r.centroid_x_px, centroid_y_px=r.centroid_y_px,
                hpc_x_arcsec=float(where.hpc_x_arcsec[j]),
                hpc_y_arcsec=float(where.hpc_y_arcsec[j]),
                hgs_lon_deg=lon, hgs_lat_deg=lat,
                noaa_location=noaa_location(lat, lon) if lat is not None and lon is not None
                else None,
                on_disk=on_disk, area_arcsec2=r.pixels * px_area, area_msh=r.area_msh,
                peak=r.peak, share=r.share))
            j += 1
        out.append(located)
    return out


def extract_regions(saliency: np.ndarray, geometry: FrameGeometry, *,
                    threshold_fraction: float = 0.5, top_k: int = 3,
                    min_region_px: int = 4, min_mu: float = 0.1) -> list[SaliencyRegion]:
    """:func:`measure_regions` then :func:`locate_regions` for a single map."""
    measured = measure_regions(saliency, geometry, threshold_fraction=threshold_fraction,
                               top_k=top_k, min_region_px=min_region_px, min_mu=min_mu)
    return locate_regions([measured], geometry)[0]
