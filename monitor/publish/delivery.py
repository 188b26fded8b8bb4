"""The kafka-python producer behind :class:`~monitor.publish.producer.KafkaPublisher`.

:class:`ProducerSession` owns the idempotent producer (``acks=all``) and the
one thread it is driven from: it creates the producer, makes sure the topics
of a batch exist, sends one batch and waits until every message of it is
settled (delivery callbacks come back to the event loop with
``call_soon_threadsafe``), and replaces the producer when it cannot recover.
Within a batch the producer keeps one request in flight per connection, so
its own retries cannot reorder a partition. What happens to the messages
afterwards (acknowledged, buried, left for a retry) is the outbox's business
and stays in the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import KafkaProducer

from monitor.logs import get_logger
from monitor.publish.envelope import CONTENT_TYPE
from monitor.publish.kafka_adapter import (
    CODECS,
    FATAL_ERRORS,
    POISON_ERRORS,
    close_producer,
    failed_for_good,
    learn_partitions,
    on_delivery,
    report_deadline_s,
)
from monitor.publish.kafka_client import client_options
from monitor.publish.outbox import OutboundMessage
from monitor.publish.settings import KafkaSettings, PublishSettings
from monitor.publish.topics import TopicGate

__all__ = ["ProducerSession"]

log = get_logger(__name__)

_HEADERS = [("content-type", CONTENT_TYPE.encode())]
_MAX_IN_FLIGHT = 1  # see the module docstring: no reordering by producer retries
class _NotSent(Exception):
    """An earlier message of the batch could not be handed to the producer."""


class ProducerSession:
    """One replaceable kafka-python producer, its topics and its thread.

    kafka-python's idempotent producer can become unusable for good: a broker
    restarted with empty storage has lost its producer ids, a producer can be
    fenced or reach a fatal state, and a batch sent to a broker that froze can
    stay unreported forever. None of that is recoverable in place, so the
    session closes such a producer and creates a new one (``generation``
    counts them); the unacknowledged messages are still in the outbox and go
    out again with the same ids. All calls into kafka-python run on one
    dedicated thread, so the event loop never blocks on the broker.

    Parameters
    ----------
    settings : PublishSettings
        The ``publish`` section of the config (batching, timeouts, compression).
    kafka : KafkaSettings
        The ``kafka`` section (connection, security, topic creation).
    topics : list of str
        Topics created along with the first batch when ``kafka.create_topics`` is on.
    report : callable(kind, error)
        Told about every problem; ``kind`` is one of
        :data:`monitor.publish.producer.ERROR_KINDS`.
    bootstrap : list of str, optional
        Overrides ``kafka.bootstrap_servers``.

    Attributes
    ----------
    generation : int
        Producers created so far.
    connected : bool
        The last connection attempt or batch succeeded.
    inflight_since : float or None
        ``time.monotonic()`` when the batch now being sent was handed over.
    """

    def __init__(self, settings: PublishSettings, kafka: KafkaSettings, topics: list[str],
                 report: Callable[[str, object], None], *,
                 bootstrap: list[str] | None = None) -> None:
        if settings.compression != "none" and not CODECS[settings.compression]():
            raise ValueError(f"publish.compression={settings.compression} needs its Python "
                             "package (python-snappy, lz4 or zstandard); use gzip or none")
        self.settings = settings
        self.kafka = kafka
        self.options = client_options(kafka, bootstrap)
        self.options["bootstrap_timeout_ms"] = int(settings.connect_timeout_s * 1000)
        self._report = report
        self._gate = TopicGate(kafka, self.options, topics, report,
                               settings.retry_backoff_max_s)
        self._stall_s = min(self.options["request_timeout_ms"] / 1000, 5.0)
        self._delivery_timeout_ms = max(int(settings.send_timeout_s * 1000),
                                        settings.linger_ms + self.options["request_timeout_ms"])
        self._thread: ThreadPoolExecutor | None = None
        self._producer: KafkaProducer | None = None
        self._live: list[KafkaProducer] = []  # created and not closed; touched on _thread only
        self.generation = 0
        self.connected = False
        self.inflight_since: float | None = None
        self._failures = 0            # consecutive failed batches on this producer

    # -- lifecycle ---------------------------------------------------------
    def open(self) -> None:
        """Start the thread kafka-python is driven from; the producer comes lazily."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-publish")

    async def close(self, timeout_s: float) -> None:
        """Close every producer (``timeout_s`` each) and stop the thread."""
        assert self._thread is not None
        self._producer = None
        # Queued behind whatever the thread is still doing (a connect or a send
        # a cancelled caller left running), so it also closes a producer that
        # was being created at this moment; the loop never blocks on it.
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_all, timeout_s)
        self._thread.shutdown(wait=True)
        self._thread = None
        self.connected = False

    def stalled(self) -> bool:
        """A batch has waited longer than ``min(kafka.request_timeout_s, 5 s)``."""
        return (self.inflight_since is not None
                and time.monotonic() - self.inflight_since > self._stall_s)

    def blocked_topics(self) -> set[str]:
        """Topics found missing that we may not create; forgotten after a backoff."""
        return self._gate.blocked()

    # -- the producer ------------------------------------------------------
    async def ensure_producer(self, *, quiet: Callable[[], bool] = lambda: False
                              ) -> KafkaProducer | None:
        """The current producer, or a new one; None when none could be created (reported
        as ``connect`` unless ``quiet()`` is true when it failed)."""
        if self._producer is not None:
            return self._producer
        loop = asyncio.get_running_loop()
        try:
            self._producer = await loop.run_in_executor(self._thread, self._new_producer)
        except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
            if not quiet():
                self.connected = False
                self._report("connect", exc)
            return None
        self.generation += 1
        self.connected = True
        self._failures = 0
        log.info("kafka producer created", generation=self.generation)
        return self._producer

    def _close_all(self, timeout_s: float) -> None:
        while self._live:
            close_producer(self._live.pop(), timeout_s)

    def _new_producer(self) -> KafkaProducer:
        s = self.settings
        producer = KafkaProducer(
            **self.options, acks="all", enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms, batch_size=s.batch_bytes,
            max_in_flight_requests_per_connection=_MAX_IN_FLIGHT,
            delivery_timeout_ms=self._delivery_timeout_ms,
            max_block_ms=int(s.max_block_s * 1000),
            max_request_size=s.max_message_bytes + 64 * 1024,  # record and batch overhead
            # Topics are created by us with the configured partitions, not by
            # a metadata request with broker defaults.
            allow_auto_create_topics=False,
            reconnect_backoff_max_ms=int(min(s.retry_backoff_max_s, 5.0) * 1000))
        self._live.append(producer)
        return producer

    async def _replace_producer(self, reason: str) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        log.warning("replacing kafka producer", generation=self.generation, reason=reason)
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_all, 1.0)

    # -- topics --------------------------------------------------------------
    async def prime(self, idle: Callable[[], bool]) -> None:
        """Connect, create the topics and learn their partitions before the first batch,
        which would otherwise pay for all three (~0.12 s on the local broker).

        A broker not there yet is reported only if ``idle()`` is false by then: an
        idle daemon is not in an outage. Only with ``kafka.create_topics`` (without
        it, a topic this daemon never uses may rightly not exist).
        """
        if not self.kafka.create_topics:
            return
        producer = await self.ensure_producer(quiet=idle)
        if producer is None:
            return
        topics = self._gate.topics
        if await self._gate.prepare(set(topics), self._thread) is None:
            return
        assert self._thread is not None
        await asyncio.get_running_loop().run_in_executor(
            self._thread, learn_partitions, producer, topics)

    async def prepare_topics(self, topics: set[str]) -> set[str] | None:
        """Make sure the batch's topics exist; returns those still missing (None: failed)."""
        assert self._thread is not None
        return await self._gate.prepare(topics, self._thread)

    # -- one batch -----------------------------------------------------------
    async def send_and_wait(self, producer: KafkaProducer, batch: list[OutboundMessage]
                            ) -> dict[str, BaseException | None]:
        """Send ``batch`` in order; per message id, None (acknowledged) or the error."""
        loop = asyncio.get_running_loop()
        waiting: dict[str, asyncio.Future[BaseException | None]] = {
            m.message_id: loop.create_future() for m in batch}

        def settle(message_id: str, outcome: BaseException | None) -> None:
            future = waiting[message_id]
            if not future.done():
                future.set_result(outcome)

        def from_thread(message_id: str, outcome: Any) -> None:
            # Runs on kafka-python's sender thread: hand over to the loop.
            error = outcome if isinstance(outcome, BaseException) else None
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(settle, message_id, error)

        def send_all() -> None:
            for index, message in enumerate(batch):
                try:
                    future = producer.send(message.topic, value=message.value, key=message.key,
                                           headers=_HEADERS)
                except Exception as exc:  # noqa: BLE001 - reported per message
                    # Stop here: sending later messages could overtake this one.
                    from_thread(message.message_id, exc)
                    for later in batch[index + 1:]:
                        from_thread(later.message_id, _NotSent(str(exc)))
                    return
                on_delivery(future, from_thread, message.message_id)

        self.inflight_since = time.monotonic()
        try:
            await loop.run_in_executor(self._thread, send_all)
            await asyncio.wait(waiting.values(),
                               timeout=report_deadline_s(self._delivery_timeout_ms))
        finally:
            self.inflight_since = None
        return {mid: (f.result() if f.done() else TimeoutError("no delivery report"))
                for mid, f in waiting.items()}

    async def settle(self, producer: KafkaProducer, batch: list[OutboundMessage],
                     results: dict[str, BaseException | None]) -> bool:
        """Judge the producer by a sent batch; replaces it if it cannot recover.

        Returns True when no message failed for a reason that can be the
        producer's or the broker's (poison messages and those held back
        behind one do not count).
        """
        # Messages not handed over because of a poison message before them are
        # simply sent again; only real failures count against the producer.
        errors = [results[m.message_id] for m in batch if results[m.message_id] is not None]
        hard = [e for e in errors if not isinstance(e, (*POISON_ERRORS, _NotSent))]
        if not hard:
            self.connected = True
            self._failures = 0
            return True
        self.connected = False
        self._failures += 1
        self._gate.forget()  # a broker that lost its state lost the topics too
        self._check_order(batch, results)
        timed_out = any(isinstance(e, asyncio.TimeoutError) for e in hard)
        fatal = failed_for_good(producer) or any(isinstance(e, FATAL_ERRORS) for e in hard)
        self._report("timeout" if timed_out else "send", hard[0])
        if timed_out or fatal or self._failures >= self.settings.replace_after_failures:
            if fatal:
                self._report("producer_fatal", hard[0])
            reason = ("fatal" if fatal else "timeout" if timed_out
                      else f"{self._failures} failed batches")
            await self._replace_producer(reason)
        return False

    def _check_order(self, batch: list[OutboundMessage],
                     results: dict[str, BaseException | None]) -> None:
        failed_keys: set[tuple[str, bytes | None]] = set()
        for message in batch:
            slot = (message.topic, message.key)
            if results[message.message_id] is not None:
                failed_keys.add(slot)
            elif slot in failed_keys:
                log.warning("a message was delivered before an earlier one with its key",
                            topic=message.topic, message_id=message.message_id)
                self._report("order_risk", None)
