"""HTTP feed against the JSOC-like server on loopback: real aiohttp on both ends."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.harness import Collector, running
from fakes.jsoc_server import Faults, JsocArchive, JsocServer

from monitor.sources import DownloadSettings, FileArrival, HttpFeedSettings, make_source
from monitor.sources.httpfeed import HttpSource
from monitor.sources.names import is_temporary

T0 = datetime(2026, 6, 24, 19, 51, tzinfo=UTC)
FAST = DownloadSettings(connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5, retries=3,
                        backoff_initial_s=0.05, backoff_max_s=0.2, concurrency=3)


def run(coro):
    return asyncio.run(coro)


def feed(server: JsocServer, spool: Path, **kwargs) -> HttpFeedSettings:
    settings = HttpFeedSettings(name="jsoc", url=server.listing_template, spool=spool,
                                latest_url=server.latest_url, channels=(171, 193),
                                poll_interval_s=0.2, download=FAST)
    return replace(settings, **kwargs)


def slot(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def watch_for_partials(spool: Path, sizes: dict[str, int], stop: asyncio.Event,
                             seen: list[str]) -> None:
    """Fail loudly if a file under its final name is ever shorter than the original."""
    while not stop.is_set():
        if spool.exists():
            for path in spool.iterdir():
                if path.is_file() and not is_temporary(path.name):
                    size = path.stat().st_size
                    if size != sizes.get(path.name, size):
                        seen.append(f"{path.name}: {size} of {sizes[path.name]}")
        await asyncio.sleep(0.002)


def test_jsoc_hierarchy_followed_with_out_of_order_files_and_gaps(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[FileArrival], HttpSource, JsocServer, JsocArchive]:
        async with JsocServer(tmp_path / "jsoc") as server:
            archive = server.archive()
            # 19:51, 19:54, 19:57 (no 193: a gap), 20:03 -- 20:00 missing for now;
            # the hour boundary puts them in H1900 and H2000.
            archive.publish_slot(slot(0), channels=(171, 193, 1600))
            archive.publish_slot(slot(3), channels=(171, 193, 1600))
            archive.publish_slot(slot(6), channels=(171, 193), missing=(193,))
            archive.publish_slot(slot(12), channels=(171, 193))
            source = HttpSource(feed(server, tmp_path / "spool"))
            collect = Collector()
            async with running(source, collect):
                await collect.wait_count(7, timeout=20)
                # 20:00 171 arrives late, after 20:03: out of time order
                archive.publish(slot(9), 171)
                assert archive.latest() == slot(12)  # "last" did not move back
                await collect.wait_count(8, timeout=20)
                archive.publish_slot(slot(15), channels=(171, 193))
                await collect.wait_count(10, timeout=20)
                await asyncio.sleep(1.0)  # several more polls: nothing twice
            return collect.arrivals, source, server, archive

    arrivals, source, server, archive = run(scenario())
    names = [a.path.name for a in arrivals]
    assert len(names) == 10 == len(set(names))
    assert names[:7] == ["AIA20260624_195100_0171.fits", "AIA20260624_195100_0193.fits",
                         "AIA20260624_195400_0171.fits", "AIA20260624_195400_0193.fits",
                         "AIA20260624_195700_0171.fits",
                         "AIA20260624_200300_0171.fits", "AIA20260624_200300_0193.fits"]
    assert names[7] == "AIA20260624_200000_0171.fits"
    late = arrivals[7]
    assert late.observation_key == "2026-06-24T20:00:00Z"
    assert late.wavelength == 171 and late.t_obs == slot(9).timestamp()
    assert late.url == archive.url_for(slot(9), 171).replace("http://127.0.0.1/",
                                                             f"http://127.0.0.1:{server.port}/")
    for arrival in arrivals:  # byte-identical copies in the spool
        original = archive.path_for(datetime.fromtimestamp(arrival.t_obs, UTC),
                                    arrival.wavelength)
        assert arrival.path.read_bytes() == original.read_bytes()
        assert arrival.size_bytes == original.stat().st_size
    assert not [p for p in (tmp_path / "spool").iterdir() if is_temporary(p.name)]
    stats = source.stats()
    assert stats.ignored == {"channel": 2}  # the two 1600 files, once each
    assert stats.last_observation_time == slot(15).timestamp()
    # unchanged listings and index were answered 304 to conditional requests
    # (the last answer may race the cancellation at the end, hence <=)
    assert 0 < stats.extra["not_modified"] <= server.count(304)
    assert server.count(200, "*.fits") == 10  # every file downloaded exactly once


def test_retries_on_500_and_slow_answers(tmp_path: Path) -> None:
    faults = Faults()
    faults.add("status", "*_0171.fits", times=2, status=500)
    faults.add("slow", "*_0193.fits", times=1, delay_s=3.0)  # past read timeout 2 s

    async def scenario() -> tuple[list[FileArrival], HttpSource, JsocServer]:
        async with JsocServer(tmp_path / "jsoc", faults=faults) as server:
            server.archive().publish_slot(slot(0), channels=(171, 193))
            source = HttpSource(feed(server, tmp_path / "spool",
                                     download=replace(FAST, total_timeout_s=1.0)))
            collect = Collector()
            async with running(source, collect):
                await collect.wait_count(2, timeout=20)
            return collect.arrivals, source, server

    arrivals, source, server = run(scenario())
    assert sorted(a.wavelength for a in arrivals) == [171, 193]
    assert server.count(500, "*_0171.fits") == 2
    assert faults.hits["slow"] == 1
    stats = source.stats()
    assert stats.extra["retries"] >= 3
    assert stats.extra["failed_http_5xx"] == 2 and stats.extra["failed_timeout"] == 1
    assert stats.errors == {}  # recovered within the retries


def test_exhausted_retries_are_reported_and_retried_on_a_later_poll(tmp_path: Path) -> None:
    faults = Faults()
    faults.add("status", "*_0171.fits", times=2, status=503)

    async def scenario() -> tuple[list[FileArrival], HttpSource]:
        async with JsocServer(tmp_path / "jsoc", faults=faults) as server:
            server.archive().publish(slot(0), 171)
            source = HttpSource(feed(server, tmp_path / "spool",
                                     download=replace(FAST, retries=1)))
            collect = Collector()
            async with running(source, collect):
                await collect.wait_count(1, timeout=20)
            return collect.arrivals, source

    arrivals, source = run(scenario())
    assert len(arrivals) == 1
    assert source.stats().errors == {"http_5xx": 1}  # the first cycle gave up, the next won


@pytest.mark.parametrize("fault", ["truncate", "stall"])
def test_nothing_partial_is_ever_visible_and_truncation_is_retried(tmp_path: Path,
                                                                   fault: str) -> None:
    faults = Faults()
    faults.add(fault, "*.fits", times=2, fraction=0.5, delay_s=0.5)

    async def scenario() -> tuple[list[FileArrival], list[str], JsocArchive]:
        async with JsocServer(tmp_path / "jsoc", faults=faults) as server:
            archive = server.archive()
            paths = archive.publish_slot(slot(0), channels=(171, 193), size=256)
            sizes = {p.name: p.stat().st_size for p in paths}
            source = HttpSource(feed(server, tmp_path / "spool"))
            collect, stop, partials = Collector(), asyncio.Event(), []
            watcher = asyncio.create_task(
                watch_for_partials(tmp_path / "spool", sizes, stop, partials))
            async with running(source, collect):
                await collect.wait_count(2, timeout=20)
            stop.set()
            await watcher
            return collect.arrivals, partials, archive

    arrivals, partials, archive = run(scenario())
    assert partials == []
    assert faults.hits[fault] == 2
    for arrival in arrivals:
        original = archive.path_for(slot(0), arrival.wavelength)
        assert arrival.path.read_bytes() == original.read_bytes()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_file_is_refused_reported_once_and_others_continue(tmp_path: Path,
                                                                    chunked: bool) -> None:
    faults = Faults()
    if chunked:  # no Content-Length: the limit must be enforced while streaming
        faults.add("chunked", "*.fits", times=None)

    async def scenario() -> tuple[list[FileArrival], HttpSource, JsocServer]:
        async with JsocServer(tmp_path / "jsoc", faults=faults) as server:
            archive = server.archive()
            archive.publish(slot(0), 171)
            archive.publish(slot(0), 193, pad_bytes=400_000)
            source = HttpSource(feed(server, tmp_path / "spool",
                                     download=replace(FAST, max_file_bytes=200_000)))
            collect = Collector()
            async with running(source, collect):
                await collect.wait_count(1, timeout=20)
                await asyncio.sleep(1.0)  # more polls: the big file is not fetched again
            return collect.arrivals, source, server

    arrivals, source, server = run(scenario())
    assert [a.wavelength for a in arrivals] == [171]
    assert source.stats().errors == {"oversize": 1}
    assert server.count(None, "*_0193.fits") == 1
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["AIA20260624_195100_0171.fits"]


def test_json_index_feed_and_done_deletes_downloads(tmp_path: Path) -> None:
    now = JsocArchive.slot(datetime.now(UTC))

    async def scenario() -> tuple[list[FileArrival], HttpSource]:
        async with JsocServer(tmp_path / "jsoc") as server:
            archive = server.archive()
            paths = [archive.publish(now - timedelta(minutes=3 * i), 171) for i in range(3)]
            index = [{"url": str(p.relative_to(archive.root)), "wavelength": 171}
                     for p in paths]
            (archive.root / "files.json").write_text(json.dumps({"files": index}))
            settings = HttpFeedSettings(name="json", url=server.base_url + "files.json",
                                        index="json", spool=tmp_path / "spool",
                                        channels=(171,), poll_interval_s=0.2, download=FAST)
            source = make_source(settings)
            assert isinstance(source, HttpSource)
            collect = Collector()
            async with running(source, collect):
                arrivals = await collect.wait_count(3, timeout=20)
                await source.done(arrivals[0], "processed")
                await source.done(arrivals[1], "rejected")
                await asyncio.sleep(0.6)
            return collect.arrivals, source

    arrivals, source = run(scenario())
    assert [a.t_obs for a in arrivals] == sorted(a.t_obs for a in arrivals)  # oldest first
    assert len(arrivals) == 3
    assert not arrivals[0].path.exists()  # after_processing: delete (the HTTP default)
    assert (tmp_path / "spool" / "rejected" / arrivals[1].path.name).exists()
    assert arrivals[2].path.exists()
    assert source.stats().outcomes == {"processed": 1, "rejected": 1}


def test_unreachable_server_is_counted_not_fatal(tmp_path: Path) -> None:
    async def scenario() -> HttpSource:
        async with JsocServer(tmp_path / "jsoc") as server:
            url, latest = server.listing_template, server.latest_url
        # the server is gone: connection refused on every request
        settings = HttpFeedSettings(name="gone", url=url, latest_url=latest,
                                    spool=tmp_path / "spool", poll_interval_s=0.1,
                                    download=replace(FAST, retries=0))
        source = HttpSource(settings)
        async with running(source, Collector()):
            deadline = time.monotonic() + 10
            while source.stats().errors.get("latest", 0) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        return source

    source = run(scenario())
    assert source.stats().errors.get("latest", 0) >= 2  # the loop kept polling
    assert source.stats().emitted == 0


def test_an_index_or_a_redirect_cannot_send_the_feed_to_another_server(tmp_path: Path) -> None:
    from aiohttp import web

    asked_elsewhere: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        asked_elsewhere.append(request.path)
        return web.Response(body=b"x" * 100)

    async def scenario() -> tuple[list[FileArrival], HttpSource]:
        other = web.Application()
        other.router.add_get("/{name}", elsewhere)
        other_runner = web.AppRunner(other)
        await other_runner.setup()
        other_site = web.TCPSite(other_runner, "127.0.0.1", 0)
        await other_site.start()
        other_port = other_runner.addresses[0][1]

        async def index(request: web.Request) -> web.Response:
            return web.json_response(["AIA20260624_200000_0171.fits",
                                      f"http://127.0.0.1:{other_port}/AIA20260624_200000_0193.fits",
                                      "AIA20260624_200000_0211.fits"])

        async def local(request: web.Request) -> web.Response:
            if request.match_info["name"].endswith("0211.fits"):  # redirected elsewhere
                raise web.HTTPFound(f"http://127.0.0.1:{other_port}/AIA20260624_200000_0211.fits")
            return web.Response(body=b"F" * 100)

        app = web.Application()
        app.router.add_get("/feed/index.json", index)
        app.router.add_get("/feed/{name}", local)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        settings = HttpFeedSettings(name="json", url=f"http://127.0.0.1:{port}/feed/index.json",
                                    spool=tmp_path / "spool", index="json", poll_interval_s=0.2,
                                    lookback_s=10**9, download=DownloadSettings(retries=0))
        source = HttpSource(settings)
        collect = Collector()
        try:
            async with running(source, collect):
                await collect.wait_count(1, timeout=10)
                await asyncio.sleep(1.0)
        finally:
            await runner.cleanup()
            await other_runner.cleanup()
        return collect.arrivals, source

    arrivals, source = run(scenario())
    assert [a.path.name for a in arrivals] == ["AIA20260624_200000_0171.fits"]
    assert asked_elsewhere == []
    stats = source.stats()
    assert stats.ignored.get("url_not_allowed") == 1
    assert stats.errors.get("redirect_not_allowed") == 1


@pytest.mark.parametrize(("document", "where"), [
    ("index", "other_port"), ("index", "other_host"), ("index", "other_scheme"),
    ("index", "other_tree"), ("latest", "other_port"), ("latest", "other_tree")])
def test_an_index_redirected_off_its_server_is_refused_and_counted(tmp_path: Path,
                                                                   document: str,
                                                                   where: str) -> None:
    # The listing (or the latest-time document) answers 302 to a second server that
    # serves the same tree, to the same port under another host name or scheme, or to
    # another directory of the same server:
    # the feed must not read it, count the refusal with its reason, and keep polling.
    async def scenario() -> tuple[HttpSource, JsocServer, JsocServer]:
        faults = Faults()
        async with JsocServer(tmp_path / "evil") as evil, \
                JsocServer(tmp_path / "jsoc", faults=faults) as server:
            evil.archive().publish_slot(slot(0), channels=(171, 193))
            server.archive().publish_slot(slot(0), channels=(171, 193))
            target = {"other_port": evil.base_url,
                      "other_host": evil.base_url.replace("127.0.0.1", "localhost"),
                      "other_scheme": server.base_url.replace("http://", "https://"),
                      # the same server, outside the feed's directory
                      "other_tree": server.base_url.replace(server.prefix, "/private/")}[where]
            if document == "index":
                faults.add("redirect", "*/H1900/", times=None,
                           location=target + slot(0).strftime("%Y/%m/%d/H%H00/"))
            else:
                faults.add("redirect", "*/image_times.json", times=None,
                           location=target + "image_times.json")
            source = HttpSource(feed(server, tmp_path / "spool", lookback_s=600,
                                     download=replace(FAST, retries=0)))
            key = f"{document}_redirect_not_allowed"
            async with running(source, Collector()):
                deadline = time.monotonic() + 10
                while source.stats().errors.get(key, 0) < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
            return source, server, evil

    source, server, evil = run(scenario())
    assert evil.requests == []
    assert source.stats().errors.get(f"{document}_redirect_not_allowed", 0) >= 2  # every poll
    assert server.count(302) >= 2
    if document == "index":
        assert source.stats().emitted == 0


def test_an_index_redirected_within_its_server_is_followed(tmp_path: Path) -> None:
    async def scenario() -> list[FileArrival]:
        faults = Faults()
        async with JsocServer(tmp_path / "jsoc", faults=faults) as server:
            archive = server.archive()
            archive.publish_slot(slot(0), channels=(171, 193))
            # the listing moved to another directory of the same server
            faults.add("redirect", server.prefix + "2026/*/H1900/", times=None,
                       location=server.base_url + "moved/" + slot(0).strftime("%Y/%m/%d/H%H00/"))
            moved = tmp_path / "jsoc" / "moved"
            moved.mkdir()
            (moved / "2026").symlink_to(tmp_path / "jsoc" / "2026")
            source = HttpSource(feed(server, tmp_path / "spool", lookback_s=600))
            collect = Collector()
            async with running(source, collect):
                await collect.wait_count(2, timeout=10)
            assert source.stats().errors == {}
            assert server.count(302, server.prefix + "2026/*/H1900/") >= 1
            return collect.arrivals

    assert sorted(a.path.name for a in run(scenario())) == [
        "AIA20260624_195100_0171.fits", "AIA20260624_195100_0193.fits"]
