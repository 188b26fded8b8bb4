"""The Kafka feed's consumer thread: poll, hand records out, commit what is done.

kafka-python is blocking and not thread-safe, so one thread owns the
consumer (see :mod:`monitor.sources.kafkafeed` for the delivery and rebalance
contract). It polls, gives each record of an assigned partition to
``deliver`` with the epoch it was handed out under, commits after every poll
what :class:`~monitor.sources.kafkaoffsets.PartitionOffsets` says is done,
pauses its partitions at ``max_in_flight`` (still polling, so the group
membership stays alive) and recreates the consumer when it fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from monitor.logs import get_logger
from monitor.sources.kafkaoffsets import Key, PartitionOffsets

__all__ = ["ConsumerLoop", "Record"]

log = get_logger("monitor.sources.kafkafeed")  # one logger name per feed kind

_POLL_MS = 200


@dataclass(frozen=True)
class Record:
    """One notification as polled, with the epoch of its partition's assignment."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    epoch: int


class ConsumerLoop:
    """The body of the consumer thread.

    Parameters
    ----------
    name : str
        The feed, for logs.
    topic : str
        The notification topic.
    consumer_options : dict
        ``KafkaConsumer`` arguments: connection and the feed's group (id,
        offset reset, timeouts).
    max_in_flight : int
        Records handed out and not done before the partitions pause.
    offsets : PartitionOffsets
        The commit bookkeeping, shared with the event-loop side.
    stop : threading.Event
        Set to end :meth:`run`.
    count_error, count_event : callable
        Count an error (``connect``, ``consumer``, ``commit``) or an event
        (``commits``, ``revocations``) in the feed's stats.
    """

    def __init__(self, name: str, topic: str, consumer_options: dict[str, Any],
                 max_in_flight: int, offsets: PartitionOffsets, stop: threading.Event,
                 count_error: Callable[[str], None],
                 count_event: Callable[[str], None]) -> None:
        self._topic = topic
        self._options = dict(consumer_options)
        self._max_in_flight = max_in_flight
        self._offsets = offsets
        self._stop = stop
        self._count_error = count_error
        self._count_event = count_event
        self._name = name

    def run(self, deliver: Callable[[Record], None]) -> None:
        """Consume until ``stop`` is set; a broker down at start is retried with backoff."""
        backoff = 1.0
        while not self._stop.is_set():
            try:
                consumer = self._make_consumer()
            except Exception as exc:  # noqa: BLE001 - broker down at start: keep trying
                self._count_error("connect")
                log.warning("cannot create Kafka consumer, retrying", feed=self._name,
                            error=str(exc), retry_s=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            try:
                self._poll_loop(consumer, deliver)
            except Exception as exc:  # noqa: BLE001 - start over with a fresh consumer
                self._count_error("consumer")
                log.error("Kafka consumer failed, recreating it", feed=self._name, error=repr(exc))
                self._stop.wait(backoff)
            finally:
                try:
                    self._commit(consumer)
                except Exception as exc:  # noqa: BLE001 - best effort on the way out
                    log.warning("final commit failed", feed=self._name, error=str(exc))
                consumer.close(autocommit=False)
                self._offsets.forget()

    def _make_consumer(self) -> KafkaConsumer:
        # commits are this loop's, by hand, after done()
        consumer = KafkaConsumer(**self._options, enable_auto_commit=False)
        consumer.subscribe([self._topic], listener=_Listener(self, consumer))
        return consumer

    def _poll_loop(self, consumer: Any, deliver: Callable[[Record], None]) -> None:
        limit = self._max_in_flight
        while not self._stop.is_set():
            self._offsets.apply_notices()
            self._commit(consumer)
            outstanding, held = self._offsets.load()
            room = limit - outstanding
            assigned = consumer.assignment()
            if room <= 0 or held >= 10 * limit:
                consumer.pause(*assigned)
            elif consumer.paused():
                consumer.resume(*consumer.paused())
            batches = consumer.poll(timeout_ms=_POLL_MS, max_records=max(1, room))
            for tp, records in batches.items():
                for record in records:
                    epoch = self._offsets.hand_out((tp.topic, tp.partition), record.offset)
                    if epoch is None:
                        continue
                    deliver(Record(tp.topic, tp.partition, record.offset, record.key,
                                   record.value, epoch))

    @staticmethod
    def _wire(offsets: dict[Key, int]) -> dict[TopicPartition, OffsetAndMetadata]:
        return {TopicPartition(*key): OffsetAndMetadata(offset, "", -1)
                for key, offset in offsets.items()}

    def _commit(self, consumer: Any) -> None:
        offsets = self._offsets.committable()
        if not offsets:
            return
        try:
            consumer.commit(self._wire(offsets))
        except Exception as exc:  # noqa: BLE001 - e.g. CommitFailedError mid-rebalance
            self._count_error("commit")
            log.warning("offset commit failed; the next owner may redeliver", feed=self._name,
                        error=str(exc))
            return
        self._count_event("commits")
        log.debug("committed", feed=self._name, offsets={
            f"{partition}": offset for (_, partition), offset in offsets.items()})

    def on_revoked(self, consumer: Any, revoked: list[Any]) -> None:
        # kafka-python 3 runs listeners on its IO thread, where blocking calls
        # (commit(), waiting for in-flight files) would stall heartbeats: commit
        # what is done asynchronously and forget the partitions. The poll loop
        # commits every cycle, so little is left for this last commit anyway.
        keys = {(tp.topic, tp.partition) for tp in revoked}
        self._offsets.apply_notices()
        offsets = self._offsets.committable(keys)
        if offsets:
            try:
                consumer.commit_async(self._wire(offsets), callback=self._on_async_commit)
            except Exception as exc:  # noqa: BLE001 - the new owner redelivers
                self._count_error("commit")
                log.warning("commit on revocation failed", feed=self._name, error=str(exc))
        self._offsets.forget(keys)
        if revoked:
            self._count_event("revocations")
            log.info("partitions revoked", feed=self._name, partitions=sorted(p for _, p in keys))

    def _on_async_commit(self, offsets: Any, result: Any) -> None:
        if isinstance(result, Exception):
            self._count_error("commit")
            log.warning("commit on revocation failed; the next owner may redeliver",
                        feed=self._name, error=str(result))
        else:
            self._count_event("commits")

    def on_assigned(self, assigned: list[Any]) -> None:
        self._offsets.assign((tp.topic, tp.partition) for tp in assigned)
        log.info("partitions assigned", feed=self._name,
                 partitions=sorted(tp.partition for tp in assigned))


class _Listener(ConsumerRebalanceListener):
    """Forwards kafka-python's rebalance callbacks (run inside ``poll``) to the loop."""

    def __init__(self, loop: ConsumerLoop, consumer: Any) -> None:
        self.loop = loop
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: list[Any]) -> None:
        self.loop.on_revoked(self.consumer, list(revoked))

    def on_partitions_assigned(self, assigned: list[Any]) -> None:
        self.loop.on_assigned(list(assigned))
