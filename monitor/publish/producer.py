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
same ids. The producer itself, its topics and its thread are
:class:`monitor.publish.delivery.ProducerSession`'s job, what it tells its
listener and the log :class:`monitor.publish.reports.PublishReports`'s; this
module keeps the outbox, the drain loop and health.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer

from monitor.logs import get_logger
from monitor.publish.delivery import ProducerSession
from monitor.publish.kafka_adapter import POISON_ERRORS
from monitor.publish.kafka_client import topic_names
from monitor.publish.outbox import (
    AsyncOutbox,
    OutboundMessage,
    OutboxError,
    OutboxFull,
    OutboxStats,
)
from monitor.publish.reports import ERROR_KINDS, PublishListener, PublishReports
from monitor.publish.settings import KafkaSettings, PublishSettings

__all__ = ["ERROR_KINDS", "KafkaPublisher", "PublishListener", "PublisherHealth"]

log = get_logger(__name__)

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's legal topic names


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
    listener : PublishListener, optional
        Hears acknowledgements, deliveries, errors and outbox changes.
    """

    def __init__(self, settings: PublishSettings, kafka: KafkaSettings, outbox_path: Path, *,
                 bootstrap: list[str] | None = None, topics: Sequence[str] | None = None,
                 listener: PublishListener | None = None) -> None:
        wanted = list(topics) if topics is not None else list(
            topic_names(kafka.topic_prefix).values())
        # Raises ValueError for a compression codec whose package is missing.
        self._reports = PublishReports(listener)
        self._session = ProducerSession(settings, kafka, wanted, self._reports.error,
                                        bootstrap=bootstrap)
        self.settings = settings
        self.kafka = kafka
        self.outbox_path = Path(outbox_path)
        self._outbox: AsyncOutbox | None = None
        self._task: asyncio.Task[None] | None = None
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
        self._session.open()
        self._task = asyncio.create_task(self._drain_forever(), name="publisher-drain")
        log.info("publisher started", outbox=str(self.outbox_path), pending=self._stats.count,
                 bootstrap=",".join(self._session.options["bootstrap_servers"]))

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
        # Also closes a producer the cancelled task was still creating or sending with.
        await self._session.close(2.0)
        outbox, self._outbox = self._outbox, None
        stats = await outbox.stats()
        await outbox.close()
        self._set_stats(stats)
        log.info("publisher stopped", drained=drained, left=stats.count)
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
                    self._reports.error("outbox_full")
                    raise
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except OutboxError as exc:
                self._reports.error("outbox", exc)
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
        session = self._session
        return PublisherHealth(
            running=self._task is not None and not self._task.done(),
            connected=session.connected and not session.stalled(), pending=self._stats.count,
            pending_bytes=self._stats.size_bytes, oldest_age_s=self._stats.oldest_age_s(),
            dead_letters=self._stats.dead_letters, last_error=self._reports.last_error,
            producer_generation=session.generation)

    # -- the drain task ------------------------------------------------------
    async def _drain_forever(self) -> None:
        s = self.settings
        backoff = s.retry_backoff_min_s
        try:
            await self._session.prime(idle=lambda: self._stats.count == 0)
        except Exception as exc:  # noqa: BLE001 - only a head start: the first batch does it all
            log.warning("publisher priming failed", error=f"{type(exc).__name__}: {exc}")
        while True:
            # Cleared before reading so a publish() during the read is not missed.
            self._wakeup.clear()
            ok = False
            try:
                assert self._outbox is not None
                # Other topics go on meanwhile: order only matters within a topic.
                batch = await self._outbox.pending(s.drain_batch_messages,
                                                   self._session.blocked_topics())
                if not batch:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), s.idle_poll_s)
                    continue
                ok = await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except OutboxError as exc:
                self._reports.error("outbox", exc)
            except Exception as exc:
                log.exception("unexpected publisher error")
                self._reports.error("send", exc)
            if ok:
                backoff = s.retry_backoff_min_s
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, s.retry_backoff_max_s)

    async def _deliver(self, batch: list[OutboundMessage]) -> bool:
        session = self._session
        producer = await session.ensure_producer()
        if producer is None:
            return False
        blocked = await session.prepare_topics({m.topic for m in batch})
        if blocked is None:
            return False
        sendable = [m for m in batch if m.topic not in blocked]
        if not sendable:
            return False
        results = await session.send_and_wait(producer, sendable)
        return await self._settle(producer, sendable, results) and not blocked

    async def _settle(self, producer: KafkaProducer, batch: list[OutboundMessage],
                      results: dict[str, BaseException | None]) -> bool:
        """Apply a sent batch's results to the outbox, then let the session judge the producer."""
        assert self._outbox is not None
        acked = [m for m in batch if results[m.message_id] is None]
        failed = [m for m in batch if results[m.message_id] is not None]
        if acked:
            now = time.time()
            _, stats = await self._outbox.ack([m.message_id for m in acked])
            self._set_stats(stats)
            self._reports.acknowledged(acked, now)
        poison = [m for m in failed if isinstance(results[m.message_id], POISON_ERRORS)]
        for message in poison:
            error = results[message.message_id]
            await self._outbox.bury(message.message_id, f"{type(error).__name__}: {error}")
            self._reports.error("dead_letter", error)
        if poison:
            self._set_stats(await self._outbox.stats())
        if not await self._session.settle(producer, batch, results):
            return False
        self._reports.recovered(self._session.generation)
        return True

    def _set_stats(self, stats: OutboxStats) -> None:
        self._stats = stats
        self._changed.set()
        self._reports.outbox_changed(stats)
