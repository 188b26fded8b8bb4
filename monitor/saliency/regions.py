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
* ``share``: the region's integrated saliency over the whole map's;
* ``flare``: where inside the region the flare is, from the hot channels at
  grid resolution (:mod:`monitor.saliency.refine`), with its own location and
  area; None where nothing was refined.
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
    "EIGHT_CONNECTED",
    "FlareLocation",
    "FlarePixels",
    "PixelRegion",
    "SaliencyRegion",
    "deprojected_area_msh",
    "extract_regions",
    "locate_regions",
    "measure_regions",
]

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class FlarePixels:
    """A flare located inside a region, on the grid (:func:`monitor.saliency.refine.refine_flare`).

    Parameters
    ----------
    centroid_x_px, centroid_y_px : float
        Excess-weighted centroid, 0-based grid pixels.
    pixels : int
        Grid pixels at or above half the maximum of the combined hot map.
    area_msh : float or None
        Deprojected area of those pixels on the disk; None when none is.
    channels : tuple of int
        The hot channels used (those the frame had).
    """

    centroid_x_px: float
    centroid_y_px: float
    pixels: int
    area_msh: float | None
    channels: tuple[int, ...]


@dataclass(frozen=True)
class PixelRegion:
    """A region measured on the grid, before coordinates are attached.

    ``peak_x_px``, ``peak_y_px`` is the region's largest map value (it names
    the connected component); ``flare`` is filled by the refinement.
    """

    centroid_x_px: float
    centroid_y_px: float
    pixels: int
    integrated: float
    peak: float
    share: float
    area_msh: float | None
    peak_x_px: int = 0
    peak_y_px: int = 0
    flare: FlarePixels | None = None


@dataclass(frozen=True)
class FlareLocation:
    """The ``flare`` object of a region: the flare inside it, located on the Sun.

    Parameters
    ----------
    centroid_x_px, centroid_y_px : float
        Grid centroid (not published).
    hpc_x_arcsec, hpc_y_arcsec : float
        Helioprojective position.
    hgs_lon_deg, hgs_lat_deg, noaa_location : float, float, str or None
        Stonyhurst position and NOAA location; None off the disk.
    on_disk : bool
        Whether the position lies inside the limb.
    area_msh : float or None
        Deprojected area at half maximum of the hot channels.
    area_arcsec2 : float
        Projected area of the same pixels.
    channels : tuple of int
        Hot channels it was located in.
    """

    centroid_x_px: float
    centroid_y_px: float
    hpc_x_arcsec: float
    hpc_y_arcsec: float
    hgs_lon_deg: float | None
    hgs_lat_deg: float | None
    noaa_location: str | None
    on_disk: bool
    area_msh: float | None
    area_arcsec2: float
    channels: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """The message form (the ``flare`` object of ``saliency.v1`` and ``alert.v1`` regions)."""
        return {**_place(self), "channels": list(self.channels)}


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
    flare : FlareLocation or None
        The flare inside the region, located in the hot channels; None when
        not refined (non-flare targets, lower ranks, no hot channel).
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
    flare: FlareLocation | None = None

    def to_dict(self) -> dict[str, Any]:
        """The message form: exactly the fields of the ``saliency.v1`` region."""
        return {
            "rank": self.rank,
            **_place(self),
            "peak": float(self.peak),
            "share": round(min(max(self.share, 0.0), 1.0), 6),
            "flare": None if self.flare is None else self.flare.to_dict(),
        }


def _place(where: SaliencyRegion | FlareLocation) -> dict[str, Any]:
    """Position and area fields shared by regions and flares, rounded for the wire."""
    return {
        "hpc_x_arcsec": round(where.hpc_x_arcsec, 2),
        "hpc_y_arcsec": round(where.hpc_y_arcsec, 2),
        "hgs_lon_deg": None if where.hgs_lon_deg is None else round(where.hgs_lon_deg, 3),
        "hgs_lat_deg": None if where.hgs_lat_deg is None else round(where.hgs_lat_deg, 3),
        "noaa_location": where.noaa_location,
        "on_disk": where.on_disk,
        "area_msh": None if where.area_msh is None else round(where.area_msh, 2),
        "area_arcsec2": round(where.area_arcsec2, 1),
    }


def deprojected_area_msh(geometry: FrameGeometry, cols: np.ndarray, rows: np.ndarray,
                         min_mu: float) -> float | None:
    """Area of grid pixels on the disk in millionths of the hemisphere; None if none is.

    ``1e6 * sum(1 / max(mu, min_mu)) / (2 pi R_px^2)`` over the pixels with ``mu > 0``.
    """
    mu = geometry.mu(cols, rows)
    disk = mu > 0.0
    if not disk.any():
        return None
    hemisphere_px = 2.0 * math.pi * geometry.radius_px ** 2
    return 1e6 * float(np.sum(1.0 / np.maximum(mu[disk], min_mu))) / hemisphere_px


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
    labels, count = ndimage.label(cam >= threshold_fraction * peak, structure=EIGHT_CONNECTED)
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
    # The pixel of each component's maximum: sorted by (label, value), the last of each label.
    order = np.lexsort((weights, lab))
    last = order[np.r_[np.flatnonzero(np.diff(lab[order])), len(order) - 1]]
    peak_at = np.zeros(count + 1, dtype=np.int64)
    peak_at[lab[last]] = idx[last]
    total = float(cam.sum(dtype=np.float64))

    candidates = [i for i in range(1, count + 1) if pixels[i] >= min_region_px]
    candidates.sort(key=lambda i: integrated[i], reverse=True)
    out: list[PixelRegion] = []
    for i in candidates[:top_k]:
        member = lab == i
        out.append(PixelRegion(
            centroid_x_px=float(sum_x[i] / integrated[i]),
            centroid_y_px=float(sum_y[i] / integrated[i]),
            pixels=int(pixels[i]), integrated=float(integrated[i]),
            peak=float(peaks[i]), share=float(integrated[i] / total),
            area_msh=deprojected_area_msh(geometry, cols[member], rows[member], min_mu),
            peak_x_px=int(peak_at[i] % n), peak_y_px=int(peak_at[i] // n)))
    return out


def locate_regions(groups: Sequence[Sequence[PixelRegion]], geometry: FrameGeometry
                   ) -> list[list[SaliencyRegion]]:
    """Attach solar coordinates to the regions of several maps in one transform.

    Region centroids and the centroids of their refined flares go through
    sunpy together (one transform per frame).

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
    points = [(r.centroid_x_px, r.centroid_y_px) for r in flat]
    points += [(r.flare.centroid_x_px, r.flare.centroid_y_px) for r in flat if r.flare]
    xs, ys = np.array(points, dtype=np.float64).T
    where = geometry.pixel_to_solar(xs, ys)
    px_area = geometry.arcsec_per_px ** 2

    def at(j: int) -> dict[str, Any]:
        on_disk = bool(where.on_disk[j])
        lon = float(where.hgs_lon_deg[j]) if on_disk else None
        lat = float(where.hgs_lat_deg[j]) if on_disk else None
        return {"hpc_x_arcsec": float(where.hpc_x_arcsec[j]),
                "hpc_y_arcsec": float(where.hpc_y_arcsec[j]),
                "hgs_lon_deg": lon, "hgs_lat_deg": lat, "on_disk": on_disk,
                "noaa_location": noaa_location(lat, lon)
                if lat is not None and lon is not None else None}

    out: list[list[SaliencyRegion]] = []
    j, k = 0, len(flat)
    for group in groups:
        located = []
        for rank, r in enumerate(group, start=1):
            flare = None
            if r.flare is not None:
                f = r.flare
                flare = FlareLocation(centroid_x_px=f.centroid_x_px,
                                      centroid_y_px=f.centroid_y_px, **at(k),
                                      area_msh=f.area_msh, area_arcsec2=f.pixels * px_area,
                                      channels=f.channels)
                k += 1
            located.append(SaliencyRegion(
                rank=rank, centroid_x_px=r.centroid_x_px, centroid_y_px=r.centroid_y_px,
                **at(j), area_arcsec2=r.pixels * px_area, area_msh=r.area_msh,
                peak=r.peak, share=r.share, flare=flare))
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
