"""The daemon's tasks: per-file ingest, frame assembly, per-frame analysis, housekeeping.

Queues (bounded): sources -> ``arrivals`` -> ingest tasks -> assembler ->
``frames`` -> analysis tasks -> publisher outbox. Sources block on a full
``arrivals`` queue (files wait safely on disk or in Kafka). The ``frames``
queue is where the overload policy acts: in ``live`` mode the oldest waiting
frame is dropped (its files are rejected as ``overload_dropped`` so nothing
disappears silently); in ``replay`` mode the assembler waits.

Every file ends in exactly one of: processed (its frame's messages are in the
outbox), rejected (a ``.rejects`` message is in the outbox) or duplicate; only
then is the ledger row finished and the source told (see monitor.state).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.frames import AssemblyResult, ChannelItem, Frame, FrameAssembler
from monitor.observe.http import Health, Readiness
from monitor.observe.metrics import Metrics
from monitor.pipeline.analysis import AnalysedFrame, FrameAnalyzer
from monitor.pipeline.goes_link import GoesLink
from monitor.pipeline.housekeeping import Housekeeper
from monitor.pipeline.ingest_stage import StageResult, ingest_file
from monitor.pipeline.messages import (
    PIPELINE_REASONS,
    alert_data,
    rejection_data,
    rejection_from_ingest,
)
from monitor.pipeline.overlays import OverlayStore
from monitor.pipeline.retries import RetrySchedule
from monitor.pipeline.turns import TurnOrder
from monitor.pipeline.view import DaemonStatusView, RecentFrames
from monitor.publish.envelope import make_event, to_outbound
from monitor.publish.outbox import OutboundMessage, OutboxError, OutboxFull
from monitor.publish.producer import KafkaPublisher
from monitor.sources import FileArrival, Source
from monitor.sources.supervisor import SourceSupervisor, supervise
from monitor.state import ProcessedFileLedger

__all__ = ["PipelineWorker"]

log = logging.getLogger(__name__)

FrameWork = tuple[Frame[StageResult], list[str]]


class PipelineWorker:
    """Runs the pipeline tasks of one daemon (see the module docstring)."""

    def __init__(self, *, config: Config, metrics: Metrics, ledger: ProcessedFileLedger,
                 pool: Executor, assembler: FrameAssembler[StageResult],
                 analyzer: FrameAnalyzer, publisher: KafkaPublisher, backend: Any,
                 sources: Sequence[Source], instance: str, alert_state_path: Path) -> None:
        self.config = config
        self.metrics = metrics
        self.ledger = ledger
        self.pool = pool
        self.assembler = assembler
        self.analyzer = analyzer
        self.publisher = publisher
        self.backend = backend
        self.sources = {s.name: s for s in sources}
        self.source_uri = f"urn:sdo-monitor:{instance}"
        self.alert_state_path = alert_state_path
        self.replay = config.service.mode == "replay"
        self.arrivals: asyncio.Queue[FileArrival] = asyncio.Queue(config.service.queue_size)
        self.frames: deque[FrameWork] = deque()
        self._frames_changed = asyncio.Condition()
        self._arrival_of: dict[str, FileArrival] = {}
        self._inflight_keys: dict[str, str] = {}
        self._busy = 0  # files + frames being worked on right now
        self._turns = TurnOrder()  # alert rules and publishing in dequeue order
        self._retries = RetrySchedule()
        self._tasks: list[asyncio.Task[None]] = []
        self._source_tasks: list[asyncio.Task[None]] = []
        self.supervisor = SourceSupervisor()  # restarts a source task that died
        # frame message id -> (first, last) file arrival, for the latency histograms
        self.e2e_start: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.latest: dict[str, Any] | None = None
        self.overlays = OverlayStore(
            analyzer.draw_overlay, config.service.overlays_kept,
            on_drawn=metrics.overlay_seconds.observe,
            on_error=metrics.saliency_errors.labels("overlay").inc)
        self.recent_alerts: deque[dict[str, Any]] = deque(maxlen=200)
        self.recent = RecentFrames()
        self.last_progress = time.monotonic()
        self.counts = {"processed": 0, "rejected": 0, "duplicate": 0, "frames": 0}
        self.feed_seen: dict[str, float] = {}
        self.started_wall = time.time()
        self.goes: GoesLink | None = None  # set by the daemon when goes.enabled
        self.housekeeper = Housekeeper(self)

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> None:
        for source in self.sources.values():
            self._source_tasks.append(asyncio.create_task(
                self._run_source(source), name=f"source:{source.name}"))
        # twice the pool size: while one file's ledger bookkeeping runs on the
        # event loop, the pool worker already decodes the next file
        n_ingest = 2 * (self.config.service.ingest_workers or os.cpu_count() or 1)
        for i in range(n_ingest):
            self._tasks.append(asyncio.create_task(self._ingest_loop(), name=f"ingest:{i}"))
        for i in range(self.config.inference.max_batch):
            self._tasks.append(asyncio.create_task(self._frame_loop(), name=f"analyse:{i}"))
        self._tasks.append(asyncio.create_task(self.housekeeper.run(), name="housekeeping"))

    async def drain_and_stop(self, timeout_s: float) -> None:
        """Stop intake, give in-flight work ``timeout_s``, then cancel the rest."""
        for task in self._source_tasks:
            task.cancel()
        await asyncio.gather(*self._source_tasks, return_exceptions=True)
        deadline = time.monotonic() + timeout_s
        while (self._busy or not self.arrivals.empty() or self.frames) and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._save_alert_state()
        if self.goes is not None:
            self.goes.save()

    async def publish_messages(self, messages: list[OutboundMessage]) -> bool:
        """Durably queue messages for Kafka (False when the outbox refused them)."""
        return await self._publish(messages)

    def heartbeat_ok(self) -> bool:
        return self.housekeeper.heartbeat_ok()

    def health(self) -> Health:
        return self.housekeeper.health()

    def readiness(self) -> Readiness:
        return self.housekeeper.readiness()

    def stale_feeds(self) -> list[str]:
        return self.housekeeper.stale_feeds()

    def settled(self) -> int:
        """Files that reached a final outcome in this run (or earlier, for replays)."""
        return sum(self.counts.get(k, 0) for k in ("processed", "rejected", "duplicate"))

    def idle(self) -> bool:
        return self._busy == 0 and self.arrivals.empty() and not self.frames

    def frames_waiting(self) -> bool:
        """Frames queued for analysis (the batcher's hint that a batch may still fill)."""
        return bool(self.frames)

    def open_channel_count(self) -> int:
        return self.assembler.open_channels

    async def flush_frames(self) -> None:
        """Close every open frame now (end of a replay)."""
        await self.settle(self.assembler.flush())

    def status_line(self) -> str:
        c = self.counts
        status = self.backend.status()
        extra = f", degraded: {status.detail}" if status.degraded else ""
        return (f"{c['frames']} frames, {c['processed']} files processed, "
                f"{c['rejected']} rejected, backend {status.active}{extra}")

    def view(self, daemon: Any) -> DaemonStatusView:
        return DaemonStatusView(self, daemon)

    # -- sources ----------------------------------------------------------------
    async def _run_source(self, source: Source) -> None:
        async def emit(arrival: FileArrival) -> None:
            await self.arrivals.put(arrival)  # blocks: back-pressure to the source
            self.metrics.queue_depth.labels("arrivals").set(self.arrivals.qsize())

        await supervise(source, emit, self.supervisor,
                        on_failure=lambda feed: self.metrics.source_restarts.labels(feed).inc())

    # -- per file -----------------------------------------------------------------
    async def _ingest_loop(self) -> None:
        while True:
            arrival = await self.arrivals.get()
            self._busy += 1
            try:
                await self._ingest_one(arrival)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the ledger's disk is full: try again later
                log.exception("ingest failed", extra={"kv": {"path": str(arrival.path)}})
                await self._retry_later(arrival, "ingest")
            finally:
                self._busy -= 1
                self.last_progress = time.monotonic()

    async def _ingest_one(self, arrival: FileArrival) -> None:
        path = str(arrival.path)
        self.feed_seen[arrival.feed] = time.time()
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError as exc:
            log.warning("file vanished before ingest", extra={"kv": {"path": path,
                                                                     "error": str(exc)}})
            return
        entry = await asyncio.to_thread(self.ledger.lookup, path, st.st_size, st.st_mtime_ns)
        if entry is not None and entry.finished:
            # processed before a restart: tell the source again, publish nothing
            await self._done(arrival, entry.status)  # type: ignore[arg-type]
            return
        await asyncio.to_thread(self.ledger.begin, path, arrival.feed, st.st_size,
                                st.st_mtime_ns)
        self._arrival_of[path] = arrival
        loop = asyncio.get_running_loop()
        cfg = self.config
        result: StageResult = await loop.run_in_executor(
            self.pool, ingest_file, path, cfg.ingest, cfg.preprocess,
            self.analyzer.grid.size)
        for stage, seconds in result.timings_s.items():
            self.metrics.stage_seconds[stage].observe(seconds)
        if not result.ok:
            assert result.rejection is not None
            await self._reject(arrival, rejection_from_ingest(result.rejection, arrival.feed))
            return
        obs = result.observation
        assert obs is not None
        key, sha = obs.key.as_string(), obs.content_sha256
        await asyncio.to_thread(self.ledger.set_identity, path, sha, key)
        earlier = await asyncio.to_thread(self.ledger.find_processed_duplicate, path, key, sha)
        twin = self._inflight_keys.get(key)
        if earlier is not None or (twin is not None and twin != path):
            other = earlier.path if earlier is not None else twin
            await self._reject(arrival, rejection_data(
                path=path, feed=arrival.feed, reason="duplicate",
                detail=f"{PIPELINE_REASONS['duplicate']}: {other}", size_bytes=obs.size_bytes,
                sha256=sha), outcome="duplicate")
            return
        ahead = obs.t_obs.timestamp() - time.time()
        if ahead > self.config.service.max_future_s:
            await self._reject(arrival, rejection_data(
                path=path, feed=arrival.feed, reason="t_obs_in_future",
                detail=f"T_OBS {obs.t_obs.isoformat()} is {ahead:.0f} s ahead: "
                       f"{PIPELINE_REASONS['t_obs_in_future']}",
                size_bytes=obs.size_bytes, sha256=sha))
            return
        if obs.wavelength not in self.analyzer.channels:
            await self._reject(arrival, rejection_data(
                path=path, feed=arrival.feed, reason="channel_not_used",
                detail=f"{obs.wavelength} Å: {PIPELINE_REASONS['channel_not_used']}",
                size_bytes=obs.size_bytes, sha256=sha))
            return
        self._inflight_keys[key] = path
        for flag in obs.quality_flags:
            self.metrics.quality_flags.labels(str(obs.wavelength), flag).inc()
        self.metrics.last_observation.labels(arrival.feed).set(obs.t_obs.timestamp())
        self.metrics.channel_last_observation.labels(arrival.feed, str(obs.wavelength)).set(
            obs.t_obs.timestamp())
        item = ChannelItem(arrival.feed, obs.wavelength, obs.t_obs, result, arrival.arrived_at)
        await self.settle(self.assembler.add(item, time.monotonic()))

    async def settle(self, result: AssemblyResult[StageResult]) -> None:
        for frame in result.ready:
            await self._enqueue(frame, [])
        for frame in result.partial:
            await self._enqueue(frame, ["partial_frame"])
        for frame in result.abandoned:
            self.metrics.frames.labels(frame.feed, "abandoned").inc()
            missing = ",".join(str(c) for c in frame.missing)
            await self._reject_frame(frame, "incomplete_frame",
                                     f"{PIPELINE_REASONS['incomplete_frame']}: {missing}")
        for refused in result.refused:
            item = refused.item
            arrival = self._arrival_of.get(item.payload.path)
            if arrival is not None:
                obs = item.payload.observation
                self._forget(item.payload)
                await self._reject(arrival, rejection_data(
                    path=item.payload.path, feed=item.feed, reason=refused.reason,
                    detail=f"{PIPELINE_REASONS[refused.reason]} (frame {refused.frame_id})",
                    size_bytes=obs.size_bytes if obs else None,
                    sha256=obs.content_sha256 if obs else None))

    async def _enqueue(self, frame: Frame[StageResult], flags: list[str]) -> None:
        async with self._frames_changed:
            limit = self.config.service.queue_size
            if self.replay:
                await self._frames_changed.wait_for(lambda: len(self.frames) < limit)
            elif len(self.frames) >= limit:
                old, _ = self.frames.popleft()
                self.metrics.drops.labels("frames", "overload").inc()
                asyncio.create_task(self._reject_frame(
                    old, "overload_dropped", PIPELINE_REASONS["overload_dropped"]))
            self.frames.append((frame, flags))
            self.metrics.queue_depth.labels("frames").set(len(self.frames))
            self._frames_changed.notify_all()

    # -- per frame ------------------------------------------------------------------
    async def _frame_loop(self) -> None:
        while True:
            async with self._frames_changed:
                await self._frames_changed.wait_for(lambda: bool(self.frames))
                frame, flags = self.frames.popleft()
                ticket = self._turns.take()
                self.metrics.queue_depth.labels("frames").set(len(self.frames))
                self._frames_changed.notify_all()
            self._busy += 1
            try:
                await self._analyse(frame, flags, ticket)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("frame analysis failed", extra={"kv": {"frame": frame.frame_id}})
                await self._retry_frame(frame, "analysis")
            finally:
                await self._turns.end(ticket)
                self._busy -= 1
                self.last_progress = time.monotonic()

    async def _analyse(self, frame: Frame[StageResult], flags: list[str], ticket: int) -> None:
        status = self.backend.status()
        if status.degraded:
            flags = [*flags, "degraded_backend"]
        if self.replay:
            flags = [*flags, "replay"]
        if any(i.payload.observation and i.payload.observation.quality_flags
               for i in frame.channels.values()):
            flags = [*flags, "quality_warning"]
        done = await self.analyzer.analyse(frame, f"{status.active}-{status.precision}", flags)
        await self._turns.wait(ticket)
        alerts_before = self.analyzer.alerts.snapshot()
        self.analyzer.evaluate_alerts(done)
        messages = self._frame_messages(done)
        published = await self._publish(messages)
        if not published:
            # The transitions this frame decided were never stored: undo them, so the
            # retry (or the next frame) decides and publishes them again.
            self.analyzer.alerts.restore(alerts_before)
        await self._turns.end(ticket)  # the rest need not wait for order
        if not published:
            await self._retry_frame(frame, "publish")
            return
        arrivals = [i.arrived_at for i in frame.channels.values()]
        self.e2e_start[messages[0].message_id] = (min(arrivals), max(arrivals))
        while len(self.e2e_start) > 10_000:
            self.e2e_start.popitem(last=False)
        self._record(done)
        if self.goes is not None:
            self.goes.observe(done.frame, done.alerts)
        await self._finish_frame(frame)
        if done.overlay_inputs is not None:
            self.overlays.add(done.frame_id, done.overlay_inputs)
        self.metrics.frames.labels(frame.feed, "partial" if frame.missing else "complete").inc()
        self.counts["frames"] += 1
        if done.alerts:
            self._save_alert_state()

    def _frame_messages(self, done: AnalysedFrame) -> list[OutboundMessage]:
        prefix = self.config.kafka.topic_prefix
        events = [make_event("frame.analyzed", done.frame, source=self.source_uri,
                             time=done.t_obs)]
        if done.saliency is not None:
            events.append(make_event("saliency", done.saliency, source=self.source_uri,
                                     time=done.t_obs))
        for alert in done.alerts:
            events.append(make_event("alert", alert_data(alert), source=self.source_uri,
                                     time=done.t_obs))
        return [to_outbound(e, prefix) for e in events]

    def _record(self, done: AnalysedFrame) -> None:
        self.latest = done.frame
        self.recent.add(done)
        if "saliency" in done.timings_s:
            self.metrics.stage_seconds["saliency"].observe(done.timings_s["saliency"])
        feed = done.feed
        for name, p in done.frame["class_probabilities"].items():
            self.metrics.class_probability.labels(feed, name).set(p)
        for line in done.frame["irradiance"]:
            self.metrics.irradiance.labels(feed, line["line"]).set(line["value_w_m2"])
        for alert in done.alerts:
            self.metrics.alerts.labels(alert.rule, alert.state).inc()
            self.metrics.alerts_active.labels(alert.rule).set(alert.state == "firing")
            self.recent_alerts.appendleft(alert_data(alert))
            log.warning("alert", extra={"kv": {"rule": alert.rule, "state": alert.state,
                                               "message": alert.message}})

    # -- outcomes ---------------------------------------------------------------------
    async def _publish(self, messages: list[OutboundMessage]) -> bool:
        wait = 3600.0 if self.replay else 0.0
        try:
            await self.publisher.publish(messages, wait_for_space_s=wait)
            return True
        except OutboxFull:
            self.metrics.drops.labels("publish", "outbox_full").inc()
            log.error("outbox full: result not stored (input kept for a later retry)")
        except OutboxError as exc:
            self.metrics.drops.labels("publish", "outbox_error").inc()
            log.error("outbox error: result not stored", extra={"kv": {"error": str(exc)}})
        return False

    async def _reject(self, arrival: FileArrival, data: dict[str, Any],
                      outcome: str = "rejected") -> None:
        event = make_event("input.rejected", data, source=self.source_uri)
        if not await self._publish([to_outbound(event, self.config.kafka.topic_prefix)]):
            await self._retry_later(arrival, "publish")
            return
        self.metrics.rejections.labels(arrival.feed, data["reason"]).inc()
        log.info("file rejected", extra={"kv": {"path": data["path"], "reason": data["reason"],
                                                "detail": data["detail"][:200]}})
        path = str(arrival.path)
        try:
            await asyncio.to_thread(self.ledger.finish, path, outcome,  # type: ignore[arg-type]
                                    reason=data["reason"], sha256=data.get("sha256"))
        except KeyError:
            pass  # never begun (refused before the ledger saw it)
        except Exception:  # the ledger cannot write (disk full): decide again later
            log.exception("ledger write failed", extra={"kv": {"path": path}})
            await self._retry_later(arrival, "ledger")
            return
        self._arrival_of.pop(path, None)
        await self._done(arrival, outcome)

    async def _reject_frame(self, frame: Frame[StageResult], reason: str, detail: str) -> None:
        for item in list(frame.channels.values()):
            arrival = self._arrival_of.get(item.payload.path)
            self._forget(item.payload)
            if arrival is None:
                continue
            obs = item.payload.observation
            await self._reject(arrival, rejection_data(
                path=item.payload.path, feed=item.feed, reason=reason,
                detail=f"{detail} (frame {frame.frame_id})",
                size_bytes=obs.size_bytes if obs else None,
                sha256=obs.content_sha256 if obs else None))

    async def _finish_frame(self, frame: Frame[StageResult]) -> None:
        """Mark every file of a published frame processed, atomically."""
        paths = [item.payload.path for item in frame.channels.values()]
        # shielded: a stop that cancels us now must not leave the frame half-finished
        try:
            await asyncio.shield(asyncio.to_thread(
                self.ledger.finish_many, paths, "processed", frame.frame_id))
        except asyncio.CancelledError:
            raise
        except Exception:  # the ledger cannot write: the frame will be redone, same ids
            log.exception("ledger write failed", extra={"kv": {"frame": frame.frame_id}})
            await self._retry_frame(frame, "ledger")
            return
        for item in frame.channels.values():
            self._forget(item.payload)
            arrival = self._arrival_of.pop(item.payload.path, None)
            self._retries.forget(item.payload.path)
            if arrival is not None:
                await self._done(arrival, "processed")

    # -- retries ------------------------------------------------------------------------
    MAX_ATTEMPTS = 8

    async def _retry_later(self, arrival: FileArrival, stage: str) -> None:
        """Hand a file back to the intake after a backoff (failures of our own making,
        such as a full disk, must not wait for a restart)."""
        path = str(arrival.path)
        attempts = self._retries.count_attempt(path)
        self.metrics.retries.labels(stage).inc()
        if attempts > self.MAX_ATTEMPTS and stage == "analysis":
            self._retries.forget(path)
            await self._reject(arrival, rejection_data(
                path=path, feed=arrival.feed, reason="retries_exhausted",
                detail=f"{PIPELINE_REASONS['retries_exhausted']} ({stage})"))
            return
        delay = self._retries.schedule(arrival, attempts)
        log.warning("file will be retried", extra={"kv": {
            "path": path, "stage": stage, "attempt": attempts, "in_s": delay}})

    async def _retry_frame(self, frame: Frame[StageResult], stage: str) -> None:
        self.assembler.reopen(frame.frame_id)
        for item in list(frame.channels.values()):
            self._forget(item.payload)
            arrival = self._arrival_of.pop(item.payload.path, None)
            if arrival is not None:
                await self._retry_later(arrival, stage)

    def requeue_due(self) -> None:
        """Move retries whose backoff has passed back into the intake queue."""
        def put(arrival: FileArrival) -> bool:
            if self.arrivals.full():
                return False
            self.arrivals.put_nowait(arrival)
            return True
        self._retries.release_due(put)

    @property
    def retries_pending(self) -> int:
        return len(self._retries)

    def _forget(self, result: StageResult) -> None:
        if result.observation is not None:
            self._inflight_keys.pop(result.observation.key.as_string(), None)

    async def _done(self, arrival: FileArrival, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.metrics.files.labels(arrival.feed, outcome).inc()
        source = self.sources.get(arrival.feed)
        if source is None:
            return
        try:
            await source.done(arrival, outcome)  # type: ignore[arg-type]
        except Exception:  # e.g. the move failed; the ledger already knows
            log.exception("source could not settle a file", extra={"kv": {
                "path": str(arrival.path), "outcome": outcome}})

    def _save_alert_state(self) -> None:
        tmp = self.alert_state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.analyzer.alerts.snapshot()))
            os.replace(tmp, self.alert_state_path)
        except OSError as exc:
            log.error("cannot save alert state", extra={"kv": {"error": str(exc)}})
