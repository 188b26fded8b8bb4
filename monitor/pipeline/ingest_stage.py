"""The ingest stage: an arrival becomes an ingested file on its way to a frame, or ends.

For each arrival: the ledger is asked whether the file is new
(:class:`~monitor.pipeline.filebook.FileBook`), the worker pool decodes it
onto the model grid (:func:`~monitor.pipeline.pool_work.ingest_file`), and the
pipeline's own rules run, cheapest first after the decode: duplicate (by
observation key or content, against the ledger and the files in flight), an
observation time in the future, a channel the model does not use. A file that
passes goes to the frame assembly; one that does not is rejected.

A file sent to a pool with idle workers gets their cores for its decode
(``decode_threads``): at real time that is every file, and the one that
matters is a frame's last, which the whole frame waits for. A busy pool
(a backlog, replay) decodes each file on its own worker, as before, so
throughput is unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from datetime import UTC, datetime

from monitor.frames import ChannelItem
from monitor.ingest import IngestSettings
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.assembly import Assembly
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.handoffs import PIPELINE_REASONS, FileRejection, IngestedFile
from monitor.pipeline.intake import Intake
from monitor.pipeline.outcomes import Outcomes
from monitor.pipeline.pool_work import ingest_file
from monitor.preprocess import AppliedFactor, PreprocessSettings
from monitor.preprocess.calibrate import CalibrationStatus, calibration_status
from monitor.sources import FileArrival

__all__ = ["IngestStage", "PoolShare"]

log = get_logger(__name__)


class PoolShare:
    """How many cores the pool's next file may use: its idle workers, its own included.

    Synchronous, plain counts: :meth:`lend` is held while a file is in the
    pool, so a file sent to an idle pool of two gets 2, one sent while the
    other worker decodes gets 1.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.in_pool = 0  # files handed to the pool and not back yet

    @contextmanager
    def lend(self) -> Iterator[int]:
        """The decode threads for one file, for as long as it is in the pool."""
        threads = max(1, self.workers - self.in_pool)
        self.in_pool += 1
        try:
            yield threads
        finally:
            self.in_pool -= 1


class IngestStage:
    """Arrivals to ingested files (see the module docstring).

    Parameters
    ----------
    intake, book, outcomes, assembly
        The stages and owners around this one.
    pool : Executor
        The worker pool that decodes files.
    pool_workers : int
        Its size (idle workers lend their cores to the next file's decode).
    ingest, preprocess : IngestSettings, PreprocessSettings
        What the pool's reader and preprocessing do.
    grid_size : int
        Model grid size in pixels.
    channels : tuple of int
        Channels the model uses.
    max_future_s : float
        ``service.max_future_s``.
    metrics : Metrics
        Stage timings, quality flags, last observation times.
    """

    def __init__(self, *, intake: Intake, book: FileBook, outcomes: Outcomes,
                 assembly: Assembly, pool: Executor, pool_workers: int,
                 ingest: IngestSettings,
                 preprocess: PreprocessSettings, grid_size: int, channels: tuple[int, ...],
                 max_future_s: float, metrics: Metrics) -> None:
        self._intake = intake
        self._book = book
        self._outcomes = outcomes
        self._assembly = assembly
        self._pool = pool
        self._share = PoolShare(pool_workers)
        self._work = (ingest, preprocess, grid_size)
        self._channels = channels
        self._max_future_s = max_future_s
        self._metrics = metrics
        self.busy = 0
        self.last_progress = time.monotonic()
        #: Newest observation time (Unix seconds) per feed.
        self.last_observation: dict[str, float] = {}
        #: The degradation factor of the latest accepted file.
        self.last_degradation: AppliedFactor | None = None

    async def run(self) -> None:
        """One ingest task: take arrivals until cancelled."""
        while True:
            arrival = await self._intake.next()
            self.busy += 1
            try:
                await self._ingest(arrival)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the ledger's disk is full: try again later
                log.exception("ingest failed", path=str(arrival.path))
                await self._outcomes.retry_later(arrival, "ingest")
            finally:
                self.busy -= 1
                self.last_progress = time.monotonic()

    async def _ingest(self, arrival: FileArrival) -> None:
        checked = await self._book.check_in(arrival)
        if checked == "vanished":
            return
        if checked != "new":  # finished before a restart: tell the source again, publish nothing
            await self._intake.acknowledge(arrival, checked)
            return
        path = str(arrival.path)
        loop = asyncio.get_running_loop()
        with self._share.lend() as threads:
            ingested: IngestedFile = await loop.run_in_executor(self._pool, ingest_file, path,
                                                                *self._work, threads)
        for stage, seconds in ingested.timings_s.items():
            self._metrics.stage_seconds[stage].observe(seconds)
        rejection = await self._check(arrival, ingested)
        if rejection is not None:
            await self._outcomes.reject(arrival, rejection)
            return
        obs = ingested.observation
        assert obs is not None
        self._book.claim(path, obs)
        self.last_degradation = ingested.degradation
        t_obs = obs.t_obs.timestamp()
        for flag in obs.quality_flags:
            self._metrics.quality_flags.labels(str(obs.wavelength), flag).inc()
        self.last_observation[arrival.feed] = t_obs
        self._metrics.last_observation.labels(arrival.feed).set(t_obs)
        self._metrics.channel_last_observation.labels(arrival.feed, str(obs.wavelength)).set(
            t_obs)
        await self._assembly.add(ChannelItem(arrival.feed, obs.wavelength, obs.t_obs, ingested,
                                             arrival.arrived_at))

    def calibration(self) -> CalibrationStatus:
        """The degradation table's age and whether the latest file was corrected past it."""
        return calibration_status(self._work[1].degradation_table, self.last_degradation,
                                  datetime.now(UTC))

    async def _check(self, arrival: FileArrival,
                     ingested: IngestedFile) -> FileRejection | None:
        """The pipeline's rules for a decoded file; None when it may join a frame."""
        if ingested.rejection is not None or ingested.observation is None:
            assert ingested.rejection is not None
            return FileRejection.from_ingest(ingested.rejection, arrival.feed)
        obs, feed = ingested.observation, arrival.feed
        twin = await self._book.twin_of(ingested.path, obs)
        if twin is not None:
            return FileRejection.of(ingested, feed, "duplicate",
                                    f"{PIPELINE_REASONS['duplicate']}: {twin}", "duplicate")
        ahead = obs.t_obs.timestamp() - time.time()
        if ahead > self._max_future_s:
            return FileRejection.of(ingested, feed, "t_obs_in_future",
                                    f"T_OBS {obs.t_obs.isoformat()} is {ahead:.0f} s ahead: "
                                    f"{PIPELINE_REASONS['t_obs_in_future']}")
        if obs.wavelength not in self._channels:
            return FileRejection.of(ingested, feed, "channel_not_used",
                                    f"{obs.wavelength} Å: {PIPELINE_REASONS['channel_not_used']}")
        return None
