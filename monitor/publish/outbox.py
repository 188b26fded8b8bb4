"""Durable outbox: every outgoing message is committed to SQLite before it is sent.

A message leaves the outbox only when the broker has acknowledged it
(:meth:`Outbox.ack`), so a crash, a broker outage or a producer that has to be
replaced never loses one; at worst it is sent again with the same id.

The file uses WAL mode (readers never block the single writer; a crash leaves
a consistent database) and ``synchronous=FULL`` by default: each commit is
fsynced, so an acknowledged ``add`` survives power loss too. That costs one
fsync per :meth:`Outbox.add` call, negligible at frame cadence (one call per
frame); ``NORMAL`` keeps crash safety but may lose the last commits on power
loss.

SQLite connections must stay on the thread that made them, so
:class:`Outbox` is synchronous and :class:`AsyncOutbox` runs one on a single
dedicated worker thread for asyncio callers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from monitor.logs import get_logger

__all__ = ["AsyncOutbox", "MessageTooLarge", "OutboundMessage", "Outbox", "OutboxError",
           "OutboxFull", "OutboxStats"]

log = get_logger(__name__)

_T = TypeVar("_T")

_SCHEMA_VERSION = 1
# seq gives the insertion order that pending() must follow; message_id is the
# idempotency key (UNIQUE, so re-adding an id after a crash is a no-op).
_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL UNIQUE,
    topic      TEXT    NOT NULL,
    key        BLOB,
    value      BLOB    NOT NULL,
    created_at REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    message_id TEXT PRIMARY KEY,
    topic      TEXT NOT NULL,
    key        BLOB,
    value      BLOB NOT NULL,
    created_at REAL NOT NULL,
    buried_at  REAL NOT NULL,
    reason     TEXT NOT NULL
);
"""


class OutboxError(RuntimeError):
    """The outbox could not read or write its database (disk full, I/O error...).

    The failed transaction is rolled back: what was committed before stays intact.
    """


class OutboxFull(OutboxError):
    """Adding the messages would exceed the configured bounds; nothing was added."""


class MessageTooLarge(OutboxError):
    """A single message is larger than the configured maximum; nothing was added."""


@dataclass(frozen=True)
class OutboundMessage:
    """One Kafka record waiting in the outbox.

    Attributes
    ----------
    message_id : str
        Stable id (the CloudEvents ``id``); the outbox keeps one row per id.
    topic : str
        Full topic name.
    key : bytes or None
        Kafka key (decides the partition, hence the order that holds).
    value : bytes
        Encoded envelope.
    created_at : float
        Unix time the message was made; the acknowledgement latency counts from it.
    """

    message_id: str
    topic: str
    key: bytes | None
    value: bytes
    created_at: float

    @property
    def size_bytes(self) -> int:
        return len(self.value) + (len(self.key) if self.key is not None else 0)


@dataclass(frozen=True)
class OutboxStats:
    """A snapshot of the outbox after an operation."""

    count: int
    size_bytes: int
    oldest_created_at: float | None
    dead_letters: int

    def oldest_age_s(self, now: float | None = None) -> float:
        if self.oldest_created_at is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.oldest_created_at)


def _sqlite_failure(action: str, exc: sqlite3.Error) -> OutboxError:
    code = exc.sqlite_errorname or type(exc).__name__
    return OutboxError(f"outbox {action} failed ({code}): {exc}")


class Outbox:
    """A bounded, durable FIFO of :class:`OutboundMessage` in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        Database file (created with its directory if missing).
    max_messages, max_bytes : int
        Bounds checked by :meth:`add`; exceeding them raises :class:`OutboxFull`.
    max_message_bytes : int
        Largest single message; a larger one raises :class:`MessageTooLarge`.
    synchronous : {"FULL", "NORMAL"}
        SQLite durability mode (see the module docstring).
    """

    def __init__(self, path: Path, max_messages: int = 200_000, max_bytes: int = 2 * 1024**3,
                 max_message_bytes: int = 1_000_000,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_message_bytes = max_message_bytes
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves so a
            # transaction is exactly one add() or ack() call.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self.path}: cannot use WAL mode (got {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_DDL)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            elif version != _SCHEMA_VERSION:
                raise OutboxError(f"outbox {self.path} has schema version {version}, "
                                  f"this code reads {_SCHEMA_VERSION}")
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(value) + COALESCE(LENGTH(key), 0)), 0) "
                "FROM outbox").fetchone()
        except sqlite3.Error as exc:
            raise _sqlite_failure(f"open {self.path}", exc) from exc
        # Kept in memory (updated only after a successful commit) so the bounds
        # check and the metrics never scan the table.
        self._count, self._bytes = int(row[0]), int(row[1])
        log.info("outbox opened", path=str(self.path), pending=self._count, bytes=self._bytes)

    # -- writing ---------------------------------------------------------
    def add(self, messages: Iterable[OutboundMessage]) -> int:
        """Store messages in one transaction; ids already present are skipped.

        Returns the number of messages actually added. Raises
        :class:`OutboxFull` (nothing added) when the new messages would exceed
        the bounds, :class:`MessageTooLarge` for an oversized message and
        :class:`OutboxError` when the database cannot be written.
        """
        batch: dict[str, OutboundMessage] = {}
        for message in messages:
            if message.size_bytes > self.max_message_bytes:
                raise MessageTooLarge(
                    f"message {message.message_id} for {message.topic} is {message.size_bytes} "
                    f"bytes, more than publish.max_message_bytes={self.max_message_bytes}")
            batch.setdefault(message.message_id, message)
        if not batch:
            return 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known = self._known_ids(list(batch))
                new = [m for m in batch.values() if m.message_id not in known]
                new_bytes = sum(m.size_bytes for m in new)
                if new and (self._count + len(new) > self.max_messages
                            or self._bytes + new_bytes > self.max_bytes):
                    raise OutboxFull(
                        f"outbox full: {self._count} messages / {self._bytes} bytes pending, "
                        f"adding {len(new)} / {new_bytes} would exceed "
                        f"{self.max_messages} / {self.max_bytes}")
                self._db.executemany(
                    "INSERT INTO outbox (message_id, topic, key, value, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(m.message_id, m.topic, m.key, m.value, m.created_at) for m in new])
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise _sqlite_failure("add", exc) from exc
        self._count += len(new)
        self._bytes += new_bytes
        return len(new)

    def _known_ids(self, ids: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(ids), 500):  # stay below SQLite's variable limit
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("outbox", "dead_letters"):
                known.update(row[0] for row in self._db.execute(
                    f"SELECT message_id FROM {table} WHERE message_id IN ({marks})", chunk))
        return known

    def ack(self, message_ids: Iterable[str]) -> int:
        """Delete acknowledged messages; returns how many were pending."""
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return 0
        removed = removed_bytes = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    n, size = self._db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(value) + COALESCE(LENGTH(key), 0)), 0)"
                        f" FROM outbox WHERE message_id IN ({marks})", chunk).fetchone()
                    self._db.execute(f"DELETE FROM outbox WHERE message_id IN ({marks})", chunk)
                    removed += n
                    removed_bytes += size
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise _sqlite_failure("ack", exc) from exc
        self._count -= removed
        self._bytes -= removed_bytes
        return removed

    def bury(self, message_id: str, reason: str) -> bool:
        """Move a message the broker can never accept into ``dead_letters``.

        It is kept there for inspection instead of blocking the queue or being
        dropped silently. Returns whether the message was pending.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT topic, key, value, created_at FROM outbox WHERE message_id = ?",
                    (message_id,)).fetchone()
                if row is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (message_id, *row, time.time(), reason))
                    self._db.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise _sqlite_failure("bury", exc) from exc
        if row is None:
            return False
        self._count -= 1
        self._bytes -= len(row[2]) + (len(row[1]) if row[1] is not None else 0)
        log.error("message moved to dead letters", message_id=message_id, topic=row[0],
                  reason=reason)
        return True

    def _rollback(self) -> None:
        # SQLite rolls back by itself on some errors (SQLITE_FULL); a second
        # ROLLBACK would then raise and hide the real error.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("outbox rollback failed")

    # -- reading ---------------------------------------------------------
    def pending(self, limit: int = 500, skip_topics: Sequence[str] = ()) -> list[OutboundMessage]:
        """The oldest ``limit`` pending messages, in insertion order."""
        where = ""
        params: list[Any] = list(skip_topics)
        if skip_topics:
            where = f"WHERE topic NOT IN ({','.join('?' * len(skip_topics))})"
        try:
            rows = self._db.execute(
                f"SELECT message_id, topic, key, value, created_at FROM outbox {where} "
                "ORDER BY seq LIMIT ?", (*params, int(limit))).fetchall()
        except sqlite3.Error as exc:
            raise _sqlite_failure("read", exc) from exc
        return [OutboundMessage(r[0], r[1], None if r[2] is None else bytes(r[2]), bytes(r[3]),
                                float(r[4])) for r in rows]

    def count(self) -> int:
        """Messages waiting for an acknowledgement."""
        return self._count

    def size_bytes(self) -> int:
        """Payload bytes (keys + values) waiting."""
        return self._bytes

    def oldest_age_s(self, now: float | None = None) -> float:
        """Seconds since the oldest pending message was created (0 when empty)."""
        return self.stats().oldest_age_s(now)

    def dead_letter_count(self) -> int:
        try:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
        except sqlite3.Error as exc:
            raise _sqlite_failure("read", exc) from exc

    def stats(self) -> OutboxStats:
        try:
            row = self._db.execute("SELECT created_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise _sqlite_failure("read", exc) from exc
        return OutboxStats(self._count, self._bytes, None if row is None else float(row[0]),
                           self.dead_letter_count())

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:
            raise _sqlite_failure("close", exc) from exc


class AsyncOutbox:
    """An :class:`Outbox` owned by one worker thread, for asyncio code.

    Every call runs on the same thread (the one that opened the connection),
    so the event loop never blocks on disk I/O or fsync. Create with
    :meth:`open`.
    """

    def __init__(self, executor: ThreadPoolExecutor, outbox: Outbox) -> None:
        self._executor = executor
        self._outbox = outbox
        self.path = outbox.path

    @classmethod
    async def open(cls, path: Path, **bounds: Any) -> AsyncOutbox:
        """Open the outbox on a new worker thread; ``bounds`` go to :class:`Outbox`."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        loop = asyncio.get_running_loop()
        try:
            outbox = await loop.run_in_executor(executor, lambda: Outbox(path, **bounds))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, outbox)

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def add(self, messages: Sequence[OutboundMessage]) -> tuple[int, OutboxStats]:
        """Add (see :meth:`Outbox.add`); returns the number added and the new stats."""
        return await self._call(lambda: (self._outbox.add(messages), self._outbox.stats()))

    async def ack(self, message_ids: Sequence[str]) -> tuple[int, OutboxStats]:
        return await self._call(lambda: (self._outbox.ack(message_ids), self._outbox.stats()))

    async def bury(self, message_id: str, reason: str) -> bool:
        return await self._call(self._outbox.bury, message_id, reason)

    async def pending(self, limit: int, skip_topics: Sequence[str] = ()) -> list[OutboundMessage]:
        return await self._call(self._outbox.pending, limit, tuple(skip_topics))

    async def stats(self) -> OutboxStats:
        return await self._call(self._outbox.stats)

    async def close(self) -> None:
        try:
            await self._call(self._outbox.close)
        finally:
            self._executor.shutdown(wait=True)
