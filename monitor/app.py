"""The daemon: the composition root and every lifetime of one sdo-monitor instance.

:meth:`Daemon.run` builds the object graph in order (each object gets what it
uses through its constructor) and puts every lifetime on one
``AsyncExitStack``: ledger, inference backend and batcher, saliency explainer,
publisher, ingest pool, HTTP server, GOES task, housekeeping, the pipeline's
tasks and the watchdog. A start that fails unwinds everything already
started, in reverse. The stages themselves live in :mod:`monitor.pipeline`;
the data flow and restart-safety rules are in docs/DESIGN.md and
:mod:`monitor.state`.

Stop (SIGTERM/SIGINT): intake stops first, in-flight files and frames get
``service.drain_timeout_s`` to finish, the publisher flushes what the broker
will take within the same budget (the rest stays in the outbox for the next
start), then everything closes and :meth:`Daemon.run` returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Coroutine
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from monitor.alerts import AlertEngine
from monitor.config import Config
from monitor.credentials import read_secret
from monitor.frames import FrameAssembler
from monitor.inference import BatchEvent
from monitor.logs import get_logger
from monitor.models import ModelPackage, load_package
from monitor.models.package import default_package_path
from monitor.observe.http import build_app, start_http
from monitor.observe.metrics import Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.analysis_stage import AnalysisStage, FrameListener
from monitor.pipeline.assembly import Assembly, FrameQueue
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.gauges import ResultGauges
from monitor.pipeline.goes_link import GoesLink
from monitor.pipeline.housekeeping import Housekeeper
from monitor.pipeline.ingest_stage import IngestStage
from monitor.pipeline.intake import Intake
from monitor.pipeline.outcomes import Outcomes
from monitor.pipeline.overlays import OverlayStore
from monitor.pipeline.pool_work import exit_with_daemon, warm_worker
from monitor.pipeline.publishing import DeliveryTracker, ResultPublisher
from monitor.pipeline.refusals import REJECT_REASONS, RefusalPublisher
from monitor.pipeline.roster import ModelRoster
from monitor.pipeline.runner import Pipeline
from monitor.pipeline.serving import Champion, open_serving
from monitor.pipeline.shadow import ShadowModel, ShadowStage, open_shadow
from monitor.pipeline.spare import SparePolicy
from monitor.pipeline.status import PipelineSnapshot, heartbeat_ok, status_line
from monitor.pipeline.switch import SWITCH_REASONS, SWITCH_RESULTS, ModelSwitcher, show_model
from monitor.pipeline.view import DaemonIdentity, DaemonStatusView, RecentFrames
from monitor.publish.kafka_client import client_options, topic_names
from monitor.publish.producer import ERROR_KINDS, KafkaPublisher
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
        cfg = self.config
        state_dir = Path(cfg.service.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.metrics.up.set(1)
        self.metrics.local_broker.set(1 if self.bootstrap and cfg.kafka.uses_local_broker else 0)
        self.metrics.start_known_series(
            feeds=[f.name for f in cfg.feeds], rules=[r.name for r in cfg.alerts.rules],
            topics=list(topic_names(cfg.kafka.topic_prefix).values()),
            reject_reasons=REJECT_REASONS, publish_errors=ERROR_KINDS,
            switch_results=SWITCH_RESULTS, switch_reasons=list(SWITCH_REASONS))
        async with contextlib.AsyncExitStack() as stack:
            ledger = stack.enter_context(contextlib.closing(
                ProcessedFileLedger(state_dir / "ledger.sqlite3")))
            package = await self._load_package()
            # the frames queue, first: the batcher asks it whether more frames are coming
            queue = FrameQueue(cfg.service.queue_size, cfg.service.mode == "replay",
                               self.metrics)
            champion, switcher = await self._start_serving(stack, package, queue)
            shadow_models = await self._start_shadows(stack, package)
            tracker = DeliveryTracker(self.metrics)
            self._publisher = publisher = await self._start_publisher(stack, tracker)
            pool = await self._start_pool(stack)
            recent = RecentFrames()
            overlays = OverlayStore(champion.draw_overlay, cfg.service.overlays_kept,
                                    on_drawn=self.metrics.overlay_seconds.observe,
                                    on_error=self.metrics.saliency_errors.labels("overlay").inc)
            results = ResultPublisher(publisher, tracker, f"urn:sdo-monitor:{self.instance}",
                                      cfg.kafka.topic_prefix, cfg.service.mode == "replay",
                                      self.metrics)
            goes = (GoesLink(cfg.goes, self.metrics, results, cfg.alerts.rules,
                             state_dir / "goes_scores.json", serving=package.identity.label)
                    if cfg.goes.enabled else None)
            shadows = ShadowStage(shadow_models, SparePolicy(), results.shadow,
                                  [goes] if goes is not None else [], self.metrics,
                                  settle=publisher.wait_drained)
            stack.push_async_callback(shadows.close)
            self._sources = self._make_sources(RefusalPublisher(results, self.metrics))
            book = FileBook(ledger)
            pipeline, housekeeper = self._build_pipeline(
                book, queue, results, publisher, champion, switcher, pool, goes,
                listeners=[recent, overlays, ResultGauges(self.metrics)], shadows=shadows)
            self._pipeline = pipeline
            roster = ModelRoster(lambda: champion.current().package, shadow_models,
                                 self.shadow_failures,
                                 goes.goes.scores if goes is not None else None)
            view = DaemonStatusView(pipeline.snapshot, recent, overlays, DaemonIdentity(
                results.source_uri, cfg.service.mode, self._started), roster)
            await self._start_http(stack, view)
            if goes is not None:
                start_task(stack, goes.run(), "goes")
            start_task(stack, housekeeper.run(), "housekeeping")
            pipeline.start()
            stack.push_async_callback(pipeline.drain_and_stop, cfg.service.drain_timeout_s)
            start_task(stack, self._watchdog(pipeline, stop), "watchdog")
            start_task(stack, switcher.run(), "model-switch")
            self._announce_ready(pipeline.snapshot())
            await stop.wait()
            self.metrics.ready.set(0)
            self.notifier.stopping("draining in-flight work")
            log.info("stopping: draining", timeout_s=cfg.service.drain_timeout_s)
        self.metrics.up.set(0)
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
    async def _load_package(self) -> ModelPackage:
        cfg = self.config.inference
        # model verification, backend load and warm-up can outlast the unit's
        # TimeoutStartSec on a slow box: ask systemd for more time, honestly
        self.notifier.extend_timeout(300)
        self.notifier.status("loading model package")
        package = await asyncio.to_thread(load_package,
                                          cfg.model_package or default_package_path(),
                                          cfg.verify_package)
        show_model(self.metrics, package.identity)
        return package

    async def _start_serving(self, stack: contextlib.AsyncExitStack, package: ModelPackage,
                             queue: FrameQueue) -> tuple[Champion, ModelSwitcher]:
        """The first serving model (all warm) and what switches it."""
        cfg = self.config.inference
        # a package that replaces a serving one has its engine built first
        open_model = functools.partial(
            open_serving, settings=cfg, saliency=self.config.saliency,
            cache_dir=Path(self.config.service.cache_dir), observers=[self._on_batch],
            more_coming=lambda: len(queue) > 0, finish_build=True)

        self.notifier.status("warming up the inference backend and the saliency explainer")
        champion = Champion(await open_model(package, finish_build=False))
        stack.push_async_callback(champion.close)  # it owns every model it served
        switcher = ModelSwitcher(
            champion=champion, path=Path(cfg.model_package or default_package_path()),
            verify=cfg.verify_package, open_model=open_model, requests=self._reload,
            watch_s=cfg.package_watch_s, metrics=self.metrics,
            on_switched=functools.partial(show_model, self.metrics))
        return champion, switcher

    async def _start_shadows(self, stack: contextlib.AsyncExitStack,
                             serving: ModelPackage) -> list[ShadowModel]:
        """Open each ``inference.shadow`` package; one that cannot run is logged and left
        out (a candidate never keeps the serving package from starting)."""
        cfg = self.config.inference
        models: list[ShadowModel] = []
        labels = {serving.identity.label}
        for path in cfg.shadow:
            self.notifier.status(f"starting shadow package {path}")
            try:
                model = await open_shadow(path, serving, cfg,
                                          Path(self.config.service.cache_dir))
            except Exception as exc:  # noqa: BLE001 - any refusal: say why, serve without it
                self._refuse_shadow(path, f"{type(exc).__name__}: {exc}")
                continue
            stack.push_async_callback(model.close)
            if model.label in labels:
                self._refuse_shadow(path, f"another package already runs as {model.label} "
                                          "(name:version)")
                continue
            labels.add(model.label)
            models.append(model)
            log.info("shadow package started", package=model.label, sha256=model.package.sha256,
                     provenance=model.identity.provenance.describe(), backend=model.backend)
        return models

    def _refuse_shadow(self, path: Path, reason: str) -> None:
        self.shadow_failures[str(path)] = reason
        log.error("shadow package refused", path=str(path), error=reason)

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

    async def _start_pool(self, stack: contextlib.AsyncExitStack) -> Executor:
        workers = self.config.service.ingest_workers or os.cpu_count() or 1
        pool = make_pool(self.config.service.ingest_executor, workers)
        stack.callback(pool.shutdown, wait=False, cancel_futures=True)
        if isinstance(pool, ProcessPoolExecutor):
            # workers start (and import) now, not on the first files
            self.notifier.status("starting ingest workers")
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, warm_worker)
                                   for _ in range(workers)))
        return pool

    def _build_pipeline(self, book: FileBook, queue: FrameQueue, results: ResultPublisher,
                        publisher: KafkaPublisher, champion: Champion,
                        switcher: ModelSwitcher, pool: Executor, goes: GoesLink | None,
                        listeners: list[FrameListener],
                        shadows: ShadowStage) -> tuple[Pipeline, Housekeeper]:
        """The stages, connected (nothing starts here)."""
        cfg, m = self.config, self.metrics
        service = cfg.service
        workers = service.ingest_workers or os.cpu_count() or 1
        intake = Intake(self._sources, cfg.feeds, service.queue_size,
                        service.stale_after_cadences, m)
        outcomes = Outcomes(book, intake, results, m)
        # every package the champion accepts later has these channels and this grid
        first = champion.current()
        assembly = Assembly(FrameAssembler(cfg.frames, first.package.manifest.input.channels,
                                           {f.name: f.cadence_s for f in cfg.feeds}),
                            queue, outcomes, m)
        ingest = IngestStage(intake=intake, book=book, outcomes=outcomes, assembly=assembly,
                             pool=pool, pool_workers=workers,
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
            ingest_tasks=2 * workers,
            analysis_tasks=cfg.inference.max_batch, champion=champion,
            last_switch=lambda: switcher.last,
            publisher=publisher, alerts=alerts,
            goes_status=goes.goes.status if goes is not None else None)
        housekeeper = Housekeeper(
            snapshot=pipeline.snapshot, outcomes=outcomes, assembly=assembly, book=book,
            feeds=[f.name for f in cfg.feeds], retention_days=service.ledger_retention_days,
            metrics=m, goes=goes)
        return pipeline, housekeeper

    async def _start_http(self, stack: contextlib.AsyncExitStack,
                          view: DaemonStatusView) -> None:
        http = self.config.http
        token = read_secret(http.token_env, http.token_file, "http.token_env")
        app = build_app(view, self.metrics.registry, token)
        runner = await start_http(app, http.host, http.port)
        stack.push_async_callback(runner.cleanup)
        host, port = runner.addresses[0][:2]
        self.http_address = (host, port)
        log.info("http listening", address=f"{host}:{port}")

    def _announce_ready(self, snapshot: PipelineSnapshot) -> None:
        self._ready.set()
        self.metrics.ready.set(1)
        self.notifier.ready(status_line(snapshot))
        log.info("daemon ready", backend=snapshot.backend.active, feeds=len(self._sources),
                 model=snapshot.model.label, mode=self.config.service.mode)

    def _make_sources(self, refuse: RefusalPublisher) -> list[SourceBase]:
        cfg = self.config
        kafka_options = (client_options(cfg.kafka, self.bootstrap)
                         if any(f.kind == "kafka" for f in cfg.feeds) else None)
        return [make_source(feed, kafka_options=kafka_options, refuse=refuse)
                for feed in cfg.feeds]

    # -- callbacks ----------------------------------------------------------------
    def _source_stats(self) -> list[SourceStats]:
        return [source.stats() for source in self._sources]

    def _on_batch(self, event: BatchEvent) -> None:
        self.metrics.batch_size.observe(event.frames)
        self.metrics.stage_seconds["inference"].observe(event.infer_s)
        if event.failed:
            self.metrics.inference_failures.inc(event.failed)
        for wait in event.queue_wait_s:
            self.metrics.stage_seconds["queue_wait"].observe(wait)

    async def _watchdog(self, pipeline: Pipeline, stop: asyncio.Event) -> None:
        interval = SystemdNotifier.watchdog_interval_s()
        period = min(interval, 5.0) if interval else 5.0
        while not stop.is_set():
            await asyncio.sleep(period)
            snapshot = pipeline.snapshot()
            # Only a pipeline that moves earns a ping: systemd restarts a hung one.
            if heartbeat_ok(snapshot):
                self.metrics.heartbeat.set(time.time())
                if interval and self.config.service.watchdog:
                    self.notifier.watchdog()
            self.notifier.status(status_line(snapshot))


def make_pool(executor: str, workers: int) -> Executor:
    """The ingest worker pool: processes (decompression holds the GIL) or threads."""
    if executor == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
    # forkserver: never fork a process that runs Kafka and aiohttp threads
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"),
                               initializer=exit_with_daemon, initargs=(os.getpid(),))


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
