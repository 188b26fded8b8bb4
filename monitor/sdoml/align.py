"""Putting channels on one time axis: regular slots, nearest frame within a tolerance.

Each slot (a multiple of ``cadence_s`` since the Unix epoch, so 12-minute
slots fall on :00, :12, ...) takes, per channel, the frame whose ``T_OBS`` is
nearest, if it is within ``tolerance_s``; a slot missing any channel is
dropped. A frame is used for one slot at most: when rounding would make it
serve two (a duplicate after rounding), the slot it is nearer keeps it. Two
frames of one channel near one slot (a duplicate in the store, e.g. the same
minute written twice) resolve to the nearer, so storage order never matters.
Times come from ``T_OBS`` across year groups, so a frame stored in the 2010
group with a time of 2011-01-01 00:00:05 serves the 2011 slot it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Alignment", "join_channels", "nearest_within"]


def nearest_within(sorted_times: np.ndarray, targets: np.ndarray,
                   tolerance_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Position of the nearest time for each target and whether it is within tolerance.

    Returns ``(pos, ok)``; ``pos`` is meaningless where ``ok`` is False.
    """
    t = np.asarray(sorted_times, dtype=np.float64)
    q = np.asarray(targets, dtype=np.float64)
    if t.size == 0:
        return np.zeros(q.size, np.int64), np.zeros(q.size, bool)
    right = np.clip(np.searchsorted(t, q), 0, t.size - 1)
    left = np.clip(right - 1, 0, t.size - 1)
    pick_left = np.abs(q - t[left]) <= np.abs(t[right] - q)
    pos = np.where(pick_left, left, right)
    return pos.astype(np.int64), np.abs(t[pos] - q) <= tolerance_s


@dataclass(frozen=True)
class Alignment:
    """Slots where every channel has a frame.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n,)`` slot times, POSIX seconds, ascending.
    frames : numpy.ndarray
        ``(n, C)`` position of each channel's frame in its index.
    channels : tuple of int
    missing : dict
        Channel -> slots dropped because that channel had no frame while
        another channel had one.
    """

    times: np.ndarray
    frames: np.ndarray
    channels: tuple[int, ...]
    missing: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.times.size)

    def subset(self, keep: np.ndarray) -> Alignment:
        """The slots where ``keep`` is True."""
        return Alignment(self.times[keep], self.frames[keep], self.channels, self.missing)


def _unique_use(pos: np.ndarray, ok: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``ok`` with every frame kept only for the slot nearest to it."""
    slots = np.flatnonzero(ok)
    if slots.size == 0:
        return ok.copy()
    order = np.lexsort((slots, dt[slots], pos[slots]))
    ranked = slots[order]
    first = np.r_[True, pos[ranked][1:] != pos[ranked][:-1]]
    out = np.zeros_like(ok)
    out[ranked[first]] = True
    return out


def join_channels(channel_times: Sequence[np.ndarray], channels: Sequence[int],
                  cadence_s: float, tolerance_s: float) -> Alignment:
    """Join channels (each an ascending array of frame times) on regular slots."""
    if not channel_times or any(t.size == 0 for t in channel_times):
        return Alignment(np.zeros(0), np.zeros((0, len(channels)), np.int64), tuple(channels))
    start = min(float(t[0]) for t in channel_times) - tolerance_s
    end = max(float(t[-1]) for t in channel_times) + tolerance_s
    slots = np.arange(np.ceil(start / cadence_s), np.floor(end / cadence_s) + 1) * cadence_s
    found = np.zeros((slots.size, len(channels)), bool)
    frames = np.zeros((slots.size, len(channels)), np.int64)
    for c, times in enumerate(channel_times):
        pos, ok = nearest_within(times, slots, tolerance_s)
        dt = np.abs(times[pos] - slots)
        found[:, c] = _unique_use(pos, ok, dt)
        frames[:, c] = pos
    complete = found.all(axis=1)
    partial = found.any(axis=1) & ~complete
    missing = {int(ch): int(np.count_nonzero(partial & ~found[:, c]))
               for c, ch in enumerate(channels)}
    return Alignment(slots[complete], frames[complete], tuple(int(c) for c in channels),
                     {k: v for k, v in missing.items() if v})
