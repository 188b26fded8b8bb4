"""Keeping feeds alive: a source task that dies is restarted after a backoff.

Sources catch per message, so a dead ``run()`` means something larger broke
(a bug, a resource gone). Left alone the feed would stay silent while the
daemon reports itself ready; instead :func:`supervise` starts it again after
a growing delay and :class:`SourceSupervisor` keeps the record that
``/readyz`` and the metrics show.

:class:`SourceSupervisor` is synchronous (clock passed in, plain values out);
:func:`supervise` is the small async loop around one source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from monitor.logs import bounded, get_logger
from monitor.sources.base import Emit, Source

__all__ = ["SourceState", "SourceSupervisor", "supervise"]

log = get_logger(__name__)


@dataclass(frozen=True)
class SourceState:
    """What is known about one feed's source task.

    Attributes
    ----------
    feed : str
        Feed name.
    running : bool
        The task runs (False while it waits to be restarted).
    restarts : int
        Failures so far in this process.
    last_error : str or None
        What the last failure said (bounded).
    restart_at : float or None
        Clock time of the next start while not running.
    """

    feed: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    restart_at: float | None = None


class SourceSupervisor:
    """Backoff and state of restarted sources.

    Parameters
    ----------
    clock : callable
        Monotonic seconds (``time.monotonic``; tests pass a fake).
    initial_delay_s, max_delay_s : float
        The delay doubles from ``initial_delay_s`` per consecutive failure, up to
        ``max_delay_s``.
    healthy_after_s : float
        A source that ran this long before failing starts its backoff afresh.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 initial_delay_s: float = 1.0, max_delay_s: float = 60.0,
                 healthy_after_s: float = 300.0) -> None:
        self.clock = clock
        self.initial_delay_s = initial_delay_s
        self.max_delay_s = max_delay_s
        self.healthy_after_s = healthy_after_s
        self._states: dict[str, SourceState] = {}
        self._started_at: dict[str, float] = {}
        self._streak: dict[str, int] = {}

    def started(self, feed: str) -> None:
        """The source task of ``feed`` (re)starts now."""
        state = self._states.get(feed, SourceState(feed))
        self._states[feed] = replace(state, running=True, restart_at=None)
        self._started_at[feed] = self.clock()

    def failed(self, feed: str, error: str) -> float:
        """The task of ``feed`` ended with ``error``; returns the delay before its restart."""
        now = self.clock()
        ran = now - self._started_at.get(feed, now)
        streak = 1 if ran >= self.healthy_after_s else self._streak.get(feed, 0) + 1
        self._streak[feed] = streak
        delay = min(self.max_delay_s, self.initial_delay_s * 2 ** (streak - 1))
        state = self._states.get(feed, SourceState(feed))
        self._states[feed] = replace(state, running=False, restarts=state.restarts + 1,
                                     last_error=bounded(error, 300), restart_at=now + delay)
        return delay

    def states(self) -> list[SourceState]:
        """Every known feed, by name."""
        return [self._states[name] for name in sorted(self._states)]

    def problems(self) -> list[str]:
        """One line per source that is down, for ``/readyz``'s degraded list."""
        now = self.clock()
        return [f"feed {s.feed}: source failed ({s.last_error}), restart {s.restarts} in "
                f"{max(0.0, (s.restart_at or now) - now):.0f} s"
                for s in self.states() if not s.running and s.restarts]


async def supervise(source: Source, emit: Emit, supervisor: SourceSupervisor,
                    on_failure: Callable[[str], None] | None = None,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run ``source.run(emit)`` until cancelled, restarting it after each failure.

    ``on_failure(feed)`` runs once per failure (the restart counter). A
    ``run()`` that returns is a failure too: a source runs until cancelled.
    """
    while True:
        supervisor.started(source.name)
        try:
            await source.run(emit)
            error = "run() returned"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the point: the feed comes back
            error = f"{type(exc).__name__}: {exc}"
            log.debug("source failure", exc_info=True, feed=source.name)
        delay = supervisor.failed(source.name, error)
        if on_failure is not None:
            on_failure(source.name)
        # one line for the operator (the traceback only with -v)
        log.error("source failed, will be restarted", feed=source.name, in_s=delay, error=error)
        await sleep(delay)
