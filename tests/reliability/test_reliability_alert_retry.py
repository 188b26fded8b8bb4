"""An alert decided by a frame whose results the outbox refused is published on the retry.

Real daemon in-process, real broker started late, a real outbox that is full:
a malformed file's reject takes the outbox's only free places, so the first
frame's three messages (frame, saliency, alert) are refused and the frame is
retried with a backoff. Once the broker is up and the outbox has drained,
the retry must publish the frame *with* its alert: the alert engine's
transition is undone when the outbox refuses, not remembered as sent.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from support import frames_in_time_order, read_topic, wait_for

from monitor.app import Daemon
from monitor.config import parse_config
from monitor.publish.local_broker import LocalBroker


def test_alert_of_a_refused_frame_is_published_on_retry(tmp_path: Path,
                                                         untrained_package: Path,
                                                         m_flare_files: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "aia.broken_171.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    broker = LocalBroker()  # reserved port, not started yet
    prefix = "alert.retry"
    config = parse_config(f"""
service: {{state_dir: {tmp_path / 'state'}, cache_dir: {tmp_path / 'cache'},
          ingest_executor: thread, ingest_workers: 1}}
http: {{host: 127.0.0.1, port: 0}}
kafka: {{topic_prefix: {prefix}, partitions: 1}}
publish: {{outbox_max_messages: 3, retry_backoff_max_s: 0.5}}
inference: {{model_package: {untrained_package}, backend: onnxruntime, max_batch: 1,
            warmup_iterations: 1}}
frames: {{wait_s: 20}}
alerts:
  rules:
    - {{name: any_flare, signal: p_ge_C, fire_above: 0.01, clear_below: 0.0, min_frames: 1}}
feeds:
  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, stable_s: 0.3,
     poll_interval_s: 0.2}}
""")

    async def main() -> Daemon:
        stop = asyncio.Event()
        daemon = Daemon(config, [broker.bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        await asyncio.sleep(1.5)  # the broken file's reject is in the outbox first
        for path in frames_in_time_order(m_flare_files)[:7]:
            shutil.copy(path, spool / path.name)
        registry = daemon.metrics.registry
        await asyncio.to_thread(wait_for, lambda: (registry.get_sample_value(
            "sdo_monitor_retries_total", {"stage": "publish"}) or 0) >= 1, 60, 0.2,
            "the frame refused by the full outbox")
        assert daemon.snapshot().counts["frames"] == 0
        broker.start()
        await asyncio.to_thread(wait_for, lambda: daemon.snapshot().counts["frames"] == 1, 90, 0.2,
                                "the frame published on retry")
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return daemon

    try:
        asyncio.run(main())
        alerts = read_topic(broker.bootstrap, f"{prefix}.alerts", 1, 60)
        frames = read_topic(broker.bootstrap, f"{prefix}.frames", 1, 30)
    finally:
        broker.close()
    assert len(frames) == 1
    firing = [a for a in alerts if a["data"]["state"] == "firing"]
    assert len(firing) == 1, alerts
    assert firing[0]["data"]["rule"] == "any_flare"
    assert firing[0]["data"]["evidence_frames"] == [frames[0]["data"]["frame_id"]]
