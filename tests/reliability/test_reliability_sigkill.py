"""SIGKILL of the daemon mid-replay: after restarts nothing is skipped or lost.

The ledger must account for every input exactly once, and every frame's
result must be on Kafka at least once, duplicates carrying identical ids.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from support import delivery_report, kill, read_topic, record_outcome, spawn, write_config

from monitor.state import ProcessedFileLedger

KILLS = 10  # the number; each cycle costs a daemon start-up (~5-10 s)


def test_sigkill_mid_replay_then_resume(tmp_path: Path, kafka_bootstrap: str,
                                        untrained_package: Path, m_flare_files_long: Path) -> None:
    state = tmp_path / "state"
    prefix = "rel.kill"
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=untrained_package)
    log = tmp_path / "daemon.log"
    args = ("replay", str(m_flare_files_long), "-c", str(cfg), "--cadence", "60", "--no-progress")
    rng = random.Random(5)
    ledger_path = state / "ledger.sqlite3"
    def processed() -> int:
        if not ledger_path.exists():
            return 0
        return ProcessedFileLedger(ledger_path).counts().get("processed", 0)

    kills_mid_work = 0
    for _ in range(KILLS):
        proc = spawn(*args, log=log)
        # kill at a random point once this run finished its first frame
        base = processed()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and processed() <= base:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            kills_mid_work += 1
        kill(proc)
    assert kills_mid_work == KILLS  # every kill landed before the replay could finish
    final = spawn(*args, log=log)
    assert final.wait(timeout=300) == 0, log.read_text()[-4000:]

    ledger = ProcessedFileLedger(ledger_path)
    inputs = sorted(str(p) for p in m_flare_files_long.glob("*.fits"))
    rows = [ledger.get(p) for p in inputs]
    assert all(r is not None and r.status == "processed" for r in rows), \
        [(r.path, r.status) for r in rows if r is not None and r.status != "processed"]
    assert ledger.unfinished() == []
    frame_ids = {r.frame_id for r in rows}
    assert len(frame_ids) == 30

    frames = read_topic(kafka_bootstrap, f"{prefix}.frames", len(frame_ids), 60)
    record_outcome("SIGKILL mid-replay", f"{KILLS} SIGKILLs at random points of a 30-frame "
                   "replay, then resume", delivery_report(frames, frame_ids))
    by_id = Counter(e["id"] for e in frames)
    published = {e["data"]["frame_id"] for e in frames}
    assert published == frame_ids  # every frame at least once
    for event in frames:  # duplicates are the same message: same id for the same frame
        assert by_id[event["id"]] >= 1
    ids_per_frame = {}
    for event in frames:
        ids_per_frame.setdefault(event["data"]["frame_id"], set()).add(event["id"])
    assert all(len(ids) == 1 for ids in ids_per_frame.values())
