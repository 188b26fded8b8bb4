"""The daemon's periodic duties: retries that are due, frame windows that expire, gauges
from a snapshot, GOES scores, and the hourly ledger prune."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.assembly import Assembly
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.goes_link import GoesLink
from monitor.pipeline.outcomes import Outcomes
from monitor.pipeline.status import PipelineSnapshot

__all__ = ["Housekeeper"]

log = get_logger(__name__)

_ENGINE_BUILD_STATE = {"not_needed": 0, "building": 1, "ready": 2, "done": 2, "failed": 3}


class Housekeeper:
    """Once a second: what no file or frame triggers by itself.

    Parameters
    ----------
    snapshot : callable
        The pipeline's snapshot (gauges are set from it).
    outcomes : Outcomes
        Releases retries whose backoff has passed.
    assembly : Assembly
        Closes frames whose window has passed.
    book : FileBook
        Prunes the ledger.
    feeds : sequence of str
        Every configured feed (a stale-feed gauge each).
    retention_days : float
        ``service.ledger_retention_days``.
    metrics : Metrics
        The gauges.
    goes : GoesLink, optional
        Its verification scores are exported.
    """

    #: How often old ledger rows are pruned (``service.ledger_retention_days``).
    PRUNE_EVERY_S = 3600.0
    FIRST_PRUNE_AFTER_S = 600.0

    def __init__(self, *, snapshot: Callable[[], PipelineSnapshot], outcomes: Outcomes,
                 assembly: Assembly, book: FileBook, feeds: Sequence[str],
                 retention_days: float, metrics: Metrics, goes: GoesLink | None = None) -> None:
        self._snapshot = snapshot
        self._outcomes = outcomes
        self._assembly = assembly
        self._book = book
        self._feeds = tuple(feeds)
        self._retention_s = retention_days * 86400.0
        self._metrics = metrics
        self._goes = goes

    async def run(self) -> None:
        """Until cancelled."""
        # not at start-up: a restart is when the ledger is busiest (resumed files)
        next_prune = time.monotonic() + self.FIRST_PRUNE_AFTER_S
        # gauges before the first tick: a short replay can end within the first second
        self.set_gauges(self._snapshot())
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.PRUNE_EVERY_S
                await self.prune_ledger()
            self._outcomes.requeue_due()
            await self._assembly.expire()
            self.set_gauges(self._snapshot())
            if self._goes is not None:
                self._goes.export_scores()

    def set_gauges(self, snap: PipelineSnapshot) -> None:
        m, backend = self._metrics, snap.backend
        m.producer_generation.set(snap.publisher.producer_generation)
        m.outbox_oldest_age.set(snap.publisher.oldest_age_s)
        stale = set(snap.stale_feeds)
        m.backend_degraded.set(1 if backend.degraded else 0)
        m.degraded.set(1 if backend.degraded or stale or snap.calibration.stale_reason
                       or snap.model_problem else 0)
        m.model_switch_refused.set(1 if snap.model_problem else 0)
        m.calibration_table_age.set(snap.calibration.age_days * 86400.0)
        m.engine_build.set(_ENGINE_BUILD_STATE[backend.engine_build])
        m.backend_info.info({"backend": backend.active, "precision": backend.precision,
                             "target": backend.target})
        for feed in self._feeds:
            m.feed_stale.labels(feed).set(feed in stale)
        for feed, running in snap.sources_up.items():
            m.source_up.labels(feed).set(running)
        m.queue_depth.labels("arrivals").set(snap.arrivals)
        m.queue_depth.labels("assembly").set(snap.open_frames)

    async def prune_ledger(self) -> int:
        """Drop finished ledger rows older than the retention (a failure is logged, retried
        at the next hour)."""
        pruned = await self._book.prune(self._retention_s)
        if pruned:
            log.info("ledger pruned", rows=pruned, older_than_days=self._retention_s / 86400)
        return pruned
