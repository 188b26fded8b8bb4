"""Input the sources refused, published as ``input.rejected`` messages.

A notification that is not JSON, a path outside ``path_roots``, a URL outside
``url_prefixes``: the source refuses it before any file exists, and this
callback (the sources' ``refuse``) puts the refusal on ``<prefix>.rejects``
beside the files the pipeline rejected, and counts it in
``sdo_monitor_rejections_total``. A full outbox loses the message (the input
was refused either way) and says so in a drop counter and a log line.
"""

from __future__ import annotations

import logging

from monitor.ingest import RejectReason
from monitor.observe.metrics import Metrics
from monitor.pipeline.messages import PIPELINE_REASONS, rejection_data
from monitor.publish.envelope import make_event, to_outbound
from monitor.publish.outbox import OutboxError, OutboxFull
from monitor.publish.producer import KafkaPublisher
from monitor.sources import Refusal
from monitor.sources.download import DOWNLOAD_REASONS
from monitor.sources.notifications import NOTIFICATION_REASONS
from monitor.sources.urlpolicy import URL_REASONS

__all__ = ["REJECT_REASONS", "RefusalPublisher"]

#: Every reason an input can be rejected with: by a source, by ingest, by the pipeline
#: (the labels of ``sdo_monitor_rejections_total``, created at start).
REJECT_REASONS: tuple[str, ...] = tuple(sorted({
    *NOTIFICATION_REASONS, *URL_REASONS, *DOWNLOAD_REASONS, "write", "internal_error",
    *(str(r) for r in RejectReason), *PIPELINE_REASONS}))

log = logging.getLogger(__name__)


class RefusalPublisher:
    """The ``refuse`` callback the daemon gives its sources.

    Parameters
    ----------
    publisher : KafkaPublisher
        Where the messages go (through its outbox).
    metrics : Metrics
        For ``rejections_total`` and ``drops_total``.
    topic_prefix : str
        ``kafka.topic_prefix``.
    source_uri : str
        The CloudEvents ``source`` of this instance.
    """

    def __init__(self, publisher: KafkaPublisher, metrics: Metrics, topic_prefix: str,
                 source_uri: str) -> None:
        self.publisher = publisher
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self.source_uri = source_uri

    async def __call__(self, refusal: Refusal) -> None:
        data = rejection_data(path=refusal.target, feed=refusal.feed, reason=refusal.reason,
                              detail=refusal.detail)
        event = make_event("input.rejected", data, source=self.source_uri)
        try:
            await self.publisher.publish([to_outbound(event, self.topic_prefix)])
        except (OutboxFull, OutboxError) as exc:
            kind = "outbox_full" if isinstance(exc, OutboxFull) else "outbox_error"
            self.metrics.drops.labels("publish", kind).inc()
            log.error("refusal not stored", extra={"kv": {
                "feed": refusal.feed, "reason": refusal.reason, "error": str(exc)}})
            return
        self.metrics.rejections.labels(refusal.feed, refusal.reason).inc()
