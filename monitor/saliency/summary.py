"""Per-frame saliency summaries: feature maps in, located regions out.

:func:`explain` is what the daemon calls after inference, for every frame,
whatever the backend: CAM at feature resolution (one small GEMM), bilinear
upsampling to the model grid, regions per target, the flare located inside
the top region of each flare class in the hot channels
(:mod:`monitor.saliency.refine`), and one sunpy transform for all centroids of
the frame. It costs a few milliseconds at 256 px (see docs/saliency.md for
measured numbers).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from monitor.saliency.cam import (
    HeadWeights,
    Target,
    class_activation_maps,
    select_targets,
    upsample_bilinear,
)
from monitor.saliency.geometry import FrameGeometry
from monitor.saliency.refine import refine_flare
from monitor.saliency.regions import (
    FlareLocation,
    SaliencyRegion,
    locate_regions,
    measure_regions,
)
from monitor.saliency.settings import SaliencySettings

__all__ = ["SaliencySummary", "TargetSaliency", "explain", "explain_maps", "explain_outputs",
           "is_flare_class"]

log = logging.getLogger(__name__)

Method = Literal["cam", "gradcam"]


@dataclass(frozen=True, eq=False)
class TargetSaliency:
    """Saliency of one explained output.

    Parameters
    ----------
    target : Target
        What was explained.
    regions : tuple of SaliencyRegion
        Ranked regions.
    peak : float
        Maximum of the map (0 when the map is empty: nothing pushes the output up).
    saliency : numpy.ndarray
        ``(N, N)`` map on the model grid, ``[y, x]`` (kept for the overlay; not published).
    """

    target: Target
    regions: tuple[SaliencyRegion, ...]
    peak: float
    saliency: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``targets[]`` item of the ``saliency.v1`` message."""
        return {"target": self.target.name, "kind": self.target.kind,
                "score": self.target.score,
                "regions": [r.to_dict() for r in self.regions]}


@dataclass(frozen=True, eq=False)
class SaliencySummary:
    """Everything saliency says about one frame.

    Parameters
    ----------
    geometry : FrameGeometry
        The frame's geometry.
    targets : tuple of TargetSaliency
        One entry per explained output, in the order requested.
    method : {"cam", "gradcam"}
        How the maps were made.
    """

    geometry: FrameGeometry
    targets: tuple[TargetSaliency, ...]
    method: Method = "cam"

    def to_dict(self) -> dict[str, Any]:
        """``method`` and ``targets`` of the ``saliency.v1`` data.

        The publisher adds ``frame_id``, ``t_obs``, ``model`` and ``overlay_url``,
        which this module does not know.
        """
        return {"method": self.method, "targets": [t.to_dict() for t in self.targets]}

    def flare(self) -> tuple[str, FlareLocation] | None:
        """The first explained flare class with a located flare (top region), and the flare."""
        for t in self.targets:
            if is_flare_class(t.target) and t.regions and t.regions[0].flare is not None:
                return t.target.name, t.regions[0].flare
        return None


def explain_maps(maps: np.ndarray, targets: Sequence[Target], geometry: FrameGeometry,
                 settings: SaliencySettings, method: Method = "cam",
                 hot: Mapping[int, np.ndarray] | None = None) -> SaliencySummary:
    """Regions of ready maps on the model grid, one per target.

    Parameters
    ----------
    maps : numpy.ndarray
        ``(T, N, N)`` non-negative maps on the grid (``[y, x]``).
    targets : sequence of Target
        The ``T`` outputs the maps explain.
    geometry : FrameGeometry
        The frame's geometry (``N = geometry.size``).
    settings : SaliencySettings
        Threshold, ``top_k``, ``min_region_px``, ``min_mu``.
    method : {"cam", "gradcam"}
        Recorded in the summary.
    hot : mapping of int to numpy.ndarray, optional
        Hot channels (wavelength -> ``(N, N)`` DN/s on the grid) to locate the
        flare in; only those named in ``settings.refine_channels`` are used.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[0] != len(targets):
        raise ValueError(f"need one (N, N) map per target; got {maps.shape} for "
                         f"{len(targets)} targets")
    measured = [measure_regions(m, geometry, threshold_fraction=settings.threshold_fraction,
                                top_k=settings.top_k, min_region_px=settings.min_region_px,
                                min_mu=settings.min_mu) for m in maps]
    channels = {w: hot[w] for w in settings.refine_channels if hot and w in hot}
    for i, (target, regions) in enumerate(zip(targets, measured)):
        if channels and regions and is_flare_class(target):
            flare = refine_flare(maps[i], regions[0], channels, geometry,
                                 threshold_fraction=settings.threshold_fraction,
                                 min_mu=settings.min_mu)
            regions[0] = dataclasses.replace(regions[0], flare=flare)
    located = locate_regions(measured, geometry)
    return SaliencySummary(
        geometry=geometry, method=method,
        targets=tuple(TargetSaliency(target=t, regions=tuple(r), peak=float(m.max(initial=0.0)),
                                     saliency=m)
                      for t, r, m in zip(targets, located, maps)))


def is_flare_class(target: Target) -> bool:
    """Whether a target is a flare class: a class other than the first.

    The first class of a package is the one below every flare threshold
    (``none``: its first ``class_thresholds_w_m2`` is 0), whose map has no
    flare to locate.
    """
    return target.kind == "class" and target.index > 0


def explain(features: np.ndarray, targets: int | Sequence[Target], heads: HeadWeights,
            geometry: FrameGeometry, settings: SaliencySettings | None = None,
            hot: Mapping[int, np.ndarray] | None = None) -> SaliencySummary:
    """Saliency summary of one frame from its feature maps (any backend).

    Parameters
    ----------
    features : numpy.ndarray
        ``(F, h, w)`` or ``(1, F, h, w)`` feature maps of the frame (the
        model's ``features`` output).
    targets : int or sequence of Target
        A class index, or the targets to explain (see :func:`select_targets`).
    heads : HeadWeights
        Head weights and output names of the model package.
    geometry : FrameGeometry
        The frame's geometry on the model grid.
    settings : SaliencySettings, optional
        Region extraction settings; defaults if omitted.
    hot : mapping of int to numpy.ndarray, optional
        Hot channels on the grid (DN/s) to locate flares in (:func:`explain_maps`).

    Returns
    -------
    SaliencySummary
    """
    settings = settings or SaliencySettings()
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim == 4:
        if feats.shape[0] != 1:
            raise ValueError("explain takes one frame; loop over the batch")
        feats = feats[0]
    if isinstance(targets, (int, np.integer)):
        index = int(targets)
        target_list = [Target("class", index, heads.class_names[index])]
    else:
        target_list = list(targets)
    cams = class_activation_maps(feats, heads.weights_for(target_list))
    maps = upsample_bilinear(cams, geometry.size)
    return explain_maps(maps, target_list, geometry, settings, hot=hot)


def explain_outputs(features: np.ndarray, logits: np.ndarray, heads: HeadWeights,
                    geometry: FrameGeometry, settings: SaliencySettings | None = None,
                    irradiance_w_m2: np.ndarray | None = None,
                    hot: Mapping[int, np.ndarray] | None = None) -> SaliencySummary:
    """:func:`select_targets` from the settings, then :func:`explain`, for one frame.

    Parameters
    ----------
    features : numpy.ndarray
        ``(F, h, w)`` feature maps of the frame.
    logits : numpy.ndarray
        ``(K,)`` class logits of the frame.
    heads : HeadWeights
        Head weights and output names.
    geometry : FrameGeometry
        The frame's geometry.
    settings : SaliencySettings, optional
        Which targets and how regions are cut.
    irradiance_w_m2 : numpy.ndarray, optional
        ``(L,)`` line irradiances (scores of explained lines).
    hot : mapping of int to numpy.ndarray, optional
        Hot channels on the grid (DN/s) to locate flares in (:func:`explain_maps`).
    """
    settings = settings or SaliencySettings()
    targets = select_targets(heads, logits,
                             explain_predicted_class=settings.explain_predicted_class,
                             extra_classes=settings.extra_classes,
                             irradiance_lines_nm=settings.irradiance_lines_nm,
                             irradiance_w_m2=irradiance_w_m2)
    return explain(features, targets, heads, geometry, settings, hot=hot)
