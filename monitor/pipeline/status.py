"""A read-only snapshot of the running pipeline, and the health it implies.

The status page, the probes, systemd's status line and the periodic gauges
all read a :class:`PipelineSnapshot`: plain values taken from each stage at
one moment, never a stage itself and never the metrics registry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from monitor.inference import BackendStatus
from monitor.models.provenance import ModelIdentity
from monitor.observe.http import Health, Readiness
from monitor.pipeline.intake import FeedStatus
from monitor.pipeline.switch import SwitchOutcome
from monitor.preprocess.calibrate import CalibrationStatus
from monitor.publish.producer import PublisherHealth

__all__ = ["STUCK_AFTER_S", "PipelineSnapshot", "health", "heartbeat_ok", "model_warnings",
           "readiness", "status_line"]

#: A pipeline with work waiting that finished nothing for this long is hung.
STUCK_AFTER_S = 120.0


@dataclass(frozen=True)
class PipelineSnapshot:
    """The pipeline at one moment.

    Attributes
    ----------
    counts : dict
        Files by outcome (``processed``, ``rejected``, ``duplicate``) and ``frames``.
    arrivals, frames_queued : int
        Depth of the arrivals and frames queues.
    open_frames, open_channels : int
        Frames (and their files) still being assembled.
    busy : int
        Files and frames being worked on right now.
    last_progress : float
        ``time.monotonic()`` when a file or frame last finished.
    feeds : tuple of FeedStatus
        Each feed's source counters and staleness.
    sources_up : dict
        Per feed, whether its source task runs (False while it waits to be restarted).
    source_problems : tuple of str
        Sources that failed and are being restarted, in words.
    last_observation : dict
        Newest observation time (Unix seconds) per feed.
    backend, publisher
        The inference backend's and the publisher's own status.
    model : ModelIdentity
        The serving package.
    model_switch : SwitchOutcome or None
        The last model switch attempt (None before the first).
    alerts_active : list
        Alerts now firing.
    goes : dict or None
        The GOES monitor's status, when enabled.
    calibration : CalibrationStatus
        The degradation table's age, and whether the latest file was corrected past it.
    """

    counts: dict[str, int]
    arrivals: int
    frames_queued: int
    open_frames: int
    open_channels: int
    busy: int
    last_progress: float
    feeds: tuple[FeedStatus, ...]
    sources_up: dict[str, bool]
    source_problems: tuple[str, ...]
    last_observation: dict[str, float]
    backend: BackendStatus
    model: ModelIdentity
    model_switch: SwitchOutcome | None
    publisher: PublisherHealth
    alerts_active: list[dict[str, Any]] = field(default_factory=list)
    goes: dict[str, Any] | None = None
    calibration: CalibrationStatus = field(default_factory=CalibrationStatus)

    @property
    def model_problem(self) -> str | None:
        """Why the last model switch was refused, while that stands (the old package serves)."""
        return self.model_switch.problem if self.model_switch is not None else None

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being worked on."""
        return self.busy == 0 and self.arrivals == 0 and self.frames_queued == 0

    @property
    def settled(self) -> int:
        """Files that reached a final outcome in this run."""
        return sum(self.counts[k] for k in ("processed", "rejected", "duplicate"))

    @property
    def stale_feeds(self) -> list[str]:
        return [f.name for f in self.feeds if f.stale]


def heartbeat_ok(snapshot: PipelineSnapshot, now: float | None = None) -> bool:
    """The pipeline moves: idle, or something finished recently."""
    now = time.monotonic() if now is None else now
    return snapshot.idle or now - snapshot.last_progress < STUCK_AFTER_S


def health(snapshot: PipelineSnapshot) -> Health:
    ago = time.monotonic() - snapshot.last_progress
    return Health(heartbeat_ok(snapshot), f"last progress {ago:.1f} s ago")


def readiness(snapshot: PipelineSnapshot) -> Readiness:
    reasons: list[str] = []
    degraded: list[str] = []
    if snapshot.backend.degraded:
        degraded.append(f"inference: {snapshot.backend.detail}")
    pub = snapshot.publisher
    # an idle daemon has sent nothing yet: that is not an outage
    if not pub.connected and (pub.pending or pub.last_error):
        why = f"; last error: {pub.last_error[:200]}" if pub.last_error else ""
        degraded.append(f"kafka not acknowledging ({pub.pending} messages in the "
                        f"outbox{why})")
    degraded += [f"feed {feed} is stale" for feed in snapshot.stale_feeds]
    degraded += snapshot.source_problems
    if snapshot.calibration.stale_reason:
        degraded.append(snapshot.calibration.stale_reason)
    if snapshot.model_problem:
        degraded.append(snapshot.model_problem)
    if not pub.running:
        reasons.append("publisher stopped")
    return Readiness(not reasons, reasons, degraded, model_warnings(snapshot.model))


def model_warnings(model: ModelIdentity) -> list[str]:
    """What a forecaster must know about the serving package (ready stays ready)."""
    if model.provenance.synthetic_only:
        return [(f"model {model.label} was trained on synthetic data only "
                 f"({model.provenance.describe()}): not validated on the real Sun")]
    return []


def status_line(snapshot: PipelineSnapshot) -> str:
    """systemd's one-line status."""
    c, backend = snapshot.counts, snapshot.backend
    extra = f", degraded: {backend.detail}" if backend.degraded else ""
    return (f"{c['frames']} frames, {c['processed']} files processed, "
            f"{c['rejected']} rejected, backend {backend.active}{extra}")
