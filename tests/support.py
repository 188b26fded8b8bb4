"""Helpers shared by the end-to-end and reliability tests (on sys.path via pytest's pythonpath)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from monitor.config import Config, parse_config

EXE = Path(sys.executable).with_name("sdo-monitor")


def daemon_config(tmp: Path, spool: Path, package: Path, prefix: str, **service: object) -> Config:
    extra = "".join(f"\n  {k}: {v}" for k, v in service.items())
    return parse_config(f"""
service:
  state_dir: {tmp / 'state'}
  cache_dir: {tmp / 'cache'}
  ingest_executor: thread
  ingest_workers: 2{extra}
http: {{host: 127.0.0.1, port: 0}}
kafka: {{topic_prefix: {prefix}, partitions: 1}}
inference: {{model_package: {package}, backend: onnxruntime, max_batch: 2, warmup_iterations: 1}}
frames: {{wait_s: 20}}
feeds:
  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, stable_s: 0.5, poll_interval_s: 0.2}}
""")


def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60) -> list[dict]:
    """Every message of a topic (all partitions, no group) until ``expect`` or timeout."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    deadline = time.monotonic() + timeout_s
    while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    out: list[dict] = []
    while len(out) < expect and time.monotonic() < deadline:
        out.extend(json.loads(m.value) for m in consumer)
    consumer.close()
    return out


def write_config(path: Path, *, state: Path, bootstrap: str, prefix: str, package: Path,
                 feeds: str = "", mode: str = "live", extra: str = "", http_port: int = 0) -> Path:
    path.write_text(f"""
service:
  state_dir: {state}
  cache_dir: {state.parent / 'cache'}
  mode: {mode}
  ingest_executor: thread
  ingest_workers: 2
  drain_timeout_s: 5
http: {{host: 127.0.0.1, port: {http_port}}}
kafka:
  bootstrap_servers: [{bootstrap}]
  topic_prefix: {prefix}
  partitions: 2
inference: {{model_package: {package}, backend: onnxruntime, max_batch: 2,
            warmup_iterations: 1}}
publish: {{retry_backoff_max_s: 1.0}}
frames: {{wait_s: 30}}
{feeds}
{extra}
""")
    return path


def spool_feeds(spool: Path, **extra: object) -> str:
    """The ``feeds:`` YAML of one live spool feed (quick stability checks for tests)."""
    more = "".join(f", {k}: {v}" for k, v in extra.items())
    return (f"feeds:\n  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, "
            f"stable_s: 0.5, poll_interval_s: 0.2{more}}}")


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``sdo-monitor`` with its output in a file (read it when a test fails)."""
    handle = log.open("ab")
    return subprocess.Popen([str(EXE), *args], stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


# -- fault-injection helpers (tests/reliability/test_reliability_faults_*.py) ----------------

def frames_in_time_order(files_dir: Path) -> list[Path]:
    """The synthetic files sorted by observation time, then channel (7 per frame)."""
    return sorted(files_dir.glob("*.fits"), key=lambda p: p.name.split("_", 1)[1])


def copy_frames(files: list[Path], spool: Path, frames: range) -> list[Path]:
    """Rename copies of whole frames into a spool, as real writers do; returns the names."""
    placed = []
    for path in files[frames.start * 7:frames.stop * 7]:
        tmp = spool / f".{path.name}.part"
        tmp.write_bytes(path.read_bytes())
        tmp.rename(spool / path.name)
        placed.append(spool / path.name)
    return placed


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until true; fails the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what or predicate}")


def wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    """Wait for the daemon's ``daemon ready`` log line (fails if it exits first)."""
    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited with {proc.returncode}: {log.read_text()[-3000:]}")
        return "daemon ready" in log.read_text(errors="replace")
    wait_for(ready, timeout_s, 0.3, "daemon ready")


def sqlite_ro(path: Path):  # type: ignore[no-untyped-def]
    """A read-only connection to a daemon's SQLite file (works while it runs, disk full too)."""
    import sqlite3

    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def outbox_pending(state: Path, name: str = "outbox.sqlite3") -> int:
    """Messages waiting in a daemon's outbox for a broker acknowledgement."""
    path = state / name
    if not path.exists():
        return 0
    db = sqlite_ro(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file ('ok' when sound)."""
    db = sqlite_ro(path)
    try:
        return ";".join(str(r[0]) for r in db.execute("PRAGMA integrity_check").fetchall())
    finally:
        db.close()


def ledger_counts(state: Path) -> dict[str, int]:
    """Files by status in a daemon's ledger (read-only)."""
    path = state / "ledger.sqlite3"
    if not path.exists():
        return {}
    db = sqlite_ro(path)
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())
    finally:
        db.close()


def read_frames(bootstrap: str, topic: str, n_frames: int, timeout_s: float = 120) -> list[dict]:
    """Frame messages of a topic until ``n_frames`` distinct frame ids are seen (or timeout)."""
    deadline = time.monotonic() + timeout_s
    events: list[dict] = []
    while time.monotonic() < deadline:
        events = read_topic(bootstrap, topic, 10**9, min(5.0, deadline - time.monotonic()))
        if len({e["data"]["frame_id"] for e in events}) >= n_frames:
            break
    return events


def delivery_report(events: list[dict], expected_frame_ids: set[str]) -> dict[str, int]:
    """Expected / delivered / duplicate / lost counts of frame messages (ids must be stable)."""
    ids_per_frame: dict[str, set[str]] = {}
    for event in events:
        ids_per_frame.setdefault(event["data"]["frame_id"], set()).add(event["id"])
    unstable = sum(1 for ids in ids_per_frame.values() if len(ids) > 1)
    delivered = set(ids_per_frame) & expected_frame_ids
    return {"expected": len(expected_frame_ids), "delivered": len(delivered),
            "duplicates": len(events) - len(ids_per_frame), "lost": len(expected_frame_ids -
                                                                         delivered),
            "unexpected": len(set(ids_per_frame) - expected_frame_ids),
            "unstable_ids": unstable}


#: Rows recorded by the reliability tests of this pytest session (see tests/reliability/conftest.py).
OUTCOMES: list[dict[str, object]] = []
SUMMARY_COLUMNS = ("expected", "delivered", "duplicates", "lost")


def record_outcome(test: str, faults: str, report: dict[str, int]) -> None:
    """Record one row of the reliability summary (faults injected, frames expected, delivered,
    duplicates, lost).

    The session prints the rows as a table at the end and writes them to
    ``var/reliability-summary.md``; ``SDO_MONITOR_RELIABILITY_SUMMARY`` names a JSON-lines file
    to append them to as well (docs/benchmarks.md keeps the latest table).
    """
    row = {"test": test, "faults": faults, **report,
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    OUTCOMES.append(row)
    target = os.environ.get("SDO_MONITOR_RELIABILITY_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def outcome_table(rows: list[dict[str, object]]) -> str:
    """The rows as a markdown table (the one kept in docs/benchmarks.md)."""
    lines = ["| scenario | faults injected | frames expected | delivered | duplicates | lost |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        cells = [str(row["test"]), str(row["faults"])] + [str(row.get(c, "")) for c in
                                                          SUMMARY_COLUMNS]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def ledger_frame_ids(state: Path) -> set[str]:
    """Frame ids of every processed file in a daemon's ledger (what must be downstream)."""
    db = sqlite_ro(state / "ledger.sqlite3")
    try:
        return {r[0] for r in db.execute(
            "SELECT DISTINCT frame_id FROM files WHERE status = 'processed'").fetchall()}
    finally:
        db.close()
