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

Steps 1-3 are :mod:`monitor.sources.httpindex`'s (:class:`IndexPoller`
fetches the documents, :class:`SeenFiles` remembers URLs and picks what is
new); :class:`HttpSource` owns the cycle and step 4, the downloads. The
feed's settings, ``HttpFeedSettings``, are defined in ``httpindex`` too:
those two read most of them, and this module imports that one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from monitor.logs import get_logger
from monitor.sources.base import Emit, FileArrival, Refuse, SourceBase, SourceStats
from monitor.sources.disposal import Disposer
from monitor.sources.download import TEMP_PREFIX, Downloader
from monitor.sources.fetchfailures import DownloadError
from monitor.sources.httpindex import Candidate, HttpFeedSettings, IndexPoller, SeenFiles
from monitor.sources.names import UnsafeName, frame_key
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused

__all__ = ["HttpSource", "remove_stale_temporaries"]

log = get_logger(__name__)

_STALE_TEMP_S = 3600.0


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
        self._session = session
        self._index = IndexPoller(settings, self._errors)
        self._seen_files = SeenFiles(settings)
        self._downloader: Downloader | None = None
        self._download_counters: Counter[str] = Counter()
        # files and their redirects stay on the index's server (a JSON index may name any
        # path there), as the index documents stay in their directories (IndexPoller):
        # neither can send the feed to another host, port, scheme or tree
        self._origin = _server_of(settings.url)
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
        scan = await self._index.scan(self._downloader)
        if scan.observed is not None:
            self._note_observation(scan.observed)
        selection = self._seen_files.select(scan.entries, scan.window_start)
        self._n_seen += selection.new
        self._ignored.update(selection.ignored)
        return await self._fetch_and_emit(selection.candidates, emit)

    def _ignore(self, url: str, reason: str) -> None:
        self._ignored[reason] += 1
        self._seen_files.remember(url, "ignored")

    async def _fetch_and_emit(self, candidates: list[Candidate], emit: Emit) -> int:
        # Downloads run ahead by at most `concurrency`; emission keeps the order.
        window: deque[tuple[Candidate, asyncio.Task[FileArrival | None]]] = deque()
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

    async def _fetch(self, candidate: Candidate) -> FileArrival | None:
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
            self._seen_files.remember(candidate.url, "retry")
            log.error("cannot write download", feed=self.name, url=candidate.url, error=str(exc))
            return None
        except DownloadError as exc:
            self._errors[exc.reason] += 1
            self._seen_files.remember(candidate.url, "retry" if exc.transient else "failed")
            log.warning("download failed", feed=self.name, url=candidate.url, reason=exc.reason,
                        will_retry=exc.transient, error=str(exc))
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one file must never end the feed
            self._errors["internal"] += 1
            self._seen_files.remember(candidate.url, "failed")
            # the refusal below logs the error; the traceback only with -v
            log.debug("download could not be handled", exc_info=True, feed=self.name,
                      url=candidate.url)
            await self._refuse(candidate.url, "internal_error", f"{type(exc).__name__}: {exc}")
            return None
        self._seen_files.remember(candidate.url, "fetched")
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
