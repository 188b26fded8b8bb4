"""Saliency: where the model looked, in solar coordinates.

* :mod:`~monitor.saliency.cam` -- class-activation maps from the forward pass
  of any backend (numpy), bilinear upsampling, target selection;
* :mod:`~monitor.saliency.gradcam` -- the torch autograd Grad-CAM reference
  (imported on demand: it needs torch);
* :mod:`~monitor.saliency.geometry` -- the frame's observation geometry, the
  grid's WCS, pixel -> helioprojective -> Stonyhurst, NOAA locations;
* :mod:`~monitor.saliency.regions` -- thresholded connected regions with
  centroid, area, peak and share;
* :mod:`~monitor.saliency.summary` -- :func:`explain`, the per-frame entry point;
* :mod:`~monitor.saliency.overlay` -- the PNG overlay (imported on demand:
  it needs matplotlib).
"""

from monitor.saliency.cam import (
    HeadWeights,
    Target,
    class_activation_maps,
    select_targets,
    upsample_bilinear,
)
from monitor.saliency.geometry import FrameGeometry, noaa_location
from monitor.saliency.regions import SaliencyRegion, extract_regions
from monitor.saliency.settings import SaliencySettings
from monitor.saliency.summary import (
    SaliencySummary,
    TargetSaliency,
    explain,
    explain_maps,
    explain_outputs,
)

__all__ = [
    "FrameGeometry",
    "HeadWeights",
    "SaliencyRegion",
    "SaliencySettings",
    "SaliencySummary",
    "Target",
    "TargetSaliency",
    "class_activation_maps",
    "explain",
    "explain_maps",
    "explain_outputs",
    "extract_regions",
    "noaa_location",
    "select_targets",
    "upsample_bilinear",
]
