"""The daemon: sources -> ingest -> frames -> inference/saliency/alerts -> outbox -> Kafka.

:class:`Daemon` owns every resource with a lifetime (ledger, worker pool,
backend and batcher, publisher, HTTP server, sources) and the tasks between
them; the data flow and restart-safety rules are in DESIGN.md and in
:mod:`monitor.state`. The per-file and per-frame steps live in
:mod:`monitor.pipeline.worker`; this module is lifecycle and wiring only.

Stop (SIGTERM/SIGINT): intake stops first, in-flight files and frames get
``service.drain_timeout_s`` to finish, the publisher flushes what the broker
will take within the same budget (the rest stays in the outbox for the next
start), then everything closes and :meth:`Daemon.run` returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from monitor.alerts import AlertEngine
from monitor.config import Config
from monitor.credentials import read_secret
from monitor.frames import FrameAssembler
from monitor.inference import BatchEvent, DynamicBatcher, open_backend
from monitor.models import load_package
from monitor.models.package import default_package_path
from monitor.observe.http import build_app, start_http
from monitor.observe.metrics import Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.analysis import FrameAnalyzer
from monitor.pipeline.ingest_stage import exit_with_daemon, warm_worker
from monitor.pipeline.refusals import REJECT_REASONS, RefusalPublisher
from monitor.pipeline.worker import PipelineWorker
from monitor.publish.kafka_client import client_options, topic_names
from monitor.publish.producer import ERROR_KINDS, KafkaPublisher
from monitor.sources import make_source
from monitor.state import ProcessedFileLedger

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


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
        self.metrics = Metrics()
        self.notifier = SystemdNotifier()
        self.instance = config.service.instance or socket.gethostname()
        self.http_address: tuple[str, int] | None = None
        self.worker: PipelineWorker | None = None
        self._started = time.monotonic()
        self._ready = asyncio.Event()

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
            reject_reasons=REJECT_REASONS, publish_errors=ERROR_KINDS)
        async with contextlib.AsyncExitStack() as stack:
            ledger = ProcessedFileLedger(state_dir / "ledger.sqlite3")
            stack.callback(ledger.close)

            # model verification, backend load and warm-up can outlast the unit's
            # TimeoutStartSec on a slow box: ask systemd for more time, honestly
            self.notifier.extend_timeout(300)
            self.notifier.status("loading model package")
            package_dir = cfg.inference.model_package or default_package_path()
            package = await asyncio.to_thread(load_package, package_dir,
                                              cfg.inference.verify_package)
            self.metrics.model_info.info({"name": package.manifest.name,
                                          "version": package.manifest.version,
                                          "sha256": package.sha256})
            backend = await asyncio.to_thread(open_backend, cfg.inference, package,
                                              Path(cfg.service.cache_dir))
            batcher = DynamicBatcher(backend, package.input_shape, cfg.inference.max_batch,
                                     cfg.inference.max_wait_ms, cfg.inference.queue_size)
            batcher.add_observer(self._on_batch)
            self.notifier.status("warming up the inference backend")
            await batcher.start(warmup=cfg.inference.warmup_iterations > 0)
            stack.push_async_callback(batcher.close)

            alerts = AlertEngine(cfg.alerts.rules)
            alert_state = state_dir / "alerts.json"
            if alert_state.exists():
                with contextlib.suppress(ValueError, OSError, TypeError):
                    alerts.restore(json.loads(alert_state.read_text()))
            analyzer = FrameAnalyzer(package, batcher, alerts, cfg.saliency)
            stack.callback(analyzer.close)
            self.notifier.status("warming up the saliency explainer")
            await analyzer.warm_up()

            publisher = KafkaPublisher(cfg.publish, cfg.kafka,
                                       state_dir / cfg.publish.outbox_file,
                                       bootstrap=self.bootstrap)
            await publisher.start()

            pool = self._make_pool()
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            if isinstance(pool, ProcessPoolExecutor):
                # workers start (and import) now, not on the first files
                self.notifier.status("starting ingest workers")
                loop = asyncio.get_running_loop()
                await asyncio.gather(*(loop.run_in_executor(pool, warm_worker)
                                       for _ in range(self._pool_size())))

            assembler = FrameAssembler(cfg.frames, package.manifest.input.channels,
                                       {f.name: f.cadence_s for f in cfg.feeds})
            kafka_options = (client_options(cfg.kafka, self.bootstrap)
                             if any(f.kind == "kafka" for f in cfg.feeds) else None)
            refusals = RefusalPublisher(publisher, self.metrics, cfg.kafka.topic_prefix,
                                        f"urn:sdo-monitor:{self.instance}")
            sources = [make_source(feed, kafka_options=kafka_options, refuse=refusals)
                       for feed in cfg.feeds]
            self.worker = worker = PipelineWorker(
                config=cfg, metrics=self.metrics, ledger=ledger, pool=pool,
                assembler=assembler, analyzer=analyzer, publisher=publisher,
                backend=backend, sources=sources, instance=self.instance,
                alert_state_path=alert_state)
            batcher.more_coming = worker.frames_waiting

            token = read_secret(cfg.http.token_env, cfg.http.token_file, "http.token_env")
            runner = await start_http(build_app(worker.view(self), token),
                                      cfg.http.host, cfg.http.port)
            stack.push_async_callback(runner.cleanup)
            self.http_address = tuple(runner.addresses[0][:2])  # type: ignore[assignment]
            log.info("http listening", extra={"kv": {"address": "{}:{}".format(*self.http_address)}})

            goes_task = None
            if cfg.goes.enabled:
                from monitor.goes import GoesMonitor
                from monitor.pipeline.goes_link import GoesLink

                worker.goes = GoesLink(GoesMonitor(cfg.goes), self.metrics,
                                       worker.publish_messages, worker.source_uri,
                                       cfg.kafka.topic_prefix, cfg.alerts.rules,
                                       state_dir / "goes_scores.json")
                worker.goes.restore()
                goes_task = asyncio.create_task(worker.goes.run(stop), name="goes")
            await worker.start()
            self._ready.set()
            self.metrics.ready.set(1)
            self.notifier.ready(worker.status_line())
            log.info("daemon ready", extra={"kv": {
                "backend": backend.status().active, "feeds": len(sources),
                "model": f"{package.manifest.name}:{package.manifest.version}",
                "mode": cfg.service.mode}})

            watchdog = asyncio.create_task(self._watchdog(worker, stop))
            await stop.wait()
            watchdog.cancel()
            self.metrics.ready.set(0)
            self.notifier.stopping("draining in-flight work")
            log.info("stopping: draining", extra={"kv": {
                "timeout_s": cfg.service.drain_timeout_s}})
            if goes_task is not None:
                goes_task.cancel()
                await asyncio.gather(goes_task, return_exceptions=True)
            await worker.drain_and_stop(cfg.service.drain_timeout_s)
            left = await publisher.stop(cfg.service.drain_timeout_s)
            log.info("stopped", extra={"kv": {"outbox_pending": left}})
        self.metrics.up.set(0)
        return 0

    async def wait_published(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged)."""
        if self.worker is None:
            return True
        return await self.worker.publisher.wait_drained(timeout_s)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the daemon serves (tests, the demo)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    def _pool_size(self) -> int:
        return self.config.service.ingest_workers or os.cpu_count() or 1

    def _make_pool(self) -> Executor:
        workers = self._pool_size()
        if self.config.service.ingest_executor == "thread":
            return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
        # forkserver: never fork a process that runs Kafka and aiohttp threads
        return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"),
                                   initializer=exit_with_daemon, initargs=(os.getpid(),))

    def _on_batch(self, event: BatchEvent) -> None:
        self.metrics.batch_size.observe(event.frames)
        self.metrics.stage_seconds["inference"].observe(event.infer_s)
        if event.failed:
            self.metrics.inference_failures.inc(event.failed)
        for wait in event.queue_wait_s:
            self.metrics.stage_seconds["queue_wait"].observe(wait)

    async def _watchdog(self, worker: PipelineWorker, stop: asyncio.Event) -> None:
        interval = SystemdNotifier.watchdog_interval_s()
        period = min(interval, 5.0) if interval else 5.0
        while not stop.is_set():
            await asyncio.sleep(period)
            # Only a pipeline that moves earns a ping: systemd restarts a hung one.
            if worker.heartbeat_ok():
                self.metrics.heartbeat.set(time.time())
                if interval and self.config.service.watchdog:
                    self.notifier.watchdog()
            self.notifier.status(worker.status_line())
