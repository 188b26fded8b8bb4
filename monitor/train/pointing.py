"""The pointing error: how far from the true flare the daemon says it is, in arcsec.

The pointing game (:mod:`monitor.train.evaluate`) asks whether the saliency
peak lies within a feature cell or so of the flare. A forecaster needs more:
a position, and an area, as the daemon publishes them. :func:`locate_frames`
makes them the daemon's way -- :func:`monitor.saliency.explain_outputs` on the
backend's features and logits with the frame's own geometry and the hot
channels in DN/s on the grid, default :class:`~monitor.saliency.SaliencySettings`
-- and :func:`pointing_error` scores them against the synthetic truth.

**Scoring.** Frames with a true flare (class C, M or X) that the model also
calls a flare (predicted C, M or X), with a visible kernel. The truth is the
flare's loop-top kernel (the hot source that dominates GOES XRS, 94 and 131 Å),
or the nearest visible kernel when the loop top is hidden. The distance on the
grid times the frame's plate scale is the error in arcsec; the grid is a TAN
projection, so at these distances that is the angle on the sky. Two positions
are scored: the refined flare (``region.flare``, what the frame and alert
messages carry) and, for comparison, the CAM region's centroid, with the
deprojected area each reports. A frame whose top region has no refined flare
counts as unlocated and is reported as such, not scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.saliency import FrameGeometry, HeadWeights, SaliencySettings, explain_outputs

__all__ = ["Located", "locate_frames", "pointing_error"]


@dataclass
class Located:
    """Per frame: positions on the grid and areas, NaN where there is none.

    Attributes
    ----------
    cam_xy, flare_xy : numpy.ndarray
        ``(n, 2)`` CAM region centroid and refined flare centroid (grid px).
    cam_area_msh, flare_area_msh : numpy.ndarray
        ``(n,)`` their deprojected areas.
    arcsec_per_px : numpy.ndarray
        ``(n,)`` the frame's plate scale on the grid.
    """

    cam_xy: np.ndarray
    flare_xy: np.ndarray
    cam_area_msh: np.ndarray
    flare_area_msh: np.ndarray
    arcsec_per_px: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence[Located]) -> Located:
        """One record of several batches, in order."""
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("cam_xy", "flare_xy", "cam_area_msh", "flare_area_msh",
                                  "arcsec_per_px")))


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def locate_frames(features: np.ndarray, logits: np.ndarray, images_dn_s: Sequence[np.ndarray],
                  geometries: Sequence[FrameGeometry], heads: HeadWeights,
                  channels: Sequence[int], settings: SaliencySettings | None = None) -> Located:
    """Located regions and flares of a batch, the daemon's way.

    Parameters
    ----------
    features, logits : numpy.ndarray
        ``(B, F, h, w)`` and ``(B, K)`` backend outputs.
    images_dn_s : sequence of numpy.ndarray
        ``(C, N, N)`` DN/s on the grid per frame (the hot channels are taken from it).
    geometries : sequence of FrameGeometry
        Each frame's geometry.
    heads : HeadWeights
        The package's head weights.
    channels : sequence of int
        Wavelength of each image plane.
    settings : SaliencySettings, optional
        Defaults (the daemon's) when omitted.
    """
    settings = settings or SaliencySettings()
    n = len(geometries)
    out = Located(np.full((n, 2), np.nan), np.full((n, 2), np.nan), np.full(n, np.nan),
                  np.full(n, np.nan), np.array([g.arcsec_per_px for g in geometries]))
    for i, geometry in enumerate(geometries):
        hot: Mapping[int, np.ndarray] = {w: images_dn_s[i][k] for k, w in enumerate(channels)}
        summary = explain_outputs(features[i], logits[i], heads, geometry, settings, hot=hot)
        if not summary.targets or not summary.targets[0].regions:
            continue
        region = summary.targets[0].regions[0]
        out.cam_xy[i] = (region.centroid_x_px, region.centroid_y_px)
        out.cam_area_msh[i] = _or_nan(region.area_msh)
        if region.flare is not None:
            out.flare_xy[i] = (region.flare.centroid_x_px, region.flare.centroid_y_px)
            out.flare_area_msh[i] = _or_nan(region.flare.area_msh)
    return out


def _truth_xy(kernels: np.ndarray) -> np.ndarray | None:
    """Loop top when visible, else every visible kernel (the nearest is scored)."""
    visible = kernels[(kernels[:, 4] > 0.5) & np.isfinite(kernels[:, 0])]
    if not len(visible):
        return None
    if kernels[0, 4] > 0.5 and np.isfinite(kernels[0, 0]):
        return kernels[:1, :2]
    return visible[:, :2]


def _stats(errors: list[float], areas: list[float]) -> dict[str, Any]:
    e = np.asarray(errors, dtype=np.float64)
    a = np.asarray([v for v in areas if np.isfinite(v)], dtype=np.float64)
    located = e[np.isfinite(e)]
    return {
        "located": len(located),
        "median_arcsec": round(float(np.median(located)), 2) if len(located) else None,
        "p90_arcsec": round(float(np.percentile(located, 90)), 2) if len(located) else None,
        "max_arcsec": round(float(located.max()), 2) if len(located) else None,
        "area_msh": ({"p10": round(float(np.percentile(a, 10)), 1),
                      "median": round(float(np.median(a)), 1),
                      "p90": round(float(np.percentile(a, 90)), 1)} if len(a) else None),
    }


def pointing_error(located: Located, kernels: np.ndarray, true_index: np.ndarray,
                   predicted: np.ndarray) -> dict[str, Any]:
    """The pointing error of the refined flare and of the CAM region (``metrics.json``).

    Parameters
    ----------
    located : Located
        From :func:`locate_frames`.
    kernels : numpy.ndarray
        ``(n, K, 5)`` kernels ``(x, y, sigma, share, visible)`` on the grid, NaN-padded.
    true_index, predicted : numpy.ndarray
        Classes (0 = no flare).

    Returns
    -------
    dict
        ``frames`` (scored), then ``median_arcsec``, ``p90_arcsec``,
        ``max_arcsec``, ``located`` and ``area_msh`` quantiles of the refined
        flare at the top level and of the CAM region under ``cam_region``.
    """
    flare_err: list[float] = []
    cam_err: list[float] = []
    flare_area: list[float] = []
    cam_area: list[float] = []
    for i in range(len(true_index)):
        if true_index[i] < 1 or predicted[i] < 1:
            continue
        truth = _truth_xy(kernels[i])
        if truth is None:
            continue
        scale = located.arcsec_per_px[i]
        for xy, errors in ((located.flare_xy[i], flare_err), (located.cam_xy[i], cam_err)):
            d = np.hypot(truth[:, 0] - xy[0], truth[:, 1] - xy[1]).min() * scale
            errors.append(float(d))
        flare_area.append(located.flare_area_msh[i])
        cam_area.append(located.cam_area_msh[i])
    return {"frames": len(flare_err), **_stats(flare_err, flare_area),
            "cam_region": _stats(cam_err, cam_area),
            "rule": "frames with a true and a predicted flare (C, M, X) and a visible kernel; "
                    "distance from the located flare (region.flare of the predicted class's "
                    "top region; cam_region: the region's CAM centroid) to the loop-top "
                    "kernel, or to the nearest visible kernel when the loop top is hidden; "
                    "unlocated frames are counted (frames - located), not scored"}
