"""Duplicate detection: the same observation is processed once, whatever its name.

Two files are duplicates when they share the observation key (telescope,
wavelength, T_OBS) -- the NRT copy and a re-delivery, or the FITS and the JP2
of the same exposure -- or when their bytes are identical. The detector claims
a key before the expensive decompression, so a second copy arriving while the
first is still being read is refused, and releases the claim if the first copy
is later refused for another reason (a corrected re-delivery must get through).

Storage sits behind :class:`DedupStore` so the daemon can back it with its
SQLite ledger; :class:`InMemoryDedupStore` is a bounded LRU for tests, tools and
the demo.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.ingest.records import ObservationKey

__all__ = ["DedupRecord", "DedupStore", "DuplicateDetector", "DuplicateVerdict",
           "InMemoryDedupStore"]


@dataclass(frozen=True)
class DedupRecord:
    """One accepted (or in-flight) file as the store remembers it."""

    key: str
    content_sha256: str
    path: str


class DedupStore(Protocol):
    """What the detector needs from its storage (the ledger implements this)."""

    def find(self, key: str, content_sha256: str) -> DedupRecord | None:
        """A record with the same key or the same content hash, if any."""
        ...

    def add(self, record: DedupRecord) -> None:
        """Remember a record."""
        ...

    def remove(self, key: str, content_sha256: str) -> None:
        """Forget the record with this key and hash (no error if absent)."""
        ...


class InMemoryDedupStore:
    """Bounded in-memory store; the oldest records are forgotten first.

    Parameters
    ----------
    max_entries : int
        Records kept. At 10 channels every 12 s a day is 72 000 records.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._max = max_entries
        self._by_key: OrderedDict[str, DedupRecord] = OrderedDict()
        self._by_hash: dict[str, DedupRecord] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, key: str, content_sha256: str) -> DedupRecord | None:
        return self._by_key.get(key) or self._by_hash.get(content_sha256)

    def add(self, record: DedupRecord) -> None:
        self._by_key[record.key] = record
        self._by_key.move_to_end(record.key)
        self._by_hash[record.content_sha256] = record
        while len(self._by_key) > self._max:
            _, old = self._by_key.popitem(last=False)
            if self._by_hash.get(old.content_sha256) is old:
                del self._by_hash[old.content_sha256]

    def remove(self, key: str, content_sha256: str) -> None:
        record = self._by_key.get(key)
        if record is not None and record.content_sha256 == content_sha256:
            del self._by_key[key]
        if (hashed := self._by_hash.get(content_sha256)) is not None and hashed.key == key:
            del self._by_hash[content_sha256]


@dataclass(frozen=True)
class DuplicateVerdict:
    """Whether a file repeats an earlier one, and how.

    ``match`` is ``"content"`` for identical bytes, ``"key"`` for the same
    observation with different bytes (another format or a reprocessed copy),
    ``"none"`` for a new observation.
    """

    match: Literal["none", "content", "key"]
    previous_path: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.match != "none"


class DuplicateDetector:
    """Thread-safe claim/release front of a :class:`DedupStore`.

    Parameters
    ----------
    store : DedupStore, optional
        Defaults to an :class:`InMemoryDedupStore`.
    """

    def __init__(self, store: DedupStore | None = None) -> None:
        self._store: DedupStore = store if store is not None else InMemoryDedupStore()
        self._lock = threading.Lock()

    def _verdict(self, key: str, content_sha256: str) -> DuplicateVerdict:
        found = self._store.find(key, content_sha256)
        if found is None:
            return DuplicateVerdict("none")
        match: Literal["content", "key"] = (
            "content" if found.content_sha256 == content_sha256 else "key")
        return DuplicateVerdict(match, found.path)

    def check(self, key: ObservationKey, content_sha256: str) -> DuplicateVerdict:
        """Look without claiming."""
        with self._lock:
            return self._verdict(key.as_string(), content_sha256)

    def claim(self, key: ObservationKey, content_sha256: str, path: str) -> DuplicateVerdict:
        """Atomically check and, when new, remember the file.

        Returns
        -------
        DuplicateVerdict
            ``match == "none"`` when the claim succeeded.
        """
        text = key.as_string()
        with self._lock:
            verdict = self._verdict(text, content_sha256)
            if not verdict.duplicate:
                self._store.add(DedupRecord(text, content_sha256, path))
            return verdict

    def release(self, key: ObservationKey, content_sha256: str) -> None:
        """Undo a claim whose file was refused later on."""
        with self._lock:
            self._store.remove(key.as_string(), content_sha256)
