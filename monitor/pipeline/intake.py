"""Sources in, acknowledgements out: the daemon's edge towards its feeds.

Each source runs as one task and hands its arrivals to one bounded queue; a
full queue blocks the source (files wait safely on disk or in Kafka), which
is why the overload policy acts later, on frames. A source task that dies is
restarted after a backoff (:mod:`monitor.sources.supervisor`). When a file reaches its
outcome, :meth:`Intake.acknowledge` is the one place that tells its source
(move, delete, commit) and counts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.sources import FeedSettings, FileArrival, Outcome, Source
from monitor.sources.supervisor import SourceSupervisor, supervise

__all__ = ["FeedStatus", "Intake"]

log = get_logger(__name__)


@dataclass(frozen=True)
class FeedStatus:
    """One feed as the status page sees it."""

    name: str
    kind: str
    stale: bool
    seen: int
    last_seen: float | None


class Intake:
    """Runs the sources and settles their files with them.

    Parameters
    ----------
    sources : sequence of Source
        One per configured feed.
    feeds : sequence of FeedSettings
        Their settings (cadences for staleness).
    queue_size : int
        Bound of the arrivals queue.
    stale_after_cadences : float
        A feed that delivered nothing for this many cadences (>= 60 s) is stale.
    metrics : Metrics
        Where file outcomes and the arrivals queue depth are counted.
    """

    def __init__(self, sources: Sequence[Source], feeds: Sequence[FeedSettings], queue_size: int,
                 stale_after_cadences: float, metrics: Metrics) -> None:
        self._sources = {s.name: s for s in sources}
        self._cadences = {f.name: f.cadence_s for f in feeds}
        self._stale_after = stale_after_cadences
        self._metrics = metrics
        self._arrivals: asyncio.Queue[FileArrival] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._supervisor = SourceSupervisor()
        self._seen: dict[str, float] = {}
        self._started = time.time()
        self.counts: dict[str, int] = {"processed": 0, "rejected": 0, "duplicate": 0}

    def start(self) -> None:
        for source in self._sources.values():
            self._tasks.append(asyncio.create_task(self._run(source),
                                                   name=f"source:{source.name}"))

    async def stop(self) -> None:
        """Stop every source (intake stops first on shutdown)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, source: Source) -> None:
        async def emit(arrival: FileArrival) -> None:
            await self._arrivals.put(arrival)  # blocks: back-pressure to the source
            self._metrics.queue_depth.labels("arrivals").set(self._arrivals.qsize())

        await supervise(source, emit, self._supervisor,
                        on_failure=lambda feed: self._metrics.source_restarts.labels(feed).inc())

    async def next(self) -> FileArrival:
        """The next arrival (waits for one)."""
        arrival = await self._arrivals.get()
        self._seen[arrival.feed] = time.time()
        return arrival

    def offer(self, arrival: FileArrival) -> bool:
        """Queue an arrival again (a retry) if there is room; never blocks."""
        if self._arrivals.full():
            return False
        self._arrivals.put_nowait(arrival)
        return True

    @property
    def queued(self) -> int:
        return self._arrivals.qsize()

    async def acknowledge(self, arrival: FileArrival, outcome: Outcome) -> None:
        """The file reached its outcome: count it and tell its source."""
        self.counts[outcome] += 1
        self._metrics.files.labels(arrival.feed, outcome).inc()
        source = self._sources.get(arrival.feed)
        if source is None:
            return
        try:
            await source.done(arrival, outcome)
        except Exception:  # e.g. the move failed; the ledger already knows
            log.exception("source could not settle a file", path=str(arrival.path), outcome=outcome)

    def stale_feeds(self) -> list[str]:
        """Feeds that delivered nothing for ``stale_after_cadences`` cadences (>= 60 s)."""
        now = time.time()
        return [name for name, cadence in self._cadences.items()
                if now - self._seen.get(name, self._started)
                > max(60.0, cadence * self._stale_after)]

    def sources_up(self) -> dict[str, bool]:
        """Per feed, whether its source task runs (not waiting for a restart)."""
        return {state.feed: state.running for state in self._supervisor.states()}

    def source_problems(self) -> list[str]:
        """Sources that failed and wait to be restarted, in words (``/readyz``)."""
        return self._supervisor.problems()

    def feeds(self) -> tuple[FeedStatus, ...]:
        stale = set(self.stale_feeds())
        return tuple(FeedStatus(name, stats.kind, name in stale, stats.seen, stats.last_seen)
                     for name, stats in ((n, s.stats()) for n, s in self._sources.items()))
