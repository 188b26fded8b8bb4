"""GOES verification inside the running daemon: a SWPC-like feed on loopback.

The synthetic Sun's own GOES truth is served as NOAA SWPC's 1-minute JSON, so
the daemon sees one consistent world: it detects the M flare in the X-rays,
publishes ``goes.event`` messages and scores its frames against GOES.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import aiohttp
from fakes.swpc_server import SwpcServer
from support import daemon_config, read_topic

from monitor.app import Daemon
from monitor.goes.settings import GoesSettings, SwpcFeedSettings
from monitor.publish.envelope import validate_event
from monitor.synth import SynthFeed


def test_goes_feed_detects_the_flare_and_scores_frames(tmp_path: Path, kafka_bootstrap: str,
                                                       untrained_package: Path) -> None:
    staging, spool = tmp_path / "staging", tmp_path / "spool"
    truth = tmp_path / "truth.jsonl"
    written = list(SynthFeed("m_flare", staging, size=512, speed=0, seed=5, duration_s=1500,
                             truth_path=truth).run())
    spool.mkdir()
    for f in written:
        shutil.move(str(f.path), spool / f.path.name)
    minutes = [json.loads(line) for line in truth.read_text().splitlines()]
    prefix = "e2egoes"
    base = daemon_config(tmp_path, spool, untrained_package, prefix)

    async def main() -> tuple[list[dict], str]:
        async with SwpcServer() as server:
            for m in minutes:
                t = datetime.fromisoformat(m["t_rec"]).timestamp()
                server.add_minute(t, m["goes_xrsb_flux"])
            goes = GoesSettings(enabled=True, feed=SwpcFeedSettings(
                url=server.url("6-hour"), poll_interval_s=0.5))
            config = dataclasses.replace(base, goes=goes)
            stop = asyncio.Event()
            daemon = Daemon(config, [kafka_bootstrap])
            task = asyncio.create_task(daemon.run(stop))
            await daemon.wait_ready(60)
            frames = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.frames",
                                             len(minutes), 120)
            events = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.goes", 2,
                                             30)
            await asyncio.sleep(2)  # one housekeeping pass exports the scores
            host, port = daemon.http_address
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://{host}:{port}/metrics") as r:
                    metrics = await r.text()
            stop.set()
            assert await asyncio.wait_for(task, 60) == 0
            assert len(frames) == len(minutes)
            return events, metrics

    events, metrics = asyncio.run(main())
    assert events, "no goes.event published"
    for event in events:
        validate_event(event)
    peak_class = [e["data"]["goes_class"] for e in events if e["data"]["state"] == "end"][-1]
    assert peak_class.startswith("M"), [e["data"] for e in events]
    assert re.search(r'sdo_monitor_verification_contingency\{cell="hits",package="[^"]+",'
                     r'threshold="M",window="24h"\}', metrics)
    assert 'sdo_monitor_goes_events_total{class="M",state="end"} 1.0' in metrics
    assert "sdo_monitor_goes_xrsb_flux_w_m2{" in metrics
