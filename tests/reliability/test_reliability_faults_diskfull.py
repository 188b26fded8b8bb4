"""The state directory (ledger + outbox) runs out of space, then space comes back.

A real ENOSPC: ``service.state_dir`` is a 16 MiB tmpfs, filled up with a
ballast file while the daemon runs (as another process filling the disk
would). SQLite then fails its writes with SQLITE_FULL. Expected: a clear error
in the log, no corruption of either database, the daemon stays up, files
arriving after the ballast is removed are analysed without a restart, and
after a restart every file is accounted for and every frame is on Kafka.

Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
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
    spool_feeds,
    sqlite_ro,
    wait_for,
    wait_ready,
    write_config,
)

TMPFS_SIZE = "16m"


@pytest.fixture
def small_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test (skips where mounting is not allowed)."""
    state = tmp_path / "state"
    state.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for a real ENOSPC")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                           str(state)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def fill(directory: Path) -> Path:
    """Write a ballast file until the file system refuses (ENOSPC)."""
    ballast = directory / "ballast"
    chunk = b"\0" * (1 << 20)
    with ballast.open("wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12):
            chunk = b"\0" * size
            while True:
                try:
                    fh.write(chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return ballast


def _status(state: Path, names: list[Path]) -> dict[str, str]:
    db = sqlite_ro(state / "ledger.sqlite3")
    try:
        rows = dict(db.execute("SELECT path, status FROM files").fetchall())
    finally:
        db.close()
    return {p.name: rows.get(str(p), "unseen") for p in names}


def test_disk_full_state_dir_then_space_returns(tmp_path: Path, small_state_dir: Path,
                                                kafka_bootstrap: str, untrained_package: Path,
                                                m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", small_state_dir
    spool.mkdir()
    prefix = "rel.fault.full"
    feeds = spool_feeds(spool)
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=untrained_package, feeds=feeds)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)
        copy_frames(files, spool, range(1))
        read_frames(kafka_bootstrap, f"{prefix}.frames", 1, 120)
        ballast = fill(state)
        during = copy_frames(files, spool, range(1, 3))
        wait_for(lambda: "disk is full" in log.read_text(errors="replace"), 60,
                 what="a disk-full error in the log")
        time.sleep(3)  # let it try every file of the two frames
        assert daemon.poll() is None  # still serving
        for db in ("ledger.sqlite3", "outbox.sqlite3"):
            assert integrity(state / db) == "ok"
        full_status = _status(state, during)

        ballast.unlink()  # space returns
        after = copy_frames(files, spool, range(3, 5))
        wait_for(lambda: set(_status(state, after).values()) == {"processed"}, 120,
                 what="files arriving after the space returned analysed without a restart")
        retried = _status(state, during)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, log.read_text()[-3000:]

        restart = spawn("run", "-c", str(cfg), log=log)
        try:
            wait_ready(restart, log)
            wait_for(lambda: ledger_counts(state).get("processed", 0) == 5 * 7, 120,
                     what="every file processed after the restart")
            events = read_frames(kafka_bootstrap, f"{prefix}.frames", 5, 120)
            wait_for(lambda: outbox_pending(state) == 0, 60, what="outbox drained")
            restart.send_signal(signal.SIGTERM)
            assert restart.wait(timeout=60) == 0
        finally:
            kill(restart)
    finally:
        kill(daemon)
    for db in ("ledger.sqlite3", "outbox.sqlite3"):
        assert integrity(state / db) == "ok"
    expected = ledger_frame_ids(state)
    report = delivery_report(events, expected)
    record_outcome("state dir full (tmpfs ENOSPC)", "ballast filled the state tmpfs for 2 "
                   "frames, removed, restart", report)
    assert len(expected) == 5
    assert report["lost"] == 0 and report["unexpected"] == 0 and report["unstable_ids"] == 0
    # what the full disk did to the two frames, kept for the report
    print("during full:", full_status, "after space returned:", retried)


def test_files_hit_by_disk_full_are_retried_without_restart(
        tmp_path: Path, small_state_dir: Path, kafka_bootstrap: str, untrained_package: Path,
        m_flare_files: Path) -> None:
    """A file whose ledger write failed must not wait for a restart (the spool emits each
    file once per run, so the daemon itself has to try it again once space returns)."""
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", small_state_dir
    spool.mkdir()
    feeds = spool_feeds(spool)
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix="rel.fault.full2", package=untrained_package, feeds=feeds)
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)
        ballast = fill(state)
        during = copy_frames(files, spool, range(1))
        wait_for(lambda: "disk is full" in log.read_text(errors="replace"), 60,
                 what="a disk-full error in the log")
        ballast.unlink()
        wait_for(lambda: set(_status(state, during).values()) == {"processed"}, 60,
                 what="the frame that hit the full disk analysed once space returned")
    finally:
        kill(daemon)
