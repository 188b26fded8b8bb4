"""SIGTERM in the middle of a burst: a clean exit within the drain budget, then a clean resume.

systemd stops the service with SIGTERM and kills it after ``TimeoutStopSec``;
the daemon promises to stop intake, finish or abandon in-flight work within
``service.drain_timeout_s`` and flush the outbox within the same budget again.
What it could not finish must stay as it was: files in the spool, ``received``
rows in the ledger, messages in the outbox, and the next start finishes them.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from support import (
    copy_frames,
    delivery_report,
    frames_in_time_order,
    integrity,
    kill,
    ledger_counts,
    ledger_frame_ids,
    outbox_pending,
    read_frames,
    record_outcome,
    spawn,
    wait_for,
    wait_ready,
    write_config,
)

DRAIN_S = 5  # write_config's service.drain_timeout_s
FRAMES = 16


def test_sigterm_during_burst_then_restart_finishes(tmp_path: Path, kafka_bootstrap: str,
                                                    untrained_package: Path,
                                                    m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    prefix = "rel.fault.term"
    feeds = (f"feeds:\n  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, "
             f"stable_s: 0.5, poll_interval_s: 0.2, after_processing: move}}")
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=untrained_package, feeds=feeds)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)
        copy_frames(files, spool, range(FRAMES))  # the whole backlog at once
        wait_for(lambda: ledger_counts(state).get("processed", 0) >= 7, 120,
                 what="the burst under way")
        daemon.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        # drain budget: in-flight work, then the publisher flush, each DRAIN_S; plus
        # closing the pools and the backend
        code = daemon.wait(timeout=2 * DRAIN_S + 20)
        stop_s = time.monotonic() - t0
    finally:
        kill(daemon)
    assert code == 0, log.read_text()[-3000:]
    first_run = log.read_text()
    assert "stopped" in first_run and "Traceback" not in first_run
    for db in ("ledger.sqlite3", "outbox.sqlite3"):
        assert integrity(state / db) == "ok"
    counts = ledger_counts(state)
    assert set(counts) <= {"processed", "received"}, counts
    done = counts.get("processed", 0)
    assert 7 <= done < FRAMES * 7, counts  # stopped mid-burst, not after it
    # processed files moved out of the spool, the rest wait there
    assert len(list((spool / "done").glob("*.fits"))) == done
    assert len(list(spool.glob("*.fits"))) == FRAMES * 7 - done

    restart = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(restart, log)
        wait_for(lambda: ledger_counts(state).get("processed", 0) == FRAMES * 7, 180,
                 what="the rest of the burst after the restart")
        events = read_frames(kafka_bootstrap, f"{prefix}.frames", FRAMES, 120)
        wait_for(lambda: outbox_pending(state) == 0, 60, what="outbox drained")
        restart.send_signal(signal.SIGTERM)
        assert restart.wait(timeout=2 * DRAIN_S + 20) == 0
    finally:
        kill(restart)
    expected = ledger_frame_ids(state)
    report = delivery_report(events, expected)
    record_outcome("SIGTERM during a burst", f"SIGTERM after {done // 7} of {FRAMES} frames "
                   f"(stopped in {stop_s:.1f} s), restart", report)
    assert len(expected) == FRAMES
    assert report["lost"] == 0 and report["unexpected"] == 0 and report["unstable_ids"] == 0
    assert not list(spool.glob("*.fits"))
    assert integrity(state / "ledger.sqlite3") == "ok"
