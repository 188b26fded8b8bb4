"""Contingency tables and skill scores per threshold, over rolling windows.

For a threshold T (flux >= C1, M1 or X1) every scored frame is one cell:
hit (predicted yes, observed yes), miss (no, yes), false alarm (yes, no) or
correct negative (no, no). From the table (a, b, c, d = hits, false alarms,
misses, correct negatives):

* TSS (true skill statistic, Hanssen-Kuipers) = a/(a+c) - b/(b+d), in [-1, 1];
  undefined when the window holds no observed events or no non-events;
* HSS (Heidke skill score) = 2(ad - bc) / ((a+c)(c+d) + (a+b)(b+d)), <= 1;
  undefined when the denominator is 0 (e.g. every frame in one cell).

Undefined scores are None (NaN on a Prometheus gauge), never a made-up 0.

:class:`RollingScores` keeps scored pairs by observation time and one table
per (window, threshold); advancing its clock expires pairs older than each
window, so a replay scores exactly like the live run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CELLS", "Contingency", "RollingScores", "ScoredPair", "SkillRow", "hss",
           "pairs_table", "tss"]

#: Cell names (label values of the contingency gauge).
CELLS: tuple[str, ...] = ("hits", "misses", "false_alarms", "correct_negatives")


def tss(hits: int, misses: int, false_alarms: int, correct_negatives: int) -> float | None:
    """True skill statistic; None when there are no events or no non-events."""
    events, non_events = hits + misses, false_alarms + correct_negatives
    if events == 0 or non_events == 0:
        return None
    return hits / events - false_alarms / non_events


def hss(hits: int, misses: int, false_alarms: int, correct_negatives: int) -> float | None:
    """Heidke skill score; None when its denominator is zero."""
    a, b, c, d = hits, false_alarms, misses, correct_negatives
    denominator = (a + c) * (c + d) + (a + b) * (b + d)
    if denominator == 0:
        return None
    return 2.0 * (a * d - b * c) / denominator


@dataclass(frozen=True)
class Contingency:
    """A 2x2 contingency table."""

    hits: int = 0
    misses: int = 0
    false_alarms: int = 0
    correct_negatives: int = 0

    @property
    def n(self) -> int:
        return self.hits + self.misses + self.false_alarms + self.correct_negatives

    @property
    def tss(self) -> float | None:
        return tss(self.hits, self.misses, self.false_alarms, self.correct_negatives)

    @property
    def hss(self) -> float | None:
        return hss(self.hits, self.misses, self.false_alarms, self.correct_negatives)

    @property
    def pod(self) -> float | None:
        """Probability of detection, hits / observed events."""
        events = self.hits + self.misses
        return self.hits / events if events else None

    @property
    def far(self) -> float | None:
        """False alarm ratio, false alarms / predicted events."""
        predicted = self.hits + self.false_alarms
        return self.false_alarms / predicted if predicted else None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bool, bool]]) -> Contingency:
        """Table of ``(predicted, observed)`` booleans."""
        cells = [0, 0, 0, 0]
        for predicted, observed in pairs:
            cells[_cell(predicted, observed)] += 1
        return cls(*cells)

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "false_alarms": self.false_alarms,
                "correct_negatives": self.correct_negatives, "n": self.n, "tss": self.tss,
                "hss": self.hss, "pod": self.pod, "far": self.far}


def _cell(predicted: bool, observed: bool) -> int:
    # index into CELLS
    if observed:
        return 0 if predicted else 1
    return 2 if predicted else 3


@dataclass(frozen=True)
class ScoredPair:
    """A frame's prediction paired with GOES truth.

    ``predicted`` and ``observed`` hold one boolean per threshold, in the
    order of :attr:`RollingScores.thresholds`.
    """

    frame_id: str
    t_obs: float
    observed_flux: float
    predicted: tuple[bool, ...]
    observed: tuple[bool, ...]


@dataclass(frozen=True)
class SkillRow:
    """Scores of one package and threshold over one window (what the gauges export)."""

    threshold: str
    window: str
    table: Contingency
    #: The model package scored (``name:version``; empty when unnamed).
    package: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"package": self.package, "threshold": self.threshold, "window": self.window,
                **self.table.to_dict()}


class RollingScores:
    """Contingency tables per (window, threshold) over pairs of the last window seconds.

    Parameters
    ----------
    thresholds : sequence of str
        Threshold names, e.g. ``("C", "M", "X")``.
    windows_s : mapping of str to float
        Window label -> length in seconds of observation time.
    max_pairs : int
        Pairs kept in all (the oldest beyond this leave every window).
    """

    def __init__(self, thresholds: Sequence[str], windows_s: Mapping[str, float],
                 max_pairs: int = 1_000_000) -> None:
        self.thresholds = tuple(thresholds)
        self.windows_s = dict(windows_s)
        self.max_pairs = max_pairs
        self._pairs: list[ScoredPair] = []  # sorted by t_obs
        self._times: list[float] = []  # their t_obs, for bisection
        self._starts = {w: 0 for w in self.windows_s}  # index of the oldest pair in window
        self._cells = {(w, k): [0, 0, 0, 0] for w in self.windows_s
                       for k in range(len(self.thresholds))}
        self.now: float | None = None
        self.total = 0

    def __len__(self) -> int:
        return len(self._pairs)

    def add(self, pair: ScoredPair) -> None:
        """Add a scored pair (any order); a pair already older than a window skips it."""
        index = bisect.bisect_right(self._times, pair.t_obs)
        self._times.insert(index, pair.t_obs)
        self._pairs.insert(index, pair)
        self.total += 1
        for window, length in self.windows_s.items():
            if self.now is not None and pair.t_obs <= self.now - length:
                self._starts[window] += 1  # sorted before the window's first pair
            else:
                self._count(window, pair, +1)
        if self.now is None or pair.t_obs > self.now:
            self.now = pair.t_obs
        self._expire()
        while len(self._pairs) > self.max_pairs:
            self._drop_oldest()

    def advance(self, now: float) -> None:
        """Move the clock (observation time) forward and expire old pairs."""
        if self.now is None or now > self.now:
            self.now = now
            self._expire()

    def _count(self, window: str, pair: ScoredPair, sign: int) -> None:
        for k, (p, o) in enumerate(zip(pair.predicted, pair.observed)):
            self._cells[(window, k)][_cell(p, o)] += sign

    def _expire(self) -> None:
        if self.now is None:
            return
        for window, length in self.windows_s.items():
            cutoff = self.now - length
            start = self._starts[window]
            while start < len(self._pairs) and self._pairs[start].t_obs <= cutoff:
                self._count(window, self._pairs[start], -1)
                start += 1
            self._starts[window] = start
        oldest = min(self._starts.values())
        if oldest:
            del self._pairs[:oldest]
            del self._times[:oldest]
            for window in self._starts:
                self._starts[window] -= oldest

    def _drop_oldest(self) -> None:
        pair = self._pairs.pop(0)
        self._times.pop(0)
        for window in self._starts:
            if self._starts[window] == 0:
                self._count(window, pair, -1)
            else:
                self._starts[window] -= 1

    def table(self, window: str, threshold: str) -> Contingency:
        """The current table of one window and threshold."""
        return Contingency(*self._cells[(window, self.thresholds.index(threshold))])

    def rows(self) -> list[SkillRow]:
        """Every (threshold, window) table, thresholds in order, then windows."""
        return [SkillRow(t, w, self.table(w, t)) for t in self.thresholds
                for w in self.windows_s]

    def pairs(self) -> list[ScoredPair]:
        """Pairs inside the longest window, oldest first."""
        return list(self._pairs)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state (pairs in compact form) for a restart."""
        return {"thresholds": list(self.thresholds), "now": self.now,
                "pairs": [[p.frame_id, p.t_obs, p.observed_flux,
                           "".join("1" if x else "0" for x in p.predicted),
                           "".join("1" if x else "0" for x in p.observed)]
                          for p in self._pairs]}

    def restore(self, state: Mapping[str, Any]) -> int:
        """Re-add the pairs of :meth:`snapshot` (same thresholds only); returns how many."""
        if list(state.get("thresholds", [])) != list(self.thresholds):
            return 0
        restored = 0
        for frame_id, t_obs, flux, predicted, observed in state.get("pairs", []):
            self.add(ScoredPair(str(frame_id), float(t_obs), float(flux),
                                tuple(c == "1" for c in predicted),
                                tuple(c == "1" for c in observed)))
            restored += 1
        if state.get("now") is not None:
            self.advance(float(state["now"]))
        return restored


def pairs_table(pairs: Iterable[ScoredPair], index: int) -> Contingency:
    """Table of one threshold (by position) over given pairs (offline reports)."""
    return Contingency.from_pairs((p.predicted[index], p.observed[index]) for p in pairs)

