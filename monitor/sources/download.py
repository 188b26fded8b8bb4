"""HTTP fetching for the feeds: timeouts, retries with backoff and jitter, size limits.

Two operations:

- :meth:`Downloader.get_document` fetches an index (listing, JSON) into
  memory, conditionally (``If-None-Match`` / ``If-Modified-Since``) when it
  has validators from an earlier answer, so an unchanged index costs a 304;
- :meth:`Downloader.download` streams a file into a hidden temporary name in
  the destination directory, checks its length, fsyncs and renames it into
  place. A partial file is never visible under its final name.

Transient failures (connection errors, timeouts, 408/429/5xx, bodies cut
short) are retried ``retries`` times with exponential backoff and jitter
(honouring ``Retry-After`` up to ``backoff_max_s``); permanent ones (other
4xx, a body over the size limit) fail at once. Both raise
:class:`~monitor.sources.fetchfailures.DownloadError`, whose ``reason`` is a
label from a small fixed set (:mod:`monitor.sources.fetchfailures`).

With an allow-list (:class:`~monitor.sources.urlpolicy.UrlAllowList`, used for
URLs that arrive in messages), redirects are followed by hand and every hop
is checked against it: a server inside the allow-list cannot send the daemon
to a host outside it.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import aiohttp
from yarl import URL

from monitor.logs import get_logger
from monitor.sources.fetchfailures import (
    DownloadError,
    backoff_delay,
    check_complete,
    check_length,
    check_status,
    classify,
)
from monitor.sources.names import fsync_directory, safe_local_path
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused

__all__ = ["TEMP_PREFIX", "Document", "DownloadResult", "DownloadSettings", "Downloader"]

log = get_logger(__name__)

#: Prefix of the downloader's temporary files (hidden, so spools ignore them).
TEMP_PREFIX = ".sdo-dl-"
_FLUSH_BYTES = 1 << 20
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5

T = TypeVar("T")


@dataclass(frozen=True)
class Document:
    """An index document: ``body`` is None when the server answered 304."""

    url: str
    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class DownloadResult:
    """A file renamed into place."""

    path: Path
    size_bytes: int
    url: str
    attempts: int


@dataclass(frozen=True)
class DownloadSettings:
    """How files and index documents are fetched over HTTP (HTTP feed, Kafka URLs)."""

    connect_timeout_s: float = field(default=10.0, metadata={"gt": 0})
    read_timeout_s: float = field(
        default=30.0, metadata={"gt": 0, "doc": "longest silence while reading a body"})
    total_timeout_s: float = field(
        default=300.0, metadata={"gt": 0, "doc": "whole request, one attempt"})
    max_file_bytes: int = field(
        default=64 * 1024 * 1024, metadata={"gt": 0, "doc": "abort a download past this size"})
    max_index_bytes: int = field(
        default=8 * 1024 * 1024, metadata={"gt": 0, "doc": "limit for listings and JSON indexes"})
    retries: int = field(
        default=4, metadata={"ge": 0, "le": 20,
                             "doc": "extra attempts after a transient failure (5xx, 429, "
                                    "timeout, truncated body)"})
    backoff_initial_s: float = field(default=1.0, metadata={"gt": 0})
    backoff_max_s: float = field(default=60.0, metadata={"gt": 0})
    concurrency: int = field(
        default=4, metadata={"ge": 1, "le": 64, "doc": "downloads in flight at once"})
    user_agent: str = "sdo-monitor"

    def check(self) -> list[tuple[str, str]]:
        if self.backoff_max_s < self.backoff_initial_s:
            return [("backoff_max_s", "must be >= backoff_initial_s")]
        return []


class Downloader:
    """Fetch documents and files with the policy of :class:`DownloadSettings`.

    Parameters
    ----------
    settings : DownloadSettings
        Timeouts, limits, retries.
    session : aiohttp.ClientSession, optional
        Shared session; one is created (and closed with the downloader) if absent.
    """

    def __init__(self, settings: DownloadSettings,
                 session: aiohttp.ClientSession | None = None,
                 rng: random.Random | None = None,
                 counters: Counter[str] | None = None) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self._rng = rng or random.Random()
        #: Requests, retries, failures by reason (pass one in to keep counting across runs).
        self.counters: Counter[str] = Counter() if counters is None else counters

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            s = self.settings
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=s.total_timeout_s,
                                              connect=s.connect_timeout_s,
                                              sock_read=s.read_timeout_s),
                headers={"User-Agent": s.user_agent},
                connector=aiohttp.TCPConnector(limit=max(4, s.concurrency * 2)))
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    # -- retries --------------------------------------------------------------
    async def _retrying(self, url: str, attempt_once: Callable[[], Awaitable[T]]) -> T:
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_once()
            except DownloadError as exc:
                self.counters[f"failed_{exc.reason}"] += 1
                if not exc.transient or attempt > s.retries:
                    raise
                delay = backoff_delay(attempt, s.backoff_initial_s, s.backoff_max_s, self._rng)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, s.backoff_max_s))
                self.counters["retries"] += 1
                log.info("fetch failed, retrying", url=url, reason=exc.reason, attempt=attempt,
                         delay_s=round(delay, 2))
                await asyncio.sleep(delay)

    # -- documents ----------------------------------------------------------------
    async def get_document(self, url: str, etag: str | None = None,
                           last_modified: str | None = None,
                           allow: UrlAllowList | None = None) -> Document:
        """GET an index document, conditionally when validators are given.

        With ``allow``, ``url`` must already be normalised
        (:meth:`UrlAllowList.check`) and redirects must stay inside the list,
        as for :meth:`download`.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified

        async def once() -> Document:
            try:
                async with await self._open(url, allow, headers) as response:
                    self.counters["requests"] += 1
                    if response.status == 304:
                        self.counters["not_modified"] += 1
                        return Document(url, 304, None, etag, last_modified)
                    check_status(response, url)
                    body = await self._read_limited(response, url,
                                                    self.settings.max_index_bytes)
                    return Document(url, response.status, body, response.headers.get("ETag"),
                                    response.headers.get("Last-Modified"))
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise classify(exc, url) from None

        return await self._retrying(url, once)

    async def _read_limited(self, response: aiohttp.ClientResponse, url: str,
                            limit: int) -> bytes:
        check_length(response, url, limit)
        body = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            body += chunk
            if len(body) > limit:
                raise DownloadError("oversize", f"{url}: more than {limit} bytes",
                                    transient=False)
        check_complete(response, url, len(body))
        return bytes(body)

    async def _open(self, url: str, allow: UrlAllowList | None,
                    headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """GET ``url``; with ``allow``, follow redirects by hand, checking every hop."""
        if allow is None:
            return await self.session.get(url, headers=headers)
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            # encoded=True: request exactly the normalised URL that was checked
            response = await self.session.get(URL(current, encoded=True), headers=headers,
                                              allow_redirects=False)
            if response.status not in _REDIRECT_STATUS:
                return response
            location = response.headers.get("Location", "")
            response.release()
            try:
                current = allow.check_redirect(current, location).url
            except UrlRefused as exc:
                raise DownloadError("redirect_not_allowed",
                                    f"{url}: redirected to {location[:300]!r} ({exc.reason})",
                                    transient=False) from None
        raise DownloadError("redirects", f"{url}: more than {_MAX_REDIRECTS} redirects",
                            transient=False)

    async def download(self, url: str, directory: Path, name: str,
                       allow: UrlAllowList | None = None) -> DownloadResult:
        """Download ``url`` to ``directory/name`` through a temporary file and a rename.

        With ``allow``, ``url`` must already be normalised
        (:meth:`UrlAllowList.check`) and redirects must stay inside the list.

        Raises
        ------
        DownloadError
            After the last attempt, or at once for permanent failures.
        UnsafeName
            When ``name`` could escape ``directory``.
        """
        final = safe_local_path(directory, name)
        attempts = 0

        async def once() -> DownloadResult:
            nonlocal attempts
            attempts += 1
            temp = final.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-{name}.part")
            try:
                async with await self._open(url, allow) as response:
                    self.counters["requests"] += 1
                    check_status(response, url)
                    limit = self.settings.max_file_bytes
                    check_length(response, url, limit)
                    size = await self._stream_to(response, temp, url, limit)
                    check_complete(response, url, size)
                await asyncio.to_thread(_finish, temp, final)
            except (TimeoutError, aiohttp.ClientError, DownloadError) as exc:
                await asyncio.to_thread(_unlink, temp)
                raise classify(exc, url) from None
            except BaseException:
                await asyncio.to_thread(_unlink, temp)  # cancelled: leave nothing behind
                raise
            self.counters["files"] += 1
            self.counters["bytes"] += size
            return DownloadResult(final, size, url, attempts)

        return await self._retrying(url, once)

    async def _stream_to(self, response: aiohttp.ClientResponse, temp: Path, url: str,
                         limit: int) -> int:
        size = 0
        buffer = bytearray()
        handle = await asyncio.to_thread(open, temp, "xb")
        try:
            async for chunk in response.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise DownloadError("oversize", f"{url}: more than {limit} bytes",
                                        transient=False)
                buffer += chunk
                if len(buffer) >= _FLUSH_BYTES:
                    await asyncio.to_thread(handle.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(handle.write, bytes(buffer))
            await asyncio.to_thread(_flush_sync, handle)
        finally:
            await asyncio.to_thread(handle.close)
        return size


def _flush_sync(handle: object) -> None:
    handle.flush()  # type: ignore[attr-defined]
    os.fsync(handle.fileno())  # type: ignore[attr-defined]


def _finish(temp: Path, final: Path) -> None:
    os.replace(temp, final)
    fsync_directory(final.parent)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
