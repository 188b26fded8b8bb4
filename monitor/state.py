"""The processed-file ledger: what the daemon has done with every input file.

Restart safety rests on two SQLite files in ``service.state_dir``: this
ledger and the publisher's outbox. The order of events for one file is

1. ``begin``  -- the file was seen (status ``received``);
2. its messages are written to the outbox (durable, before any send);
3. ``finish`` -- status ``processed``, ``rejected`` or ``duplicate``;
4. the source is told (the spool moves the file, Kafka commits the offset).

A crash between 1 and 3 leaves a ``received`` row: the file is processed again
after restart and its messages carry the same stable ids, so consumers see at
most identical duplicates. A crash after 3 leaves a finished row: the file is
skipped (and the source told again), so nothing is re-published.

WAL mode with ``synchronous=FULL``: a finished row must survive power loss,
because the next step deletes or moves the input file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["FileStatus", "LedgerEntry", "ProcessedFileLedger"]

FileStatus = Literal["received", "processed", "rejected", "duplicate"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    feed        TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    sha256      TEXT,
    obs_key     TEXT,
    frame_id    TEXT,
    reason      TEXT,
    received_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS files_obs_key ON files(obs_key);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE INDEX IF NOT EXISTS files_status ON files(status);
"""


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger."""

    path: str
    feed: str
    size_bytes: int
    mtime_ns: int
    status: FileStatus
    sha256: str | None
    obs_key: str | None
    frame_id: str | None
    reason: str | None
    received_at: float
    finished_at: float | None

    @property
    def finished(self) -> bool:
        return self.status != "received"


class ProcessedFileLedger:
    """SQLite-backed ledger; thread-safe (one connection behind a lock).

    Parameters
    ----------
    path : Path
        Database file, created with its directory if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple[object, ...]) -> LedgerEntry | None:
        with self._lock:
            row = self._db.execute(f"SELECT * FROM files WHERE {sql} LIMIT 1", args).fetchone()
        return LedgerEntry(*row) if row else None

    def get(self, path: str) -> LedgerEntry | None:
        """The entry for ``path``, or None."""
        return self._one("path = ?", (path,))

    def lookup(self, path: str, size_bytes: int, mtime_ns: int) -> LedgerEntry | None:
        """The entry for this exact version of the file (same size and mtime), or None.

        A file rewritten under the same name (a reprocessed product) is a new
        version and gets processed again.
        """
        return self._one("path = ? AND size_bytes = ? AND mtime_ns = ?",
                         (path, size_bytes, mtime_ns))

    def begin(self, path: str, feed: str, size_bytes: int, mtime_ns: int) -> None:
        """Record that a file was seen and is being processed."""
        with self._lock:
            self._db.execute(
                "INSERT INTO files (path, feed, size_bytes, mtime_ns, status, received_at) "
                "VALUES (?, ?, ?, ?, 'received', ?) ON CONFLICT(path) DO UPDATE SET "
                "feed=excluded.feed, size_bytes=excluded.size_bytes, "
                "mtime_ns=excluded.mtime_ns, status='received', sha256=NULL, obs_key=NULL, "
                "frame_id=NULL, reason=NULL, received_at=excluded.received_at, "
                "finished_at=NULL",
                (path, feed, size_bytes, mtime_ns, time.time()))

    def finish(self, path: str, status: FileStatus, *, sha256: str | None = None,
               obs_key: str | None = None, frame_id: str | None = None,
               reason: str | None = None) -> None:
        """Record the outcome; call only after the file's messages are in the outbox."""
        if status == "received":
            raise ValueError("finish() needs a final status")
        with self._lock:
            cur = self._db.execute(
                "UPDATE files SET status=?, sha256=COALESCE(?, sha256), "
                "obs_key=COALESCE(?, obs_key), frame_id=COALESCE(?, frame_id), reason=?, "
                "finished_at=? WHERE path=?",
                (status, sha256, obs_key, frame_id, reason, time.time(), path))
        if cur.rowcount != 1:
            raise KeyError(f"finish() for a file never begun: {path}")

    def finish_many(self, paths: list[str], status: FileStatus, frame_id: str) -> None:
        """Finish the files of one frame in ONE transaction.

        A frame is published as a whole, so its files must be finished as a
        whole: a crash can then leave all of them ``received`` (re-analysed
        together after restart, same message ids) but never a split frame.
        """
        if status == "received":
            raise ValueError("finish_many() needs a final status")
        now = time.time()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for path in paths:
                    self._db.execute(
                        "UPDATE files SET status=?, frame_id=?, reason=NULL, finished_at=? "
                        "WHERE path=?", (status, frame_id, now, path))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_identity(self, path: str, sha256: str, obs_key: str) -> None:
        """Attach content hash and observation key once ingest knows them."""
        with self._lock:
            self._db.execute("UPDATE files SET sha256=?, obs_key=? WHERE path=?",
                             (sha256, obs_key, path))

    def find_processed_duplicate(self, path: str, obs_key: str,
                                 sha256: str) -> LedgerEntry | None:
        """Another file already processed with the same observation key or content.

        The key (telescope, wavelength, T_OBS) catches a re-delivery under a
        new name; the hash catches byte-identical copies whose header was not
        readable as the same key (it always is for valid files).
        """
        # Two index lookups. The plain "(obs_key = ? OR sha256 = ?)" let SQLite pick the
        # status index and scan every processed file per file: a replay of 10,000 frames
        # slowed down as the ledger grew (benchmarks/soak.py).
        with self._lock:
            for column in ("obs_key", "sha256"):
                row = self._db.execute(
                    f"SELECT * FROM files INDEXED BY files_{column} WHERE {column} = ? "
                    "AND status = 'processed' AND path != ? LIMIT 1",
                    (obs_key if column == "obs_key" else sha256, path)).fetchone()
                if row:
                    return LedgerEntry(*row)
        return None

    def prune(self, older_than_s: float, now: float | None = None) -> int:
        """Delete finished rows whose outcome is older than ``older_than_s``; returns how many.

        Unfinished (``received``) rows are never pruned: they are the restart's to-do list.
        """
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM files WHERE status != 'received' AND finished_at < ?", (cutoff,))
        return cur.rowcount

    def unfinished(self) -> list[LedgerEntry]:
        """Files begun but never finished (the daemon died while processing them)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM files WHERE status = 'received' ORDER BY received_at").fetchall()
        return [LedgerEntry(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of files by status."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
            return {status: n for status, n in rows.fetchall()}

    def frames(self, frame_id: str) -> list[LedgerEntry]:
        """Every file that went into one frame."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM files WHERE frame_id = ? ORDER BY path",
                                    (frame_id,)).fetchall()
        return [LedgerEntry(*row) for row in rows]
