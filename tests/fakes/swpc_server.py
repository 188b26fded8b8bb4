"""A local imitation of NOAA SWPC's GOES X-ray JSON service, with fault injection.

What it imitates (facts in the project's feeds notes, section 3):

- ``/json/goes/{primary,secondary}/xrays-{6-hour,1-day,3-day,7-day}.json``:
  a JSON array of 1-minute records, two per minute (``0.05-0.4nm`` then
  ``0.1-0.8nm``), oldest first, the window ending at the newest minute;
- record fields ``time_tag`` (``YYYY-MM-DDTHH:MM:SSZ``), ``satellite`` (int),
  ``flux``, ``observed_flux``, ``electron_correction``,
  ``electron_contaminaton`` (SWPC's spelling), ``energy``;
- ``ETag`` and ``Last-Modified`` on every document, answering
  ``If-None-Match`` / ``If-Modified-Since`` with 304 while nothing changed.

Bad data are whatever a test puts in (:meth:`SwpcServer.add_raw`): null or
negative fluxes, fill values, unreadable times, duplicated minutes, another
satellite. Faults (:meth:`SwpcServer.fail`): error statuses (optionally with
``Retry-After``), slow answers, non-JSON bodies, bodies cut short. Binds
127.0.0.1 on a random port; ``requests`` records what each request sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

__all__ = ["WINDOWS_S", "RecordedRequest", "SwpcFault", "SwpcServer", "swpc_record"]

#: Length of each product's window.
WINDOWS_S: dict[str, float] = {"6-hour": 6 * 3600.0, "1-day": 86400.0, "3-day": 3 * 86400.0,
                               "7-day": 7 * 86400.0}

FaultKind = Literal["status", "slow", "garbage", "truncate"]


def _tag(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def swpc_record(time_s: float, flux: float | None, energy: str = "0.1-0.8nm",
                satellite: int = 16, electron_correction: float = 0.0) -> dict[str, Any]:
    """One record as SWPC writes it."""
    observed = None if flux is None else flux + electron_correction
    return {"time_tag": _tag(time_s), "satellite": satellite, "flux": flux,
            "observed_flux": observed, "electron_correction": electron_correction,
            "electron_contaminaton": bool(electron_correction), "energy": energy}


@dataclass
class SwpcFault:
    """A fault for the next ``times`` requests: ``status`` (with optional
    ``retry_after``), ``slow`` (``delay_s``), ``garbage`` (a non-JSON 200),
    ``truncate`` (half the announced body, then the connection closes)."""

    kind: FaultKind
    times: int = 1
    status: int = 500
    delay_s: float = 2.0
    retry_after: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """What one request asked for."""

    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int
    user_agent: str | None = None


@dataclass
class SwpcServer:
    """Serve SWPC-style X-ray documents from records held in memory.

    Use as ``async with SwpcServer() as server:``; ``server.url("6-hour")`` is
    the primary 6-hour product. Add data with :meth:`add_minute` (both bands,
    well-formed) or :meth:`add_raw` (any record, for bad data).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    faults: list[SwpcFault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _modified: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    # -- data ------------------------------------------------------------------
    def add_minute(self, time_s: float, flux_b: float | None, flux_a: float | None = None,
                   satellite: int = 16) -> None:
        """Both bands of one minute (XRS-A defaults to a tenth of XRS-B)."""
        a = flux_a if flux_a is not None else (None if flux_b is None else flux_b / 10.0)
        self.records.append(swpc_record(time_s, a, "0.05-0.4nm", satellite))
        self.records.append(swpc_record(time_s, flux_b, "0.1-0.8nm", satellite))
        self._touch()

    def add_raw(self, record: Any) -> None:
        """Any record, as is (bad values, wrong types, duplicates)."""
        self.records.append(record)
        self._touch()

    def _touch(self) -> None:
        # HTTP dates have 1 s resolution: each change must look newer than the last
        now = datetime.now(UTC).replace(microsecond=0)
        self._modified = max(now, datetime.fromtimestamp(self._modified.timestamp() + 1, UTC))

    def fail(self, kind: FaultKind, times: int = 1, **params: Any) -> SwpcFault:
        """Inject a fault for the next ``times`` document requests."""
        fault = SwpcFault(kind, times, **params)
        self.faults.append(fault)
        return fault

    def document(self, product: str) -> bytes:
        """The body of a product now: records of its window, oldest first."""
        times = [_time_of(r) for r in self.records]
        known = [t for t in times if t is not None]
        newest = max(known, default=0.0)
        start = newest - WINDOWS_S[product]
        chosen = [r for r, t in zip(self.records, times) if t is None or t > start]
        order = sorted(range(len(chosen)), key=lambda i: _time_of(chosen[i]) or newest)
        return json.dumps([chosen[i] for i in order]).encode()

    # -- HTTP --------------------------------------------------------------------
    def url(self, product: str = "6-hour", which: str = "primary") -> str:
        return f"http://127.0.0.1:{self.port}/json/goes/{which}/xrays-{product}.json"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/json/goes/{which}/xrays-{product}.json", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        product = request.match_info["product"]
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        response = await self._answer(request, product, inm, ims)
        self.requests.append(RecordedRequest(request.path, inm, ims, response.status,
                                             request.headers.get("User-Agent")))
        return response

    async def _answer(self, request: web.Request, product: str, inm: str | None,
                      ims: str | None) -> web.StreamResponse:
        if product not in WINDOWS_S:
            return web.Response(status=404, text="not found")
        fault = self._take_fault()
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.Response(status=fault.status, text="upstream error", headers=headers)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "garbage":
            return web.Response(status=200, text="<html>maintenance</html>",
                                content_type="text/html")
        body = self.document(product)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = format_datetime(self._modified, usegmt=True)
        if inm is not None and inm == etag:
            return web.Response(status=304, headers={"ETag": etag, "Last-Modified": modified})
        if inm is None and ims is not None:
            try:
                if parsedate_to_datetime(ims) >= self._modified:
                    return web.Response(status=304, headers={"Last-Modified": modified})
            except (TypeError, ValueError):
                pass
        headers = {"ETag": etag, "Last-Modified": modified, "Content-Type": "application/json"}
        if fault is not None and fault.kind == "truncate":
            response = web.StreamResponse(status=200, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(status=200, body=body, headers=headers)

    def _take_fault(self) -> SwpcFault | None:
        while self.faults:
            fault = self.faults[0]
            if fault.times <= 0:
                self.faults.pop(0)
                continue
            fault.times -= 1
            return fault
        return None


def _time_of(record: Any) -> float | None:
    if not isinstance(record, dict) or not isinstance(record.get("time_tag"), str):
        return None
    try:
        return datetime.strptime(record["time_tag"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC).timestamp()
    except ValueError:
        return None
