"""HTTP feed: poll an index (directory listing or JSON), download new files, emit them.

For JSOC's AIA synoptic NRT product (see docs/sources.md for the YAML) one
poll cycle is:

1. fetch ``image_times.json`` (conditionally) for the newest slot time, the
   anchor; without ``latest_url`` the anchor is the clock;
2. expand the directory template (``.../%Y/%m/%d/H%H00/``) over
   ``[anchor - lookback_s, anchor]`` and fetch each listing conditionally;
   an unchanged listing costs a 304 and reuses the parsed entries;
3. keep names matching ``file_pattern`` whose channel is configured and
   whose time lies in the window, minus everything fetched before (a bounded
   memory); order them by time then channel;
4. download up to ``download.concurrency`` at a time into the spool (hidden
   temporary name, then rename) and emit them in that order.

Re-listing the whole window each cycle is what catches files published out
of time order; a slot that never appears is a gap and is never waited for.
Transient download failures are retried within the cycle and again on later
cycles; permanent ones (404, oversize) are remembered and reported once.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from monitor.logs import get_logger
from monitor.sources.base import Emit, FileArrival, Refuse, SourceBase, SourceStats
from monitor.sources.disposal import Disposer
from monitor.sources.download import TEMP_PREFIX, Document, Downloader, DownloadError
from monitor.sources.index import (
    IndexEntry,
    IndexFormatError,
    expand_url_template,
    parse_json_index,
    parse_latest,
    parse_listing,
)
from monitor.sources.names import UnsafeName, frame_key
from monitor.sources.settings import HttpFeedSettings
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused

__all__ = ["HttpSource", "remove_stale_temporaries"]

log = get_logger(__name__)

_STALE_TEMP_S = 3600.0


@dataclass(frozen=True)
class _Candidate:
    url: str
    name: str
    t_obs: float | None
    wavelength: int | None

    def order(self) -> tuple[float, int, str]:
        return (self.t_obs if self.t_obs is not None else float("inf"),
                self.wavelength or 0, self.name)


def remove_stale_temporaries(directory: Path, older_than_s: float = _STALE_TEMP_S) -> int:
    """Delete the downloader's leftover temporary files (from a crash); returns how many.

    Only files older than ``older_than_s`` go, so a feed sharing the directory
    keeps its downloads in progress.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    for path in directory.glob(TEMP_PREFIX + "*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def _server_of(url: str) -> UrlAllowList:
    """Everything on the server of ``url`` (same scheme, host and port)."""
    parts = urlsplit(url)
    return UrlAllowList([f"{parts.scheme}://{parts.netloc}/"])


def _directory_of(url: str) -> UrlAllowList:
    """The directory ``url`` lies in, above its first strftime field: where its
    documents (and their redirects) must stay."""
    parts = urlsplit(url.split("%", 1)[0])
    directory = parts.path[:parts.path.rfind("/") + 1] or "/"
    return UrlAllowList([f"{parts.scheme}://{parts.netloc}{directory}"])


def _refusal(kind: str, exc: Exception) -> str:
    """Error counter key: a refused redirect or URL keeps its reason, other failures are ``kind``."""
    if isinstance(exc, UrlRefused) or (isinstance(exc, DownloadError)
                                        and exc.reason == "redirect_not_allowed"):
        return f"{kind}_{exc.reason}"
    return kind


class HttpSource(SourceBase, kind="http"):
    """Poll an HTTP index and emit downloaded files.

    Parameters
    ----------
    settings : HttpFeedSettings
        The feed.
    session : aiohttp.ClientSession, optional
        Shared session (the daemon's); one is created otherwise.
    refuse : Refuse, optional
        Receives files whose handling failed here (published on ``.rejects``).
    """

    def __init__(self, settings: HttpFeedSettings,
                 session: aiohttp.ClientSession | None = None,
                 refuse: Refuse | None = None) -> None:
        super().__init__(settings.name, refuse)
        self.settings = settings
        self.spool = Path(settings.spool)
        self._pattern = re.compile(settings.file_pattern)
        self._channels = frozenset(settings.channels)
        self._session = session
        self._remembered: OrderedDict[str, str] = OrderedDict()  # url -> state
        self._documents: dict[str, tuple[Document, list[IndexEntry]]] = {}
        self._latest: tuple[Document, float] | None = None
        self._downloader: Downloader | None = None
        self._download_counters: Counter[str] = Counter()
        # files and their redirects stay on the index's server (a JSON index may name any
        # path there); the index documents and their redirects stay in their configured
        # directories: neither can send the feed to another host, port, scheme or tree
        self._origin = _server_of(settings.url)
        self._index_area = _directory_of(settings.url)
        self._latest_area = _directory_of(settings.latest_url or settings.url)
        root = self.spool.resolve()
        self._disposer = Disposer(root, settings.after_processing,
                                  Path(settings.done_dir or root / "done").resolve(),
                                  (root / "rejected").resolve())

    @classmethod
    def from_settings(cls, settings: HttpFeedSettings, session: aiohttp.ClientSession | None = None,
                      refuse: Refuse | None = None, **_context: Any) -> HttpSource:
        return cls(settings, session=session, refuse=refuse)

    # -- main loop ------------------------------------------------------------------
    async def run(self, emit: Emit) -> None:
        """Poll every ``poll_interval_s`` until cancelled."""
        await asyncio.to_thread(self.spool.mkdir, parents=True, exist_ok=True)
        removed = await asyncio.to_thread(remove_stale_temporaries, self.spool)
        if removed:
            log.info("removed stale partial downloads", feed=self.name, count=removed)
        # the counters survive restarts of run()
        async with Downloader(self.settings.download, self._session,
                              counters=self._download_counters) as downloader:
            self._downloader = downloader
            try:
                while True:
                    started = time.monotonic()
                    try:
                        await self.poll_once(emit)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        # A bad cycle (full disk, odd server, a bug) must not end the feed.
                        self._errors["poll"] += 1
                        log.error("poll cycle failed", feed=self.name, error=repr(exc))
                    elapsed = time.monotonic() - started
                    await asyncio.sleep(max(0.0, self.settings.poll_interval_s - elapsed))
            finally:
                self._downloader = None

    async def poll_once(self, emit: Emit) -> int:
        """One poll cycle; returns the number of files emitted. Needs :meth:`run`'s downloader."""
        assert self._downloader is not None, "poll_once runs inside run()"
        s = self.settings
        anchor = await self._anchor()
        window_start = anchor - s.lookback_s
        if s.index == "listing":
            urls = expand_url_template(s.url, window_start, anchor, s.directory_step_s)
        else:
            urls = [s.url]
        candidates: list[_Candidate] = []
        for url in urls:
            for entry in await self._entries(url):
                candidate = self._accept(entry, window_start)
                if candidate is not None:
                    candidates.append(candidate)
        self._documents = {u: v for u, v in self._documents.items() if u in urls}
        candidates.sort(key=_Candidate.order)
        return await self._fetch_and_emit(candidates, emit)

    async def _anchor(self) -> float:
        url = self.settings.latest_url
        if url is None:
            return time.time()
        previous = self._latest
        try:
            doc = await self._downloader.get_document(  # type: ignore[union-attr]
                self._latest_area.check(url).url,
                *(previous[0].etag, previous[0].last_modified) if previous else (None, None),
                allow=self._latest_area)
            if doc.body is None and previous is not None:
                anchor = previous[1]
            else:
                anchor = parse_latest(doc.body or b"", self.settings.time_format)
                self._latest = (doc, anchor)
            self._note_observation(anchor)
        except (DownloadError, IndexFormatError, UrlRefused) as exc:
            self._errors[_refusal("latest", exc)] += 1
            anchor = previous[1] if previous else time.time()
            log.warning("latest-time index unavailable, using the last known time", feed=self.name,
                        url=url, error=str(exc))
        return anchor

    async def _entries(self, url: str) -> list[IndexEntry]:
        cached = self._documents.get(url)
        try:
            doc = await self._downloader.get_document(  # type: ignore[union-attr]
                self._index_area.check(url).url,
                *(cached[0].etag, cached[0].last_modified) if cached else (None, None),
                allow=self._index_area)
        except (DownloadError, UrlRefused) as exc:
            if exc.reason == "not_found":
                return []  # the hour's directory does not exist yet
            self._errors[f"index_{exc.reason}"] += 1
            log.warning("index unavailable", feed=self.name, url=url, error=str(exc))
            return cached[1] if cached else []
        if doc.body is None and cached is not None:
            return cached[1]
        try:
            if self.settings.index == "listing":
                entries = parse_listing(doc.body or b"", url)
            else:
                entries = parse_json_index(doc.body or b"", url)
        except IndexFormatError as exc:
            self._errors["index_format"] += 1
            log.warning("unreadable index", feed=self.name, url=url, error=str(exc))
            return []
        self._documents[url] = (doc, entries)
        return entries

    def _remember(self, url: str, state: str) -> None:
        self._remembered[url] = state
        self._remembered.move_to_end(url)
        while len(self._remembered) > self.settings.remember:
            self._remembered.popitem(last=False)

    def _accept(self, entry: IndexEntry, window_start: float) -> _Candidate | None:
        state = self._remembered.get(entry.url)
        if state is not None and state != "retry":
            self._remembered.move_to_end(entry.url)
            return None
        match = self._pattern.search(entry.name)
        if match is None:
            return self._ignore(entry.url, "not_matching")
        groups = self._pattern.groupindex
        t_obs, wavelength = entry.t_obs, entry.wavelength
        try:
            if "time" in groups and match.group("time"):
                t_obs = datetime.strptime(match.group("time"), self.settings.time_format) \
                    .replace(tzinfo=UTC).timestamp()
            if "wavelength" in groups and match.group("wavelength"):
                wavelength = int(match.group("wavelength"))
        except ValueError:
            return self._ignore(entry.url, "bad_name")
        if wavelength is not None and wavelength not in self._channels:
            return self._ignore(entry.url, "channel")
        if t_obs is not None and t_obs < window_start:
            return None  # older than the window: neither new nor interesting
        if state is None:
            self._n_seen += 1
        return _Candidate(entry.url, entry.name, t_obs, wavelength)

    def _ignore(self, url: str, reason: str) -> None:
        self._ignored[reason] += 1
        self._remember(url, "ignored")

    async def _fetch_and_emit(self, candidates: list[_Candidate], emit: Emit) -> int:
        # Downloads run ahead by at most `concurrency`; emission keeps the order.
        window: deque[tuple[_Candidate, asyncio.Task[FileArrival | None]]] = deque()
        emitted = 0
        todo = iter(candidates)
        try:
            while True:
                while len(window) < self.settings.download.concurrency:
                    candidate = next(todo, None)
                    if candidate is None:
                        break
                    window.append((candidate, asyncio.create_task(self._fetch(candidate))))
                if not window:
                    return emitted
                _, task = window.popleft()
                arrival = await task
                if arrival is not None:
                    self._note_emitted(arrival)
                    await emit(arrival)
                    emitted += 1
        finally:
            for _, task in window:
                task.cancel()
            if window:
                await asyncio.gather(*(t for _, t in window), return_exceptions=True)

    async def _fetch(self, candidate: _Candidate) -> FileArrival | None:
        try:
            url = self._origin.check(candidate.url).url
            result = await self._downloader.download(  # type: ignore[union-attr]
                url, self.spool, candidate.name, allow=self._origin)
        except UrlRefused as exc:
            self._ignore(candidate.url, exc.reason)
            log.warning("index names a file elsewhere, ignored", feed=self.name, url=candidate.url,
                        reason=exc.reason)
            return None
        except UnsafeName as exc:
            self._ignore(candidate.url, "unsafe_name")
            log.warning("unsafe file name ignored", feed=self.name, url=candidate.url,
                        error=str(exc))
            return None
        except OSError as exc:  # writing the spool failed (full, read-only): try again later
            self._errors["write"] += 1
            self._remember(candidate.url, "retry")
            log.error("cannot write download", feed=self.name, url=candidate.url, error=str(exc))
            return None
        except DownloadError as exc:
            self._errors[exc.reason] += 1
            self._remember(candidate.url, "retry" if exc.transient else "failed")
            log.warning("download failed", feed=self.name, url=candidate.url, reason=exc.reason,
                        will_retry=exc.transient, error=str(exc))
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one file must never end the feed
            self._errors["internal"] += 1
            self._remember(candidate.url, "failed")
            # the refusal below logs the error; the traceback only with -v
            log.debug("download could not be handled", exc_info=True, feed=self.name,
                      url=candidate.url)
            await self._refuse(candidate.url, "internal_error", f"{type(exc).__name__}: {exc}")
            return None
        self._remember(candidate.url, "fetched")
        key = (frame_key(candidate.t_obs, self.settings.cadence_s)
               if candidate.t_obs is not None else None)
        return FileArrival(path=result.path, feed=self.name, arrived_at=time.time(),
                           size_bytes=result.size_bytes, url=candidate.url,
                           observation_key=key, t_obs=candidate.t_obs,
                           wavelength=candidate.wavelength)

    # -- counters ---------------------------------------------------------------------
    def stats(self) -> SourceStats:
        snapshot = super().stats()
        snapshot.extra.update({k: float(v) for k, v in self._download_counters.items()})
        return snapshot
