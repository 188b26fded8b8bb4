"""Contingency tables, TSS/HSS on hand-computed cases, rolling windows, pending predictions."""

from __future__ import annotations

import math

import pytest

from monitor.goes.samples import FluxSeries, GoesSample
from monitor.goes.scores import Contingency, RollingScores, ScoredPair, hss, tss
from monitor.goes.settings import VerificationSettings
from monitor.goes.verify import Verifier, decide

T0 = 1_700_000_000.0 // 60 * 60  # a minute boundary
HOUR, DAY = 3600.0, 86400.0


# -- scores by hand ------------------------------------------------------------
def test_hand_computed_table() -> None:
    # a=hits 20, b=false alarms 10, c=misses 5, d=correct negatives 65 (n=100)
    table = Contingency(hits=20, misses=5, false_alarms=10, correct_negatives=65)
    # TSS = 20/25 - 10/75 = 0.8 - 0.1333.. = 0.6667
    assert table.tss == pytest.approx(0.8 - 10 / 75)
    # HSS = 2(ad - bc) / ((a+c)(c+d) + (a+b)(b+d)) = 2(1300-50) / (25*70 + 30*75) = 2500/4000
    assert table.hss == pytest.approx(0.625)
    assert table.pod == pytest.approx(0.8) and table.far == pytest.approx(1 / 3)
    assert table.n == 100


def test_perfect_and_inverted_forecasts() -> None:
    perfect = Contingency(hits=3, misses=0, false_alarms=0, correct_negatives=7)
    assert perfect.tss == 1.0 and perfect.hss == 1.0
    inverted = Contingency(hits=0, misses=3, false_alarms=7, correct_negatives=0)
    assert inverted.tss == -1.0
    # HSS = 2(0 - 21) / (3*3 + 7*7) = -42/58
    assert inverted.hss == pytest.approx(-42 / 58)


def test_degenerate_tables_are_undefined_not_zero() -> None:
    # no observed events in the window: TSS undefined
    quiet = Contingency(hits=0, misses=0, false_alarms=2, correct_negatives=98)
    assert quiet.tss is None
    # HSS = 2(0*98 - 2*0) / (0*98 + 2*100) = 0: defined, no skill
    assert quiet.hss == 0.0
    all_quiet = Contingency(correct_negatives=50)
    assert all_quiet.tss is None and all_quiet.hss is None
    assert all_quiet.pod is None and all_quiet.far is None
    everything_flares = Contingency(hits=4, misses=1)
    assert everything_flares.tss is None  # no non-events
    empty = Contingency()
    assert empty.tss is None and empty.hss is None and empty.n == 0
    assert tss(0, 0, 0, 0) is None and hss(0, 0, 0, 0) is None


def test_from_pairs_cells() -> None:
    table = Contingency.from_pairs([(True, True), (False, True), (True, False), (False, False),
                                    (False, False)])
    assert (table.hits, table.misses, table.false_alarms, table.correct_negatives) == (1, 1, 1, 2)


# -- rolling windows -------------------------------------------------------------
def pair(i: int, t: float, predicted: bool, observed: bool) -> ScoredPair:
    return ScoredPair(f"f{i}", t, 1e-5 if observed else 1e-7, (predicted,), (observed,))


def test_rolling_windows_expire_old_pairs() -> None:
    scores = RollingScores(("M",), {"1h": HOUR, "1d": DAY})
    scores.add(pair(0, T0, True, True))                 # hit
    scores.add(pair(1, T0 + 10 * 60, False, False))     # correct negative
    scores.add(pair(2, T0 + 2 * HOUR, True, False))     # false alarm
    one_hour, one_day = scores.table("1h", "M"), scores.table("1d", "M")
    assert (one_hour.hits, one_hour.false_alarms, one_hour.correct_negatives) == (0, 1, 0)
    assert (one_day.hits, one_day.false_alarms, one_day.correct_negatives) == (1, 1, 1)
    scores.advance(T0 + DAY + 5 * 60)  # the first pair leaves the day window
    one_day = scores.table("1d", "M")
    assert (one_day.hits, one_day.false_alarms, one_day.correct_negatives) == (0, 1, 1)
    scores.advance(T0 + 3 * DAY)
    assert scores.table("1d", "M").n == 0 and scores.table("1h", "M").n == 0
    assert len(scores) == 0  # nothing older than every window is kept


def test_late_pair_lands_in_the_right_windows() -> None:
    scores = RollingScores(("M",), {"1h": HOUR, "1d": DAY})
    scores.add(pair(0, T0 + 5 * HOUR, False, False))
    scores.add(pair(1, T0 + 2 * HOUR, False, True))  # older than the 1 h window, inside 1 d
    assert scores.table("1h", "M").misses == 0
    assert scores.table("1d", "M").misses == 1
    scores.advance(T0 + 2 * HOUR + DAY + 1)
    assert scores.table("1d", "M").misses == 0
    assert scores.table("1d", "M").correct_negatives == 1


def test_max_pairs_bounds_memory_and_counts() -> None:
    scores = RollingScores(("M",), {"1d": DAY}, max_pairs=3)
    for i in range(5):
        scores.add(pair(i, T0 + i * 60, False, True))
    assert len(scores) == 3 and scores.table("1d", "M").misses == 3


def test_snapshot_restore_roundtrip() -> None:
    scores = RollingScores(("C", "M"), {"1d": DAY})
    scores.add(ScoredPair("a", T0, 2e-6, (True, False), (True, False)))
    scores.add(ScoredPair("b", T0 + 60, 2e-5, (True, False), (True, True)))
    restored = RollingScores(("C", "M"), {"1d": DAY})
    assert restored.restore(scores.snapshot()) == 2
    assert restored.rows() == scores.rows()
    assert RollingScores(("M",), {"1d": DAY}).restore(scores.snapshot()) == 0


# -- decisions -------------------------------------------------------------------
def test_decide_probability_and_class() -> None:
    probs = {"none": 0.3, "C": 0.3, "M": 0.25, "X": 0.15}
    # P(>=C) 0.7, P(>=M) 0.4, P(>=X) 0.15
    assert decide(("C", "M", "X"), probs, "none") == (True, False, False)
    assert decide(("C", "M", "X"), probs, "M", "predicted_class") == (True, True, False)
    assert decide(("C", "M", "X"), probs, None, "probability", 0.4) == (True, True, False)
    assert decide(("M",), None, "X") == (True,)  # no probabilities: the class decides
    assert decide(("M",), {"weird": 1.0}, None) is None
    assert decide(("C",), None, "M2.5") == (True,)


# -- pending predictions -----------------------------------------------------------
class FakeClock:
    """Monotonic clock a test moves by hand (max_wait_s without waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_verifier(**changes: object) -> tuple[Verifier, FluxSeries, FakeClock]:
    settings = VerificationSettings(windows_s={"1d": DAY}, settle_s=0.0, **changes)
    series = FluxSeries(history_s=3 * DAY)
    clock = FakeClock()
    return Verifier(settings, series, clock), series, clock


def test_pending_predictions_resolve_when_goes_arrives() -> None:
    verifier, series, _ = make_verifier()
    t_obs = T0 + 30.5  # inside the minute stamped T0
    assert verifier.observe("f1", t_obs, {"none": 0.1, "M": 0.9}) == "pending"
    assert verifier.pending == 1 and verifier.scores.table("1d", "M").n == 0
    series.add(GoesSample(T0 - 60, 1e-7, 16))
    assert verifier.resolve() == [] and verifier.pending == 1  # not covered yet
    series.add(GoesSample(T0, 2e-5, 16))
    pairs = verifier.resolve()
    assert [p.frame_id for p in pairs] == ["f1"] and verifier.pending == 0
    assert pairs[0].observed_flux == 2e-5 and pairs[0].observed == (True, True, False)
    assert verifier.scores.table("1d", "M").hits == 1
    # a frame whose truth is already there is scored at once
    assert verifier.observe("f2", T0 + 5, predicted_class="none") == "scored"
    assert verifier.scores.table("1d", "M").misses == 1
    assert verifier.observe("f2", T0 + 5, predicted_class="none") == "duplicate"


def test_horizon_takes_the_window_maximum() -> None:
    verifier, series, _ = make_verifier(horizon_s=600.0)
    for i in range(12):
        series.add(GoesSample(T0 + i * 60, 3e-5 if i == 8 else 1e-7, 16))
    assert verifier.observe("f", T0 + 10, predicted_class="none") == "scored"
    assert verifier.scores.table("1d", "M").misses == 1  # the M3 at +8 min counts


def test_missing_truth_is_dropped_and_counted() -> None:
    verifier, series, clock = make_verifier(max_wait_s=600.0, max_pending=2)
    series.add(GoesSample(T0, 1e-7, 16))
    series.add(GoesSample(T0 + 10 * 60, 1e-7, 16))  # minutes 1..9 missing
    assert verifier.observe("gap", T0 + 5 * 60, predicted_class="none") == "no_goes_data"
    assert verifier.counts["no_goes_data"] == 1
    for i in range(3):
        verifier.observe(f"future{i}", T0 + (20 + i) * 60, predicted_class="none")
    assert verifier.counts["pending_overflow"] == 1 and verifier.pending == 2
    clock.now = 601.0
    verifier.resolve()
    assert verifier.counts["truth_timeout"] == 2 and verifier.pending == 0
    assert verifier.observe("bad", T0, {"weird": 1.0}) == "unreadable"


def test_nan_gauge_values_for_undefined_scores() -> None:
    verifier, series, _ = make_verifier()
    series.add(GoesSample(T0, 1e-7, 16))
    verifier.observe("q", T0 + 1, predicted_class="none")
    rows = {(r.threshold, r.window): r.table for r in verifier.scores.rows()}
    table = rows[("M", "1d")]
    assert table.correct_negatives == 1 and table.tss is None
    gauge = float("nan") if table.tss is None else table.tss
    assert math.isnan(gauge)
