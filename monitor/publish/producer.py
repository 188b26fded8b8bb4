"""Publish outbox messages to Kafka from asyncio, surviving outages and dead producers.

:meth:`KafkaPublisher.publish` only commits messages to the durable outbox.
One background task drains the outbox in insertion order: it reads a batch,
sends it with kafka-python's idempotent producer (acks=all) on a dedicated
thread, waits until every message of the batch is settled (delivery
callbacks come back to the loop with ``call_soon_threadsafe``), deletes the
acknowledged ones from the outbox, and only then reads the next batch. So a
later message never overtakes an unacknowledged earlier one across batches;
within a batch the producer keeps one request in flight per connection, so
its own retries cannot reorder a partition either.

A producer that cannot recover (broker lost its producer ids, fenced, fatal
state, or simply ``replace_after_failures`` failed batches in a row) is
closed and replaced by a new one (``producer_generation`` counts them); the
unacknowledged messages are still in the outbox and go out again with the
same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka import errors as kerr
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd

from monitor.config import KafkaSettings
from monitor.publish.envelope import CONTENT_TYPE
from monitor.publish.kafka_client import client_options, ensure_topics, topic_names
from monitor.publish.outbox import (
    AsyncOutbox,
    OutboundMessage,
    OutboxError,
    OutboxFull,
    OutboxStats,
)
from monitor.publish.settings import PublishSettings

__all__ = ["ERROR_KINDS", "KafkaPublisher", "PublisherHealth"]

log = logging.getLogger(__name__)

#: Values passed to the ``on_error`` hook (a small fixed set, fit for a metric label).
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

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's legal topic names
_HEADERS = [("content-type", CONTENT_TYPE.encode())]
_MAX_IN_FLIGHT = 1  # see the module docstring: no reordering by producer retries
# The broker rejects these per message no matter how often we retry.
_POISON = (kerr.MessageSizeTooLargeError, kerr.RecordListTooLargeError, kerr.InvalidTopicError,
           kerr.InvalidRecordError)
# The producer's idempotence state is broken: only a new producer helps.
_FATAL = (kerr.UnknownProducerIdError, kerr.OutOfOrderSequenceNumberError,
          kerr.InvalidProducerEpochError, kerr.ProducerFencedError, kerr.IllegalStateError,
          kerr.InvalidProducerIdMappingError)
_CODECS: dict[str, Callable[[], bool]] = {"gzip": has_gzip, "snappy": has_snappy, "lz4": has_lz4,
                                          "zstd": has_zstd}


@dataclass(frozen=True)
class PublisherHealth:
    """What ``/readyz`` and the status page need to know about publishing."""

    running: bool
    connected: bool
    pending: int
    pending_bytes: int
    oldest_age_s: float
    dead_letters: int
    last_error: str | None
    producer_generation: int


class _NotSent(Exception):
    """An earlier message of the batch could not be handed to the producer."""


def _producer_is_fatal(producer: KafkaProducer) -> bool:
    # kafka-python has no public "fatal" flag; the transaction manager's state
    # is the only way to learn that every future send will fail.
    manager = getattr(producer, "_transaction_manager", None)
    check = getattr(manager, "has_fatal_error", None)
    return bool(check()) if callable(check) else False


def _close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    try:
        producer.close(timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - closing must not fail the caller
        # kafka-python 3.0 close() flushes first and raises when batches cannot
        # complete, leaving its sender thread running: stop it by force, which
        # fails the pending futures (they are still in the outbox).
        log.debug("producer close raised; forcing", extra={"kv": {"error": str(exc)}})
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.is_alive():
            sender.force_close()
            sender.join(timeout_s + 1.0)


def _existing_topics(options: dict[str, Any]) -> set[str]:
    admin = KafkaAdminClient(**options)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


class KafkaPublisher:
    """Durable, ordered, at-least-once publishing of outbox messages to Kafka.

    Parameters
    ----------
    settings : PublishSettings
        The ``publish`` section of the config.
    kafka : KafkaSettings
        The ``kafka`` section (connection, security, topic creation).
    outbox_path : pathlib.Path
        The outbox database (``<state_dir>/<publish.outbox_file>``).
    bootstrap : list of str, optional
        Overrides ``kafka.bootstrap_servers`` (the local broker's address).
    topics : sequence of str, optional
        Topics to set up; default ``<prefix>.frames``, ``.saliency``, ``.alerts``, ``.rejects``.

    Attributes
    ----------
    on_ack : callable(topic, count, latency_s) or None
        After each settled batch, per topic: messages acknowledged and the
        largest ``created_at``-to-acknowledgement delay among them.
    on_delivered : callable(messages, acked_at) or None
        The acknowledged messages and the Unix time of the acknowledgement
        (for end-to-end latency from the daemon's own timestamps).
    on_error : callable(kind) or None
        One call per problem; ``kind`` is one of :data:`ERROR_KINDS`.
    on_outbox : callable(pending, pending_bytes, oldest_age_s) or None
        After every change of the outbox.
    """

    def __init__(self, settings: PublishSettings, kafka: KafkaSettings, outbox_path: Path, *,
                 bootstrap: list[str] | None = None, topics: Sequence[str] | None = None) -> None:
        if settings.compression != "none" and not _CODECS[settings.compression]():
            raise ValueError(f"publish.compression={settings.compression} needs its Python "
                             "package (python-snappy, lz4 or zstandard); use gzip or none")
        self.settings = settings
        self.kafka = kafka
        self.outbox_path = Path(outbox_path)
        self._options = client_options(kafka, bootstrap)
        self._options["bootstrap_timeout_ms"] = int(settings.connect_timeout_s * 1000)
        self._topics = list(topics) if topics is not None else list(
            topic_names(kafka.topic_prefix).values())
        self._stall_s = min(self._options["request_timeout_ms"] / 1000, 5.0)
        self._delivery_timeout_ms = max(int(settings.send_timeout_s * 1000),
                                        settings.linger_ms + self._options["request_timeout_ms"])
        self.on_ack: Callable[[str, int, float], None] | None = None
        self.on_delivered: Callable[[Sequence[OutboundMessage], float], None] | None = None
        self.on_error: Callable[[str], None] | None = None
        self.on_outbox: Callable[[int, int, float], None] | None = None
        self._outbox: AsyncOutbox | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._producer: KafkaProducer | None = None
        self._live: list[KafkaProducer] = []  # created and not closed; touched on _thread only
        self._generation = 0
        self._connected = False
        self._last_error: str | None = None
        self._failures = 0            # consecutive failed batches on this producer
        self._inflight_since: float | None = None
        self._outage_started: float | None = None
        self._topics_ready: set[str] = set()
        self._topics_blocked: set[str] = set()  # missing, and we may not create them
        self._blocked_until = 0.0
        self._stats = OutboxStats(0, 0, None, 0)
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        """Open the outbox and start draining it; never waits for the broker."""
        if self._task is not None:
            return
        s = self.settings
        self._outbox = await AsyncOutbox.open(
            self.outbox_path, max_messages=s.outbox_max_messages, max_bytes=s.outbox_max_bytes,
            max_message_bytes=s.max_message_bytes, synchronous=s.outbox_synchronous)
        self._set_stats(await self._outbox.stats())
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-publish")
        self._task = asyncio.create_task(self._drain_forever(), name="publisher-drain")
        log.info("publisher started", extra={"kv": {
            "outbox": str(self.outbox_path), "pending": self._stats.count,
            "bootstrap": ",".join(self._options["bootstrap_servers"])}})

    async def stop(self, drain_timeout_s: float = 10.0) -> int:
        """Send what can be sent within ``drain_timeout_s``, then close everything.

        Unsent messages stay in the outbox for the next start. Returns their number.
        """
        if self._task is None or self._outbox is None:
            return self._stats.count
        drained = await self.wait_drained(drain_timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        assert self._thread is not None
        self._producer = None
        # Queued behind whatever the thread is still doing (a connect or a send
        # the cancelled task left running), so it also closes a producer that
        # was being created at this moment; the loop never blocks on it.
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_all, 2.0)
        self._thread.shutdown(wait=True)
        self._thread = None
        self._connected = False
        outbox, self._outbox = self._outbox, None
        stats = await outbox.stats()
        await outbox.close()
        self._set_stats(stats)
        log.info("publisher stopped", extra={"kv": {"drained": drained, "left": stats.count}})
        return stats.count

    async def wait_drained(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty; returns False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._stats.count > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._task is None or self._task.done():
                return False
            # Short waits: another waiter may clear the shared event before we see it.
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return True

    # -- the API the pipeline uses -----------------------------------------
    async def publish(self, messages: Sequence[OutboundMessage],
                      wait_for_space_s: float = 0.0) -> int:
        """Commit messages to the outbox (durable on return); the drain task sends them.

        Parameters
        ----------
        messages : sequence of OutboundMessage
            Added in one transaction; ids already in the outbox are skipped.
        wait_for_space_s : float
            How long to wait for acknowledgements to make room when the outbox
            is full (replay mode); 0 raises :class:`OutboxFull` at once (live mode).

        Returns
        -------
        int
            Messages newly added.
        """
        if self._outbox is None:
            raise RuntimeError("publisher is not running (call start() first)")
        for message in messages:  # an illegal name would block the queue forever
            if not _TOPIC_NAME.match(message.topic) or message.topic in (".", ".."):
                raise ValueError(f"illegal Kafka topic name {message.topic!r}")
        deadline = time.monotonic() + wait_for_space_s
        while True:
            try:
                added, stats = await self._outbox.add(messages)
                break
            except OutboxFull:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._error("outbox_full")
                    raise
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except OutboxError as exc:
                self._error("outbox", exc)
                raise
        self._set_stats(stats)
        self._wakeup.set()
        return added

    def health(self) -> PublisherHealth:
        """A snapshot; cheap and safe to call from the event loop at any time.

        ``connected`` means the broker acknowledges our sends: it turns False
        when a connection or a batch fails, and also while a batch has waited
        longer than ``min(kafka.request_timeout_s, 5 s)`` (kafka-python only
        gives up on it after ``send_timeout_s``).
        """
        stalled = (self._inflight_since is not None
                   and time.monotonic() - self._inflight_since > self._stall_s)
        return PublisherHealth(
            running=self._task is not None and not self._task.done(),
            connected=self._connected and not stalled, pending=self._stats.count,
            pending_bytes=self._stats.size_bytes, oldest_age_s=self._stats.oldest_age_s(),
            dead_letters=self._stats.dead_letters, last_error=self._last_error,
            producer_generation=self._generation)

    # -- the drain task ------------------------------------------------------
    async def _drain_forever(self) -> None:
        s = self.settings
        backoff = s.retry_backoff_min_s
        while True:
            # Cleared before reading so a publish() during the read is not missed.
            self._wakeup.clear()
            ok = False
            try:
                assert self._outbox is not None
                if self._topics_blocked and time.monotonic() >= self._blocked_until:
                    self._topics_blocked.clear()  # look again: an admin may have created them
                # Other topics go on meanwhile: order only matters within a topic.
                batch = await self._outbox.pending(s.drain_batch_messages, self._topics_blocked)
                if not batch:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), s.idle_poll_s)
                    continue
                ok = await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except OutboxError as exc:
                self._error("outbox", exc)
            except Exception as exc:
                log.exception("unexpected publisher error")
                self._error("send", exc)
            if ok:
                backoff = s.retry_backoff_min_s
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, s.retry_backoff_max_s)

    async def _deliver(self, batch: list[OutboundMessage]) -> bool:
        producer = await self._ensure_producer()
        if producer is None:
            return False
        blocked = await self._prepare_topics({m.topic for m in batch})
        if blocked is None:
            return False
        sendable = [m for m in batch if m.topic not in blocked]
        if not sendable:
            return False
        results = await self._send_and_wait(producer, sendable)
        return await self._settle(producer, sendable, results) and not blocked

    async def _ensure_producer(self) -> KafkaProducer | None:
        if self._producer is not None:
            return self._producer
        loop = asyncio.get_running_loop()
        try:
            self._producer = await loop.run_in_executor(self._thread, self._new_producer)
        except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
            self._connected = False
            self._error("connect", exc)
            return None
        self._generation += 1
        self._connected = True
        self._failures = 0
        log.info("kafka producer created", extra={"kv": {"generation": self._generation}})
        return self._producer

    def _close_all(self, timeout_s: float) -> None:
        while self._live:
            _close_producer(self._live.pop(), timeout_s)

    def _new_producer(self) -> KafkaProducer:
        s = self.settings
        producer = KafkaProducer(
            **self._options, acks="all", enable_idempotence=True,
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

    async def _prepare_topics(self, topics: set[str]) -> set[str] | None:
        """Make sure the batch's topics exist; returns those still missing (None: failed)."""
        needed = topics - self._topics_ready
        if not needed:
            return set()
        loop = asyncio.get_running_loop()
        k = self.kafka
        try:
            if k.create_topics:
                wanted = sorted(set(self._topics) | needed)
                created = await loop.run_in_executor(
                    self._thread, ensure_topics, self._options, wanted, k.partitions,
                    k.replication_factor)
                if created:
                    log.info("topics created", extra={"kv": {"topics": ",".join(created)}})
                self._topics_ready.update(wanted)
                return set()
            existing = await loop.run_in_executor(self._thread, _existing_topics, self._options)
        except Exception as exc:  # noqa: BLE001 - broker down, no ACL...: retry later
            self._error("topic_setup", exc)
            return None
        missing = needed - existing
        self._topics_ready.update(needed & existing)
        if missing:
            self._topics_blocked |= missing
            self._blocked_until = time.monotonic() + self.settings.retry_backoff_max_s
        for topic in sorted(missing):
            self._error("topic_missing", f"topic {topic} does not exist and "
                                         "kafka.create_topics is false: create it or allow "
                                         "creation; its messages wait in the outbox")
        return missing

    async def _send_and_wait(self, producer: KafkaProducer,
                             batch: list[OutboundMessage]) -> dict[str, BaseException | None]:
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
                future.add_callback(from_thread, message.message_id)
                future.add_errback(from_thread, message.message_id)

        self._inflight_since = time.monotonic()
        try:
            await loop.run_in_executor(self._thread, send_all)
            # kafka-python should fail undelivered batches after delivery_timeout_ms,
            # but a batch in flight to a broker that froze and died can stay
            # unreported: the margin bounds that wait; the producer is then replaced.
            limit_s = self._delivery_timeout_ms / 1000
            await asyncio.wait(waiting.values(), timeout=limit_s + max(1.0, 0.2 * limit_s))
        finally:
            self._inflight_since = None
        return {mid: (f.result() if f.done() else TimeoutError("no delivery report"))
                for mid, f in waiting.items()}

    async def _settle(self, producer: KafkaProducer, batch: list[OutboundMessage],
                      results: dict[str, BaseException | None]) -> bool:
        assert self._outbox is not None
        acked = [m for m in batch if results[m.message_id] is None]
        failed = [m for m in batch if results[m.message_id] is not None]
        if acked:
            now = time.time()
            _, stats = await self._outbox.ack([m.message_id for m in acked])
            self._set_stats(stats)
            self._report_acks(acked, now)
        poison = [m for m in failed if isinstance(results[m.message_id], _POISON)]
        for message in poison:
            error = results[message.message_id]
            await self._outbox.bury(message.message_id, f"{type(error).__name__}: {error}")
            self._error("dead_letter", error)
        if poison:
            self._set_stats(await self._outbox.stats())
        # Messages not handed over because of a poison message before them are
        # simply sent again; only real failures count against the producer.
        errors = [results[m.message_id] for m in failed]
        hard = [e for e in errors if not isinstance(e, (*_POISON, _NotSent))]
        if not hard:
            if self._outage_started is not None:
                log.info("publishing recovered", extra={"kv": {
                    "outage_s": round(time.monotonic() - self._outage_started, 1),
                    "generation": self._generation}})
                self._outage_started = None
            self._connected = True
            self._failures = 0
            return True
        self._connected = False
        self._failures += 1
        self._topics_ready.clear()  # a broker that lost its state lost the topics too
        self._check_order(batch, results)
        timed_out = any(isinstance(e, asyncio.TimeoutError) for e in hard)
        fatal = _producer_is_fatal(producer) or any(isinstance(e, _FATAL) for e in hard)
        self._error("timeout" if timed_out else "send", hard[0])
        if timed_out or fatal or self._failures >= self.settings.replace_after_failures:
            if fatal:
                self._error("producer_fatal", hard[0])
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
                            extra={"kv": {"topic": message.topic,
                                          "message_id": message.message_id}})
                self._error("order_risk")

    async def _replace_producer(self, reason: str) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        log.warning("replacing kafka producer", extra={"kv": {
            "generation": self._generation, "reason": reason}})
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_all, 1.0)

    # -- hooks -------------------------------------------------------------
    def _report_acks(self, acked: Iterable[OutboundMessage], now: float) -> None:
        acked = list(acked)
        by_topic: dict[str, list[float]] = {}
        for message in acked:
            by_topic.setdefault(message.topic, []).append(max(0.0, now - message.created_at))
        for topic, latencies in by_topic.items():
            self._hook(self.on_ack, topic, len(latencies), max(latencies))
        self._hook(self.on_delivered, acked, now)

    def _error(self, kind: str, error: object = None) -> None:
        text = f"{kind}: {error}" if error is not None else kind
        self._last_error = text
        fields = {"kv": {"kind": kind, "error": str(error)}}
        if kind in ("topic_missing", "dead_letter", "outbox"):
            log.error("publishing problem", extra=fields)  # needs a person, every time
        elif kind in ("outbox_full", "order_risk"):
            log.warning("publishing problem", extra=fields)
        elif self._outage_started is None:
            self._outage_started = time.monotonic()
            log.warning("publishing problem", extra=fields)
        else:  # one warning per outage; the rest would flood the log at retry cadence
            log.debug("publishing problem", extra=fields)
        self._hook(self.on_error, kind)

    def _set_stats(self, stats: OutboxStats) -> None:
        self._stats = stats
        self._changed.set()
        self._hook(self.on_outbox, stats.count, stats.size_bytes, stats.oldest_age_s())

    @staticmethod
    def _hook(hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            log.exception("publisher hook failed")
