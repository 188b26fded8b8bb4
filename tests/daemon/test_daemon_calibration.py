"""A degradation table that ends before the data: extrapolated factors, and the daemon says so."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from support import daemon_config, read_topic

from monitor.app import Daemon
from monitor.preprocess import DegradationTable, PreprocessSettings
from monitor.publish.envelope import validate_event
from monitor.synth import SynthFeed


def _table_ending(folder: Path, end: datetime, days: int = 200) -> Path:
    """A daily table (v9 folder form) of the shipped factors, cut at ``end``."""
    builtin = DegradationTable.builtin()
    folder.mkdir()
    for channel in builtin.channels():
        rows = []
        for k in range(days, -1, -1):
            t = end - timedelta(days=k)
            rows.append(f'"{t:%Y-%m-%dT%H:%M:%S}.000",{builtin.factor(channel, t):.6g}')
        (folder / f"degrad_{channel}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_stale_table_is_extrapolated_reported_and_measured(
        tmp_path: Path, kafka_bootstrap: str, untrained_package: Path) -> None:
    staging, spool = tmp_path / "staging", tmp_path / "spool"
    feed = SynthFeed("m_flare", staging, size=512, speed=0, seed=3, duration_s=60,
                     truth_path=tmp_path / "truth.jsonl")
    written = list(feed.run())
    n = len(written) // 7
    spool.mkdir()
    for f in written:
        shutil.move(str(f.path), spool / f.path.name)
    first_t_obs = min(f.t_obs for f in written).replace(tzinfo=UTC)
    end = datetime(2014, 10, 1, 12, tzinfo=UTC)  # the m_flare scenario is of 2015-01-04
    table_dir = _table_ending(tmp_path / "degradation", end)
    config = daemon_config(tmp_path, spool, untrained_package, "cal1")
    config = dataclasses.replace(config, preprocess=PreprocessSettings(
        degradation_table=str(table_dir)))

    async def main() -> dict:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        host, port = daemon.http_address
        frames = await asyncio.to_thread(read_topic, kafka_bootstrap, "cal1.frames", n, 90)
        await asyncio.sleep(1.5)  # one housekeeping round after the last frame
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/readyz") as r:
                ready = (r.status, await r.json())
            async with http.get(f"http://{host}:{port}/metrics") as r:
                metrics = await r.text()
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return {"frames": frames, "ready": ready, "metrics": metrics}

    out = asyncio.run(main())
    table = DegradationTable.from_file(table_dir)
    assert len(out["frames"]) == n >= 1
    for event in out["frames"]:
        validate_event(event)
        for item in event["data"]["inputs"]:
            t_obs = datetime.fromisoformat(item["t_obs"])
            applied = table.applied(item["channel"], t_obs)
            assert applied.extrapolated
            assert item["degradation_factor"] == pytest.approx(applied.factor, rel=1e-12)
            assert item["degradation_extrapolated_days"] == pytest.approx(
                (first_t_obs - end).total_seconds() / 86400, abs=0.1)
    status, body = out["ready"]
    assert status == 200  # still ready: degraded, not down
    stale = [d for d in body["degraded"] if d.startswith("calibration_stale")]
    assert stale and "2014-10-01" in stale[0], body
    age = [line for line in out["metrics"].splitlines()
           if line.startswith("sdo_monitor_calibration_table_age_seconds ")]
    assert age, "calibration age gauge missing"
    expected = (datetime.now(UTC) - end).total_seconds()
    assert float(age[0].split()[1]) == pytest.approx(expected, abs=0.1 * 86400)
    assert "sdo_monitor_degraded 1.0" in out["metrics"]
