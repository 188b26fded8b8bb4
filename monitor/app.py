"""The daemon: the composition root and every lifetime of one sdo-monitor instance.

:meth:`Daemon.run` builds the object graph in order (each object gets what it
uses through its constructor) and puts every lifetime on one
``AsyncExitStack``: ledger, the models (:mod:`monitor.pipeline.lineup`: the
serving package's backend, batcher and saliency explainer, its switcher, the
shadow packages), publisher, ingest pool (:mod:`monitor.pipeline.ingest_pool`),
HTTP server, GOES task, housekeeping, the pipeline's tasks and the watchdog
(:mod:`monitor.pipeline.watchdog`). A start that fails unwinds everything
already started, in reverse. The stages themselves live in
:mod:`monitor.pipeline`; the data flow and restart-safety rules are in
docs/DESIGN.md and :mod:`monitor.state`.

Stop (SIGTERM/SIGINT): intake stops first, in-flight files and frames get
``service.drain_timeout_s`` to finish, the publisher flushes what the broker
will take within the same budget (the rest stays in the outbox for the next
start), then everything closes and :meth:`Daemon.run` returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from monitor.alerts import AlertEngine
from monitor.config import Config
from monitor.frames import FrameAssembler
from monitor.heap import freeze_startup_heap
from monitor.logs import get_logger
from monitor.observe.http import serve_http
from monitor.observe.metrics import Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.analysis_stage import AnalysisStage, FrameListener
from monitor.pipeline.assembly import Assembly, FrameQueue
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.gauges import ResultGauges, start_gauges
from monitor.pipeline.goes_link import GoesLink
from monitor.pipeline.housekeeping import Housekeeper
from monitor.pipeline.ingest_pool import IngestPool, open_ingest_pool
from monitor.pipeline.ingest_stage import IngestStage
from monitor.pipeline.intake import Intake
from monitor.pipeline.lineup import Lineup, open_lineup
from monitor.pipeline.outcomes import Outcomes
from monitor.pipeline.overlays import OverlayStore
from monitor.pipeline.publishing import DeliveryTracker, ResultPublisher
from monitor.pipeline.refusals import RefusalPublisher
from monitor.pipeline.runner import Pipeline
from monitor.pipeline.shadow import ShadowStage
from monitor.pipeline.spare import SparePolicy
from monitor.pipeline.status import PipelineSnapshot, status_line
from monitor.pipeline.view import DaemonIdentity, DaemonStatusView, RecentFrames
from monitor.pipeline.watchdog import keep_watch
from monitor.publish.kafka_client import client_options
from monitor.publish.producer import KafkaPublisher
from monitor.sources import SourceBase, SourceStats, make_source
from monitor.state import ProcessedFileLedger

__all__ = ["Daemon"]

log = get_logger(__name__)


class Daemon:
    """One running sdo-monitor instance.

    Parameters
    ----------
    config : Config
        The validated configuration.
    bootstrap : list of str, optional
        Kafka bootstrap servers overriding the config (the local broker).
    """

    def __init__(self, config: Config, bootstrap: list[str] | None = None) -> None:
        self.config = config
        self.bootstrap = bootstrap
        self.metrics = Metrics(source_stats=self._source_stats)
        self.notifier = SystemdNotifier()
        self.instance = config.service.instance or socket.gethostname()
        self.http_address: tuple[str, int] | None = None
        self._sources: list[SourceBase] = []
        self._pipeline: Pipeline | None = None
        self._publisher: KafkaPublisher | None = None
        #: Shadow packages that could not start, with the reason (path -> reason).
        self.shadow_failures: dict[str, str] = {}
        self._started = time.monotonic()
        self._ready = asyncio.Event()
        self._reload = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set; returns the exit code."""
        cfg, m = self.config, self.metrics
        state_dir = Path(cfg.service.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        start_gauges(m, cfg, local_broker=bool(self.bootstrap) and cfg.kafka.uses_local_broker)
        async with contextlib.AsyncExitStack() as stack:
            ledger = stack.enter_context(contextlib.closing(
                ProcessedFileLedger(state_dir / "ledger.sqlite3")))
            # the frames queue, first: the batcher asks it whether more frames are coming
            queue = FrameQueue(cfg.service.queue_size, cfg.service.mode == "replay", m)
            lineup = await stack.enter_async_context(open_lineup(
                cfg.inference, cfg.saliency, Path(cfg.service.cache_dir), metrics=m,
                notifier=self.notifier, requests=self._reload,
                more_coming=lambda: len(queue) > 0))
            self.shadow_failures = lineup.refused
            tracker = DeliveryTracker(m)
            self._publisher = publisher = await self._start_publisher(stack, tracker)
            pool = await stack.enter_async_context(open_ingest_pool(
                cfg.service.ingest_executor, cfg.service.ingest_workers, self.notifier,
                cfg.preprocess.degradation_table))
            recent = RecentFrames()
            champion = lineup.champion
            overlays = OverlayStore(champion.draw_overlay, cfg.service.overlays_kept,
                                    on_drawn=m.overlay_seconds.observe,
                                    on_error=m.saliency_errors.labels("overlay").inc)
            results = ResultPublisher(publisher, tracker, f"urn:sdo-monitor:{self.instance}",
                                      cfg.kafka.topic_prefix, cfg.service.mode == "replay", m)
            goes = (GoesLink(cfg.goes, m, results, cfg.alerts.rules,
                             state_dir / "goes_scores.json", serving=champion.identity.label)
                    if cfg.goes.enabled else None)
            shadows = ShadowStage(lineup.shadows, SparePolicy(), results.shadow,
                                  [goes] if goes is not None else [], m,
                                  settle=publisher.wait_drained)
            stack.push_async_callback(shadows.close)
            self._sources = self._make_sources(RefusalPublisher(results, m))
            pipeline, housekeeper = self._build_pipeline(
                FileBook(ledger), queue, results, publisher, lineup, pool, goes,
                listeners=[recent, overlays, ResultGauges(m)], shadows=shadows)
            self._pipeline = pipeline
            view = DaemonStatusView(pipeline.snapshot, recent, overlays, DaemonIdentity(
                results.source_uri, cfg.service.mode, self._started),
                lineup.roster(goes.goes.scores if goes is not None else None))
            self.http_address = await stack.enter_async_context(
                serve_http(view, m.registry, cfg.http))
            if goes is not None:
                start_task(stack, goes.run(), "goes")
            start_task(stack, housekeeper.run(), "housekeeping")
            pipeline.start()
            stack.push_async_callback(pipeline.drain_and_stop, cfg.service.drain_timeout_s)
            start_task(stack, keep_watch(pipeline.snapshot, self.notifier, m,
                                         ping=cfg.service.watchdog, stop=stop), "watchdog")
            start_task(stack, lineup.switcher.run(), "model-switch")
            self._announce_ready(pipeline.snapshot())
            await stop.wait()
            m.ready.set(0)
            self.notifier.stopping("draining in-flight work")
            log.info("stopping: draining", timeout_s=cfg.service.drain_timeout_s)
        m.up.set(0)
        return 0

    def reload(self) -> None:
        """Load the configured model package again and switch to it (SIGHUP)."""
        self._reload.set()

    def snapshot(self) -> PipelineSnapshot | None:
        """The running pipeline's snapshot (None before it runs)."""
        return self._pipeline.snapshot() if self._pipeline is not None else None

    async def flush_frames(self) -> None:
        """Close every open frame now (end of a replay)."""
        if self._pipeline is not None:
            await self._pipeline.flush_frames()

    async def wait_published(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged)."""
        if self._publisher is None:
            return True
        return await self._publisher.wait_drained(timeout_s)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the daemon serves (tests, the demo)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- what starts, in order ------------------------------------------------------
    async def _start_publisher(self, stack: contextlib.AsyncExitStack,
                               tracker: DeliveryTracker) -> KafkaPublisher:
        cfg = self.config
        publisher = KafkaPublisher(cfg.publish, cfg.kafka,
                                   Path(cfg.service.state_dir) / cfg.publish.outbox_file,
                                   bootstrap=self.bootstrap, listener=tracker)
        await publisher.start()
        stack.push_async_callback(self._stop_publisher, publisher)
        return publisher

    async def _stop_publisher(self, publisher: KafkaPublisher) -> None:
        left = await publisher.stop(self.config.service.drain_timeout_s)
        log.info("stopped", outbox_pending=left)

    def _build_pipeline(self, book: FileBook, queue: FrameQueue, results: ResultPublisher,
                        publisher: KafkaPublisher, lineup: Lineup, pool: IngestPool,
                        goes: GoesLink | None, listeners: list[FrameListener],
                        shadows: ShadowStage) -> tuple[Pipeline, Housekeeper]:
        """The stages, connected (nothing starts here)."""
        cfg, m = self.config, self.metrics
        service, champion = cfg.service, lineup.champion
        intake = Intake(self._sources, cfg.feeds, service.queue_size,
                        service.stale_after_cadences, m)
        outcomes = Outcomes(book, intake, results, m)
        # every package the champion accepts later has these channels and this grid
        first = champion.current()
        assembly = Assembly(FrameAssembler(cfg.frames, first.package.manifest.input.channels,
                                           {f.name: f.cadence_s for f in cfg.feeds}),
                            queue, outcomes, m)
        ingest = IngestStage(intake=intake, book=book, outcomes=outcomes, assembly=assembly,
                             pool=pool.executor, pool_workers=pool.workers,
                             ingest=cfg.ingest, preprocess=cfg.preprocess,
                             grid_size=first.analyzer.grid.size,
                             channels=first.analyzer.channels,
                             max_future_s=service.max_future_s, metrics=m)
        alerts = AlertEngine(cfg.alerts.rules)
        analysis = AnalysisStage(
            queue=queue, champion=champion, alerts=alerts, publisher=results,
            outcomes=outcomes, assembly=assembly,
            listeners=[*listeners, *([goes] if goes is not None else [])],
            replay=service.mode == "replay",
            alert_state_path=Path(service.state_dir) / "alerts.json", metrics=m,
            shadows=shadows, files_upstream=lambda: intake.queued + ingest.busy)
        analysis.restore_alert_state()
        # twice the pool size: while one file's ledger bookkeeping runs on the
        # event loop, the pool worker already decodes the next file
        pipeline = Pipeline(
            intake=intake, ingest=ingest, assembly=assembly, queue=queue, analysis=analysis,
            ingest_tasks=2 * pool.workers,
            analysis_tasks=cfg.inference.max_batch, champion=champion,
            last_switch=lambda: lineup.switcher.last,
            publisher=publisher, alerts=alerts,
            goes_status=goes.goes.status if goes is not None else None)
        housekeeper = Housekeeper(
            snapshot=pipeline.snapshot, outcomes=outcomes, assembly=assembly, book=book,
            feeds=[f.name for f in cfg.feeds], retention_days=service.ledger_retention_days,
            metrics=m, goes=goes)
        return pipeline, housekeeper

    def _announce_ready(self, snapshot: PipelineSnapshot) -> None:
        frozen = freeze_startup_heap()  # full collections would otherwise walk it mid-frame
        self._ready.set()
        self.metrics.ready.set(1)
        self.notifier.ready(status_line(snapshot))
        log.info("daemon ready", backend=snapshot.backend.active, feeds=len(self._sources),
                 model=snapshot.model.label, mode=self.config.service.mode,
                 frozen_objects=frozen)

    def _make_sources(self, refuse: RefusalPublisher) -> list[SourceBase]:
        cfg = self.config
        kafka_options = (client_options(cfg.kafka, self.bootstrap)
                         if any(f.kind == "kafka" for f in cfg.feeds) else None)
        return [make_source(feed, kafka_options=kafka_options, refuse=refuse)
                for feed in cfg.feeds]

    # -- callbacks ----------------------------------------------------------------
    def _source_stats(self) -> list[SourceStats]:
        return [source.stats() for source in self._sources]


def start_task(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None],
               name: str) -> None:
    """Run ``work`` as a task whose lifetime ends (cancelled, awaited) with ``stack``."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_log_if_failed)

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(cancel)


def _log_if_failed(task: asyncio.Task[None]) -> None:
    """A background task that dies says so once, with its name (else it stops in silence)."""
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("background task failed", task=task.get_name(),
                  error=f"{type(exc).__name__}: {exc}")
