"""Kafka notification source: "file available" messages consumed in a consumer group.

Several daemon instances in one group split the topic's partitions; the
notification producer keys by frame slot (see :mod:`monitor.sources.notifications`)
so all channels of a frame reach the same instance.

Threads. kafka-python is blocking and not thread-safe, so one dedicated
thread owns the consumer: it polls, hands records to the event loop with
``call_soon_threadsafe`` and applies the loop's "done" notices. The loop
never blocks on Kafka. The thread's body is
:class:`~monitor.sources.kafkaconsumer.ConsumerLoop`; what may be committed is
:class:`~monitor.sources.kafkaoffsets.PartitionOffsets`.

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
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

from monitor.logs import get_logger
from monitor.sources.base import (
    AIA_CHANNELS,
    FEED_NAME,
    Emit,
    FileArrival,
    Outcome,
    Refuse,
    SourceBase,
    SourceStats,
    check_feed_name,
)
from monitor.sources.disposal import Disposer
from monitor.sources.download import Downloader, DownloadSettings
from monitor.sources.fetchfailures import DownloadError
from monitor.sources.kafkaconsumer import ConsumerLoop, Record
from monitor.sources.kafkaoffsets import PartitionOffsets
from monitor.sources.names import UnsafeName, within
from monitor.sources.notifications import InvalidNotification, Notification, parse_notification
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused, parse_prefix

__all__ = ["KafkaFeedSettings", "KafkaNotificationSource"]

log = get_logger(__name__)


class _ThreadFailed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@dataclass(frozen=True)
class KafkaFeedSettings:
    """A Kafka topic of "file available" notifications consumed in a group.

    Connection and security come from the top-level ``kafka`` section.
    """

    name: str = field(metadata=FEED_NAME)
    topic: str = field(metadata={"doc": "notification topic"})
    kind: Literal["kafka"] = "kafka"
    group_id: str = "sdo-monitor"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(default=12.0, metadata={"gt": 0})
    path_roots: tuple[Path, ...] = field(
        default=(), metadata={"doc": "directories notified paths must lie in (after resolving "
                                     "symlinks); paths elsewhere are ignored"})
    url_prefixes: tuple[str, ...] = field(
        default=(), metadata={"doc": "directories (http(s) URLs ending in '/') notified URLs "
                                     "must lie in, compared after parsing and normalising; "
                                     "redirects must stay inside them too"})
    spool: Path | None = field(
        default=None, metadata={"doc": "where notified URLs are downloaded to"})
    auto_offset_reset: Literal["earliest", "latest"] = field(
        default="earliest", metadata={"doc": "where a new group starts"})
    max_in_flight: int = field(
        default=64, metadata={"ge": 1, "le": 10000,
                              "doc": "notifications handed out but not yet done; "
                                     "consumption pauses at this bound"})
    session_timeout_s: float = field(default=45.0, metadata={"gt": 0})
    heartbeat_interval_s: float = field(default=3.0, metadata={"gt": 0})
    max_poll_interval_s: float = field(
        default=300.0, metadata={"gt": 0, "doc": "Tansu needs a few seconds here or a "
                                                 "group's first join waits this long"})
    after_processing: Literal["keep", "move", "delete"] = field(
        default="delete", metadata={"doc": "for downloaded files only; notified paths belong "
                                           "to the producer and are never touched"})
    done_dir: Path | None = None
    download: DownloadSettings = field(default_factory=DownloadSettings)

    def warnings(self) -> list[tuple[str, str]]:
        """Legal but probably not meant: a prefix without its trailing '/'."""
        return [(f"url_prefixes[{i}]", (f"{prefix!r} does not end in '/': it is read as the "
                                       f"directory {prefix.rstrip('/')}/ (not as a name "
                                       "prefix)"))
                for i, prefix in enumerate(self.url_prefixes) if not prefix.endswith("/")]

    def check(self) -> list[tuple[str, str]]:
        issues = check_feed_name(self.name)
        if not self.path_roots and not self.url_prefixes:
            issues.append(("path_roots", ("set path_roots and/or url_prefixes: notifications "
                                          "outside them are ignored")))
        for i, prefix in enumerate(self.url_prefixes):
            try:
                parse_prefix(prefix)
            except UrlRefused as exc:
                issues.append((f"url_prefixes[{i}]", (f"must be a plain http(s) URL of a "
                                                      f"directory: {exc.detail}")))
        if self.url_prefixes and self.spool is None:
            issues.append(("spool", "is required to download notified URLs"))
        if self.heartbeat_interval_s >= self.session_timeout_s:
            issues.append(("heartbeat_interval_s", "must be < session_timeout_s"))
        return issues


def _consumer_options(settings: KafkaFeedSettings,
                      kafka_options: dict[str, Any]) -> dict[str, Any]:
    """kafka-python's ``KafkaConsumer`` arguments: the connection, then the feed's group."""
    return {**kafka_options, "group_id": settings.group_id,
            "auto_offset_reset": settings.auto_offset_reset,
            "session_timeout_ms": int(settings.session_timeout_s * 1000),
            "heartbeat_interval_ms": int(settings.heartbeat_interval_s * 1000),
            "max_poll_interval_ms": int(settings.max_poll_interval_s * 1000)}


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
        self._session = session
        self._channels = frozenset(settings.channels)
        self._roots = tuple(Path(r).resolve() for r in settings.path_roots)
        self._counts_lock = threading.Lock()  # error/extra counters (both threads)
        self._offsets = PartitionOffsets()
        self._stop = threading.Event()
        self._consumer = ConsumerLoop(settings.name, settings.topic,
                                      _consumer_options(settings, kafka_options),
                                      settings.max_in_flight, self._offsets, self._stop,
                                      lambda key: self._bump(self._errors, key),
                                      lambda key: self._bump(self._extra, key))
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
        inbox: asyncio.Queue[Record | _ThreadFailed] = asyncio.Queue()
        self._stop.clear()
        finished = loop.create_future()

        def deliver(item: Record | _ThreadFailed) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, item)

        def thread_main() -> None:
            try:
                self._consumer.run(deliver)
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

    def _current(self, record: Record) -> bool:
        return self._offsets.epoch((record.topic, record.partition)) == record.epoch

    def _ack(self, record: Record) -> None:
        self._offsets.notify_done((record.topic, record.partition), record.offset, record.epoch)

    async def _handle(self, record: Record, emit: Emit) -> None:
        if not self._current(record):
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
                log.debug("notification for another channel", feed=self.name, notice=where,
                          wavelength=note.wavelength)
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
            log.debug("notification handling failed", exc_info=True, feed=self.name, notice=where)
            await self._refuse(target, "internal_error",
                               f"notification {where}: {type(exc).__name__}: {exc}")
            self._ack(record)
            return
        if not self._current(record):
            self._bump(self._extra, "dropped_revoked")  # revoked while we downloaded
            return
        key = (record.topic, record.partition, record.offset)
        self._handed.setdefault(key, []).append((record.epoch, arrival))
        self._note_emitted(arrival)
        await emit(arrival)

    async def _locate(self, note: Notification, record: Record) -> FileArrival:
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
            self._offsets.notify_done(key[:2], key[2], entry[0])
        elif arrival.topic is not None:
            # Not an arrival this run handed out (rebuilt by the caller): the daemon
            # says it is processed, so let the current owner commit it.
            epoch = self._offsets.epoch(key[:2])
            if epoch is not None:
                self._offsets.notify_done(key[:2], key[2], epoch)
        if arrival.url is not None and self._disposer is not None:
            try:
                await asyncio.to_thread(self._disposer.dispose, arrival.path, outcome)
            except OSError as exc:
                self._bump(self._errors, "dispose")
                log.error("cannot dispose of file", feed=self.name, path=str(arrival.path),
                          error=str(exc))

    def _bump(self, counter: Any, key: str) -> None:
        with self._counts_lock:
            counter[key] += 1

    def stats(self) -> SourceStats:
        with self._counts_lock:
            snapshot = super().stats()
        snapshot.extra["partitions"] = float(len(self._offsets.partitions()))
        return snapshot

    def assigned_partitions(self) -> list[int]:
        """Partitions this instance owns right now (for status pages and tests)."""
        return self._offsets.partitions()
