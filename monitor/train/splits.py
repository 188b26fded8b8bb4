"""Splits by time and class balancing.

Neighbouring AIA frames (12 s to minutes apart) are nearly the same image
with nearly the same labels; a random split would put near-copies of test
frames into training and report skill the model does not have. Real data are
therefore split by time: the time axis is cut into blocks of ``block_days``,
consecutive blocks are assigned to splits in a repeating pattern (e.g. seven
train, one validation, two test: every split samples every phase of the solar
cycle), and any frame closer than ``gap_hours`` to a frame of *another* split
is dropped, so flares that straddle a block edge cannot leak.

Flares are rare (M and X in a few percent of real frames). Two remedies,
both configurable: weighted sampling (each epoch draws every class equally
often, with replacement) and class weights in the cross-entropy (1/count or
1/sqrt(count), normalised to a mean of 1 over the samples). The synthetic
source balances at the generator instead (``class_mix``), which is better
than both: every drawn flare is a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["class_weights", "epoch_order", "nearest_other_split_s", "time_block_split"]


def time_block_split(times_s: np.ndarray, block_s: float, pattern: Sequence[str],
                     gap_s: float = 0.0) -> dict[str, np.ndarray]:
    """Indices of each split, by contiguous time blocks and with guard gaps.

    Parameters
    ----------
    times_s : numpy.ndarray
        Observation times (any monotonic seconds, e.g. POSIX).
    block_s : float
        Block length in seconds.
    pattern : sequence of str
        Split name of consecutive blocks, repeated (``("train", "train", "val", "test")``).
    gap_s : float
        Drop frames closer than this to a frame assigned to another split.

    Returns
    -------
    dict
        Split name -> sorted frame indices (every name of ``pattern`` is present).
    """
    t = np.asarray(times_s, dtype=np.float64)
    if t.size == 0:
        return {name: np.zeros(0, np.int64) for name in dict.fromkeys(pattern)}
    block = np.floor((t - t.min()) / float(block_s)).astype(np.int64)
    names = list(dict.fromkeys(pattern))
    code = np.array([names.index(pattern[b % len(pattern)]) for b in block], dtype=np.int64)
    keep = np.ones(t.size, dtype=bool)
    if gap_s > 0:
        keep = nearest_other_split_s(t, code) >= gap_s
    return {name: np.flatnonzero((code == i) & keep) for i, name in enumerate(names)}


def nearest_other_split_s(times_s: np.ndarray, split_code: np.ndarray) -> np.ndarray:
    """For each frame, the time to the nearest frame of a different split (inf if none)."""
    t = np.asarray(times_s, dtype=np.float64)
    code = np.asarray(split_code)
    out = np.full(t.size, np.inf)
    for c in np.unique(code):
        others = np.sort(t[code != c])
        if others.size == 0:
            continue
        mine = np.flatnonzero(code == c)
        pos = np.searchsorted(others, t[mine])
        left = np.abs(t[mine] - others[np.clip(pos - 1, 0, others.size - 1)])
        right = np.abs(others[np.clip(pos, 0, others.size - 1)] - t[mine])
        out[mine] = np.minimum(left, right)
    return out


def class_weights(counts: np.ndarray, mode: str) -> np.ndarray:
    """Cross-entropy weights per class from training counts.

    ``none`` gives ones; ``balanced`` ``1/count``; ``sqrt`` ``1/sqrt(count)``;
    normalised so that the count-weighted mean is 1 (the loss keeps its scale).
    Classes without samples get weight 0.
    """
    c = np.asarray(counts, dtype=np.float64)
    if mode == "none":
        return np.ones_like(c)
    power = {"balanced": 1.0, "sqrt": 0.5}[mode]
    w = np.where(c > 0, 1.0 / np.maximum(c, 1.0) ** power, 0.0)
    return w * c.sum() / max((w * c).sum(), 1e-12)


def epoch_order(class_index: np.ndarray, sampler: str, rng: np.random.Generator) -> np.ndarray:
    """Sample order of one epoch: a permutation, or a class-balanced draw with replacement.

    ``balanced`` draws ``n`` indices with probability ``1 / (K_present * count(class))`` each,
    so every present class fills the same share of the epoch.
    """
    labels = np.asarray(class_index)
    n = labels.size
    if sampler == "natural":
        return rng.permutation(n)
    counts = np.bincount(labels)
    present = np.count_nonzero(counts)
    p = 1.0 / (present * counts[labels])
    return rng.choice(n, size=n, replace=True, p=p / p.sum())
