"""Reference Grad-CAM with torch autograd (the check on, and fallback for, the CAM).

Grad-CAM (Selvaraju et al. 2017) needs ``dy/dA``, the gradient of an output
with respect to the last feature maps. Nothing before the feature maps matters
for that gradient, so the backbone runs under ``torch.no_grad()`` and only the
pool and the heads are differentiated: the cost is about one forward pass
(no activations of the backbone are stored, no backbone backward pass).

For this network's GAP + linear heads the result equals the forward-pass CAM
divided by ``Z = h*w`` (see :mod:`monitor.saliency.cam`); for any other head
passed as ``score_fn`` it is the general Grad-CAM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from monitor.models.network import SolarResNet
from monitor.saliency.cam import Target

__all__ = ["grad_cam", "grad_cam_from_features"]


def grad_cam_from_features(features: torch.Tensor,
                           score_fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Grad-CAM maps of the scores ``score_fn(features)`` with respect to ``features``.

    Parameters
    ----------
    features : torch.Tensor
        ``(B, F, h, w)`` feature maps (detached; gradients are enabled here).
    score_fn : callable
        Maps features to ``(B,)`` scores, one per frame. Frames must not mix
        (true of every per-frame head), so the gradient of the sum is the
        per-frame gradient.

    Returns
    -------
    numpy.ndarray
        ``(B, h, w)`` float32 maps ``ReLU(sum_k alpha_k A_k)`` with
        ``alpha_k`` the spatial mean of ``d score / d A_k``.
    """
    feats = features.detach().float().requires_grad_(True)
    with torch.enable_grad():
        scores = score_fn(feats)
        if scores.shape != feats.shape[:1]:
            raise ValueError(f"score_fn must return ({feats.shape[0]},), got {tuple(scores.shape)}")
        (grad,) = torch.autograd.grad(scores.sum(), feats)
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * feats.detach()).sum(dim=1))
    return cam.cpu().numpy().astype(np.float32)


def grad_cam(model: SolarResNet, image: torch.Tensor,
             targets: Sequence[Target]) -> np.ndarray:
    """Grad-CAM of ``model`` on ``image`` for each target, backbone without gradients.

    Parameters
    ----------
    model : SolarResNet
        Network in eval mode.
    image : torch.Tensor
        ``(B, C, N, N)`` scaled input.
    targets : sequence of Target
        Outputs to explain; each applies to every frame of the batch.

    Returns
    -------
    numpy.ndarray
        ``(B, T, h, w)`` float32 maps at feature resolution.
    """
    with torch.no_grad():
        features = model.backbone(image)
    maps = []
    for target in targets:
        column = 0 if target.kind == "class" else 1

        def score(feats: torch.Tensor, column: int = column, index: int = target.index
                  ) -> torch.Tensor:
            # The irradiance output is linear(stats) + residual; the linear
            # part does not depend on the features, so its gradient is zero
            # and differentiating the residual alone is exact.
            return model.heads(feats)[column][:, index]

        maps.append(grad_cam_from_features(features, score))
    b, _, h, w = features.shape
    return np.stack(maps, axis=1) if maps else np.zeros((b, 0, h, w), np.float32)
