"""The HTTP API under a load generator while the pipeline runs: no 5xx, nothing lost.

The real daemon (``sdo-monitor run``, live spool) analyses 16 frames while
:func:`monitor.observe.loadgen.run_load` sends a bounded mix of scrapes,
probes, JSON API reads, overlay fetches and hostile requests on loopback.
Every answer must be one the route may give (never a 5xx), and every frame
must still reach Kafka once with a stable id. Whether the load slows the
pipeline is a timing question, measured side by side in
``benchmarks/http_load.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from support import (
    copy_frames,
    delivery_report,
    frames_in_time_order,
    kill,
    ledger_counts,
    ledger_frame_ids,
    read_frames,
    record_outcome,
    spawn,
    spool_feeds,
    wait_for,
    wait_ready,
    write_config,
)

from monitor.observe.loadgen import run_load
from monitor.publish.local_broker import free_port

FRAMES = 16
REQUESTS = 3000


def test_api_under_load_while_pipeline_runs(tmp_path: Path, kafka_bootstrap: str,
                                            untrained_package: Path,
                                            m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    prefix, port = "rel.httpload", free_port()
    feeds = spool_feeds(spool)
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=untrained_package, feeds=feeds, http_port=port)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)
        copy_frames(files, spool, range(FRAMES))
        # the load starts with the burst and is bounded in count and time
        # paced so that it spans the burst's analysis (unpaced, 3,000 requests take ~2 s)
        report = asyncio.run(run_load(f"http://127.0.0.1:{port}", requests=REQUESTS,
                                      concurrency=16, duration_s=90, rate_per_s=200))
        wait_for(lambda: ledger_counts(state).get("processed", 0) == FRAMES * 7, 180,
                 what="every file processed")
        events = read_frames(kafka_bootstrap, f"{prefix}.frames", FRAMES, 120)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        kill(daemon)

    delivered = delivery_report(events, ledger_frame_ids(state))
    record_outcome("HTTP API under load", f"{report.requests} requests, 16 clients, "
                   f"{report.rate:.0f}/s during a {FRAMES}-frame burst; "
                   f"{report.server_errors} 5xx", delivered)
    assert report.connection_errors == [], report.connection_errors
    assert report.server_errors == 0, report.as_dict()
    assert report.unexpected == [], report.as_dict()
    assert report.requests >= 500, report.as_dict()  # the load really ran
    # every route of the mix was exercised ("frame" needs a published frame, so the load
    # overlapped the analysis), the hostile ones refused with a 4xx (checked above)
    assert {"metrics", "status", "frames", "frame", "overlay", "bad_id"} <= set(report.by_route)
    assert report.by_status.get("200", 0) > report.requests // 2
    assert delivered["expected"] == FRAMES
    assert delivered["lost"] == 0 and delivered["unstable_ids"] == 0, delivered
    text = log.read_text()
    assert "Traceback" not in text
