"""When a training run's epochs change pace or end: the time budget, the learning rate, patience.

Three small synchronous objects with the clock passed in, so each is read (and
tested) without a network in sight:

* :class:`TimeBudget` -- the wall-time allowance of the epochs
  (``training.max_minutes``; unlimited when 0);
* :class:`LearningRateSchedule` -- AdamW's rate per optimiser step: a linear
  warm-up, then a cosine decay to zero;
* :class:`EarlyStopping` -- which epoch's validation loss is best so far, and
  when ``patience`` epochs without a gain of ``min_delta`` end the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["EarlyStopping", "LearningRateSchedule", "TimeBudget"]


class TimeBudget:
    """Wall time the epochs may use, counted from construction.

    Parameters
    ----------
    minutes : float
        The allowance; 0 means no limit.
    clock : callable
        Monotonic seconds (``time.monotonic`` unless a test passes another).
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = minutes * 60.0 if minutes > 0 else math.inf
        self.clock = clock
        self.start = clock()

    @property
    def limited(self) -> bool:
        """Whether there is a budget at all (``max_minutes > 0``)."""
        return self.seconds < math.inf

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return self.clock() - self.start

    def fraction_spent(self) -> float:
        """Share of the budget used so far (0 without a budget; may pass 1)."""
        return self.elapsed() / self.seconds

    def exhausted(self) -> bool:
        """Whether the epochs have run past the budget."""
        return self.elapsed() > self.seconds


class LearningRateSchedule:
    """Learning rate per optimiser step: linear warm-up, then a cosine decay to zero.

    With a wall-time budget the cosine runs on whichever is further along,
    steps or time, so a run cut short by the budget still ends annealed, not at
    a high learning rate. Without one the rate depends on the step only, which
    keeps runs repeatable.

    Parameters
    ----------
    peak : float
        The rate at the end of the warm-up.
    warmup_steps : int
        Steps of the linear warm-up (0 = none).
    total_steps : int
        Steps of the whole run; the cosine reaches zero there.
    budget : TimeBudget
        The run's wall-time budget.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int,
                 budget: TimeBudget) -> None:
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.budget = budget

    def at(self, step: int) -> float:
        """The rate of optimiser step ``step`` (counted from 0 over the whole run)."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        if self.budget.limited:
            progress = max(progress, self.budget.fraction_spent())
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class EarlyStopping:
    """The best validation loss so far, and when waiting longer for a better one stops.

    The decision is split in two because under DDP only rank 0 validates: it
    asks :meth:`is_gain` and :meth:`mark_best`; every rank then passes the
    broadcast answer to :meth:`patience_spent`, so all ranks stop together.

    Parameters
    ----------
    patience : int
        Epochs in a row without a gain that end the run.
    min_delta : float
        Smallest drop in validation loss that counts as a gain.
    """

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.best_epoch = -1
        self.stale = 0

    def is_gain(self, val_loss: float) -> bool:
        """Whether ``val_loss`` beats the best so far by more than ``min_delta``."""
        return val_loss < self.best_loss - self.min_delta

    def mark_best(self, epoch: int, val_loss: float) -> None:
        """Record ``epoch`` (counted from 1) as the best, with its loss."""
        self.best_loss, self.best_epoch = val_loss, epoch

    def patience_spent(self, improved: bool) -> bool:
        """Count an epoch with or without a gain; True once ``patience`` passed without."""
        self.stale = 0 if improved else self.stale + 1
        return self.stale >= self.patience

    @property
    def reason(self) -> str:
        """The stop reason recorded in the training summary."""
        return f"early stopping ({self.patience} epochs without gain)"
