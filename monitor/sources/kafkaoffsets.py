"""Which offsets of a Kafka feed may be committed: the at-least-once bookkeeping.

Synchronous and thread-safe, no Kafka client in sight: the consumer thread
records what it hands out and asks what to commit; the event loop reports
what is done from its side (:meth:`PartitionOffsets.notify_done` only queues,
so the loop never waits for the thread's lock longer than one append).

Each assignment of a partition gets a new *epoch*: a notice from before a
revocation names an old epoch and commits nothing, so a partition that moved
to another instance and came back is never committed past a file still in
flight elsewhere.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Key", "PartitionOffsets"]

Key = tuple[str, int]  # (topic, partition)


@dataclass
class _Track:
    """Offsets of one assigned partition handed out and not yet committed."""

    epoch: int
    pending: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)

    @property
    def outstanding(self) -> int:
        return len(self.pending) - len(self.done)


class PartitionOffsets:
    """Offsets handed out per assigned partition, and the longest done prefix of each.

    Commits stay in order: an offset becomes committable only when it and
    every earlier offset handed out from its partition are done.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracks: dict[Key, _Track] = {}
        self._epoch = 0
        self._notices: queue.SimpleQueue[tuple[str, int, int, int]] = queue.SimpleQueue()

    # -- assignment ------------------------------------------------------------------
    def assign(self, keys: Iterable[Key]) -> None:
        """Start tracking newly assigned partitions (each with a fresh epoch)."""
        with self._lock:
            for key in keys:
                if key not in self._tracks:
                    self._epoch += 1
                    self._tracks[key] = _Track(self._epoch)

    def forget(self, keys: Iterable[Key] | None = None) -> None:
        """Stop tracking ``keys`` (all partitions when None): late notices commit nothing."""
        with self._lock:
            if keys is None:
                self._tracks.clear()
            for key in keys or ():
                self._tracks.pop(key, None)

    def epoch(self, key: Key) -> int | None:
        """The current epoch of an assigned partition; None when not assigned."""
        with self._lock:
            track = self._tracks.get(key)
            return track.epoch if track is not None else None

    def partitions(self) -> list[int]:
        """Assigned partition numbers, sorted."""
        with self._lock:
            return sorted(p for _, p in self._tracks)

    # -- handing out and done ------------------------------------------------------------
    def hand_out(self, key: Key, offset: int) -> int | None:
        """Record ``offset`` as handed out; its epoch, or None if the partition is not ours."""
        with self._lock:
            track = self._tracks.get(key)
            if track is None:
                return None
            track.pending.append(offset)
            return track.epoch

    def notify_done(self, key: Key, offset: int, epoch: int) -> None:
        """Report an offset done (any thread; applied by :meth:`apply_notices`)."""
        self._notices.put((*key, offset, epoch))

    def apply_notices(self) -> None:
        """Mark the offsets reported done, ignoring those of a past epoch."""
        while True:
            try:
                topic, partition, offset, epoch = self._notices.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                track = self._tracks.get((topic, partition))
                if track is not None and track.epoch == epoch:
                    track.done.add(offset)

    def load(self) -> tuple[int, int]:
        """(handed out and not done, handed out and not committed), over all partitions."""
        with self._lock:
            return (sum(t.outstanding for t in self._tracks.values()),
                    sum(len(t.pending) for t in self._tracks.values()))

    def committable(self, only: set[Key] | None = None) -> dict[Key, int]:
        """The next offset to commit per partition, past its longest done prefix.

        Taking them moves the prefix out of the book: call once per commit.
        """
        offsets = {}
        with self._lock:
            for key, track in self._tracks.items():
                if only is not None and key not in only:
                    continue
                last = None
                while track.pending and track.pending[0] in track.done:
                    last = track.pending.popleft()
                    track.done.discard(last)
                if last is not None:
                    offsets[key] = last + 1
        return offsets
