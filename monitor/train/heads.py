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

Each line's ridge is chosen on the validation split (:func:`select_ridge`): a
line the inputs cannot improve is shrunk towards its mean instead of fitting
noise, which also keeps the weights small and the outputs steady under small
shifts of the inputs (the first default model's unregularised linear model
had weights of norm up to 360 on collinear statistics, and turned a 0.1 dex
shift of the 335 A mean into a factor 850 in Fe XVI).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from monitor.train.distributed import DistContext

__all__ = ["RIDGES", "gather_rows", "huber_lstsq", "select_ridge"]

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
