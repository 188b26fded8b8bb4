"""The pipeline's publishing edge: typed results in, CloudEvents into the outbox.

:class:`ResultPublisher` is where a frame's messages are made (once) and
committed to the durable outbox, and where an outbox that refuses them is
counted; the caller decides what a refusal means (a retry). The messages it
made come back as a :class:`PublishedFrame` for whoever shows results (the
HTTP API's memory, the GOES verification). :class:`DeliveryTracker` hears the
Kafka publisher's reports: per-topic acknowledgements, errors, the outbox
gauges, and the end-to-end latency of each frame from its files' arrival to
the broker's acknowledgement.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.logs import get_logger
from monitor.observe.metrics import Metrics
from monitor.pipeline.analysis import AnalysedFrame, ShadowResult
from monitor.pipeline.handoffs import FileRejection
from monitor.pipeline.messages import (
    alert_data,
    frame_data,
    rejection_data,
    saliency_data,
    shadow_data,
)
from monitor.publish.envelope import make_event, prepare_validators, to_outbound
from monitor.publish.outbox import OutboundMessage, OutboxError, OutboxFull
from monitor.publish.producer import KafkaPublisher

__all__ = ["DeliveryTracker", "PublishedFrame", "ResultPublisher"]

log = get_logger(__name__)


@dataclass(frozen=True)
class PublishedFrame:
    """An analysed frame whose messages are in the outbox, with their payloads."""

    done: AnalysedFrame
    frame: dict[str, Any]
    saliency: dict[str, Any] | None
    alerts: tuple[dict[str, Any], ...]


class DeliveryTracker:
    """The Kafka publisher's listener: publishing metrics and end-to-end latency."""

    #: Frames whose acknowledgement is awaited (a bound: an outage must not grow memory).
    KEEP = 10_000

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._spans: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def track(self, message_id: str, arrived: tuple[float, float]) -> None:
        """Time message ``message_id`` from its frame's first and last file arrival."""
        self._spans[message_id] = arrived
        while len(self._spans) > self.KEEP:
            self._spans.popitem(last=False)

    def acknowledged(self, topic: str, count: int, latency_s: float) -> None:
        self._metrics.published.labels(topic).inc(count)
        self._metrics.stage_seconds["publish"].observe(latency_s)

    def delivered(self, messages: Sequence[OutboundMessage], acked_at: float) -> None:
        seconds = self._metrics.stage_seconds
        for message in messages:
            span = self._spans.pop(message.message_id, None)
            if span is not None:
                first, last = span
                seconds["end_to_end"].observe(max(0.0, acked_at - first))
                seconds["last_file_to_ack"].observe(max(0.0, acked_at - last))

    def error(self, kind: str) -> None:
        self._metrics.publish_errors.labels(kind).inc()

    def outbox_changed(self, pending: int, pending_bytes: int, oldest_age_s: float) -> None:
        self._metrics.outbox_pending.set(pending)
        self._metrics.outbox_bytes.set(pending_bytes)
        self._metrics.outbox_oldest_age.set(oldest_age_s)


class ResultPublisher:
    """Makes the pipeline's messages and commits them to the outbox.

    Parameters
    ----------
    publisher : KafkaPublisher
        The started, outbox-backed publisher.
    tracker : DeliveryTracker
        The publisher's listener (it times the frames published here).
    source_uri : str
        CloudEvents ``source`` (``urn:sdo-monitor:<instance>``).
    topic_prefix : str
        ``kafka.topic_prefix``.
    replay : bool
        Replay mode waits up to an hour for outbox space; live mode refuses at once.
    metrics : Metrics
        Where refusals are counted.
    """

    def __init__(self, publisher: KafkaPublisher, tracker: DeliveryTracker,
                 source_uri: str, topic_prefix: str, replay: bool,
                 metrics: Metrics) -> None:
        self._publisher = publisher
        self._tracker = tracker
        self.source_uri = source_uri
        self._prefix = topic_prefix
        self._wait_s = 3600.0 if replay else 0.0
        self._metrics = metrics
        prepare_validators()  # at start-up, not inside the first frame

    async def frame(self, done: AnalysedFrame) -> PublishedFrame | None:
        """Publish a frame's result, saliency and alert transitions; None when refused."""
        frame = frame_data(done)
        saliency = saliency_data(done)
        alerts = tuple(alert_data(a, done.model) for a in done.alerts)
        events = [("frame.analyzed", frame)]
        if saliency is not None:
            events.append(("saliency", saliency))
        events += [("alert", a) for a in alerts]
        messages = [self._message(kind, data, done.t_obs) for kind, data in events]
        if not await self.commit(messages):
            return None
        self._tracker.track(messages[0].message_id, done.arrived)
        return PublishedFrame(done, frame, saliency, alerts)

    async def shadow(self, result: ShadowResult) -> bool:
        """Publish a shadow package's result (``frame.shadow``); False when refused."""
        return await self.commit([self._message("frame.shadow", shadow_data(result),
                                                result.t_obs)])

    async def rejection(self, rejection: FileRejection) -> bool:
        """Publish a file's rejection; False when the outbox refused it."""
        return await self.commit([self._message("input.rejected", rejection_data(rejection))])

    async def event(self, kind: str, data: dict[str, Any]) -> bool:
        """Publish one message of another kind (GOES events, alert confirmations)."""
        return await self.commit([self._message(kind, data)])

    def _message(self, kind: str, data: dict[str, Any],
                 time: datetime | None = None) -> OutboundMessage:
        return to_outbound(make_event(kind, data, source=self.source_uri, time=time),
                           self._prefix)

    async def commit(self, messages: list[OutboundMessage]) -> bool:
        """Durably queue messages for Kafka; False (counted) when the outbox refuses."""
        try:
            await self._publisher.publish(messages, wait_for_space_s=self._wait_s)
            return True
        except OutboxFull:
            self._metrics.drops.labels("publish", "outbox_full").inc()
            log.error("outbox full: result not stored (input kept for a later retry)")
        except OutboxError as exc:
            self._metrics.drops.labels("publish", "outbox_error").inc()
            log.error("outbox error: result not stored", error=str(exc))
        return False
