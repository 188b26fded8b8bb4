"""The pipeline's tasks: start them, drain them on stop, and take snapshots.

The stages are built by the daemon (:mod:`monitor.app`, the composition root)
and handed in; this class only runs them::

    sources --arrivals queue--> ingest tasks --> assembly --frames queue-->
        analysis tasks --> outbox (KafkaPublisher) --> Kafka

Two bounded queues: arrivals (a full one blocks the sources) and frames
(where the overload policy acts, :class:`~monitor.pipeline.assembly.FrameQueue`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from monitor.alerts import AlertEngine
from monitor.pipeline.analysis_stage import AnalysisStage
from monitor.pipeline.assembly import Assembly, FrameQueue
from monitor.pipeline.ingest_stage import IngestStage
from monitor.pipeline.intake import Intake
from monitor.pipeline.serving import Champion
from monitor.pipeline.status import PipelineSnapshot
from monitor.pipeline.switch import SwitchOutcome
from monitor.publish.producer import KafkaPublisher

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)


class Pipeline:
    """The running stages of one daemon.

    Parameters
    ----------
    intake, ingest, assembly, queue, analysis
        The stages, connected by construction.
    ingest_tasks, analysis_tasks : int
        Concurrent tasks of each stage.
    champion, publisher, alerts
        Read for snapshots only (the serving model and its backend).
    last_switch : callable
        The last model switch attempt, or None.
    goes_status : callable, optional
        The GOES monitor's status, when enabled.
    """

    def __init__(self, *, intake: Intake, ingest: IngestStage, assembly: Assembly,
                 queue: FrameQueue, analysis: AnalysisStage, ingest_tasks: int,
                 analysis_tasks: int, champion: Champion, publisher: KafkaPublisher,
                 alerts: AlertEngine, last_switch: Callable[[], SwitchOutcome | None],
                 goes_status: Callable[[], dict[str, Any]] | None = None) -> None:
        self._intake = intake
        self._ingest = ingest
        self._assembly = assembly
        self._queue = queue
        self._analysis = analysis
        self._counts = (ingest_tasks, analysis_tasks)
        self._champion = champion
        self._last_switch = last_switch
        self._publisher = publisher
        self._alerts = alerts
        self._goes_status = goes_status
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._intake.start()
        ingest_tasks, analysis_tasks = self._counts
        self._tasks += [asyncio.create_task(self._ingest.run(), name=f"ingest:{i}")
                        for i in range(ingest_tasks)]
        self._tasks += [asyncio.create_task(self._analysis.run(), name=f"analyse:{i}")
                        for i in range(analysis_tasks)]

    async def drain_and_stop(self, timeout_s: float) -> None:
        """Stop intake, give in-flight work ``timeout_s``, then cancel the rest."""
        await self._intake.stop()
        deadline = time.monotonic() + timeout_s
        while not self.idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._analysis.save_alert_state()

    def idle(self) -> bool:
        """Nothing queued and nothing being worked on."""
        return (self._ingest.busy + self._analysis.busy == 0 and self._intake.queued == 0
                and len(self._queue) == 0)

    async def flush_frames(self) -> None:
        """Close every open frame now (end of a replay)."""
        await self._assembly.flush()

    def snapshot(self) -> PipelineSnapshot:
        counts = dict(self._intake.counts, frames=self._analysis.frames)
        serving = self._champion.current()
        return PipelineSnapshot(
            counts=counts, arrivals=self._intake.queued, frames_queued=len(self._queue),
            open_frames=self._assembly.open_frames, open_channels=self._assembly.open_channels,
            busy=self._ingest.busy + self._analysis.busy,
            last_progress=max(self._ingest.last_progress, self._analysis.last_progress),
            feeds=self._intake.feeds(), sources_up=self._intake.sources_up(),
            source_problems=tuple(self._intake.source_problems()),
            last_observation=dict(self._ingest.last_observation),
            backend=serving.backend.status(), model=serving.identity,
            model_switch=self._last_switch(), publisher=self._publisher.health(),
            alerts_active=self._alerts.active(),
            goes=self._goes_status() if self._goes_status is not None else None,
            calibration=self._ingest.calibration())
