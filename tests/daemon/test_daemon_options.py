"""Options that change what the running daemon does, shown end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path

from support import daemon_config, frames_in_time_order, read_topic

from monitor.app import Daemon
from monitor.frames import FrameSettings
from monitor.synth import SynthFeed


def test_on_missing_partial_analyses_a_frame_with_a_channel_missing(
        tmp_path: Path, kafka_bootstrap: str, untrained_package: Path) -> None:
    staging, spool = tmp_path / "staging", tmp_path / "spool"
    spool.mkdir()
    feed = SynthFeed("m_flare", staging, size=512, speed=0, seed=5, duration_s=0,
                     truth_path=tmp_path / "truth.jsonl")
    assert len(list(feed.run())) == 7
    frame = frames_in_time_order(staging)[:7]
    for path in frame[:-1]:  # one channel never arrives
        shutil.copy(path, spool / path.name)
    prefix = "opt.partial"
    config = dataclasses.replace(
        daemon_config(tmp_path, spool, untrained_package, prefix),
        frames=FrameSettings(wait_s=2, on_missing="partial", min_channels=5))

    async def main() -> tuple[list[dict], list[dict]]:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        frames = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.frames", 1, 90)
        rejects = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.rejects", 1, 3)
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return frames, rejects

    frames, rejects = asyncio.run(main())
    assert len(frames) == 1 and rejects == []  # with on_missing: reject it is 6 rejects
    data = frames[0]["data"]
    assert "partial_frame" in data["flags"]
    assert len(data["missing_channels"]) == 1 and len(data["inputs"]) == 6
