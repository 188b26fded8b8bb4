"""Pairing each frame's prediction with what GOES observed, as GOES data arrive.

Truth definition (see :class:`~monitor.goes.settings.VerificationSettings`):
the observed flux of a frame is the maximum class-scale 1-minute XRS-B flux
among the records overlapping ``[t_obs, t_obs + horizon_s]`` (a record
stamped T covers ``[T, T + 60 s)``). Default horizon 0: the minute that
contains the observation, because the classifier nowcasts the class at the
frame's own time (its training labels are the flux at T_OBS). A forecast
model sets a horizon, e.g. 86400 for "max class in the next 24 h".

GOES arrives after the frames (SWPC publishes each minute about a minute
later, and the feed may stall), so predictions wait in a bounded pending
queue until the GOES data cover their window plus ``settle_s`` for late
records. A window with less than ``min_coverage`` of its minutes is dropped
as ``no_goes_data``; a prediction still waiting after ``max_wait_s`` (wall
clock) as ``truth_timeout``; the oldest is dropped past ``max_pending``.
Every outcome is counted (:data:`PREDICTION_OUTCOMES`).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitor.goes.classes import class_level, threshold_flux
from monitor.goes.samples import FluxSeries
from monitor.goes.scores import RollingScores, ScoredPair
from monitor.goes.settings import VerificationSettings
from monitor.logs import get_logger

__all__ = ["PREDICTION_OUTCOMES", "Prediction", "Verifier", "decide"]

log = get_logger(__name__)

#: What became of a prediction (label values of the predictions counter).
PREDICTION_OUTCOMES: dict[str, str] = {
    "scored": "paired with GOES truth and counted",
    "no_goes_data": "GOES had too few minutes in the frame's window",
    "truth_timeout": "GOES data did not arrive within verification.max_wait_s",
    "pending_overflow": "more than verification.max_pending predictions waited",
    "unreadable": "no usable class probabilities or predicted class",
    "duplicate": "the same frame was observed before",
    "too_many_packages": "more model packages than the GOES monitor scores at once",
}

_THRESHOLD_LEVEL = {"C": 1, "M": 2, "X": 3}


def decide(thresholds: tuple[str, ...], class_probabilities: Mapping[str, float] | None,
           predicted_class: str | None, decision: str = "probability",
           probability_threshold: float = 0.5) -> tuple[bool, ...] | None:
    """Yes/no per threshold for one frame, or None when nothing usable is given.

    ``probability``: yes at T when the summed probability of the classes at or
    above T reaches ``probability_threshold`` (the alert rules' cumulative
    signal). ``predicted_class`` (or no probabilities): yes when the predicted
    class is at or above T.
    """
    levels = [_THRESHOLD_LEVEL[t] for t in thresholds]
    if decision == "probability" and class_probabilities:
        known = [(class_level(name), float(p)) for name, p in class_probabilities.items()]
        known = [(lvl, p) for lvl, p in known if lvl is not None]
        if known:
            return tuple(sum(p for lvl, p in known if lvl >= level) >= probability_threshold
                         for level in levels)
    if predicted_class is not None:
        level_of = class_level(predicted_class)
        if level_of is not None:
            return tuple(level_of >= level for level in levels)
    return None


@dataclass(frozen=True)
class Prediction:
    """A frame's decision per threshold, waiting for truth."""

    frame_id: str
    t_obs: float
    predicted: tuple[bool, ...]
    received: float  # monotonic clock, for max_wait_s


class Verifier:
    """Pending predictions, their resolution against a :class:`FluxSeries`, rolling scores.

    Parameters
    ----------
    settings : VerificationSettings
        Thresholds, windows, horizon, decision rule, bounds.
    series : FluxSeries
        Where GOES truth is looked up.
    clock : callable
        Monotonic seconds (``max_wait_s``); tests may pass a fake.
    on_scored : callable, optional
        Called with every pair as it is scored (a period report keeps them all).
    """

    def __init__(self, settings: VerificationSettings, series: FluxSeries,
                 clock: Callable[[], float] = time.monotonic,
                 on_scored: Callable[[ScoredPair], None] | None = None) -> None:
        self.settings = settings
        self.series = series
        self.clock = clock
        self.thresholds = tuple(settings.thresholds)
        self._fluxes = tuple(threshold_flux(t) for t in self.thresholds)
        self.scores = RollingScores(self.thresholds, settings.windows_s, settings.max_pairs)
        self._pending: list[tuple[float, int, Prediction]] = []  # heap by due time
        self._sequence = itertools.count()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self.on_scored = on_scored
        self._last_sweep = float("-inf")
        self._outcomes: dict[str, str] = {}  # of the last resolve() call

    @property
    def pending(self) -> int:
        return len(self._pending)

    def observe(self, frame_id: str, t_obs: float,
                class_probabilities: Mapping[str, float] | None = None,
                predicted_class: str | None = None) -> str:
        """Record a frame's prediction; returns ``pending``, ``scored`` or a drop outcome."""
        if frame_id in self._seen:
            self.counts["duplicate"] += 1
            return "duplicate"
        self._seen[frame_id] = None
        while len(self._seen) > max(10_000, 2 * self.settings.max_pending):
            self._seen.popitem(last=False)
        s = self.settings
        predicted = decide(self.thresholds, class_probabilities, predicted_class, s.decision,
                           s.probability_threshold)
        if predicted is None:
            self.counts["unreadable"] += 1
            return "unreadable"
        prediction = Prediction(frame_id, float(t_obs), predicted, self.clock())
        due = prediction.t_obs + s.horizon_s + s.settle_s
        heapq.heappush(self._pending, (due, next(self._sequence), prediction))
        while len(self._pending) > s.max_pending:
            # the longest-waiting is the one with the earliest window: drop it
            heapq.heappop(self._pending)
            self.counts["pending_overflow"] += 1
        self.resolve()
        return self._outcomes.get(frame_id, "pending")

    def resolve(self) -> list[ScoredPair]:
        """Score every pending prediction whose window GOES now covers; expire the rest."""
        covered = self.series.covered_until()
        scored: list[ScoredPair] = []
        self._outcomes = {}
        if covered is not None:
            while self._pending and self._pending[0][0] <= covered:
                _, _, prediction = heapq.heappop(self._pending)
                pair = self._score(prediction)
                if pair is not None:
                    scored.append(pair)
            self.scores.advance(covered)
        self._expire_waiting()
        return scored

    def flush(self) -> list[ScoredPair]:
        """End of data (offline runs): score what can be scored, drop the rest."""
        scored = []
        while self._pending:
            _, _, prediction = heapq.heappop(self._pending)
            pair = self._score(prediction)
            if pair is not None:
                scored.append(pair)
        return scored

    def _score(self, prediction: Prediction) -> ScoredPair | None:
        s = self.settings
        truth = self.series.window(prediction.t_obs, prediction.t_obs + s.horizon_s)
        if truth.max_flux is None or truth.coverage < s.min_coverage:
            self.counts["no_goes_data"] += 1
            self._outcomes[prediction.frame_id] = "no_goes_data"
            return None
        observed = tuple(truth.max_flux >= f for f in self._fluxes)
        pair = ScoredPair(prediction.frame_id, prediction.t_obs, truth.max_flux,
                          prediction.predicted, observed)
        self.scores.add(pair)
        self.counts["scored"] += 1
        self._outcomes[prediction.frame_id] = "scored"
        if self.on_scored is not None:
            self.on_scored(pair)
        return pair

    def _expire_waiting(self) -> None:
        now = self.clock()
        if not self._pending or now - self._last_sweep < 10.0:
            return  # a full scan at most every 10 s keeps resolve() cheap
        self._last_sweep = now
        limit = now - self.settings.max_wait_s
        kept = [entry for entry in self._pending if entry[2].received > limit]
        dropped = len(self._pending) - len(kept)
        if dropped:
            heapq.heapify(kept)
            self._pending = kept
            self.counts["truth_timeout"] += dropped
            log.warning("predictions dropped: no GOES truth in time", dropped=dropped,
                        max_wait_s=self.settings.max_wait_s)
