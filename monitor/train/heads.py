"""Closed-form fits of the two linear irradiance parts: Szenicer's linear model and the CNN head.

Both are linear maps onto the 14 lines in target space, so given their inputs
(per-channel image mean/std for ``stats_head``, globally pooled feature maps
for ``irradiance_head``) the best weights follow from a regression instead of
noisy SGD. The loss is the training loss -- Huber on the error in dex with
the knee at ``delta_dex`` -- minimised by iteratively reweighted least squares
(IRLS), with a small ridge on the weights (not the bias).

* ``stats_head`` is fitted *before* the CNN, on every training image, and
  frozen: it is the linear-only baseline of the evaluation, and a robust fit
  keeps the few huge flare values from skewing it for the many quiet frames.
* ``irradiance_head`` is refitted *after* training, on the pooled features of
  every training image with the linear part held fixed: this removes the SGD
  noise left in the last layer (measured: worst line 9.1 -> 7.5 % on a test
  split for a short run).

:class:`HeadFitter` computes the inputs of either fit over the splits and
copies the weights into the network.

Each line's ridge is chosen on the validation split (:func:`select_ridge`): a
line the inputs cannot improve is shrunk towards its mean instead of fitting
noise, which also keeps the weights small and the outputs steady under small
shifts of the inputs (the first default model's unregularised linear model
had weights of norm up to 360 on collinear statistics, and turned a 0.1 dex
shift of the 335 A mean into a factor 850 in Fe XVI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from monitor.models.network import SolarResNet
from monitor.train.batches import BatchInputs
from monitor.train.data import Split
from monitor.train.distributed import DistContext

__all__ = ["RIDGES", "HeadFitter", "gather_rows", "huber_lstsq", "select_ridge"]

#: Ridge weights tried per line (relative to the mean diagonal of the Gram matrix).
RIDGES: tuple[float, ...] = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def huber_lstsq(a: np.ndarray, y: np.ndarray, scale: np.ndarray, delta_dex: float,
                ridge: float = 1e-6, iterations: int = 25) -> np.ndarray:
    """Weights ``w`` (``(P, L)``) minimising the Huber loss of ``(a @ w - y) * scale``.

    Parameters
    ----------
    a : numpy.ndarray
        ``(n, P)`` design matrix; its last column must be the constant 1 (not penalised).
    y : numpy.ndarray
        ``(n, L)`` targets (target space); NaN marks a missing value, which
        that line's fit leaves out (real EVE lines go missing one at a time).
    scale : numpy.ndarray
        ``(L,)`` dex per target unit (the lines' ``std``).
    delta_dex : float
        Knee of the Huber loss in dex.
    ridge : float
        Ridge weight relative to the mean diagonal of ``a.T @ a``.
    iterations : int
        IRLS iterations (converges in ~10-20).
    """
    a = np.asarray(a, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    known = np.isfinite(y)
    y = np.where(known, y, 0.0)
    p = a.shape[1]
    gram = a.T @ a
    reg = ridge * np.trace(gram) / p * np.eye(p)
    reg[-1, -1] = 0.0
    if known.all():
        w = np.linalg.solve(gram + reg, a.T @ y)
    else:
        w = np.zeros((p, y.shape[1]))
        for line in range(y.shape[1]):
            am = a * known[:, line:line + 1]
            w[:, line] = np.linalg.solve(a.T @ am + reg, am.T @ y[:, line])
    for _ in range(iterations):
        r = np.abs(a @ w - y) * np.asarray(scale)[None, :]
        weights = np.where(r <= delta_dex, 1.0, delta_dex / np.maximum(r, 1e-300)) * known
        for line in range(y.shape[1]):
            aw = a * weights[:, line:line + 1]
            w[:, line] = np.linalg.solve(a.T @ aw + reg, aw.T @ y[:, line])
    return w


def gather_rows(n: int, width: int, ctx: DistContext,
                fill: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An ``(n, width)`` matrix whose rows are computed by the process that owns them.

    ``fill(rows)`` returns the values of the given row indices; rows are dealt
    round-robin over the processes and summed (all-reduce), so every process
    ends with the full matrix.
    """
    rows = np.arange(ctx.rank, n, ctx.world_size)
    out = torch.zeros(n, width, dtype=torch.float64)
    if len(rows):
        out[torch.from_numpy(rows)] = torch.from_numpy(np.asarray(fill(rows), dtype=np.float64))
    ctx.all_reduce_sum(out)
    return out.numpy()


def _nan_median(values: np.ndarray) -> np.ndarray:
    """Median per column over the known (finite) values; inf for a column without any."""
    out = np.full(values.shape[1], np.inf)
    for j in range(values.shape[1]):
        known = values[np.isfinite(values[:, j]), j]
        if known.size:
            out[j] = np.median(known)
    return out


def select_ridge(a: np.ndarray, y: np.ndarray, a_val: np.ndarray, y_val: np.ndarray,
                 scale: np.ndarray, delta_dex: float, ridges: tuple[float, ...] = RIDGES
                 ) -> tuple[np.ndarray, list[float]]:
    """:func:`huber_lstsq` with each line's ridge chosen on a validation set.

    Per line, the ridge with the smallest validation median absolute error (in
    dex) wins. Large ridges shrink the weights towards a constant: a line the
    inputs cannot improve falls back to (nearly) its mean instead of fitting
    noise, and small shifts of the inputs (another rendering path, another
    instrument state) move the output less.

    Returns
    -------
    weights : numpy.ndarray
        ``(P, L)``.
    chosen : list of float
        The ridge of each line.
    """
    best = np.zeros((a.shape[1], y.shape[1]))
    best_err = np.full(y.shape[1], np.inf)
    chosen = [ridges[0]] * y.shape[1]
    for ridge in ridges:
        w = huber_lstsq(a, y, scale, delta_dex, ridge=ridge)
        err = _nan_median(np.abs(a_val @ w - y_val)) * np.asarray(scale)
        better = err < best_err
        best[:, better] = w[:, better]
        best_err[better] = err[better]
        for line in np.flatnonzero(better):
            chosen[int(line)] = ridge
    return best, chosen


class HeadFitter:
    """Sets a network's two linear irradiance parts from :func:`select_ridge` fits.

    The features of every training image are computed once per fit (each
    process its share of the rows, :func:`gather_rows`), those of the
    validation split on every process; the fitted weights are copied into the
    network.

    Parameters
    ----------
    train, val : Split
        The fit's samples, and those that choose each line's ridge.
    z_train, z_val : torch.Tensor
        Their lines in target space (NaN where missing).
    batches : BatchInputs
        Input scaling (no augmentation is applied).
    line_std : numpy.ndarray
        Dex per target unit of each line.
    delta_dex : float
        Knee of the Huber loss (``training.irradiance_scale_dex``).
    ctx : DistContext
        Process group the training rows are shared over.
    """

    def __init__(self, train: Split, val: Split, z_train: torch.Tensor, z_val: torch.Tensor,
                 batches: BatchInputs, line_std: np.ndarray, delta_dex: float,
                 ctx: DistContext) -> None:
        self.train = train
        self.val = val
        self.z_train = z_train
        self.z_val = z_val
        self.batches = batches
        self.line_std = np.asarray(line_std)
        self.delta_dex = delta_dex
        self.ctx = ctx

    def fit_linear_head(self, model: SolarResNet) -> dict[str, Any]:
        """Robust fit of ``stats_head`` on every training image, then freeze it."""
        model.eval()
        features = 2 * model.config.in_channels
        w, ridges = self._fit(model.image_stats, features)
        with torch.no_grad():
            model.stats_head.weight.copy_(torch.from_numpy(w[:-1].T).float())
            model.stats_head.bias.copy_(torch.from_numpy(w[-1]).float())
        for p in model.stats_head.parameters():
            p.requires_grad_(False)
        return {"samples": len(self.train), "features": features,
                "loss": f"Huber, knee {self.delta_dex} dex (IRLS)", "ridge_per_line": ridges}

    def refit_irradiance_head(self, model: SolarResNet) -> dict[str, Any]:
        """Refit ``irradiance_head`` on the pooled features of every training image."""
        model.eval()
        f = model.config.feature_channels

        def pooled_and_linear(x: torch.Tensor) -> torch.Tensor:
            pooled = torch.flatten(model.pool(model.backbone(x)), 1)
            return torch.cat([pooled, model.linear_irradiance(x)], 1)

        # The design is the pooled features; the linear part stays fixed (targets minus it).
        w_full, ridges = self._fit(pooled_and_linear, f + self.z_train.shape[1], offset=f)
        with torch.no_grad():
            model.irradiance_head.weight.copy_(torch.from_numpy(w_full[:-1].T).float())
            model.irradiance_head.bias.copy_(torch.from_numpy(w_full[-1]).float())
        return {"samples": len(self.train), "features": f, "ridge_per_line": ridges}

    def _fit(self, fn: Callable[[torch.Tensor], torch.Tensor], width: int,
             offset: int = 0) -> tuple[np.ndarray, list[float]]:
        """Ridge-selected Huber fit of the targets on ``fn``'s features.

        ``fn(x)`` gives ``width`` columns per image; columns from ``offset`` on are a
        fixed part of the prediction (subtracted from the targets), the first
        ``offset`` (all when 0) are the design.
        """
        train = gather_rows(len(self.train), width, self.ctx,
                            lambda rows: self.batches.apply(self.train, rows, fn))
        val = self.batches.apply(self.val, np.arange(len(self.val)), fn)
        z_train = self.z_train.double().numpy()
        z_val = self.z_val.double().numpy()
        if offset:
            z_train, z_val = z_train - train[:, offset:], z_val - val[:, offset:]
            train, val = train[:, :offset], val[:, :offset]
        return select_ridge(np.c_[train, np.ones(len(train))], z_train,
                            np.c_[val, np.ones(len(val))], z_val,
                            self.line_std, self.delta_dex)
