"""The daemon end to end on the real local broker: files in, schema-valid messages out."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from support import daemon_config, read_topic

from monitor.app import Daemon
from monitor.models import load_package
from monitor.preprocess import DegradationTable
from monitor.publish.envelope import validate_event
from monitor.state import ProcessedFileLedger
from monitor.synth import SynthFeed


def test_spool_to_kafka_with_a_rejected_file(tmp_path: Path, kafka_bootstrap: str,
                                             untrained_package: Path) -> None:
    staging, spool = tmp_path / "staging", tmp_path / "spool"
    feed = SynthFeed("m_flare", staging, size=512, speed=0, seed=7, duration_s=180,
                     truth_path=tmp_path / "truth.jsonl")
    written = list(feed.run())
    n = len(written) // 7
    assert n >= 3 and len(written) == n * 7
    spool.mkdir()
    for f in written:
        shutil.move(str(f.path), spool / f.path.name)
    bad = spool / "aia.lev1.171A_2015-01-04T15-00-00.00Z.image_lev1.fits"
    bad.write_bytes(b"SIMPLE  = this is not a FITS file")
    prefix = "e2e1"
    config = daemon_config(tmp_path, spool, untrained_package, prefix)

    async def main() -> dict:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        host, port = daemon.http_address
        frames = await asyncio.to_thread(read_topic, kafka_bootstrap, f"{prefix}.frames", n, 90)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/api/v1/status") as r:
                status = await r.json()
            async with http.get(f"http://{host}:{port}/metrics") as r:
                metrics = await r.text()
            latest = frames[-1]["data"]["frame_id"] if frames else None
            async with http.get(f"http://{host}:{port}/api/v1/saliency/{latest}.png") as r:
                png_status = r.status
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return {"frames": frames, "status": status, "metrics": metrics, "png": png_status}

    out = asyncio.run(main())
    package = load_package(untrained_package, verify=False)
    frames = out["frames"]
    n = len(frames)
    assert n == len(written) // 7
    for event in frames:
        validate_event(event)
        data = event["data"]
        assert len(data["inputs"]) == 7 and data["missing_channels"] == []
        for item in data["inputs"]:  # the shipped degradation table, applied by default
            t_obs = datetime.fromisoformat(item["t_obs"])
            assert item["degradation_factor"] == pytest.approx(
                DegradationTable.builtin().factor(item["channel"], t_obs), rel=1e-12)
            assert item["degradation_factor"] < 1.0
            assert item["degradation_extrapolated_days"] == 0.0
        assert abs(sum(data["class_probabilities"].values()) - 1) < 1e-4
        assert len(data["irradiance"]) == 14
        # the package that analysed it, and what that package was trained on
        assert data["model"]["sha256"] == package.sha256
        assert data["model"]["provenance"]["data"] == "synthetic"
    assert len({e["id"] for e in frames}) == n
    saliency = read_topic(kafka_bootstrap, f"{prefix}.saliency", n, 30)
    assert len(saliency) == n
    for event in saliency:
        validate_event(event)
        assert event["data"]["model"]["sha256"] == package.sha256
    rejects = read_topic(kafka_bootstrap, f"{prefix}.rejects", 2, 30)
    reasons = {e["data"]["path"]: e["data"]["reason"] for e in rejects}
    assert any(p.endswith(bad.name) for p in reasons), reasons
    assert out["status"]["counts"]["frames"] == n
    assert out["status"]["model"]["provenance"]["data"] == "synthetic"
    assert any("synthetic data only" in w for w in out["status"]["warnings"])
    assert 'provenance="synthetic"' in out["metrics"]
    assert f'sdo_monitor_files_total{{feed="aia",outcome="processed"}} {7 * n}.0' in out["metrics"]
    assert f'sdo_monitor_source_files_emitted_total{{feed="aia"}} {7 * n + 1}.0' in out["metrics"]
    assert out["png"] == 200
    # every input is accounted for in the ledger; processed files moved out of the spool
    ledger = ProcessedFileLedger(tmp_path / "state" / "ledger.sqlite3")
    counts = ledger.counts()
    assert counts.get("processed") == 7 * n and counts.get("rejected", 0) >= 1
    assert not list(spool.glob("*.fits"))
