"""Hostile input through the running daemon: every bad file is rejected with its
reason, nothing escapes the spool, good data around it is analysed as usual."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from astropy.io import fits
from support import daemon_config, frames_in_time_order, read_topic

from monitor.app import Daemon


def test_hostile_inputs_are_rejected_with_reasons(tmp_path: Path, kafka_bootstrap: str,
                                                  untrained_package: Path,
                                                  m_flare_files: Path) -> None:
    good = frames_in_time_order(m_flare_files)[:14]  # two complete frames
    spool, outside = tmp_path / "spool", tmp_path / "outside"
    spool.mkdir()
    outside.mkdir()
    donor = good[0]
    data = donor.read_bytes()
    expected: dict[str, str] = {}

    def put(name: str, content: bytes, reason: str) -> None:
        (spool / name).write_bytes(content)
        expected[name] = reason

    put("aia.truncated_171.fits", data[: len(data) // 3], "truncated")
    put("aia.empty_171.fits", b"", "empty_file")
    put("aia.notfits_171.fits", b"GIF89a" + b"\0" * 4000, "unknown_format")
    # the same observation under a second name (after the original went through)
    twin_name = "copy-of-" + donor.name
    # far-future T_OBS: a broken clock upstream
    future = tmp_path / "future.fits"
    shutil.copy(donor, future)
    with fits.open(future, mode="update") as hdul:
        hdul[1].header["T_OBS"] = "2099-01-01T00:00:00.00Z"
        hdul[1].header["DATE-OBS"] = "2099-01-01T00:00:00.00"
    shutil.copy(future, spool / "aia.future_171.fits")
    expected["aia.future_171.fits"] = "t_obs_in_future"
    # a symlink that points out of the spool is never followed
    (outside / "secret.fits").write_bytes(data)
    os.symlink(outside / "secret.fits", spool / "aia.link_171.fits")
    # a partial write that never completes (temporary name) is never picked up
    (spool / ".aia.partial_171.fits.part").write_bytes(data[:1000])
    for path in good:
        shutil.copy(path, spool / path.name)

    prefix = "rel.inputs"
    config = daemon_config(tmp_path, spool, untrained_package, prefix)

    async def main() -> tuple[list[dict], list[dict]]:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        frames = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.frames", 2, 90)
        # a file that appears and vanishes before it is stable is simply not there
        ghost = spool / "aia.ghost_171.fits"
        ghost.write_bytes(data)
        ghost.unlink()
        shutil.copy(donor, spool / twin_name)
        rejects = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.rejects",
                                          len(expected) + 1, 60)
        await asyncio.sleep(1)
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return frames, rejects

    frames, rejects = asyncio.run(main())
    assert len({e["data"]["frame_id"] for e in frames}) == 2
    by_name = {Path(e["data"]["path"]).name: e["data"]["reason"] for e in rejects}
    for name, reason in expected.items():
        assert by_name.get(name) == reason, (name, by_name)
    assert by_name.get(twin_name) == "duplicate", by_name
    assert "aia.link_171.fits" not in by_name and "secret.fits" not in by_name
    assert (outside / "secret.fits").exists()  # never moved or touched
    assert (spool / ".aia.partial_171.fits.part").exists()
    # rejected files are kept aside for people, not deleted
    assert all((spool / "rejected" / name).exists() for name in expected)
