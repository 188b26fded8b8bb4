"""The daemon's periodic duties and its own health: metrics from snapshots,
frame windows that expire, stale feeds, liveness and readiness.

Kept apart from :mod:`monitor.pipeline.worker` (which moves the data) so that
each reads in one sitting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from monitor.observe.http import Health, Readiness
from monitor.publish.outbox import OutboundMessage

__all__ = ["Housekeeper"]

log = logging.getLogger(__name__)

_ENGINE_BUILD_STATE = {"not_needed": 0, "building": 1, "ready": 2, "done": 2, "failed": 3}


class Housekeeper:
    """Periodic work and health reports for one :class:`PipelineWorker`."""

    #: A pipeline with work waiting that finished nothing for this long is hung.
    STUCK_AFTER_S = 120.0
    #: How often old ledger rows are pruned (``service.ledger_retention_days``).
    PRUNE_EVERY_S = 3600.0
    FIRST_PRUNE_AFTER_S = 600.0

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self._wire_publisher_hooks()

    def _wire_publisher_hooks(self) -> None:
        w, m = self.worker, self.worker.metrics

        def on_ack(topic: str, count: int, latency_s: float) -> None:
            m.published.labels(topic).inc(count)
            m.stage_seconds["publish"].observe(latency_s)

        def on_delivered(messages: Sequence[OutboundMessage], acked_at: float) -> None:
            for message in messages:
                span = w.e2e_start.pop(message.message_id, None)
                if span is not None:
                    first, last = span
                    m.stage_seconds["end_to_end"].observe(max(0.0, acked_at - first))
                    m.stage_seconds["last_file_to_ack"].observe(max(0.0, acked_at - last))

        def on_outbox(pending: int, pending_bytes: int, oldest_age_s: float) -> None:
            m.outbox_pending.set(pending)
            m.outbox_bytes.set(pending_bytes)
            m.outbox_oldest_age.set(oldest_age_s)

        w.publisher.on_ack = on_ack
        w.publisher.on_delivered = on_delivered
        w.publisher.on_error = lambda kind: m.publish_errors.labels(kind).inc()
        w.publisher.on_outbox = on_outbox
        m.sources.provider = lambda: [s.stats() for s in w.sources.values()]

    async def run(self) -> None:
        """Every second: expire frame windows, refresh gauges, export scores; hourly: prune
        the ledger."""
        w, m = self.worker, self.worker.metrics
        # not at start-up: a restart is when the ledger is busiest (resumed files)
        next_prune = time.monotonic() + self.FIRST_PRUNE_AFTER_S
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.PRUNE_EVERY_S
                await self.prune_ledger()
            w.requeue_due()
            await w.settle(w.assembler.expire(time.monotonic()))
            health = w.publisher.health()
            m.producer_generation.set(health.producer_generation)
            m.outbox_oldest_age.set(health.oldest_age_s)
            status = w.backend.status()
            stale = self.stale_feeds()
            m.backend_degraded.set(1 if status.degraded else 0)
            m.degraded.set(1 if status.degraded or stale else 0)
            m.engine_build.set(_ENGINE_BUILD_STATE[status.engine_build])
            m.backend_info.info({"backend": status.active, "precision": status.precision,
                                 "target": status.target})
            for feed in w.config.feeds:
                m.feed_stale.labels(feed.name).set(feed.name in stale)
            for source in w.supervisor.states():
                m.source_up.labels(source.feed).set(source.running)
            m.queue_depth.labels("arrivals").set(w.arrivals.qsize())
            m.queue_depth.labels("assembly").set(w.assembler.open_frames)
            if w.goes is not None:
                w.goes.export_scores()

    async def prune_ledger(self) -> int:
        """Drop finished ledger rows older than the retention (a failure is logged, retried
        at the next hour)."""
        retention_s = self.worker.config.service.ledger_retention_days * 86400.0
        try:
            pruned = await asyncio.to_thread(self.worker.ledger.prune, retention_s)
        except Exception:  # e.g. disk full: the ledger keeps working, only bigger
            log.exception("ledger prune failed")
            return 0
        if pruned:
            log.info("ledger pruned", extra={"kv": {"rows": pruned,
                                                    "older_than_days": retention_s / 86400}})
        return pruned

    def stale_feeds(self) -> list[str]:
        """Feeds that delivered nothing for ``stale_after_cadences`` cadences (>= 60 s)."""
        w = self.worker
        now = time.time()
        factor = w.config.service.stale_after_cadences
        return [feed.name for feed in w.config.feeds
                if now - w.feed_seen.get(feed.name, w.started_wall)
                > max(60.0, feed.cadence_s * factor)]

    def heartbeat_ok(self) -> bool:
        """The pipeline moves: idle, or something finished recently."""
        w = self.worker
        return w.idle() or time.monotonic() - w.last_progress < self.STUCK_AFTER_S

    def health(self) -> Health:
        ago = time.monotonic() - self.worker.last_progress
        return Health(self.heartbeat_ok(), f"last progress {ago:.1f} s ago")

    def readiness(self) -> Readiness:
        w = self.worker
        reasons: list[str] = []
        degraded: list[str] = []
        status = w.backend.status()
        if status.degraded:
            degraded.append(f"inference: {status.detail}")
        pub = w.publisher.health()
        # an idle daemon has sent nothing yet: that is not an outage
        if not pub.connected and (pub.pending or pub.last_error):
            why = f"; last error: {pub.last_error[:200]}" if pub.last_error else ""
            degraded.append(f"kafka not acknowledging ({pub.pending} messages in the "
                            f"outbox{why})")
        degraded += [f"feed {feed} is stale" for feed in self.stale_feeds()]
        degraded += w.supervisor.problems()
        if not pub.running:
            reasons.append("publisher stopped")
        return Readiness(not reasons, reasons, degraded)
