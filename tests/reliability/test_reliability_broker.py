"""The broker goes away for 30 s mid-run and comes back with empty storage.

The daemon keeps processing (results wait in the outbox), then every frame's
message reaches Kafka after recovery; duplicates carry identical ids.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

from support import kill, read_topic, spawn, write_config

from monitor.publish.local_broker import LocalBroker
from monitor.state import ProcessedFileLedger

OUTAGE_S = 30


def _copy_frames(files: list[Path], spool: Path, frames: range) -> None:
    for path in files[frames.start * 7:frames.stop * 7]:
        tmp = spool / f".{path.name}.part"  # rename into place, as real writers do
        shutil.copy(path, tmp)
        tmp.rename(spool / path.name)


def _processed(ledger: Path) -> int:
    return ProcessedFileLedger(ledger).counts().get("processed", 0) if ledger.exists() else 0


def test_broker_outage_with_empty_restart_loses_nothing(tmp_path: Path,
                                                        untrained_package: Path,
                                                        m_flare_files: Path) -> None:
    files = sorted(m_flare_files.glob("*.fits"), key=lambda p: p.name.split("_")[-1])
    files = sorted(files, key=lambda p: p.name.split("_", 1)[1])  # by time, then channel
    spool = tmp_path / "spool"
    spool.mkdir()
    state = tmp_path / "state"
    broker = LocalBroker().start()
    prefix = "rel.outage"
    feeds = (f"feeds:\n  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, "
             f"stable_s: 0.5, poll_interval_s: 0.2}}")
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=broker.bootstrap,
                       prefix=prefix, package=untrained_package, feeds=feeds)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        _copy_frames(files, spool, range(5))
        before = read_topic(broker.bootstrap, f"{prefix}.frames", 5, 120)
        assert len({e["data"]["frame_id"] for e in before}) == 5, log.read_text()[-3000:]

        broker.stop()
        _copy_frames(files, spool, range(5, 11))
        ledger = state / "ledger.sqlite3"
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            time.sleep(1)
        # the daemon went on analysing while Kafka was away
        assert _processed(ledger) == 11 * 7, log.read_text()[-3000:]
        assert daemon.poll() is None

        broker.start()  # same port, empty storage: topics and producer ids are gone
        _copy_frames(files, spool, range(11, 16))
        after = read_topic(broker.bootstrap, f"{prefix}.frames", 11, 120)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        kill(daemon)
        broker.close()

    seen = {e["data"]["frame_id"] for e in before + after}
    assert len(seen) == 16, log.read_text()[-3000:]
    ids = {}
    for event in before + after:
        ids.setdefault(event["data"]["frame_id"], set()).add(event["id"])
    assert all(len(v) == 1 for v in ids.values())
    text = log.read_text()
    assert "Traceback" not in text
