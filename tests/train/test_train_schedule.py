"""The time budget, the learning-rate schedule and early stopping, with a hand-moved clock."""

from __future__ import annotations

import math

import pytest

from monitor.train.schedule import EarlyStopping, LearningRateSchedule, TimeBudget


class ManualClock:
    """A monotonic clock that moves only when the test says so (a fake of time itself)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_counts_from_construction_and_zero_means_none() -> None:
    clock = ManualClock()
    budget = TimeBudget(0.5, clock)
    assert budget.limited and budget.elapsed() == 0.0
    clock.now += 15.0
    assert budget.fraction_spent() == pytest.approx(0.5) and not budget.exhausted()
    clock.now += 15.0
    assert not budget.exhausted()            # exactly at the budget: not past it
    clock.now += 0.1
    assert budget.exhausted()
    unlimited = TimeBudget(0.0, clock)
    clock.now += 1e9
    assert not unlimited.limited and not unlimited.exhausted()
    assert unlimited.fraction_spent() == 0.0


def test_rate_warms_up_linearly_then_decays_to_zero_by_steps() -> None:
    schedule = LearningRateSchedule(1e-3, 4, 20, TimeBudget(0.0, ManualClock()))
    assert [schedule.at(s) for s in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert schedule.at(4) == pytest.approx(1e-3)                   # cosine starts at the peak
    assert schedule.at(12) == pytest.approx(0.5e-3)                # half-way through the decay
    assert schedule.at(20) == pytest.approx(0.0, abs=1e-15)
    assert schedule.at(50) == pytest.approx(0.0, abs=1e-15)        # stays annealed
    no_warmup = LearningRateSchedule(1e-3, 0, 10, TimeBudget(0.0, ManualClock()))
    assert no_warmup.at(0) == pytest.approx(1e-3)


def test_rate_follows_time_when_the_budget_is_further_along() -> None:
    clock = ManualClock()
    schedule = LearningRateSchedule(1.0, 0, 1000, TimeBudget(1.0, clock))
    assert schedule.at(0) == pytest.approx(1.0)
    clock.now += 30.0                       # half the budget, a tiny share of the steps
    assert schedule.at(1) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    clock.now += 60.0                       # past the budget: annealed
    assert schedule.at(2) == pytest.approx(0.0, abs=1e-15)


def test_early_stopping_needs_a_gain_of_min_delta_and_counts_patience() -> None:
    stopping = EarlyStopping(patience=2, min_delta=0.1)
    assert stopping.is_gain(5.0)            # anything beats no epoch at all
    stopping.mark_best(1, 5.0)
    assert not stopping.patience_spent(True)
    assert not stopping.is_gain(4.95)       # smaller than min_delta
    assert not stopping.patience_spent(False)
    assert stopping.is_gain(4.8)
    stopping.mark_best(3, 4.8)
    assert not stopping.patience_spent(True)  # a gain resets the count
    assert not stopping.patience_spent(False)
    assert stopping.patience_spent(False)
    assert (stopping.best_epoch, stopping.best_loss) == (3, 4.8)
    assert stopping.reason == "early stopping (2 epochs without gain)"
