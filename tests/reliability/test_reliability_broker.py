"""The broker goes away for 30 s mid-run and comes back with empty storage.

The daemon keeps processing (results wait in the outbox), then every frame's
message reaches Kafka after recovery; duplicates carry identical ids.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from support import (
    copy_frames,
    delivery_report,
    frames_in_time_order,
    kill,
    ledger_counts,
    ledger_frame_ids,
    read_topic,
    record_outcome,
    spawn,
    spool_feeds,
    write_config,
)

from monitor.publish.local_broker import LocalBroker

OUTAGE_S = 30


def test_broker_outage_with_empty_restart_loses_nothing(tmp_path: Path,
                                                        untrained_package: Path,
                                                        m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool = tmp_path / "spool"
    spool.mkdir()
    state = tmp_path / "state"
    broker = LocalBroker().start()
    prefix = "rel.outage"
    feeds = spool_feeds(spool)
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=broker.bootstrap,
                       prefix=prefix, package=untrained_package, feeds=feeds)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        copy_frames(files, spool, range(5))
        before = read_topic(broker.bootstrap, f"{prefix}.frames", 5, 120)
        assert len({e["data"]["frame_id"] for e in before}) == 5, log.read_text()[-3000:]

        broker.stop()
        copy_frames(files, spool, range(5, 11))
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            time.sleep(1)
        # the daemon went on analysing while Kafka was away
        assert ledger_counts(state).get("processed", 0) == 11 * 7, log.read_text()[-3000:]
        assert daemon.poll() is None

        broker.start()  # same port, empty storage: topics and producer ids are gone
        copy_frames(files, spool, range(11, 16))
        after = read_topic(broker.bootstrap, f"{prefix}.frames", 11, 120)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        kill(daemon)
        broker.close()

    record_outcome("broker killed mid-stream", f"broker stopped {OUTAGE_S} s during 6 frames, "
                   "restarted with empty storage", delivery_report(before + after,
                                                                  ledger_frame_ids(state)))
    seen = {e["data"]["frame_id"] for e in before + after}
    assert len(seen) == 16, log.read_text()[-3000:]
    ids = {}
    for event in before + after:
        ids.setdefault(event["data"]["frame_id"], set()).add(event["id"])
    assert all(len(v) == 1 for v in ids.values())
    text = log.read_text()
    assert "Traceback" not in text
