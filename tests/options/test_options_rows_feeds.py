"""Options of ``feeds``: each changes which files a running source emits, where and how.

Sources are built by :func:`monitor.sources.make_source` (the daemon's
factory) and run for a moment against real directories (spool) or the
JSOC-like HTTP server of ``tests/fakes`` (HTTP feed, downloads); the probe
returns what came out: names, feed names, frame keys, files left behind,
requests the server saw. Kafka feed rows run against the session's local
broker (``test_kafka_feed_option_changes_behaviour``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.harness import Collector, running
from fakes.jsoc_server import Faults, JsocArchive, JsocServer
from optionrows import Row, scratch

from monitor.frames import ChannelItem, FrameAssembler, FrameSettings
from monitor.sources import DownloadSettings, HttpFeedSettings, SpoolFeedSettings, make_source

NAME_171 = "AIA20260624_195100_0171.fits"
NAME_193 = "AIA20260624_195100_0193.fits"
T0 = datetime(2026, 6, 24, 19, 51, tzinfo=UTC)


async def _collect(source: Any, during: Callable[[], Any] | None, expect: int,
                   timeout: float, after: Callable[[Any, list[Any]], Any] | None,
                   settled: Callable[[], bool] = lambda: False) -> list[Any]:
    """Run ``source`` until ``expect`` arrivals, ``settled()`` or ``timeout``."""
    collect = Collector()
    async with running(source, collect):
        if during is not None:
            await asyncio.sleep(0.2)
            during()
        try:
            await collect.wait_for(lambda a: len(a) >= expect or settled(), timeout=timeout)
        except TimeoutError:
            pass
        if after is not None:
            await after(source, collect.arrivals)
    return collect.arrivals


# -- spool ------------------------------------------------------------------------------
def spool(field: str, value: Any, *, files: tuple[str, ...] = (NAME_171,),
          later: tuple[str, ...] = (), renamed: bool = True, expect: int = 1,
          outcome: str | None = None, base: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """Run a spool feed over ``files`` (present at start) and ``later`` (written after)."""
    tmp = scratch("options-spool-")
    root = tmp / "spool"
    for d in (root, tmp / "other", root / "sub"):
        d.mkdir()
    settings = SpoolFeedSettings(name="aia", path=root, watch="poll", poll_interval_s=0.05,
                                 stable_s=0.0, include=("*.fits",))
    value = tmp / value if field in ("path", "done_dir", "rejected_dir") and value else value
    settings = dataclasses.replace(settings, **{**(base or {}), field: value})

    def write(name: str, i: int) -> None:
        final = root / name
        temp = final.with_name(f".{final.name}.part") if renamed else final
        temp.write_bytes(b"SIMPLE  =  T" * 10)
        if renamed:  # a file written in place keeps its fresh mtime (not yet stable)
            os.utime(temp, (1e9 + i, 1e9 + i))  # first name oldest
            os.replace(temp, final)

    for i, name in enumerate(files):
        write(name, i)

    async def after(source: Any, arrivals: list[Any]) -> None:
        if outcome is not None:
            for arrival in arrivals:
                await source.done(arrival, outcome)

    arrivals = asyncio.run(_collect(
        make_source(settings), (lambda: [write(n, 0) for n in later]) if later else None,
        expect, 1.0, after))
    left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*.fits"))
    return tuple((a.feed, a.path.name) for a in arrivals), tuple(left)


def cadence(kind: str, value: float) -> tuple[Any, ...]:
    """Frames from two channels 20 s apart, bucketed by the feed's cadence (as the daemon
    builds its frame assembler from ``{feed.name: feed.cadence_s}``)."""
    feed = {"spool": SpoolFeedSettings(name="aia", path=Path("/x"), cadence_s=value),
            "kafka": _kafka_feed(cadence_s=value)}[kind]
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(), (171, 193),
                                              {f.name: f.cadence_s for f in [feed]})
    ready = asm.add(ChannelItem(feed.name, 171, T0, "a", arrived_at=0.0), now=0.0).ready
    ready += asm.add(ChannelItem(feed.name, 193, T0 + timedelta(seconds=20), "b",
                                 arrived_at=0.0), now=0.0).ready
    return len(ready), asm.open_frames


# -- HTTP feed ----------------------------------------------------------------------------
FAST = DownloadSettings(connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5, retries=0,
                        backoff_initial_s=0.05, backoff_max_s=0.2, concurrency=2)


def http(field: str, value: Any, *, expect: int = 2, faults: Callable[[Faults], Any] | None = None,
         later: bool = False, outcome: str | None = None, download: bool = False,
         base: dict[str, Any] | None = None, wait: float = 1.0) -> tuple[Any, ...]:
    """Run an HTTP feed on the JSOC-like server holding 19:51 (171, 193) and 19:21 (171)."""
    async def main() -> tuple[Any, ...]:
        tmp = scratch("options-http-")
        fault_set = Faults()
        async with JsocServer(tmp / "jsoc", faults=fault_set) as server:
            archive = server.archive()
            archive.publish(T0 - timedelta(minutes=30), 171)
            archive.publish_slot(T0, channels=(171, 193))
            if faults is not None:
                faults(fault_set)
            settings = HttpFeedSettings(name="jsoc", url=server.listing_template,
                                        spool=tmp / "spool", latest_url=server.latest_url,
                                        channels=(171, 193), poll_interval_s=0.1,
                                        lookback_s=600, download=FAST)
            settings = dataclasses.replace(settings, **(base or {}))
            v = _http_value(field, value, server, tmp)
            if download:
                settings = dataclasses.replace(
                    settings, download=dataclasses.replace(settings.download, **{field: v}))
            else:
                settings = dataclasses.replace(settings, **{field: v})

            def publish_later() -> None:
                archive.publish(T0 + timedelta(minutes=3), 171)

            async def after(source: Any, arrivals: list[Any]) -> None:
                if outcome is not None:
                    for arrival in arrivals:
                        await source.done(arrival, outcome)

            source = make_source(settings)
            # a poll cycle ends after its downloads, so once the fourth listing is asked
            # for, three whole cycles over files that were there from the start are done
            arrivals = await _collect(
                source, publish_later if later else None, expect, wait, after,
                settled=lambda: not later and server.count(None, "*/") >= 4)
            stats = source.stats()
            left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*.fits")
                          if "jsoc" not in p.parts)
            agents = sorted({r.user_agent for r in server.requests})
            return (tuple((a.feed, a.path.name, a.observation_key) for a in arrivals),
                    tuple(left), dict(stats.errors), dict(stats.ignored), tuple(agents),
                    server.max_concurrent > 1)

    return asyncio.run(main())


def _http_value(field: str, value: Any, server: JsocServer, tmp: Path) -> Any:
    if field == "url":
        return {"listing": server.listing_template,
                "elsewhere": server.base_url + "moved/%Y/%m/%d/H%H00/"}[value]
    if field == "latest_url":
        return server.latest_url if value == "latest" else None
    if field in ("spool", "done_dir") and value is not None:
        return tmp / value
    return value


def remember(value: int) -> int:
    """Index entries of unconfigured channels are remembered (ignored once) up to the bound;
    past it the oldest are forgotten and ignored again on the next poll."""
    async def main() -> int:
        tmp = scratch("options-remember-")
        async with JsocServer(tmp / "jsoc") as server:
            names = [JsocArchive.file_name(T0 - timedelta(minutes=3 * i), 94) for i in range(150)]
            (tmp / "jsoc").mkdir(parents=True, exist_ok=True)
            (tmp / "jsoc" / "files.json").write_text(json.dumps(names))
            settings = HttpFeedSettings(name="j", url=server.base_url + "files.json",
                                        index="json", spool=tmp / "spool", channels=(171,),
                                        poll_interval_s=0.05, lookback_s=10**9,
                                        remember=value, download=FAST)
            source = make_source(settings)
            async with running(source, Collector()):
                deadline = time.monotonic() + 5
                while server.count(None, "*files.json") < 4 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            return source.stats().ignored.get("channel", 0) > 150

    return asyncio.run(main())


class _Delays(logging.Handler):
    """The retry delays the downloader logs ("fetch failed, retrying")."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        kv = getattr(record, "kv", {})
        if "delay_s" in kv:
            self.delays.append(kv["delay_s"])


def backoff(field: str, value: float) -> tuple[bool, ...]:
    """Whether each retry delay after three 503s was long (>= 0.1 s): half-jittered
    exponential delays, so the classes are disjoint for the values used."""
    handler = _Delays()
    logger = logging.getLogger("monitor.sources.download")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        http(field, value, download=True, wait=3.0,
             base={"download": dataclasses.replace(FAST, retries=3, backoff_initial_s=0.05,
                                                   backoff_max_s=0.4)},
             faults=lambda f: f.add("status", "*_0193.fits", times=3, status=503))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return tuple(d >= 0.1 for d in handler.delays)


def connect_timeout(kind: str, value: float) -> float:
    """The connect timeout of the downloader's HTTP session (no local way to make a
    connection hang before it is accepted)."""
    from monitor.sources.download import Downloader

    feed = {"http": HttpFeedSettings(name="j", url="http://127.0.0.1/", spool=Path("/x")),
            "kafka": _kafka_feed()}[kind]
    feed = dataclasses.replace(feed, download=DownloadSettings(connect_timeout_s=value))

    async def main() -> float:
        async with Downloader(feed.download) as downloader:
            return downloader.session.timeout.connect

    return asyncio.run(main())


def _kafka_feed(**changes: Any) -> Any:
    from monitor.sources import KafkaFeedSettings

    return dataclasses.replace(KafkaFeedSettings(name="notices", topic="t",
                                                 path_roots=(Path("/x"),)), **changes)


def _p(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return functools.partial(fn, *args, **kwargs)


SLOW = "*/H1900/*.fits"
ROWS = [
    Row("feeds[spool].name", "aia", "euv", _p(spool, "name")),
    Row("feeds[spool].path", "spool", "other", _p(spool, "path")),
    Row("feeds[spool].channels", (171,), (193,), _p(spool, "channels", files=(NAME_171,
                                                                              NAME_193))),
    Row("feeds[spool].cadence_s", 12.0, 60.0, _p(cadence, "spool")),
    Row("feeds[spool].stable_s", 0.0, 60.0, _p(spool, "stable_s", renamed=False)),
    Row("feeds[spool].poll_interval_s", 0.05, 60.0,
        _p(spool, "poll_interval_s", files=(), later=(NAME_171,))),
    Row("feeds[spool].watch", "inotify", "poll",
        _p(spool, "watch", files=(), later=(NAME_171,), base={"poll_interval_s": 60.0})),
    Row("feeds[spool].recursive", False, True, _p(spool, "recursive", files=("sub/" + NAME_171,))),
    Row("feeds[spool].include", ("*.fits",), ("*.fts",), _p(spool, "include")),
    Row("feeds[spool].order", "mtime", "name",
        _p(spool, "order", files=("b.fits", "a.fits"), expect=2)),
    Row("feeds[spool].after_processing", "keep", "delete",
        _p(spool, "after_processing", outcome="processed")),
    Row("feeds[spool].done_dir", None, "other",
        _p(spool, "done_dir", outcome="processed", base={"after_processing": "move"})),
    Row("feeds[spool].rejected_dir", None, "other", _p(spool, "rejected_dir", outcome="rejected")),
    Row("feeds[http].name", "jsoc", "nrt", _p(http, "name")),
    Row("feeds[http].url", "listing", "elsewhere", _p(http, "url")),
    Row("feeds[http].spool", "spool", "downloads", _p(http, "spool")),
    Row("feeds[http].channels", (171, 193), (193,), _p(http, "channels")),
    Row("feeds[http].cadence_s", 180.0, 7200.0, _p(http, "cadence_s")),
    Row("feeds[http].poll_interval_s", 0.1, 60.0, _p(http, "poll_interval_s", later=True,
                                                      expect=3)),
    Row("feeds[http].index", "listing", "json", _p(http, "index")),
    Row("feeds[http].latest_url", "latest", None, _p(http, "latest_url")),
    Row("feeds[http].file_pattern", HttpFeedSettings.file_pattern, r"^AIA.*_0193\.fits$",
        _p(http, "file_pattern")),
    Row("feeds[http].time_format", "%Y%m%d_%H%M%S", "%Y%d%m_%H%M%S", _p(http, "time_format")),
    Row("feeds[http].directory_step_s", 3600, 86400, _p(http, "directory_step_s")),
    Row("feeds[http].lookback_s", 600.0, 3600.0, _p(http, "lookback_s", expect=3)),
    Row("feeds[http].remember", 20000, 100, remember),
    Row("feeds[http].after_processing", "delete", "keep",
        _p(http, "after_processing", outcome="processed")),
    Row("feeds[http].done_dir", None, "done2",
        _p(http, "done_dir", outcome="processed", base={"after_processing": "move"})),
    Row("feeds[http].download.connect_timeout_s", 10.0, 2.0, _p(connect_timeout, "http")),
    Row("feeds[http].download.read_timeout_s", 5.0, 0.3,
        _p(http, "read_timeout_s", download=True,
           faults=lambda f: f.add("stall", "*_0193.fits", times=1, delay_s=1.0))),
    Row("feeds[http].download.total_timeout_s", 5.0, 0.3,
        _p(http, "total_timeout_s", download=True,
           faults=lambda f: f.add("slow", "*_0193.fits", times=1, delay_s=1.0))),
    Row("feeds[http].download.max_file_bytes", 64 * 1024 * 1024, 1000,
        _p(http, "max_file_bytes", download=True)),
    Row("feeds[http].download.max_index_bytes", 8 * 1024 * 1024, 200,
        _p(http, "max_index_bytes", download=True)),
    Row("feeds[http].download.retries", 0, 2,
        _p(http, "retries", download=True,
           faults=lambda f: f.add("status", "*_0193.fits", times=1, status=503))),
    Row("feeds[http].download.backoff_initial_s", 0.05, 0.4,
        _p(backoff, "backoff_initial_s")),
    Row("feeds[http].download.backoff_max_s", 0.4, 0.05, _p(backoff, "backoff_max_s")),
    Row("feeds[http].download.concurrency", 1, 4,
        _p(http, "concurrency", download=True, expect=3, base={"lookback_s": 3600},
           faults=lambda f: f.add("slow", SLOW, times=None, delay_s=0.3))),
    Row("feeds[http].download.user_agent", "sdo-monitor", "site/2",
        _p(http, "user_agent", download=True)),
    Row("feeds[kafka].cadence_s", 12.0, 60.0, _p(cadence, "kafka")),
    Row("feeds[kafka].download.connect_timeout_s", 10.0, 2.0, _p(connect_timeout, "kafka")),
]

# The Kafka feed downloads notified URLs with the same DownloadSettings and the same
# Downloader as the HTTP feed (KafkaNotificationSource.run builds it from
# settings.download); the rows above show each of these options acting there.
_SAME_DOWNLOADER = ("the same Downloader the HTTP feed uses, built from this feed's "
                    "settings.download; shown acting by the feeds[http].download row of "
                    "tests/options/test_options_rows_feeds.py::test_option_changes_behaviour")
EXEMPT = {f"feeds[kafka].download.{name}": _SAME_DOWNLOADER for name in (
    "read_timeout_s", "total_timeout_s", "max_file_bytes", "max_index_bytes", "retries",
    "backoff_initial_s", "backoff_max_s", "concurrency", "user_agent")}
EXEMPT.update({f"feeds[{kind}].kind": (
    "the discriminator: it selects the settings class and with it the source; "
    "tests/test_plugins.py::test_every_feed_kind_the_config_accepts_has_a_source builds "
    "each kind from YAML") for kind in ("spool", "http", "kafka")})


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()
