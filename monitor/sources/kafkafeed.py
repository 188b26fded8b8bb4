"""Kafka notification source: "file available" messages consumed in a consumer group.

Several daemon instances in one group split the topic's partitions; the
notification producer keys by frame slot (see :mod:`monitor.sources.notifications`)
so all channels of a frame reach the same instance.

Threads. kafka-python is blocking and not thread-safe, so one dedicated
thread owns the consumer: it polls, hands records to the event loop with
``call_soon_threadsafe`` and applies the loop's "done" notices. The loop
never blocks on Kafka.

Delivery. At least once: an offset is committed only after ``done()`` for it
and for every earlier offset of its partition (commits stay in order; a slow
file holds back later commits of its partition, never skips them). Bounded:
at most ``max_in_flight`` notifications are handed out and not done; at the
bound the thread pauses its partitions (still polling, so the group
membership stays alive) until ``done()`` makes room.

Rebalance. The poll loop commits after every poll, so little is ever done
and uncommitted. When partitions are revoked, what is done is committed
(asynchronously: kafka-python 3 runs rebalance listeners on its IO thread,
where a blocking commit or a wait would stall heartbeats) and the partitions
are forgotten; records of a revoked partition still queued for the loop are
dropped, and late ``done()`` calls for them commit nothing. The new owner
starts from the last commit, so a file that was in flight is delivered again
there (the daemon's ledger and stable message ids absorb the duplicate).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from monitor.sources.base import Emit, FileArrival, Outcome, Refuse, SourceBase, SourceStats
from monitor.sources.disposal import Disposer
from monitor.sources.download import Downloader, DownloadError
from monitor.sources.names import UnsafeName, within
from monitor.sources.notifications import InvalidNotification, Notification, parse_notification
from monitor.sources.settings import KafkaFeedSettings
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused

__all__ = ["KafkaNotificationSource"]

log = logging.getLogger(__name__)

_POLL_MS = 200


@dataclass
class _Track:
    """Offsets of one assigned partition handed out and not yet committed."""

    epoch: int
    pending: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)

    @property
    def outstanding(self) -> int:
        return len(self.pending) - len(self.done)


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    epoch: int


class _ThreadFailed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class KafkaNotificationSource(SourceBase, kind="kafka"):
    """Emit files announced on a Kafka topic, committing after ``done()``.

    Parameters
    ----------
    settings : KafkaFeedSettings
        The feed.
    kafka_options : dict
        kafka-python connection options
        (``monitor.publish.kafka_client.client_options``).
    session : aiohttp.ClientSession, optional
        For downloading notified URLs.
    refuse : Refuse, optional
        Receives every notification refused (published on ``.rejects``).
    """

    def __init__(self, settings: KafkaFeedSettings, kafka_options: dict[str, Any],
                 session: aiohttp.ClientSession | None = None,
                 refuse: Refuse | None = None) -> None:
        super().__init__(settings.name, refuse)
        self.settings = settings
        self._allow = UrlAllowList(settings.url_prefixes)
        self._options = dict(kafka_options)
        self._session = session
        self._channels = frozenset(settings.channels)
        self._roots = tuple(Path(r).resolve() for r in settings.path_roots)
        self._lock = threading.Lock()  # partition tracks (both threads)
        self._counts_lock = threading.Lock()  # error/extra counters (both threads)
        self._tracks: dict[tuple[str, int], _Track] = {}
        self._epoch = 0
        self._notices: queue.SimpleQueue[tuple[str, int, int, int]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._handed: dict[tuple[str, int, int], list[tuple[int, FileArrival]]] = {}
        self._downloader: Downloader | None = None
        spool = Path(settings.spool).resolve() if settings.spool else None
        self._disposer = (Disposer(spool, settings.after_processing,
                                   Path(settings.done_dir or spool / "done").resolve(),
                                   (spool / "rejected").resolve()) if spool else None)

    @classmethod
    def from_settings(cls, settings: KafkaFeedSettings,
                      kafka_options: dict[str, Any] | None = None,
                      session: aiohttp.ClientSession | None = None,
                      refuse: Refuse | None = None,
                      **_context: Any) -> KafkaNotificationSource:
        if not kafka_options:
            raise ValueError(f"feed {settings.name!r}: a Kafka feed needs kafka_options "
                             "(monitor.publish.kafka_client.client_options)")
        return cls(settings, kafka_options, session=session, refuse=refuse)

    # -- event-loop side ------------------------------------------------------------
    async def run(self, emit: Emit) -> None:
        """Consume until cancelled; the consumer leaves the group on the way out."""
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[_Record | _ThreadFailed] = asyncio.Queue()
        self._stop.clear()
        finished = loop.create_future()

        def deliver(item: _Record | _ThreadFailed) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, item)

        def thread_main() -> None:
            try:
                self._consume(deliver)
            except BaseException as exc:  # noqa: BLE001 - reported to the loop
                deliver(_ThreadFailed(exc))
            finally:
                loop.call_soon_threadsafe(
                    lambda: finished.done() or finished.set_result(None))

        thread = threading.Thread(target=thread_main, name=f"kafka-feed-{self.name}",
                                  daemon=True)
        if self.settings.url_prefixes:
            await asyncio.to_thread(Path(self.settings.spool).mkdir,  # type: ignore[arg-type]
                                    parents=True, exist_ok=True)
            self._downloader = Downloader(self.settings.download, self._session)
        thread.start()
        try:
            while True:
                item = await inbox.get()
                if isinstance(item, _ThreadFailed):
                    raise RuntimeError(f"Kafka consumer of feed {self.name} failed") from item.exc
                await self._handle(item, emit)
        finally:
            self._stop.set()
            await asyncio.shield(finished)
            if self._downloader is not None:
                await self._downloader.close()
                self._downloader = None

    def _current(self, topic: str, partition: int, epoch: int) -> bool:
        with self._lock:
            track = self._tracks.get((topic, partition))
            return track is not None and track.epoch == epoch

    def _ack(self, record: _Record) -> None:
        self._notices.put((record.topic, record.partition, record.offset, record.epoch))

    async def _handle(self, record: _Record, emit: Emit) -> None:
        if not self._current(record.topic, record.partition, record.epoch):
            self._bump(self._extra, "dropped_revoked")  # its partition moved to a new owner
            return
        self._n_seen += 1
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        target = where
        try:
            note = parse_notification(record.value, record.key)
            target = note.path or note.url or where
            if note.wavelength is not None and note.wavelength not in self._channels:
                # an unconfigured channel is routine (shared topics): not a rejection
                self._ignored["channel"] += 1
                log.debug("notification for another channel", extra={"kv": {
                    "feed": self.name, "notice": where, "wavelength": note.wavelength}})
                self._ack(record)
                return
            arrival = await self._locate(note, record)
        except asyncio.CancelledError:
            raise
        except InvalidNotification as exc:
            await self._refuse(target, exc.reason, f"notification {where}: {exc}")
            self._ack(record)
            return
        except DownloadError as exc:
            self._bump(self._errors, exc.reason)
            await self._refuse(target, exc.reason, f"notification {where}: {exc}")
            self._ack(record)  # retried already; holding the partition back helps no one
            return
        except OSError as exc:
            self._bump(self._errors, "write")
            await self._refuse(target, "write", f"notification {where}: {exc}")
            self._ack(record)
            return
        except Exception as exc:  # one message must never end the feed
            self._bump(self._errors, "internal")
            # the refusal below logs the error; the traceback only with -v
            log.debug("notification handling failed", exc_info=True, extra={"kv": {
                "feed": self.name, "notice": where}})
            await self._refuse(target, "internal_error",
                               f"notification {where}: {type(exc).__name__}: {exc}")
            self._ack(record)
            return
        if not self._current(record.topic, record.partition, record.epoch):
            self._bump(self._extra, "dropped_revoked")  # revoked while we downloaded
            return
        key = (record.topic, record.partition, record.offset)
        self._handed.setdefault(key, []).append((record.epoch, arrival))
        self._note_emitted(arrival)
        await emit(arrival)

    async def _locate(self, note: Notification, record: _Record) -> FileArrival:
        base = {"feed": self.name, "topic": record.topic, "partition": record.partition,
                "offset": record.offset, "observation_key": note.key, "t_obs": note.t_obs,
                "wavelength": note.wavelength}
        if note.path is not None:
            path, size = await asyncio.to_thread(self._check_path, note.path)
            return FileArrival(path=path, arrived_at=time.time(), size_bytes=size,
                               **base)  # type: ignore[arg-type]
        try:
            allowed = self._allow.check(note.url)
        except UrlRefused as exc:
            raise InvalidNotification(exc.reason, exc.detail) from None
        assert self._downloader is not None and self.settings.spool is not None
        try:
            result = await self._downloader.download(allowed.url, Path(self.settings.spool),
                                                     allowed.file_name, allow=self._allow)
        except UnsafeName as exc:
            raise InvalidNotification("unsafe_name", str(exc)) from None
        return FileArrival(path=result.path, arrived_at=time.time(),
                           size_bytes=result.size_bytes, url=allowed.url,
                           **base)  # type: ignore[arg-type]

    def _check_path(self, raw: str) -> tuple[Path, int]:
        path = Path(raw)
        if not path.is_absolute():
            raise InvalidNotification("path_not_allowed", f"not an absolute path: {raw!r}")
        try:
            real = Path(os.path.realpath(path))
        except (ValueError, OSError) as exc:  # NUL bytes, loops, names too long
            raise InvalidNotification("path_not_allowed", f"unusable path: {exc}") from None
        if not any(within(real, root) for root in self._roots):
            raise InvalidNotification("path_not_allowed", f"{raw} is outside path_roots")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise InvalidNotification("missing_file", f"{raw}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidNotification("missing_file", f"{raw} is not a regular file")
        return real, st.st_size

    async def done(self, arrival: FileArrival, outcome: Outcome) -> None:
        """Allow the notification's offset to be committed; dispose of a downloaded file."""
        self._note_done(outcome)
        key = (arrival.topic or "", arrival.partition or 0, arrival.offset or 0)
        entries = self._handed.get(key, [])
        entry = next((e for e in entries if e[1] is arrival), entries[0] if entries else None)
        if entry is not None:
            entries.remove(entry)
            if not entries:
                del self._handed[key]
            self._notices.put((*key, entry[0]))
        elif arrival.topic is not None:
            # Not an arrival this run handed out (rebuilt by the caller): the daemon
            # says it is processed, so let the current owner commit it.
            with self._lock:
                track = self._tracks.get(key[:2])
            if track is not None:
                self._notices.put((*key, track.epoch))
        if arrival.url is not None and self._disposer is not None:
            try:
                await asyncio.to_thread(self._disposer.dispose, arrival.path, outcome)
            except OSError as exc:
                self._bump(self._errors, "dispose")
                log.error("cannot dispose of file", extra={"kv": {
                    "feed": self.name, "path": str(arrival.path), "error": str(exc)}})

    def _bump(self, counter: Any, key: str) -> None:
        with self._counts_lock:
            counter[key] += 1

    def stats(self) -> SourceStats:
        with self._counts_lock:
            snapshot = super().stats()
        with self._lock:
            snapshot.extra["partitions"] = float(len(self._tracks))
        return snapshot

    def assigned_partitions(self) -> list[int]:
        """Partitions this instance owns right now (for status pages and tests)."""
        with self._lock:
            return sorted(p for _, p in self._tracks)

    # -- consumer thread ------------------------------------------------------------
    def _consume(self, deliver: Any) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                consumer = self._make_consumer()
            except Exception as exc:  # noqa: BLE001 - broker down at start: keep trying
                self._bump(self._errors, "connect")
                log.warning("cannot create Kafka consumer, retrying", extra={"kv": {
                    "feed": self.name, "error": str(exc), "retry_s": backoff}})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            try:
                self._poll_loop(consumer, deliver)
            except Exception as exc:  # noqa: BLE001 - start over with a fresh consumer
                self._bump(self._errors, "consumer")
                log.error("Kafka consumer failed, recreating it", extra={"kv": {
                    "feed": self.name, "error": repr(exc)}})
                self._stop.wait(backoff)
            finally:
                try:
                    self._commit(consumer)
                except Exception as exc:  # noqa: BLE001 - best effort on the way out
                    log.warning("final commit failed", extra={"kv": {"feed": self.name,
                                                                     "error": str(exc)}})
                consumer.close(autocommit=False)
                with self._lock:
                    self._tracks.clear()

    def _make_consumer(self) -> KafkaConsumer:
        s = self.settings
        consumer = KafkaConsumer(
            **self._options, group_id=s.group_id, enable_auto_commit=False,
            auto_offset_reset=s.auto_offset_reset,
            session_timeout_ms=int(s.session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval_s * 1000),
            max_poll_interval_ms=int(s.max_poll_interval_s * 1000))
        consumer.subscribe([s.topic], listener=_Listener(self, consumer))
        return consumer

    def _poll_loop(self, consumer: Any, deliver: Any) -> None:
        limit = self.settings.max_in_flight
        while not self._stop.is_set():
            self._apply_notices()
            self._commit(consumer)
            with self._lock:
                outstanding = sum(t.outstanding for t in self._tracks.values())
                held = sum(len(t.pending) for t in self._tracks.values())
            room = limit - outstanding
            assigned = consumer.assignment()
            if room <= 0 or held >= 10 * limit:
                consumer.pause(*assigned)
            elif consumer.paused():
                consumer.resume(*consumer.paused())
            batches = consumer.poll(timeout_ms=_POLL_MS, max_records=max(1, room))
            for tp, records in batches.items():
                for record in records:
                    with self._lock:
                        track = self._tracks.get((tp.topic, tp.partition))
                        if track is None:
                            continue
                        track.pending.append(record.offset)
                        epoch = track.epoch
                    deliver(_Record(tp.topic, tp.partition, record.offset, record.key,
                                    record.value, epoch))

    def _apply_notices(self) -> None:
        """Mark the offsets the loop reported done (non-blocking)."""
        while True:
            try:
                topic, partition, offset, epoch = self._notices.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                track = self._tracks.get((topic, partition))
                if track is not None and track.epoch == epoch:
                    track.done.add(offset)

    def _committable(self, only: set[tuple[str, int]] | None) -> dict[Any, Any]:
        """Offsets to commit: past the longest done prefix of each partition's pending."""
        offsets = {}
        with self._lock:
            for (topic, partition), track in self._tracks.items():
                if only is not None and (topic, partition) not in only:
                    continue
                last = None
                while track.pending and track.pending[0] in track.done:
                    last = track.pending.popleft()
                    track.done.discard(last)
                if last is not None:
                    offsets[TopicPartition(topic, partition)] = OffsetAndMetadata(last + 1, "", -1)
        return offsets

    def _commit(self, consumer: Any) -> None:
        offsets = self._committable(None)
        if not offsets:
            return
        try:
            consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - e.g. CommitFailedError mid-rebalance
            self._bump(self._errors, "commit")
            log.warning("offset commit failed; the next owner may redeliver", extra={"kv": {
                "feed": self.name, "error": str(exc)}})
            return
        self._bump(self._extra, "commits")
        log.debug("committed", extra={"kv": {"feed": self.name, "offsets": {
            f"{tp.partition}": o.offset for tp, o in offsets.items()}}})

    def _on_revoked(self, consumer: Any, revoked: list[Any]) -> None:
        # kafka-python 3 runs listeners on its IO thread, where blocking calls
        # (commit(), waiting for in-flight files) would stall heartbeats: commit
        # what is done asynchronously and forget the partitions. The poll loop
        # commits every cycle, so little is left for this last commit anyway.
        keys = {(tp.topic, tp.partition) for tp in revoked}
        self._apply_notices()
        offsets = self._committable(keys)
        if offsets:
            try:
                consumer.commit_async(offsets, callback=self._on_async_commit)
            except Exception as exc:  # noqa: BLE001 - the new owner redelivers
                self._bump(self._errors, "commit")
                log.warning("commit on revocation failed", extra={"kv": {
                    "feed": self.name, "error": str(exc)}})
        with self._lock:
            for key in keys:
                self._tracks.pop(key, None)
        if revoked:
            self._bump(self._extra, "revocations")
            log.info("partitions revoked", extra={"kv": {
                "feed": self.name, "partitions": sorted(p for _, p in keys)}})

    def _on_async_commit(self, offsets: Any, result: Any) -> None:
        if isinstance(result, Exception):
            self._bump(self._errors, "commit")
            log.warning("commit on revocation failed; the next owner may redeliver",
                        extra={"kv": {"feed": self.name, "error": str(result)}})
        else:
            self._bump(self._extra, "commits")

    def _on_assigned(self, assigned: list[Any]) -> None:
        with self._lock:
            for tp in assigned:
                key = (tp.topic, tp.partition)
                if key not in self._tracks:
                    self._epoch += 1
                    self._tracks[key] = _Track(self._epoch)
        log.info("partitions assigned", extra={"kv": {
            "feed": self.name, "partitions": sorted(tp.partition for tp in assigned)}})


class _Listener(ConsumerRebalanceListener):
    """Forwards kafka-python's rebalance callbacks (run inside ``poll``) to the source."""

    def __init__(self, source: KafkaNotificationSource, consumer: Any) -> None:
        self.source = source
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: list[Any]) -> None:
        self.source._on_revoked(self.consumer, list(revoked))

    def on_partitions_assigned(self, assigned: list[Any]) -> None:
        self.source._on_assigned(list(assigned))
