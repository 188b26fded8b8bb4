"""Input the sources refused, published as ``input.rejected`` messages.

A notification that is not JSON, a path outside ``path_roots``, a URL outside
``url_prefixes``: the source refuses it before any file exists, and this
callback (the sources' ``refuse``) puts the refusal on ``<prefix>.rejects``
beside the files the pipeline rejected, and counts it in
``sdo_monitor_rejections_total``. A full outbox loses the message (the input
was refused either way) and says so in a drop counter and a log line.
"""

from __future__ import annotations

from monitor.ingest import RejectReason
from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.handoffs import PIPELINE_REASONS, FileRejection
from monitor.pipeline.publishing import ResultPublisher
from monitor.sources import Refusal
from monitor.sources.fetchfailures import DOWNLOAD_REASONS
from monitor.sources.notifications import NOTIFICATION_REASONS
from monitor.sources.urlpolicy import URL_REASONS

__all__ = ["REJECT_REASONS", "RefusalPublisher"]

#: Every reason an input can be rejected with: by a source, by ingest, by the pipeline
#: (the labels of ``sdo_monitor_rejections_total``, created at start).
REJECT_REASONS: tuple[str, ...] = tuple(sorted({
    *NOTIFICATION_REASONS, *URL_REASONS, *DOWNLOAD_REASONS, "write", "internal_error",
    *(str(r) for r in RejectReason), *PIPELINE_REASONS}))

log = get_logger(__name__)


class RefusalPublisher:
    """The ``refuse`` callback the daemon gives its sources.

    Parameters
    ----------
    publisher : ResultPublisher
        The publishing edge (it counts an outbox that refuses, in ``drops_total``).
    metrics : Metrics
        For ``rejections_total``.
    """

    def __init__(self, publisher: ResultPublisher, metrics: Metrics) -> None:
        self.publisher = publisher
        self.metrics = metrics

    async def __call__(self, refusal: Refusal) -> None:
        rejection = FileRejection(refusal.target, refusal.feed, refusal.reason, refusal.detail)
        if not await self.publisher.rejection(rejection):
            log.error("refusal not stored", feed=refusal.feed, reason=refusal.reason)
            return
        self.metrics.rejections.labels(refusal.feed, refusal.reason).inc()
