"""Where every file ends: processed, rejected, duplicate, or back in line for a retry.

A file's outcome is final only once it is durable: its rejection (or its
frame's messages) in the outbox, then its ledger row finished, then its
source told; a failure of the daemon's own making on the way (outbox full,
ledger disk full) sends the file back to the intake after a backoff instead,
so nothing waits for a restart and nothing is lost. :class:`Outcomes` is the
one place that decides this, and the one owner of the retry schedule.
"""

from __future__ import annotations

from monitor.frames import Frame
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.handoffs import PIPELINE_REASONS, FileRejection, IngestedFile
from monitor.pipeline.intake import Intake
from monitor.pipeline.publishing import ResultPublisher
from monitor.pipeline.retries import RetrySchedule
from monitor.sources import FileArrival

__all__ = ["Outcomes"]

log = get_logger(__name__)


class Outcomes:
    """Settles files (see the module docstring).

    Parameters
    ----------
    book : FileBook
        The ledger and the in-flight files.
    intake : Intake
        Acknowledges files to their sources and takes retries back.
    publisher : ResultPublisher
        Publishes rejections.
    metrics : Metrics
        Rejections and retries are counted here.
    """

    #: Failed analyses of one file before it is rejected as ``retries_exhausted``.
    MAX_ATTEMPTS = 8

    def __init__(self, book: FileBook, intake: Intake, publisher: ResultPublisher,
                 metrics: Metrics) -> None:
        self._book = book
        self._intake = intake
        self._publisher = publisher
        self._metrics = metrics
        self._retries = RetrySchedule()

    async def reject(self, arrival: FileArrival, rejection: FileRejection) -> None:
        """Publish, record and acknowledge a rejected (or duplicate) file."""
        if not await self._publisher.rejection(rejection):
            await self.retry_later(arrival, "publish")
            return
        self._metrics.rejections.labels(arrival.feed, rejection.reason).inc()
        log.info("file rejected", path=rejection.path, reason=rejection.reason,
                 detail=rejection.detail[:200])
        if not await self._book.finish_file(arrival, rejection):
            await self.retry_later(arrival, "ledger")
            return
        await self._intake.acknowledge(arrival, rejection.outcome)

    async def reject_file(self, ingested: IngestedFile, feed: str, reason: str,
                          detail: str) -> None:
        """Reject one file of a frame (refused by the assembler, or its frame dropped)."""
        arrival = self._book.arrival(ingested.path)
        self._book.release(ingested)
        if arrival is not None:
            await self.reject(arrival, FileRejection.of(ingested, feed, reason, detail))

    async def reject_frame(self, frame: Frame[IngestedFile], reason: str, detail: str) -> None:
        """Reject every file of a frame that will not be analysed."""
        for item in list(frame.channels.values()):
            await self.reject_file(item.payload, item.feed, reason,
                                   f"{detail} (frame {frame.frame_id})")

    async def processed(self, frame: Frame[IngestedFile]) -> bool:
        """The frame's messages are in the outbox: finish and acknowledge its files.
        False when the ledger cannot write (the caller retries the frame)."""
        arrivals = await self._book.finish_frame(frame)
        if arrivals is None:
            return False
        for arrival in arrivals:
            self._retries.forget(str(arrival.path))
            await self._intake.acknowledge(arrival, "processed")
        return True

    async def retry_later(self, arrival: FileArrival, stage: str) -> None:
        """Hand a file back to the intake after a backoff (failures of our own making,
        such as a full disk, must not wait for a restart)."""
        path = str(arrival.path)
        attempts = self._retries.count_attempt(path)
        self._metrics.retries.labels(stage).inc()
        if attempts > self.MAX_ATTEMPTS and stage == "analysis":
            self._retries.forget(path)
            await self.reject(arrival, FileRejection(
                path, arrival.feed, "retries_exhausted",
                f"{PIPELINE_REASONS['retries_exhausted']} ({stage})"))
            return
        delay = self._retries.schedule(arrival, attempts)
        log.warning("file will be retried", path=path, stage=stage, attempt=attempts, in_s=delay)

    async def retry_frame(self, frame: Frame[IngestedFile], stage: str) -> None:
        """Send every file of a frame back for a retry (the caller reopened the frame)."""
        for item in list(frame.channels.values()):
            arrival = self._book.let_go(item.payload)
            if arrival is not None:
                await self.retry_later(arrival, stage)

    def requeue_due(self) -> None:
        """Move retries whose backoff has passed back into the intake queue."""
        self._retries.release_due(self._intake.offer)
