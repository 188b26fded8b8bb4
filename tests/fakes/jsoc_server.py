"""A local imitation of JSOC's AIA synoptic NRT web tree, with fault injection.

What it imitates (facts in /work/shared/notes/feeds.md):

- ``<prefix>/YYYY/MM/DD/Hhh00/AIAYYYYMMDD_hhmmss_wwww.fits``: one file per
  channel per 180 s slot, named by the slot (T_REC), wavelength 4 digits;
- ``<prefix>/image_times.json`` ``{"first": ..., "last": "YYYYMMDD_HHMMSS"}``
  and the two-line text ``image_times`` (``Time`` + time, ``synoptic`` + URL
  stem of the newest file), updated when a newer slot is published;
- files published out of time order (an older slot after a newer one, which
  does not move ``last`` back) and gaps that are never filled (slots or
  channels simply absent);
- Apache-style HTML directory listings (``Index of ...``), redirects from a
  directory URL without its trailing slash;
- ``ETag`` and ``Last-Modified`` on files and listings, answering
  ``If-None-Match`` / ``If-Modified-Since`` with 304.

Faults for tests (:class:`Faults`): error statuses, slow answers, bodies cut
short, chunked bodies without Content-Length. Everything binds 127.0.0.1 on
a random port. :class:`JsocArchive` builds the tree on disk; the server only
serves it, so a test, the demo or a benchmark can publish while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import hashlib
import html
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from aiohttp import web

from monitor.atomicfile import write_atomic

__all__ = ["NRT_CHANNELS", "SLOT_S", "Fault", "Faults", "JsocArchive", "JsocServer"]

log = logging.getLogger(__name__)

#: Channels of the synoptic product (Angstrom).
NRT_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500)
#: NRT slot length (seconds).
SLOT_S = 180
_PREFIX = "/data/aia/synoptic/nrt/"


class JsocArchive:
    """The on-disk tree of an NRT feed, written the way the producer would.

    Parameters
    ----------
    root : Path
        Directory that plays ``.../synoptic/nrt/``.
    base_url : str
        URL of ``root`` as served, used in the ``image_times`` text file.
    """

    def __init__(self, root: Path, base_url: str = "http://127.0.0.1" + _PREFIX) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url

    @staticmethod
    def slot(when: datetime) -> datetime:
        """The 180 s slot (T_REC) containing ``when``."""
        when = when.astimezone(UTC) if when.tzinfo else when.replace(
            tzinfo=UTC)
        seconds = int(when.timestamp()) // SLOT_S * SLOT_S
        return datetime.fromtimestamp(seconds, tz=UTC)

    @staticmethod
    def file_name(t_rec: datetime, wavelength: int) -> str:
        return f"AIA{t_rec:%Y%m%d_%H%M%S}_{wavelength:04d}.fits"

    @staticmethod
    def relative_dir(t_rec: datetime) -> str:
        return f"{t_rec:%Y/%m/%d}/H{t_rec:%H}00"

    def path_for(self, t_rec: datetime, wavelength: int) -> Path:
        return self.root / self.relative_dir(t_rec) / self.file_name(t_rec, wavelength)

    def url_for(self, t_rec: datetime, wavelength: int) -> str:
        return f"{self.base_url}{self.relative_dir(t_rec)}/{self.file_name(t_rec, wavelength)}"

    def publish(self, t_rec: datetime, wavelength: int, *, source: Path | None = None,
                size: int = 64, compressed: bool = False, pad_bytes: int = 0,
                update_index: bool = True) -> Path:
        """Write one channel of one slot (renamed into place) and update the index.

        Parameters
        ----------
        t_rec : datetime
            Slot time (UTC); rounded down to the slot.
        wavelength : int
            Channel.
        source : Path, optional
            Copy this FITS file instead of generating one (e.g. a synthetic
            frame from ``monitor.synth``).
        size, compressed, pad_bytes
            Passed to :func:`~fakes.synoptic_fits.write_synoptic_fits`.
        update_index : bool
            Move ``image_times.json``'s ``last`` forward if this slot is newer.
        """
        t_rec = self.slot(t_rec)
        path = self.path_for(t_rec, wavelength)
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            write_atomic(path, Path(source).read_bytes())
        else:
            from fakes.synoptic_fits import write_synoptic_fits

            write_synoptic_fits(path, t_rec, wavelength, size=size, compressed=compressed,
                                pad_bytes=pad_bytes)
        if update_index:
            self._update_index(t_rec, wavelength)
        return path

    def publish_slot(self, t_rec: datetime, channels: tuple[int, ...] = NRT_CHANNELS,
                     missing: tuple[int, ...] = (), **kwargs: object) -> list[Path]:
        """Publish every channel of a slot except ``missing`` (a gap never filled)."""
        return [self.publish(t_rec, w, **kwargs) for w in channels  # type: ignore[arg-type]
                if w not in missing]

    def latest(self) -> datetime | None:
        """``last`` of ``image_times.json``, or None before anything was published."""
        try:
            data = json.loads((self.root / "image_times.json").read_text())
        except FileNotFoundError:
            return None
        return datetime.strptime(data["last"], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)

    def _update_index(self, t_rec: datetime, wavelength: int) -> None:
        index = self.root / "image_times.json"
        try:
            data = json.loads(index.read_text())
        except FileNotFoundError:
            data = {"first": f"{t_rec:%Y%m%d_%H%M%S}", "last": f"{t_rec:%Y%m%d_%H%M%S}"}
        else:
            latest = datetime.strptime(data["last"], "%Y%m%d_%H%M%S").replace(
                tzinfo=UTC)
            if t_rec <= latest:
                return  # an out-of-order (older) file does not move "last" back
            data["last"] = f"{t_rec:%Y%m%d_%H%M%S}"
        stem = self.url_for(t_rec, wavelength).rsplit("_", 1)[0]
        write_atomic(index, json.dumps(data))
        write_atomic(self.root / "image_times", f"Time     {data['last']}\nsynoptic {stem}\n")


FaultKind = Literal["status", "slow", "truncate", "chunked", "stall", "redirect"]


@dataclass
class Fault:
    """One injected fault for requests whose path matches ``pattern`` (fnmatch).

    Kinds: ``status`` answers ``status`` instead; ``slow`` waits ``delay_s``
    before answering; ``stall`` sends half the body, then waits ``delay_s``;
    ``truncate`` announces the full Content-Length, sends ``fraction`` of the
    body and drops the connection; ``chunked`` omits Content-Length;
    ``redirect`` answers 302 to ``location``.
    ``times`` is how many requests it affects (None: all).
    """

    kind: FaultKind
    pattern: str = "*"
    times: int | None = 1
    status: int = 500
    delay_s: float = 2.0
    fraction: float = 0.5
    location: str = ""


@dataclass
class Faults:
    """Faults to inject, consumed in order; ``hits`` counts what was injected."""

    rules: list[Fault] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)

    def add(self, kind: FaultKind, pattern: str = "*", times: int | None = 1,
            **params: float | str) -> Fault:
        fault = Fault(kind, pattern, times, **params)  # type: ignore[arg-type]
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def take(self, path: str) -> list[Fault]:
        taken = []
        for fault in list(self.rules):
            if fnmatch.fnmatchcase(path, fault.pattern):
                taken.append(fault)
                self.hits[fault.kind] += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.rules.remove(fault)
        return taken


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (for assertions)."""

    method: str
    path: str
    status: int
    conditional: bool
    user_agent: str | None = None


class JsocServer:
    """Serve a :class:`JsocArchive` tree on ``http://127.0.0.1:<random port>``.

    Use as ``async with JsocServer(root) as server:``; ``server.base_url`` is
    the ``nrt/`` URL, ``server.listing_template`` and ``server.latest_url`` are
    what an HTTP feed's ``url`` and ``latest_url`` settings take.
    """

    def __init__(self, root: Path, *, faults: Faults | None = None, host: str = "127.0.0.1",
                 port: int = 0, prefix: str = _PREFIX) -> None:
        self.root = Path(root).resolve()
        self.faults = faults or Faults()
        self.host, self.port, self.prefix = host, port, prefix
        self.requests: list[RequestRecord] = []
        #: Most requests answered at the same time.
        self.max_concurrent = 0
        self._concurrent = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    @property
    def listing_template(self) -> str:
        return self.base_url + "%Y/%m/%d/H%H00/"

    @property
    def latest_url(self) -> str:
        return self.base_url + "image_times.json"

    def archive(self) -> JsocArchive:
        """A :class:`JsocArchive` on the served root with the right URLs."""
        return JsocArchive(self.root, self.base_url)

    async def start(self) -> JsocServer:
        app = web.Application()
        app.router.add_get(self.prefix + "{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("JSOC-like server up", extra={"kv": {"url": self.base_url}})
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def count(self, status: int | None = None, pattern: str = "*") -> int:
        """Requests answered with ``status`` (any if None) whose path matches ``pattern``."""
        return sum(1 for r in self.requests if (status is None or r.status == status)
                   and fnmatch.fnmatchcase(r.path, pattern))

    # -- request handling -------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        conditional = bool(request.headers.get("If-None-Match")
                           or request.headers.get("If-Modified-Since"))
        self._concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self._concurrent)
        try:
            response = await self._answer(request, tail)
        finally:
            self._concurrent -= 1
        self.requests.append(RequestRecord(request.method, request.path, response.status,
                                           conditional, request.headers.get("User-Agent")))
        return response

    async def _answer(self, request: web.Request, tail: str) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return web.Response(status=404, text="Not Found")
        target = self.root.joinpath(*parts)
        faults = self.faults.take(request.path)
        for fault in faults:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "status":
                return web.Response(status=fault.status, text=f"injected {fault.status}")
            elif fault.kind == "redirect":
                return web.Response(status=302, headers={"Location": fault.location})
        if target.is_dir():
            if tail and not tail.endswith("/"):
                raise web.HTTPMovedPermanently(request.path + "/")
            body = _listing(self.prefix + tail, target).encode()
            mtime = max([target.stat().st_mtime] + [p.stat().st_mtime for p in target.iterdir()
                                                     if not p.name.startswith(".")])
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            content_type = "text/html;charset=UTF-8"
        elif target.is_file():
            st = target.stat()
            body = target.read_bytes()
            mtime = st.st_mtime
            etag = f'"{st.st_size:x}-{st.st_mtime_ns // 1000:x}"'  # Apache's size-mtime form
            content_type = ("application/json" if target.suffix == ".json" else
                            "text/plain" if target.name == "image_times" else
                            "application/fits")
        else:
            return web.Response(status=404, text="Not Found")
        last_modified = datetime.fromtimestamp(int(mtime), tz=UTC)
        headers = {"ETag": etag, "Last-Modified": format_datetime(last_modified, usegmt=True),
                   "Content-Type": content_type}
        if _not_modified(request, etag, last_modified):
            return web.Response(status=304, headers={"ETag": etag,
                                                     "Last-Modified": headers["Last-Modified"]})
        kinds = {f.kind: f for f in faults}
        if "truncate" in kinds or "stall" in kinds or "chunked" in kinds:
            return await self._stream(request, body, headers, kinds)
        return web.Response(body=body, headers=headers)

    async def _stream(self, request: web.Request, body: bytes, headers: dict[str, str],
                      kinds: dict[str, Fault]) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        if "chunked" in kinds:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(body)
        await response.prepare(request)
        if "truncate" in kinds:
            await response.write(body[: int(len(body) * kinds["truncate"].fraction)])
            if request.transport is not None:
                request.transport.close()  # the connection drops mid-body
            return response
        if "stall" in kinds:
            half = len(body) // 2
            await response.write(body[:half])
            await asyncio.sleep(kinds["stall"].delay_s)
            await response.write(body[half:])
        else:
            for start in range(0, len(body), 65536):
                await response.write(body[start:start + 65536])
        await response.write_eof()
        return response


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return etag in [t.strip() for t in if_none_match.split(",")] or if_none_match == "*"
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _listing(url_path: str, directory: Path) -> str:
    """An Apache 2.4 ``mod_autoindex`` page (fancy indexing, table layout)."""
    title = html.escape("Index of " + url_path.rstrip("/"))
    parent = url_path.rstrip("/").rsplit("/", 1)[0] + "/"
    rows = [(f'<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
             f'<td><a href="{html.escape(parent)}">Parent Directory</a></td><td>&nbsp;</td>'
             f'<td align="right">  - </td><td>&nbsp;</td></tr>')]
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue  # temporary files of the producer are not listed
        st = entry.stat()
        stamp = datetime.fromtimestamp(st.st_mtime, tz=UTC).strftime("%Y-%m-%d %H:%M")
        name = entry.name + ("/" if entry.is_dir() else "")
        size = "  - " if entry.is_dir() else _human(st.st_size)
        icon = "[DIR]" if entry.is_dir() else "[   ]"
        rows.append(f'<tr><td valign="top"><img src="/icons/unknown.gif" alt="{icon}"></td>'
                    f'<td><a href="{html.escape(name)}">{html.escape(name)}</a></td>'
                    f'<td align="right">{stamp}  </td><td align="right">{size}</td>'
                    f'<td>&nbsp;</td></tr>')
    return ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
            f'  <title>{title}</title>\n </head>\n <body>\n<h1>{title}</h1>\n  <table>\n'
            '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
            '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
            '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th>'
            '</tr>\n   <tr><th colspan="5"><hr></th></tr>\n' + "\n".join(rows)
            + '\n   <tr><th colspan="5"><hr></th></tr>\n</table>\n</body></html>\n')


def _human(size: int) -> str:
    for unit in ("", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "" or size >= 10 else f"{size:.1f}{unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


async def _serve(args: argparse.Namespace) -> None:
    archive_root = Path(args.root)
    async with JsocServer(archive_root, port=args.port) as server:
        archive = server.archive()
        slot = JsocArchive.slot(datetime.now(UTC) - timedelta(hours=args.hours))
        for _ in range(int(args.hours * 3600 // SLOT_S)):
            archive.publish_slot(slot, size=args.size)
            slot += timedelta(seconds=SLOT_S)
        print(f"url: {server.listing_template}\nlatest_url: {server.latest_url}", flush=True)
        while True:  # simulated time runs args.speed times faster than the clock
            await asyncio.sleep(SLOT_S / args.speed)
            archive.publish_slot(slot, size=args.size)
            slot += timedelta(seconds=SLOT_S)


def main(argv: list[str] | None = None) -> int:
    """``python -m fakes.jsoc_server --root DIR``: a live fake feed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="directory for the served tree")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hours", type=float, default=1.0, help="history to publish first")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--speed", type=float, default=1.0, help="publish slots this much faster")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
