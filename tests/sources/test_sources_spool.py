"""Spool source against real files in a temporary directory (polling and inotify)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from fakes.harness import Collector, running

from monitor.sources import FileArrival, SpoolFeedSettings, make_source
from monitor.sources.spool import SpoolSource


def run(coro):  # no pytest-asyncio in the project: one event loop per test
    return asyncio.run(coro)


def write_renamed(directory: Path, name: str, payload: bytes = b"SIMPLE  =  T" * 10) -> Path:
    temp = directory / f".{name}.part"
    temp.write_bytes(payload)
    final = directory / name
    os.replace(temp, final)
    return final


def spool(tmp_path: Path, **kwargs) -> SpoolSource:
    options = {"stable_s": 0.5, "poll_interval_s": 0.1, "watch": "poll", "include": ("*.fits",)}
    options.update(kwargs)
    return SpoolSource("test", tmp_path / "spool", **options)


async def settle(source: SpoolSource, scans: int = 5) -> None:
    """Let the source run several poll cycles (to prove nothing more arrives)."""
    await asyncio.sleep(scans * source.poll_interval_s + source.stable_s)


@pytest.mark.parametrize("watch", ["poll", "inotify"])
def test_rename_into_place_is_emitted_once(tmp_path: Path, watch: str) -> None:
    source = spool(tmp_path, watch=watch, stable_s=0.3)

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            await asyncio.sleep(0.3)
            path = write_renamed(source.path, "AIA20260624_200300_0171.fits")
            await collect.wait_count(1, timeout=10)
            if watch == "inotify":
                assert source.inotify_active
            await settle(source)
        assert collect.arrivals[0].path == path.resolve()
        return collect.arrivals

    arrivals = run(scenario())
    assert len(arrivals) == 1
    arrival = arrivals[0]
    assert arrival.feed == "test" and arrival.size_bytes == 120
    assert arrival.wavelength == 171  # hint parsed from the JSOC synoptic name
    assert arrival.t_obs is not None
    stats = source.stats()
    assert stats.emitted == 1 and stats.seen == 1 and stats.in_flight == 1


def test_slow_writer_without_rename_counts_only_after_stable_s(tmp_path: Path) -> None:
    source = spool(tmp_path, stable_s=1.0)

    async def scenario() -> tuple[int, FileArrival]:
        collect = Collector()
        async with running(source, collect):
            await asyncio.sleep(0.2)
            target = source.path / "slow.fits"
            with target.open("wb") as out:
                for _ in range(8):  # 8 x 0.3 s: longer than stable_s, pauses shorter
                    out.write(b"x" * 2880)
                    out.flush()
                    await asyncio.sleep(0.3)
                    assert collect.arrivals == [], "picked up while still being written"
            arrivals = await collect.wait_count(1, timeout=10)
            await settle(source)
            return len(collect.arrivals), arrivals[0]

    count, arrival = run(scenario())
    assert count == 1
    assert arrival.size_bytes == 8 * 2880  # the whole file, not a prefix


def test_temporary_names_and_other_patterns_are_ignored(tmp_path: Path) -> None:
    source = spool(tmp_path)
    source.path.mkdir()
    temporary = [".hidden.fits", "a.fits.part", "b.fits.tmp", "c.fits~", "d.fits.filepart"]
    for name in temporary:
        (source.path / name).write_bytes(b"partial")
    (source.path / "notes.txt").write_text("not an image")
    (source.path / "subdir").mkdir()

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            await settle(source)
        return collect.arrivals

    assert run(scenario()) == []
    stats = source.stats()
    assert stats.ignored == {"temporary": 5, "not_matching": 1}  # counted once, not per scan
    assert stats.emitted == 0
    assert all((source.path / name).exists() for name in temporary)  # left alone


def test_symlink_escaping_the_spool_is_ignored_and_counted(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    source = spool(tmp_path)
    source.path.mkdir()
    outside = tmp_path / "secret.fits"
    outside.write_bytes(b"outside the spool")
    (source.path / "escape.fits").symlink_to(outside)
    (source.path / "up.fits").symlink_to(Path("..") / "secret.fits")  # relative escape too
    inside = source.path / "real.fits"
    inside.write_bytes(b"inside")
    os.utime(inside, (1e9, 1e9))
    (source.path / "alias.fits").symlink_to(inside)  # inside: followed, emitted once

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            await collect.wait_count(1, timeout=10)
            await settle(source)
        return collect.arrivals

    with caplog.at_level("WARNING"):
        arrivals = run(scenario())
    assert [a.path for a in arrivals] == [inside.resolve()]
    assert source.stats().ignored == {"symlink_outside": 2}
    assert sum("symlink ignored" in r.message for r in caplog.records) == 2
    assert outside.exists()


def test_burst_of_2000_files_each_emitted_once_in_mtime_order(tmp_path: Path) -> None:
    source = spool(tmp_path, stable_s=0.2)
    source.path.mkdir()
    n = 2000
    for i in range(n):
        path = source.path / f"f{i:05d}.fits"
        path.write_bytes(b"x")
        t = 1.7e9 + (n - i)  # newest name first on disk, so mtime order != name order
        os.utime(path, (t, t))

    async def scenario() -> list[FileArrival]:
        gate = asyncio.Semaphore(0)  # a blocking emit, like replay mode
        collect = Collector(gate)
        async with running(source, collect):
            for _ in range(n + 50):
                gate.release()
            await collect.wait_count(n, timeout=60)
            # a file renamed in during the burst is still picked up, once
            write_renamed(source.path, "late.fits")
            await collect.wait_count(n + 1, timeout=10)
            await settle(source)
        return collect.arrivals

    arrivals = run(scenario())
    names = [a.path.name for a in arrivals]
    assert len(names) == n + 1 == len(set(names))
    assert names[:n] == [f"f{i:05d}.fits" for i in reversed(range(n))]
    assert names[-1] == "late.fits"


@pytest.mark.parametrize("policy", ["move", "delete", "keep"])
def test_after_processing_policy_and_rejected_directory(tmp_path: Path, policy: str) -> None:
    source = spool(tmp_path, after_processing=policy)
    source.path.mkdir()
    good = write_renamed(source.path, "good.fits")
    bad = write_renamed(source.path, "bad.fits")
    for i, path in enumerate((good, bad)):
        os.utime(path, (1e9 + i, 1e9 + i))

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            arrivals = await collect.wait_count(2, timeout=10)
            by_name = {a.path.name: a for a in arrivals}
            await source.done(by_name["good.fits"], "processed")
            await source.done(by_name["good.fits"], "processed")  # idempotent
            await source.done(by_name["bad.fits"], "rejected")
            await settle(source)  # a kept file must not come back
        return collect.arrivals

    arrivals = run(scenario())
    assert len(arrivals) == 2
    root = source.path
    assert (root / "rejected" / "bad.fits").read_bytes() == b"SIMPLE  =  T" * 10
    assert not bad.exists()
    assert good.exists() == (policy == "keep")
    assert (root / "done" / "good.fits").exists() == (policy == "move")
    assert source.stats().outcomes == {"processed": 2, "rejected": 1}
    assert source.stats().in_flight == 0


def test_channels_not_configured_are_left_alone(tmp_path: Path) -> None:
    source = spool(tmp_path, channels=(171, 193))
    source.path.mkdir()
    for name in ("AIA20260624_200300_0171.fits", "AIA20260624_200300_1600.fits"):
        write_renamed(source.path, name)

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            await collect.wait_count(1, timeout=10)
            await settle(source)
        return collect.arrivals

    arrivals = run(scenario())
    assert [a.wavelength for a in arrivals] == [171]
    assert source.stats().ignored == {"channel": 1}


def test_make_source_builds_a_spool_source_from_settings(tmp_path: Path) -> None:
    settings = SpoolFeedSettings(name="aia", path=tmp_path, after_processing="delete")
    source = make_source(settings)
    assert isinstance(source, SpoolSource)
    assert source.name == "aia"
    with pytest.raises(ValueError, match="no feed kind 'ftp' .known: http, kafka, spool"):
        make_source(type("Odd", (), {"kind": "ftp"})())


def test_a_file_whose_hand_over_raises_is_refused_and_the_feed_goes_on(tmp_path: Path) -> None:
    from monitor.sources import Refusal

    refused: list[Refusal] = []

    async def refuse(refusal: Refusal) -> None:
        refused.append(refusal)

    source = spool(tmp_path, refuse=refuse)
    source.path.mkdir()
    write_renamed(source.path, "AIA20260624_200000_0171.fits")
    write_renamed(source.path, "AIA20260624_200300_0171.fits")
    collect = Collector()

    async def emit(arrival: FileArrival) -> None:
        if "200000" in arrival.path.name:
            raise RuntimeError("a bug triggered by this one file")
        await collect(arrival)

    async def scenario() -> None:
        async with running(source, emit) as task:
            await collect.wait_count(1, timeout=10)
            await settle(source)
            later = write_renamed(source.path, "AIA20260624_200600_0171.fits")
            await collect.wait_for(lambda a: any(x.path.name == later.name for x in a), 10)
            assert not task.done()  # the feed survived

    run(scenario())
    assert [r.reason for r in refused] == ["internal_error"]
    assert refused[0].target.endswith("AIA20260624_200000_0171.fits")
    assert "a bug triggered" in refused[0].detail and refused[0].feed == "test"
    assert source.stats().ignored == {"internal_error": 1}
