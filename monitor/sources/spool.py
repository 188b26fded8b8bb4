"""Spool directory source: complete files that other software writes into a directory.

Completeness. Rename-into-place is the convention: a writer creates
``.name.part`` (or any temporary name, see :func:`~monitor.sources.names.is_temporary`)
and renames it to its final name when done. With inotify the rename itself
(``IN_MOVED_TO``) proves completeness and the file is emitted at once. Any
other file (writers that do not rename, or anything found by a scan) counts
once its size and mtime have stayed the same for ``stable_s``, either
observed across scans or read from an mtime already older than that.

Safety. Symlinks are resolved and must stay inside the spool; one pointing
outside is ignored, counted and logged once. Directory scans run in a thread
so a huge backlog never stalls the event loop, and a backlog is emitted in
mtime (or name) order. Each file is emitted at most once per run; across
restarts the daemon's ledger decides.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from monitor.logs import get_logger
from monitor.sources.base import (
    AIA_CHANNELS,
    FEED_NAME,
    Emit,
    FileArrival,
    Refuse,
    SourceBase,
    check_feed_name,
)
from monitor.sources.disposal import Disposer
from monitor.sources.inotify import IN_MOVED_TO, IN_Q_OVERFLOW, InotifyWatch
from monitor.sources.names import is_temporary, parse_aia_name, within

__all__ = ["SpoolFeedSettings", "SpoolSource", "scan_spool"]

log = get_logger(__name__)


@dataclass(frozen=True)
class _Candidate:
    path: Path           # real path (symlinks inside the spool resolved)
    size: int
    mtime_ns: int
    identity: tuple[int, int, int, int]  # dev, inode, mtime_ns, size: "the same file"


@dataclass
class _ScanResult:
    candidates: list[_Candidate] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)  # path -> reason
    error: str | None = None


def scan_spool(root: Path, include: tuple[str, ...], recursive: bool,
               excluded: tuple[Path, ...] = (), names: list[str] | None = None) -> _ScanResult:
    """List the candidate files of a spool (blocking; run it in a thread).

    Parameters
    ----------
    root : Path
        Resolved spool directory.
    include : tuple of str
        Glob patterns a name must match.
    recursive : bool
        Descend into subdirectories (never through symlinks).
    excluded : tuple of Path
        Resolved directories to skip (done and rejected directories).
    names : list of str, optional
        Only stat these names directly in ``root`` (the inotify fast path).
    """
    result = _ScanResult()
    if names is not None:
        for name in names:
            _consider(root, root / name, name, include, excluded, result)
        return result
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        sub = Path(entry.path)
                        if recursive and not entry.name.startswith(".") and not any(
                                within(sub, ex) for ex in excluded):
                            stack.append(sub)
                        continue
                    _consider(root, Path(entry.path), entry.name, include, excluded, result)
        except FileNotFoundError:
            if directory == root:
                result.error = f"spool directory {root} does not exist"
        except OSError as exc:
            result.error = f"cannot scan {directory}: {exc}"
    return result


def _consider(root: Path, path: Path, name: str, include: tuple[str, ...],
              excluded: tuple[Path, ...], result: _ScanResult) -> None:
    key = str(path)
    if is_temporary(name):
        result.ignored[key] = "temporary"
        return
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
        result.ignored[key] = "not_matching"
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # gone between listing and stat (moved away or renamed again)
    if stat.S_ISLNK(st.st_mode):
        real = Path(os.path.realpath(path))
        if not within(real, root) or any(within(real, ex) for ex in excluded):
            result.ignored[key] = "symlink_outside"
            return
        try:
            st = os.stat(real)
        except OSError:
            result.ignored[key] = "broken_symlink"
            return
        path = real
    if not stat.S_ISREG(st.st_mode):
        result.ignored[key] = "not_regular"
        return
    result.candidates.append(_Candidate(path, st.st_size, st.st_mtime_ns,
                                        (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)))


@dataclass(frozen=True)
class SpoolFeedSettings:
    """A directory that other software writes complete files into."""

    name: str = field(metadata=FEED_NAME)
    path: Path = field(metadata={"doc": "spool directory to watch"})
    kind: Literal["spool"] = "spool"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(
        default=12.0, metadata={"gt": 0, "doc": "expected seconds between observations"})
    stable_s: float = field(
        default=2.0, metadata={"ge": 0, "doc": "size/mtime must be unchanged this long "
                                               "for files that were not renamed into place"})
    poll_interval_s: float = field(default=1.0, metadata={"gt": 0})
    watch: Literal["auto", "inotify", "poll"] = field(
        default="auto", metadata={"doc": "inotify (Linux) sees renames at once; polling is the "
                                         "portable fallback and always runs as a safety net"})
    recursive: bool = field(
        default=False, metadata={"doc": "also scan subdirectories (polling only)"})
    include: tuple[str, ...] = field(
        default=("*.fits", "*.fit", "*.fts", "*.fits.fz", "*.fits.gz", "*.jp2", "*.j2k"),
        metadata={"doc": "glob patterns of file names to pick up; others are left alone"})
    order: Literal["mtime", "name"] = field(
        default="mtime", metadata={"doc": "emission order of a backlog"})
    after_processing: Literal["keep", "move", "delete"] = "move"
    done_dir: Path | None = field(
        default=None, metadata={"doc": "where processed files go with after_processing: move; "
                                       "default <path>/done"})
    rejected_dir: Path | None = field(
        default=None, metadata={"doc": "where rejected files go; default <path>/rejected"})

    def check(self) -> list[tuple[str, str]]:
        issues = check_feed_name(self.name)
        for key in ("done_dir", "rejected_dir"):
            value = getattr(self, key)
            if value is not None and Path(value) == Path(self.path):
                issues.append((key, "must differ from the spool path"))
        return issues


class SpoolSource(SourceBase, kind="spool"):
    """Emit complete files appearing in a spool directory.

    Parameters
    ----------
    name : str
        Feed name.
    path : Path
        Spool directory (created if missing).
    stable_s, poll_interval_s, watch, recursive, include, order, after_processing,
    done_dir, rejected_dir, channels
        As in :class:`SpoolFeedSettings`.
    refuse : Refuse, optional
        Receives files whose handling failed here (published on ``.rejects``).
    """

    def __init__(self, name: str, path: Path, *, stable_s: float = 2.0,
                 poll_interval_s: float = 1.0, watch: Literal["auto", "inotify", "poll"] = "auto",
                 recursive: bool = False, include: tuple[str, ...] = ("*",),
                 order: Literal["mtime", "name"] = "mtime",
                 after_processing: Literal["keep", "move", "delete"] = "move",
                 done_dir: Path | None = None, rejected_dir: Path | None = None,
                 channels: tuple[int, ...] = AIA_CHANNELS,
                 refuse: Refuse | None = None) -> None:
        super().__init__(name, refuse)
        self.path = Path(path)
        self.stable_s = stable_s
        self.poll_interval_s = poll_interval_s
        self.watch = watch
        self.recursive = recursive
        self.include = include
        self.order = order
        self.channels = frozenset(channels)
        root = self.path.resolve()
        self._disposer = Disposer(
            root, after_processing, Path(done_dir or root / "done").resolve(),
            Path(rejected_dir or root / "rejected").resolve())
        self._root = root
        self._emitted: dict[str, tuple[tuple[int, int, int, int], int]] = {}  # path -> id, seq
        self._pending: dict[str, tuple[int, int, float]] = {}  # path -> size, mtime, first seen
        self._ignored_now: dict[str, str] = {}
        self._known: set[str] = set()
        self._seq = 0
        self._renamed: list[str] = []
        self._rescan = False
        self._wake = asyncio.Event()
        self._scan_error: str | None = None
        self._watch_active = False

    @classmethod
    def from_settings(cls, settings: SpoolFeedSettings, refuse: Refuse | None = None,
                      **_context: Any) -> SpoolSource:
        return cls(settings.name, settings.path, stable_s=settings.stable_s, refuse=refuse,
                   poll_interval_s=settings.poll_interval_s, watch=settings.watch,
                   recursive=settings.recursive, include=settings.include,
                   order=settings.order, after_processing=settings.after_processing,
                   done_dir=settings.done_dir, rejected_dir=settings.rejected_dir,
                   channels=settings.channels)

    @property
    def inotify_active(self) -> bool:
        """True while renames are seen through inotify (else polling only)."""
        return self._watch_active

    async def run(self, emit: Emit) -> None:
        """Scan, wait for inotify or the poll interval, emit; until cancelled."""
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        self._wake = asyncio.Event()
        watch = self._start_inotify()
        try:
            while True:
                await self._scan_and_emit(emit, names=None)
                deadline = time.monotonic() + self._wait_time()
                while (remaining := deadline - time.monotonic()) > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    except TimeoutError:
                        break
                    self._wake.clear()
                    if self._rescan:
                        break
                    names, self._renamed = self._renamed, []
                    if names:
                        await self._scan_and_emit(emit, names=names)
                self._rescan = False
        finally:
            if watch is not None:
                asyncio.get_running_loop().remove_reader(watch.fileno())
                watch.close()
                self._watch_active = False

    def _start_inotify(self) -> InotifyWatch | None:
        if self.watch == "poll" or self.recursive:
            return None
        try:
            watch = InotifyWatch(self._root)
        except OSError as exc:
            level = logging.WARNING if self.watch == "inotify" else logging.INFO
            log.log(level, "inotify unavailable, polling only", feed=self.name, error=str(exc))
            return None

        def readable() -> None:
            for event in watch.read():
                if event.mask & IN_Q_OVERFLOW:
                    self._rescan = True
                elif event.mask & IN_MOVED_TO and event.name:
                    self._renamed.append(event.name)
                elif event.name and not is_temporary(event.name):
                    self._rescan = True  # a writer that does not rename: stability check
            self._wake.set()

        asyncio.get_running_loop().add_reader(watch.fileno(), readable)
        self._watch_active = True
        return watch

    def _wait_time(self) -> float:
        # Come back when the oldest unstable file may have become stable, not a
        # whole poll interval later.
        wait = self.poll_interval_s
        if self._pending:
            now = time.monotonic()
            earliest = min(first for _, _, first in self._pending.values())
            wait = min(wait, max(0.05, earliest + self.stable_s - now + 0.01))
        return wait

    async def _scan_and_emit(self, emit: Emit, names: list[str] | None) -> None:
        scan_seq = self._seq
        excluded = (self._disposer.done_dir, self._disposer.rejected_dir)
        result = await asyncio.to_thread(scan_spool, self._root, self.include, self.recursive,
                                         excluded, names)
        full = names is None
        if result.error and result.error != self._scan_error:
            self._errors["scan"] += 1
            log.error("spool scan failed", feed=self.name, error=result.error)
        self._scan_error = result.error if full else self._scan_error
        self._record_ignored(result.ignored, full)
        now_wall, now_mono = time.time(), time.monotonic()
        ready: list[_Candidate] = []
        listed: set[str] = set(result.ignored)
        for cand in result.candidates:
            key = str(cand.path)
            if key in listed:
                continue  # the same file again through a symlink inside the spool
            listed.add(key)
            if key not in self._known:
                self._known.add(key)
                self._n_seen += 1
            previous = self._emitted.get(key)
            if previous is not None and previous[0] == cand.identity:
                continue
            if names is not None or self._is_stable(key, cand, now_wall, now_mono):
                self._pending.pop(key, None)
                ready.append(cand)
        if full:
            self._prune(listed, scan_seq)
        ready.sort(key=(lambda c: (c.mtime_ns, c.path.name)) if self.order == "mtime"
                   else (lambda c: c.path.name))
        for i, cand in enumerate(ready):
            if i % 64 == 63:
                await asyncio.sleep(0)  # a backlog must not hog the loop when emit never waits
            try:
                await self._emit_one(emit, cand)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one file must never end the feed
                self._errors["internal"] += 1
                # the refusal below logs the error; the traceback only with -v
                log.debug("file could not be handed over", exc_info=True, feed=self.name,
                          path=str(cand.path))
                await self._refuse(str(cand.path), "internal_error",
                                   f"{type(exc).__name__}: {exc}")

    def _is_stable(self, key: str, cand: _Candidate, now_wall: float, now_mono: float) -> bool:
        if now_wall - cand.mtime_ns / 1e9 >= self.stable_s:
            return True  # untouched for stable_s already (a backlog, or a slow poll)
        seen = self._pending.get(key)
        if seen is None or (seen[0], seen[1]) != (cand.size, cand.mtime_ns):
            self._pending[key] = (cand.size, cand.mtime_ns, now_mono)
            return False
        return now_mono - seen[2] >= self.stable_s

    async def _emit_one(self, emit: Emit, cand: _Candidate) -> None:
        hint = parse_aia_name(cand.path.name)
        t_obs, wavelength = hint if hint else (None, None)
        key = str(cand.path)
        if wavelength is not None and wavelength not in self.channels:
            # Decided once: remembered like an emitted file so it is not counted again.
            self._ignored["channel"] += 1
            self._emitted[key] = (cand.identity, self._seq)
            return
        self._seq += 1
        self._emitted[key] = (cand.identity, self._seq)
        arrival = FileArrival(path=cand.path, feed=self.name, arrived_at=time.time(),
                              size_bytes=cand.size, t_obs=t_obs, wavelength=wavelength)
        self._note_emitted(arrival)
        log.debug("file complete", feed=self.name, path=key, size=cand.size)
        await emit(arrival)

    def _record_ignored(self, ignored: dict[str, str], full: bool) -> None:
        for path, reason in ignored.items():
            if self._ignored_now.get(path) == reason:
                continue
            self._ignored[reason] += 1
            if path not in self._known:
                self._known.add(path)
                self._n_seen += 1
            if reason in ("symlink_outside", "broken_symlink"):
                log.warning("symlink ignored", feed=self.name, path=path, reason=reason)
        if full:
            self._ignored_now = dict(ignored)
        else:
            self._ignored_now.update(ignored)

    def _prune(self, listed: set[str], scan_seq: int) -> None:
        # Forget files that left the spool, except those emitted while the scan ran
        # (the listing could predate them).
        self._emitted = {k: v for k, v in self._emitted.items()
                         if k in listed or v[1] > scan_seq}
        self._pending = {k: v for k, v in self._pending.items() if k in listed}
        self._known &= listed | set(self._emitted)
