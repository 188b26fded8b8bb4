"""The one owner of the processed-file ledger and of which files are in flight.

Restart safety rests on the ledger (:mod:`monitor.state`): a file is begun
before it is decoded and finished only once its outcome is durable (its
frame's messages or its rejection are in the outbox). Every ledger call of
the daemon is made here, off the event loop. Beside the ledger this class
keeps the two in-flight maps the duplicate rules need: the arrival of every
begun file, and the observation key of every file on its way to a frame.
"""

from __future__ import annotations

import asyncio
import os
from typing import Literal

from monitor.frames import Frame
from monitor.ingest import Observation
from monitor.logs import get_logger
from monitor.pipeline.handoffs import FileRejection, IngestedFile
from monitor.sources import FileArrival, Outcome
from monitor.state import ProcessedFileLedger

__all__ = ["CheckIn", "FileBook"]

log = get_logger(__name__)

#: What :meth:`FileBook.check_in` found: a new file (now begun), a file that vanished
#: before it could be looked at, or the outcome it reached before a restart.
CheckIn = Literal["new", "vanished"] | Outcome


class FileBook:
    """Ledger writes and in-flight files of one daemon (see the module docstring)."""

    def __init__(self, ledger: ProcessedFileLedger) -> None:
        self._ledger = ledger
        self._arrival_of: dict[str, FileArrival] = {}
        self._inflight_keys: dict[str, str] = {}  # observation key -> path

    async def check_in(self, arrival: FileArrival) -> CheckIn:
        """Begin a file in the ledger, unless it reached an outcome before (a restart)."""
        path = str(arrival.path)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError as exc:
            log.warning("file vanished before ingest", path=path, error=str(exc))
            return "vanished"
        entry = await asyncio.to_thread(self._ledger.lookup, path, st.st_size, st.st_mtime_ns)
        if entry is not None and entry.finished:
            return entry.status  # type: ignore[return-value]
        await asyncio.to_thread(self._ledger.begin, path, arrival.feed, st.st_size,
                                st.st_mtime_ns)
        self._arrival_of[path] = arrival
        return "new"

    async def twin_of(self, path: str, obs: Observation) -> str | None:
        """Record the file's identity; the path of an earlier or in-flight twin, if any."""
        key, sha = obs.key.as_string(), obs.content_sha256
        await asyncio.to_thread(self._ledger.set_identity, path, sha, key)
        earlier = await asyncio.to_thread(self._ledger.find_processed_duplicate, path, key, sha)
        if earlier is not None:
            return earlier.path
        twin = self._inflight_keys.get(key)
        return twin if twin is not None and twin != path else None

    def claim(self, path: str, obs: Observation) -> None:
        """The file is on its way to a frame: a twin arriving now is a duplicate."""
        self._inflight_keys[obs.key.as_string()] = path

    def release(self, ingested: IngestedFile) -> None:
        """The file is no longer on its way to a frame."""
        if ingested.observation is not None:
            self._inflight_keys.pop(ingested.observation.key.as_string(), None)

    def arrival(self, path: str) -> FileArrival | None:
        """The arrival of a begun, unfinished file."""
        return self._arrival_of.get(path)

    def let_go(self, ingested: IngestedFile) -> FileArrival | None:
        """Forget an unfinished file (it goes back to the intake for a retry)."""
        self.release(ingested)
        return self._arrival_of.pop(ingested.path, None)

    async def finish_file(self, arrival: FileArrival, rejection: FileRejection) -> bool:
        """Record a rejected or duplicate file; False when the ledger cannot write."""
        path = str(arrival.path)
        try:
            await asyncio.to_thread(self._ledger.finish, path, rejection.outcome,
                                    reason=rejection.reason, sha256=rejection.sha256)
        except KeyError:
            pass  # never begun (refused before the ledger saw it)
        except Exception:  # the ledger cannot write (disk full): decide again later
            log.exception("ledger write failed", path=path)
            return False
        self._arrival_of.pop(path, None)
        return True

    async def finish_frame(self, frame: Frame[IngestedFile]) -> list[FileArrival] | None:
        """Mark every file of a published frame processed, atomically; returns their
        arrivals, or None when the ledger cannot write (the frame is redone, same ids)."""
        paths = [item.payload.path for item in frame.channels.values()]
        # shielded: a stop that cancels us now must not leave the frame half-finished
        try:
            await asyncio.shield(asyncio.to_thread(
                self._ledger.finish_many, paths, "processed", frame.frame_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ledger write failed", frame=frame.frame_id)
            return None
        arrivals = []
        for item in frame.channels.values():
            arrival = self.let_go(item.payload)
            if arrival is not None:
                arrivals.append(arrival)
        return arrivals

    async def prune(self, retention_s: float) -> int:
        """Drop finished rows older than ``retention_s``; 0 (logged) when that fails."""
        try:
            return await asyncio.to_thread(self._ledger.prune, retention_s)
        except Exception:  # e.g. disk full: the ledger keeps working, only bigger
            log.exception("ledger prune failed")
            return 0
