"""Saliency settings (the ``saliency:`` section of the config).

Stdlib only, so the config loader can validate YAML without importing numpy,
sunpy or matplotlib. Operations-center defaults: explain the predicted event
class of every frame, report the three most salient regions above half of the
map's peak, locate the flare inside the top region in the hot channels (94
and 131 A), and render an overlay (131 A, the hot flare channel) per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SaliencySettings"]

#: AIA's EUV channels (A): where a flare can be located.
_EUV_CHANNELS = (94, 131, 171, 193, 211, 304, 335)


@dataclass(frozen=True)
class SaliencySettings:
    """What to explain per frame and how regions are cut out of the maps."""

    enabled: bool = field(
        default=True, metadata={"doc": "compute saliency summaries for every frame"})
    explain_predicted_class: bool = field(
        default=True, metadata={"doc": "explain the most probable event class"})
    extra_classes: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "class names always explained as well (e.g. [M, X]); unknown names "
                         "are an error when the model is loaded"})
    irradiance_lines_nm: tuple[float, ...] = field(
        default=(),
        metadata={"doc": "EVE line wavelengths (nm, e.g. [9.39, 13.29]) whose CNN residual "
                         "is explained; the linear part on image statistics has no map"})
    threshold_fraction: float = field(
        default=0.5,
        metadata={"gt": 0.0, "lt": 1.0,
                  "doc": "a pixel belongs to a region when its saliency exceeds this "
                         "fraction of the map's peak"})
    top_k: int = field(
        default=3, metadata={"ge": 1, "le": 50, "doc": "regions reported per target"})
    min_region_px: int = field(
        default=4, metadata={"ge": 1, "doc": "smaller connected components (model-grid px) "
                                             "are ignored"})
    min_mu: float = field(
        default=0.1,
        metadata={"gt": 0.0, "le": 1.0,
                  "doc": "floor of mu = cos(heliocentric angle) when deprojecting areas; "
                         "keeps limb pixels from exploding area_msh"})
    refine_channels: tuple[int, ...] = field(
        default=(94, 131),
        metadata={"choices": _EUV_CHANNELS,
                  "doc": "hot AIA channels (A) in which the flare is located, at grid "
                         "resolution, inside the top region of each explained flare class "
                         "(the region's 'flare' object); [] reports CAM regions only"})
    overlay: bool = field(
        default=True, metadata={"doc": "render a PNG overlay per frame (for the HTTP API)"})
    overlay_channel: int = field(
        default=131,
        metadata={"doc": "AIA wavelength (A) shown under the saliency map; must be one of "
                         "the model's channels (the first channel is used otherwise)"})
    overlay_size_px: int = field(
        default=512, metadata={"ge": 64, "le": 4096, "doc": "width and height of the PNG"})
    overlay_alpha: float = field(
        default=0.5, metadata={"ge": 0.0, "le": 1.0,
                               "doc": "opacity of the heat map at the map's peak"})

    def check(self) -> list[tuple[str, str]]:
        """Cross-field checks: something must be explained when enabled."""
        problems: list[tuple[str, str]] = []
        if self.enabled and not (self.explain_predicted_class or self.extra_classes
                                 or self.irradiance_lines_nm):
            problems.append(("explain_predicted_class",
                             "saliency is enabled but no target is selected"))
        if len(set(self.extra_classes)) != len(self.extra_classes):
            problems.append(("extra_classes", "duplicate class name"))
        if len(set(self.refine_channels)) != len(self.refine_channels):
            problems.append(("refine_channels", "duplicate channel"))
        if any(w <= 0 for w in self.irradiance_lines_nm):
            problems.append(("irradiance_lines_nm", "wavelengths must be > 0"))
        return problems
