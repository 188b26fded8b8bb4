"""The localisation term: pull a flare frame's class-activation map onto the flare.

With a global-average-pool + linear class head, the CAM of class ``c`` is
``M_c = sum_k W_ck A_k`` over the last feature maps ``A``; nothing in that
architecture makes it peak on the flare (a model trained without this term
put its M/X peak on the flare in 4 % of correctly classified flare frames:
its evidence sat on the limb and in the corners). For frames with a known
flare, the softmax of ``M_true`` over the feature cells is pulled, by
cross-entropy, towards a Gaussian of 0.6 cells around the loop-top kernel
(the hot source of the flare), turned with the image when augmentation
rolled it. The map the daemon computes from the forward pass is unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

from monitor.train.augment import rotate_points

__all__ = ["localisation_loss"]

_SIGMA_CELLS = 0.6


def localisation_loss(class_weight: torch.Tensor, features: torch.Tensor,
                      classes: torch.Tensor, kernels: np.ndarray, angles: np.ndarray,
                      size: int, stride: int) -> torch.Tensor:
    """Mean spatial cross-entropy over the batch's frames with a visible flare.

    Parameters
    ----------
    class_weight : torch.Tensor
        ``(K, F)`` class-head weights (gradients flow into them).
    features : torch.Tensor
        ``(B, F, h, w)`` last feature maps.
    classes : torch.Tensor
        ``(B,)`` true classes; only C, M, X frames take part.
    kernels : numpy.ndarray
        ``(B, K, 5)`` kernels ``(x, y, sigma, share, visible)`` on the grid; row 0
        is the loop top.
    angles : numpy.ndarray
        ``(B,)`` roll applied to each image by augmentation (radians).
    size, stride : int
        Grid size and feature stride (input pixels per feature cell).

    Returns
    -------
    torch.Tensor
        Scalar (0 when the batch has no such frame).
    """
    top = kernels[:, 0, :]
    valid = (classes.cpu().numpy() >= 1) & np.isfinite(top[:, 0]) & (top[:, 4] > 0.5)
    if not valid.any():
        return features.new_zeros(())
    x, y = rotate_points(top[valid, 0], top[valid, 1], angles[valid], size)
    h, w = features.shape[-2:]
    # Feature cell (i, j) summarises pixels j*s .. j*s + s - 1: centre j*s + (s-1)/2.
    u = torch.tensor((x - (stride - 1) / 2) / stride, dtype=torch.float32).view(-1, 1, 1)
    v = torch.tensor((y - (stride - 1) / 2) / stride, dtype=torch.float32).view(-1, 1, 1)
    jj = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    ii = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    target = torch.exp(-((jj - u) ** 2 + (ii - v) ** 2) / (2 * _SIGMA_CELLS ** 2))
    target = (target / target.sum(dim=(1, 2), keepdim=True)).flatten(1).to(features.device)
    idx = torch.from_numpy(np.flatnonzero(valid)).to(features.device)
    weight = class_weight[classes[idx]]                                   # (n, F)
    cam = torch.einsum("nf,nfhw->nhw", weight, features[idx].float()).flatten(1)
    return -(target * torch.log_softmax(cam, dim=1)).sum(dim=1).mean()
