"""What the publisher tells its listener (metrics, end-to-end latency) and the log.

Errors are counted every time but logged once per outage (a broker that is
away for an hour would otherwise flood the journal at retry cadence); those
that need a person (a missing topic, a dead letter, the outbox) are logged
every time. A listener that raises is logged and never stops publishing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from monitor.logs import get_logger
from monitor.publish.outbox import OutboundMessage, OutboxStats

__all__ = ["ERROR_KINDS", "PublishListener", "PublishReports"]

log = get_logger("monitor.publish.producer")  # the publisher's own log lines

#: Values passed to :meth:`PublishListener.error` (a small fixed set, fit for a metric label).
ERROR_KINDS: tuple[str, ...] = (
    "connect",          # no producer could be created (broker unreachable, bad security settings)
    "send",             # a batch had failed messages (retried from the outbox)
    "timeout",          # a batch was not settled in time; the producer is replaced
    "producer_fatal",   # the producer reached a state it cannot leave; it is replaced
    "topic_missing",    # a topic does not exist and kafka.create_topics is off
    "topic_setup",      # listing or creating topics failed
    "dead_letter",      # the broker can never accept a message; moved to dead_letters
    "order_risk",       # a message failed while a later one with its key succeeded
    "outbox",           # the outbox database could not be read or written
    "outbox_full",      # publish() refused messages because the outbox is full
)


class PublishListener(Protocol):
    """What the publisher reports as it works (metrics, end-to-end latency).

    Called on the event loop; an exception is logged and does not stop publishing.
    """

    def acknowledged(self, topic: str, count: int, latency_s: float) -> None:
        """After each settled batch, per topic: messages acknowledged and the largest
        ``created_at``-to-acknowledgement delay among them."""

    def delivered(self, messages: Sequence[OutboundMessage], acked_at: float) -> None:
        """The acknowledged messages and the Unix time of the acknowledgement."""

    def error(self, kind: str) -> None:
        """One call per problem; ``kind`` is one of :data:`ERROR_KINDS`."""

    def outbox_changed(self, pending: int, pending_bytes: int, oldest_age_s: float) -> None:
        """After every change of the outbox."""


class _Unheard:
    """The listener of a publisher nobody listens to."""

    def acknowledged(self, topic: str, count: int, latency_s: float) -> None:
        pass

    def delivered(self, messages: Sequence[OutboundMessage], acked_at: float) -> None:
        pass

    def error(self, kind: str) -> None:
        pass

    def outbox_changed(self, pending: int, pending_bytes: int, oldest_age_s: float) -> None:
        pass


class PublishReports:
    """The publisher's reports: to its listener, and to the log once per outage.

    Attributes
    ----------
    last_error : str or None
        The latest problem, ``"kind: error"`` (shown on ``/readyz``).
    """

    def __init__(self, listener: PublishListener | None = None) -> None:
        self._listener: PublishListener = listener or _Unheard()
        self.last_error: str | None = None
        self._outage_started: float | None = None

    def error(self, kind: str, error: object = None) -> None:
        """One problem; ``kind`` is one of :data:`ERROR_KINDS`."""
        text = f"{kind}: {error}" if error is not None else kind
        self.last_error = text
        fields = {"kind": kind, "error": str(error)}
        if kind in ("topic_missing", "dead_letter", "outbox"):
            log.error("publishing problem", **fields)  # needs a person, every time
        elif kind in ("outbox_full", "order_risk"):
            log.warning("publishing problem", **fields)
        elif self._outage_started is None:
            self._outage_started = time.monotonic()
            log.warning("publishing problem", **fields)
        else:  # one warning per outage; the rest would flood the log at retry cadence
            log.debug("publishing problem", **fields)
        self._tell(self._listener.error, kind)

    def recovered(self, generation: int) -> None:
        """A batch went through: an outage, if one was going on, is over."""
        if self._outage_started is not None:
            log.info("publishing recovered",
                     outage_s=round(time.monotonic() - self._outage_started, 1),
                     generation=generation)
            self._outage_started = None

    def acknowledged(self, acked: Iterable[OutboundMessage], now: float) -> None:
        """Messages the broker acknowledged at Unix time ``now``."""
        acked = list(acked)
        by_topic: dict[str, list[float]] = {}
        for message in acked:
            by_topic.setdefault(message.topic, []).append(max(0.0, now - message.created_at))
        for topic, latencies in by_topic.items():
            self._tell(self._listener.acknowledged, topic, len(latencies), max(latencies))
        self._tell(self._listener.delivered, acked, now)

    def outbox_changed(self, stats: OutboxStats) -> None:
        """The outbox after a change."""
        self._tell(self._listener.outbox_changed, stats.count, stats.size_bytes,
                   stats.oldest_age_s())

    @staticmethod
    def _tell(report: Callable[..., None], *args: Any) -> None:
        try:
            report(*args)
        except Exception:
            log.exception("publish listener failed")
