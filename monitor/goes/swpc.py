"""NOAA SWPC's GOES X-ray JSON: parsing, and polling it with conditional requests.

The product (``json/goes/primary/xrays-6-hour.json`` and its 1-day, 3-day,
7-day siblings; facts in the project's feeds notes) is a JSON array of
1-minute records, two per minute (one per band), oldest first::

    {"time_tag": "2024-05-10T12:00:00Z", "satellite": 16, "flux": 2.1e-06,
     "observed_flux": 2.2e-06, "electron_correction": 1e-07,
     "electron_contaminaton": false, "energy": "0.1-0.8nm"}

``flux`` is the electron-corrected value and the one used. Records with a
bad value are counted by outcome and skipped, never raised. When a minute
appears twice with different satellites (a change of primary), the record of
the document's newest satellite wins: the last record names the primary now.

:class:`SwpcPoller` fetches the document with ``If-None-Match`` /
``If-Modified-Since`` (a 304 costs nothing), a timeout, a size limit, and
exponential backoff after failures (honouring ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self

from monitor.goes.samples import GoesSample, flux_problem
from monitor.goes.settings import SwpcFeedSettings
from monitor.logs import get_logger

__all__ = ["POLL_ERRORS", "XRSB_ENERGY", "FetchResult", "ParsedDocument", "SwpcPoller",
           "parse_swpc", "parse_time_tag"]

log = get_logger(__name__)

#: The ``energy`` value of XRS-B records.
XRSB_ENERGY = "0.1-0.8nm"
_XRSA_ENERGY = "0.05-0.4nm"

#: Reasons a poll failed (label values of the feed errors counter).
POLL_ERRORS: dict[str, str] = {
    "http_status": "the server answered an error status (4xx/5xx)",
    "timeout": "no complete answer within feed.timeout_s",
    "connection": "the connection failed or was cut",
    "too_large": "the document is larger than feed.max_body_bytes",
    "bad_json": "the body is not JSON",
    "bad_document": "the JSON is not an array of records",
}


def parse_time_tag(value: Any) -> float | None:
    """Unix time of a ``time_tag`` (``YYYY-MM-DDTHH:MM:SSZ``, also without Z or with
    fractions/offsets); None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass
class ParsedDocument:
    """XRS-B samples of one document (time order, one per minute) and refused records."""

    samples: list[GoesSample]
    counts: Counter[str] = field(default_factory=Counter)
    satellite: int | None = None


def parse_swpc(document: Any, flux_scale: float = 1.0,
               energy: str = XRSB_ENERGY) -> ParsedDocument:
    """Parse an SWPC X-ray document into class-scale XRS-B samples.

    Never raises on content: a document that is not a list gives no samples and
    one ``bad_record`` count; every refused record is counted by outcome.
    """
    counts: Counter[str] = Counter()
    if not isinstance(document, list):
        counts["bad_record"] += 1
        return ParsedDocument([], counts)
    latest_sat: int | None = None
    by_minute: dict[int, list[GoesSample]] = {}
    for record in document:
        if not isinstance(record, dict):
            counts["bad_record"] += 1
            continue
        band = record.get("energy")
        if band != energy:
            counts["other_band" if band == _XRSA_ENERGY else "bad_record"] += 1
            continue
        t = parse_time_tag(record.get("time_tag"))
        if t is None:
            counts["bad_time"] += 1
            continue
        sat = record.get("satellite")
        if isinstance(sat, str) and sat.strip().isdigit():
            sat = int(sat)
        if not isinstance(sat, int) or isinstance(sat, bool):
            sat = None
        problem = flux_problem(record.get("flux"))
        if problem is not None:
            counts[problem] += 1
            continue
        sample = GoesSample(t - t % 60.0, float(record["flux"]) * flux_scale, sat)
        by_minute.setdefault(sample.minute, []).append(sample)
        if sat is not None:
            latest_sat = sat
    samples = []
    for minute in sorted(by_minute):
        candidates = by_minute[minute]
        chosen = next((s for s in reversed(candidates) if s.satellite == latest_sat),
                      candidates[-1])
        if len(candidates) > 1:
            same = all(s.flux == chosen.flux and s.satellite == chosen.satellite
                       for s in candidates)
            counts["duplicate" if same else "conflicting_duplicate"] += len(candidates) - 1
        samples.append(chosen)
    return ParsedDocument(samples, counts, latest_sat)


@dataclass(frozen=True)
class FetchResult:
    """One poll: ``ok`` with a document, ``not_modified`` (304), or ``error`` with a reason."""

    outcome: Literal["ok", "not_modified", "error"]
    document: Any = None
    reason: str | None = None
    status: int | None = None
    detail: str = ""
    retry_after_s: float | None = None


class SwpcPoller:
    """Fetch an SWPC-style X-ray JSON document, conditionally, with backoff.

    Parameters
    ----------
    settings : SwpcFeedSettings
        URL, interval, timeout, backoff, size limit.
    sleep : callable, optional
        ``await sleep(seconds)``; tests may pass a faster one.
    """

    def __init__(self, settings: SwpcFeedSettings,
                 sleep: Callable[[float], Any] | None = None) -> None:
        self.settings = settings
        self._sleep = sleep or asyncio.sleep
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._session: Any = None
        self.failures = 0  # consecutive
        self.counts: Counter[str] = Counter()  # ok / not_modified / error:<reason>
        self.last_success: float | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
            self._session = aiohttp.ClientSession(
                timeout=timeout, headers={"User-Agent": self.settings.user_agent,
                                          "Accept": "application/json"})
        return self._session

    async def fetch(self) -> FetchResult:
        """One conditional GET; never raises for network or content problems."""
        import aiohttp

        headers = {}
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        try:
            async with self._client().get(self.settings.url, headers=headers) as response:
                if response.status == 304:
                    return self._note(FetchResult("not_modified", status=304))
                if response.status >= 400:
                    retry = _retry_after(response.headers.get("Retry-After"))
                    return self._note(FetchResult("error", reason="http_status",
                                                  status=response.status,
                                                  detail=f"HTTP {response.status}",
                                                  retry_after_s=retry))
                length = response.content_length
                if length is not None and length > self.settings.max_body_bytes:
                    return self._note(FetchResult("error", reason="too_large",
                                                  status=response.status,
                                                  detail=f"{length} bytes"))
                body = bytearray()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    body += chunk
                    if len(body) > self.settings.max_body_bytes:
                        return self._note(FetchResult("error", reason="too_large",
                                                      status=response.status))
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
        except TimeoutError:
            return self._note(FetchResult("error", reason="timeout"))
        except aiohttp.ClientPayloadError as exc:
            return self._note(FetchResult("error", reason="connection", detail=str(exc)))
        except (aiohttp.ClientError, OSError) as exc:
            return self._note(FetchResult("error", reason="connection", detail=str(exc)))
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._note(FetchResult("error", reason="bad_json", detail=str(exc)[:200]))
        if not isinstance(document, list):
            return self._note(FetchResult("error", reason="bad_document",
                                          detail=type(document).__name__))
        # validators only from a usable answer, so a broken body is fetched again
        self._etag, self._last_modified = etag, modified
        return self._note(FetchResult("ok", document=document, status=200))

    def _note(self, result: FetchResult) -> FetchResult:
        if result.outcome == "error":
            self.failures += 1
            self.counts[f"error:{result.reason}"] += 1
            log.warning("goes poll failed", feed=self.settings.name, reason=result.reason,
                        status=result.status, detail=result.detail, failures=self.failures)
        else:
            if self.failures:
                log.info("goes feed recovered", feed=self.settings.name,
                         after_failures=self.failures)
            self.failures = 0
            self.last_success = time.time()
            self.counts[result.outcome] += 1
        return result

    def next_delay(self, result: FetchResult) -> float:
        """Seconds to wait before the next poll after ``result``."""
        s = self.settings
        if result.outcome != "error":
            return s.poll_interval_s
        backoff = min(s.backoff_max_s, s.backoff_initial_s * 2 ** (self.failures - 1))
        if result.retry_after_s is not None:
            backoff = max(backoff, min(result.retry_after_s, s.backoff_max_s))
        return backoff

    async def run(self, on_result: Callable[[FetchResult], Any],
                  stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set (or cancelled); ``on_result`` may be async."""
        try:
            while stop is None or not stop.is_set():
                result = await self.fetch()
                outcome = on_result(result)
                if asyncio.iscoroutine(outcome):
                    await outcome
                delay = self.next_delay(result)
                if stop is None:
                    await self._sleep(delay)
                else:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                    except TimeoutError:
                        pass
        finally:
            await self.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
