"""What went wrong with an HTTP fetch, and whether and when to try again.

Every failure of :class:`~monitor.sources.download.Downloader` becomes one
:class:`DownloadError` whose ``reason`` is a label from :data:`DOWNLOAD_REASONS`
(a fixed set, whatever the server or the network invents, so metric label
sets stay small) and whose ``transient`` says whether a retry may help:
connection errors, timeouts, bodies cut short and 408/425/429/5xx answers
are transient; other 4xx answers, bad URLs and oversize bodies are not.
:func:`backoff_delay` spaces the retries.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp

__all__ = ["DOWNLOAD_REASONS", "DownloadError", "backoff_delay", "check_complete",
           "check_length", "check_status", "classify"]

#: Every ``DownloadError.reason``.
DOWNLOAD_REASONS: tuple[str, ...] = (
    "timeout", "connection", "truncated", "oversize", "not_found", "throttled", "http_4xx",
    "http_5xx", "bad_url", "redirects", "redirect_not_allowed")

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class DownloadError(Exception):
    """A fetch failed; ``reason`` is a metric label, ``transient`` says retry later."""

    def __init__(self, reason: str, detail: str, *, transient: bool,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


def backoff_delay(attempt: int, initial_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, half of it jittered.

    Half jitter keeps retries from many instances apart without ever
    retrying immediately.
    """
    cap = min(max_s, initial_s * 2 ** (attempt - 1))
    return cap / 2 + (rng or random).uniform(0, cap / 2)


def classify(exc: BaseException, url: str) -> DownloadError:
    """The :class:`DownloadError` of an exception raised while fetching ``url``."""
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, asyncio.TimeoutError):
        return DownloadError("timeout", f"{url}: timed out", transient=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return DownloadError("truncated", f"{url}: {exc}", transient=True)
    if isinstance(exc, aiohttp.InvalidURL):
        return DownloadError("bad_url", f"{url}: {exc}", transient=False)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return DownloadError("redirects", f"{url}: {exc}", transient=False)
    return DownloadError("connection", f"{url}: {exc}", transient=True)


def check_status(response: aiohttp.ClientResponse, url: str) -> None:
    """Raise for an HTTP error status (with the server's ``Retry-After`` in seconds)."""
    if response.status < 400:
        return
    retry_after = None
    header = response.headers.get("Retry-After")
    if header and header.strip().isdigit():
        retry_after = float(header.strip())
    raise DownloadError(_status_reason(response.status), f"{url}: HTTP {response.status}",
                        transient=response.status in _TRANSIENT_STATUS,
                        status=response.status, retry_after=retry_after)


def check_length(response: aiohttp.ClientResponse, url: str, limit: int) -> None:
    """Refuse a body announced larger than ``limit`` before reading it."""
    if response.content_length is not None and response.content_length > limit:
        raise DownloadError("oversize", f"{url}: {response.content_length} bytes announced, "
                                        f"limit {limit}", transient=False)


def check_complete(response: aiohttp.ClientResponse, url: str, received: int) -> None:
    """Refuse a body shorter than announced."""
    # aiohttp normally raises ClientPayloadError itself; this guards the
    # decompressed/identity cases where it cannot tell.
    expected = response.content_length
    if (expected is not None and "Content-Encoding" not in response.headers
            and received != expected):
        raise DownloadError("truncated", f"{url}: {received} of {expected} bytes",
                            transient=True)


def _status_reason(status: int) -> str:
    """A metric label from a small fixed set, whatever status the server invents."""
    if status in (404, 410):
        return "not_found"
    if status == 429:
        return "throttled"
    return "http_5xx" if status >= 500 else "http_4xx"
