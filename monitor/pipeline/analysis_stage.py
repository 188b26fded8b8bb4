"""The analysis stage: a queued frame becomes an analysed frame and its messages.

Frames are analysed concurrently (the inference batcher batches them), but
the alert rules (hysteresis, "N consecutive frames") and publishing mean
nothing out of time order, so each frame takes a turn
(:class:`~monitor.pipeline.turns.TurnOrder`) when it leaves the queue and
waits for it after the analysis. In its turn: the alert rules decide, the
messages go to the outbox, and if the outbox refuses them the transitions
are undone, so the retry decides and publishes them again. Then the frame's
files are finished and acknowledged, and the listeners (the API's memory,
the model-output gauges, the overlays, the GOES verification) hear of it.
Last, the shadow packages (:mod:`monitor.pipeline.shadow`) are offered the
frame; they run only when the pipeline has spare capacity and never reach
the alert rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from monitor.alerts import AlertEngine
from monitor.atomicfile import write_atomic
from monitor.frames import Frame
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.assembly import Assembly, FrameQueue
from monitor.pipeline.handoffs import IngestedFile, QueuedFrame
from monitor.pipeline.outcomes import Outcomes
from monitor.pipeline.publishing import PublishedFrame, ResultPublisher
from monitor.pipeline.serving import Champion, ServingModel
from monitor.pipeline.shadow import ShadowStage
from monitor.pipeline.spare import Load
from monitor.pipeline.turns import TurnOrder

__all__ = ["AnalysisStage", "FrameListener"]

log = get_logger(__name__)


class FrameListener(Protocol):
    """Hears every frame whose messages are in the outbox, in observation order."""

    def frame_published(self, published: PublishedFrame) -> None: ...


class AnalysisStage:
    """Queued frames to published results (see the module docstring).

    Parameters
    ----------
    queue : FrameQueue
        Where assembled frames wait.
    champion : Champion
        The serving model (package, backend, saliency), leased per frame.
    alerts : AlertEngine
        The alert rules; their state is saved to ``alert_state_path``.
    publisher : ResultPublisher
        The publishing edge.
    outcomes : Outcomes
        Finishes the frame's files, or sends them back for a retry.
    assembly : Assembly
        Reopens a frame that will be retried.
    listeners : sequence of FrameListener
        Told of every published frame.
    replay : bool
        Flags frames ``replay``.
    alert_state_path : Path
        Where the alert rules' state survives restarts.
    metrics : Metrics
        Frames by outcome.
    shadows : ShadowStage, optional
        Shadow packages, offered every frame once it is done.
    files_upstream : callable, optional
        Input files waiting for or in the ingest stage (the shadows run only
        when there are none).
    """

    def __init__(self, *, queue: FrameQueue, champion: Champion, alerts: AlertEngine, publisher: ResultPublisher, outcomes: Outcomes,
                 assembly: Assembly, listeners: Sequence[FrameListener], replay: bool,
                 alert_state_path: Path, metrics: Metrics,
                 shadows: ShadowStage | None = None,
                 files_upstream: Callable[[], int] = lambda: 0) -> None:
        self._queue = queue
        self._champion = champion
        self._alerts = alerts
        self._publisher = publisher
        self._outcomes = outcomes
        self._assembly = assembly
        self._listeners = tuple(listeners)
        self._replay = replay
        self._alert_state_path = alert_state_path
        self._metrics = metrics
        self._shadows = shadows
        self._files_upstream = files_upstream
        self._turns = TurnOrder()
        self.busy = 0
        self.frames = 0
        self.last_progress = time.monotonic()

    async def run(self) -> None:
        """One analysis task: take frames until cancelled."""
        while True:
            queued = await self._queue.get()
            ticket = self._turns.take()  # in dequeue order: no await since get()
            self.busy += 1
            try:
                # leased in dequeue order too: the frames before a switch run on the old
                # package, those after it on the new one
                with self._champion.lease() as serving:
                    await self._analyse(queued, ticket, serving)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("frame analysis failed", frame=queued.frame.frame_id)
                await self._retry(queued.frame, "analysis")
            finally:
                await self._turns.end(ticket)
                self.busy -= 1
                self.last_progress = time.monotonic()

    async def _analyse(self, queued: QueuedFrame, ticket: int, serving: ServingModel) -> None:
        frame = queued.frame
        status = serving.backend.status()
        flags = list(queued.flags)
        if status.degraded:
            flags.append("degraded_backend")
        if self._replay:
            flags.append("replay")
        if any(i.payload.observation and i.payload.observation.quality_flags
               for i in frame.channels.values()):
            flags.append("quality_warning")
        done = await serving.analyzer.analyse(frame, f"{status.active}-{status.precision}",
                                            tuple(flags))
        await self._turns.wait(ticket)
        alerts_before = self._alerts.snapshot()
        done = dataclasses.replace(done, alerts=tuple(self._alerts.observe(
            done.feed, done.frame_id, done.t_obs, done.signals, done.location,
            done.model.sha256)))
        published = await self._publisher.frame(done)
        if published is None:
            # The transitions this frame decided were never stored: undo them, so the
            # retry (or the next frame) decides and publishes them again.
            self._alerts.restore(alerts_before)
        await self._turns.end(ticket)  # the rest need not wait for order
        if published is None:
            await self._retry(frame, "publish")
            return
        for listener in self._listeners:
            listener.frame_published(published)
        if not await self._outcomes.processed(frame):
            await self._retry(frame, "ledger")
            return
        self._metrics.frames.labels(frame.feed, "partial" if frame.missing else "complete").inc()
        self.frames += 1
        if done.alerts:
            self.save_alert_state()
        if self._shadows is not None:
            self._shadows.offer(frame, done, Load(
                files_waiting=self._files_upstream(),
                frames_waiting=len(self._queue),
                inference_queued=serving.analyzer.batcher.queued_frames,
                analyses_running=self.busy - 1))  # this frame's task is still counted

    async def _retry(self, frame: Frame[IngestedFile], stage: str) -> None:
        self._assembly.reopen(frame.frame_id)
        await self._outcomes.retry_frame(frame, stage)

    def restore_alert_state(self) -> None:
        """Continue the alert rules where the last run left them (a broken file is ignored)."""
        try:
            self._alerts.restore(json.loads(self._alert_state_path.read_text()))
        except FileNotFoundError:
            pass
        except (ValueError, OSError, TypeError) as exc:
            log.warning("cannot restore alert state", error=str(exc))

    def save_alert_state(self) -> None:
        try:
            write_atomic(self._alert_state_path, json.dumps(self._alerts.snapshot()))
        except OSError as exc:
            log.error("cannot save alert state", error=str(exc))
