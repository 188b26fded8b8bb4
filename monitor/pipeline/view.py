"""What the HTTP API sees of a running daemon (the ``DaemonView`` protocol)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

import monitor
from monitor.observe.http import Health, Readiness

if TYPE_CHECKING:
    from monitor.pipeline.worker import PipelineWorker

__all__ = ["DaemonStatusView"]


class DaemonStatusView:
    """Read-only view over a :class:`PipelineWorker` for the HTTP layer."""

    def __init__(self, worker: PipelineWorker, daemon: Any) -> None:
        self.worker = worker
        self.daemon = daemon
        self.registry: CollectorRegistry = daemon.metrics.registry

    def health(self) -> Health:
        return self.worker.health()

    def readiness(self) -> Readiness:
        return self.worker.readiness()

    def status(self) -> dict[str, Any]:
        w = self.worker
        backend = w.backend.status()
        pub = w.publisher.health()
        stale = set(w.stale_feeds())
        return {
            "version": monitor.__version__,
            "instance": w.source_uri,
            "mode": w.config.service.mode,
            "uptime_s": round(time.monotonic() - self.daemon._started, 1),
            "counts": dict(w.counts),
            "feeds": {name: {"kind": s.stats().kind, "stale": name in stale,
                             "seen": s.stats().seen, "last_seen": s.stats().last_seen}
                      for name, s in w.sources.items()},
            "backend": {"active": backend.active, "target": backend.target,
                        "precision": backend.precision, "degraded": backend.degraded,
                        "engine_build": backend.engine_build, "detail": backend.detail},
            "model": w.latest["model"] if w.latest else {
                "name": w.analyzer.package.manifest.name,
                "version": w.analyzer.package.manifest.version,
                "sha256": w.analyzer.package.sha256},
            "publisher": {"connected": pub.connected, "pending": pub.pending,
                          "oldest_age_s": pub.oldest_age_s, "last_error": pub.last_error,
                          "producer_generation": pub.producer_generation},
            "queues": {"arrivals": w.arrivals.qsize(), "frames": len(w.frames),
                       "open_frames": w.assembler.open_frames},
            "alerts_active": w.analyzer.alerts.active(),
        }

    def latest_frame(self) -> dict[str, Any] | None:
        return self.worker.latest

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.worker.recent_alerts)

    def saliency_png(self, frame_id: str) -> bytes | None:
        return self.worker.overlays.get(frame_id)
