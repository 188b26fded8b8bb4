"""Backoff bookkeeping for files hit by failures of the daemon's own making.

A full disk under the ledger or the outbox, an outbox that refuses a result:
the input is fine, so it must be tried again in this run, after a backoff,
rather than wait for a restart (the spool emits each file once per run). The
worker decides what a failure means; this class only counts attempts and
holds the files until they are due.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from monitor.sources import FileArrival

__all__ = ["RetrySchedule"]


class RetrySchedule:
    """Files waiting for another attempt, with their attempt counts.

    Parameters
    ----------
    max_delay_s : float
        Cap of the exponential backoff (2, 4, 8, ... seconds).
    """

    def __init__(self, max_delay_s: float = 60.0) -> None:
        self.max_delay_s = max_delay_s
        self._waiting: list[tuple[float, FileArrival]] = []
        self._attempts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def count_attempt(self, path: str) -> int:
        """Count one more failed attempt of ``path``; returns the total so far."""
        attempts = self._attempts.get(path, 0) + 1
        self._attempts[path] = attempts
        return attempts

    def forget(self, path: str) -> None:
        """The file reached an outcome: its count starts again if it ever comes back."""
        self._attempts.pop(path, None)

    def schedule(self, arrival: FileArrival, attempts: int) -> float:
        """Hold ``arrival`` for a backoff that grows with ``attempts``; returns the delay."""
        delay = min(self.max_delay_s, 2.0 ** min(attempts, 6))
        self._waiting.append((time.monotonic() + delay, arrival))
        return delay

    def release_due(self, put: Callable[[FileArrival], bool]) -> None:
        """Hand every due file to ``put`` (which returns False when it has no room)."""
        now = time.monotonic()
        waiting = []
        for due, arrival in self._waiting:
            if not (due <= now and put(arrival)):
                waiting.append((due, arrival))
        self._waiting = waiting
