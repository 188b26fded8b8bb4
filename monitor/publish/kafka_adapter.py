"""Every kafka-python behaviour the publisher relies on beyond the documented API.

kafka-python 3.x has no public way to learn that an idempotent producer
failed for good (the broker lost its producer ids, the producer was fenced);
its ``close()`` raises, leaving the sender thread running, when batches
cannot complete; and a batch in flight to a broker that froze can stay
unreported past ``delivery_timeout_ms``. The publisher needs an answer to
each, so each is answered here and nowhere else, reaching into the client's
internals directly (no ``getattr`` fallbacks): an upgrade that changes one
breaks this module and its test (``tests/publish/test_publish_kafka_adapter.py``
has one per behaviour), loudly, instead of the publisher quietly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kerr
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd

from monitor.logs import get_logger

__all__ = ["CODECS", "FATAL_ERRORS", "POISON_ERRORS", "close_producer", "failed_for_good",
           "learn_partitions", "on_delivery", "report_deadline_s"]

log = get_logger(__name__)

#: The broker rejects these per message no matter how often we retry.
POISON_ERRORS: tuple[type[Exception], ...] = (
    kerr.MessageSizeTooLargeError, kerr.RecordListTooLargeError, kerr.InvalidTopicError,
    kerr.InvalidRecordError)
#: The producer's idempotence state is broken: only a new producer helps.
FATAL_ERRORS: tuple[type[Exception], ...] = (
    kerr.UnknownProducerIdError, kerr.OutOfOrderSequenceNumberError,
    kerr.InvalidProducerEpochError, kerr.ProducerFencedError, kerr.IllegalStateError,
    kerr.InvalidProducerIdMappingError)
#: Compression codecs and whether their Python package is installed.
CODECS: dict[str, Callable[[], bool]] = {"gzip": has_gzip, "snappy": has_snappy,
                                         "lz4": has_lz4, "zstd": has_zstd}


def failed_for_good(producer: KafkaProducer) -> bool:
    """The idempotent producer reached a state in which every further send fails.

    The transaction manager (present on every idempotent producer) is the only
    place kafka-python records this.
    """
    manager = producer._transaction_manager
    return manager is not None and bool(manager.has_fatal_error())


def close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    """Close a producer and its sender thread, whatever state it is in; never raises.

    ``close()`` first flushes and raises when the batches cannot complete
    (broker gone), leaving the sender thread running: then the sender is
    stopped by force, which fails the pending futures (their messages are
    still in the outbox).
    """
    try:
        producer.close(timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - closing must not fail the caller
        log.debug("producer close raised; forcing", error=str(exc))
        sender = producer._sender
        if sender.is_alive():
            sender.force_close()
            sender.join(timeout_s + 1.0)


def on_delivery(future: Any, report: Callable[[str, Any], None], message_id: str) -> None:
    """Call ``report(message_id, outcome)`` once the send settles, on the sender thread:
    ``outcome`` is the record metadata or the exception (kafka-python appends the
    result after the arguments given with the callback)."""
    future.add_callback(report, message_id)
    future.add_errback(report, message_id)


def learn_partitions(producer: KafkaProducer, topics: Sequence[str]) -> None:
    """Fetch the partitions of ``topics`` now: kafka-python otherwise fetches them inside
    the first ``send`` to each topic, which blocks until they come. A topic that fails
    is left to that send (it reports the error)."""
    for topic in topics:
        try:
            producer.partitions_for(topic)
        except kerr.KafkaError as exc:
            log.debug("partitions not learnt", topic=topic, error=str(exc))


def report_deadline_s(delivery_timeout_ms: int) -> float:
    """How long to wait for a batch's delivery reports before giving up on the producer.

    kafka-python should fail undelivered batches after ``delivery_timeout_ms``,
    but a batch in flight to a broker that froze and died can stay unreported;
    this margin bounds the wait (the producer is then replaced).
    """
    limit_s = delivery_timeout_ms / 1000
    return limit_s + max(1.0, 0.2 * limit_s)
