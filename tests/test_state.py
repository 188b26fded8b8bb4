"""The processed-file ledger survives restarts and tells begun from finished."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.state import ProcessedFileLedger


def test_begin_finish_lookup(tmp_path: Path) -> None:
    ledger = ProcessedFileLedger(tmp_path / "ledger.sqlite3")
    ledger.begin("/spool/a.fits", "aia", 100, 5)
    assert ledger.lookup("/spool/a.fits", 100, 5).status == "received"
    assert [e.path for e in ledger.unfinished()] == ["/spool/a.fits"]
    ledger.finish("/spool/a.fits", "processed", sha256="h1", obs_key="k1", frame_id="f1")
    entry = ledger.lookup("/spool/a.fits", 100, 5)
    assert entry.finished and entry.frame_id == "f1"
    assert ledger.lookup("/spool/a.fits", 101, 5) is None  # rewritten file = new version
    assert ledger.counts() == {"processed": 1}
    with pytest.raises(KeyError):
        ledger.finish("/spool/never.fits", "processed")


def test_duplicate_found_by_key_or_hash(tmp_path: Path) -> None:
    ledger = ProcessedFileLedger(tmp_path / "l.sqlite3")
    ledger.begin("/s/a.fits", "aia", 1, 1)
    ledger.finish("/s/a.fits", "processed", sha256="h", obs_key="SDO/AIA|171|T")
    assert ledger.find_processed_duplicate("/s/b.fits", "SDO/AIA|171|T", "other").path == \
        "/s/a.fits"
    assert ledger.find_processed_duplicate("/s/c.fits", "different", "h") is not None
    assert ledger.find_processed_duplicate("/s/a.fits", "SDO/AIA|171|T", "h") is None
    assert ledger.find_processed_duplicate("/s/d.fits", "x", "y") is None


def test_finished_rows_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "l.sqlite3"
    script = textwrap.dedent(f"""
        import os, signal
        from monitor.state import ProcessedFileLedger
        ledger = ProcessedFileLedger({str(db)!r})
        ledger.begin("/s/done.fits", "aia", 1, 1)
        ledger.finish("/s/done.fits", "processed", frame_id="f")
        ledger.begin("/s/inflight.fits", "aia", 1, 1)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert proc.returncode == -9
    ledger = ProcessedFileLedger(db)
    assert ledger.get("/s/done.fits").status == "processed"
    assert [e.path for e in ledger.unfinished()] == ["/s/inflight.fits"]


def test_per_file_queries_do_not_scan_a_large_ledger(tmp_path: Path) -> None:
    """A month of AIA is ~1.5 M rows: the queries run for every file must be index lookups.

    Counted in SQLite VM instructions (a progress handler), not in seconds.
    """
    ledger = ProcessedFileLedger(tmp_path / "l.sqlite3")
    db = ledger._db
    with db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO files (path, feed, size_bytes, mtime_ns, status, sha256, obs_key, "
            "frame_id, received_at) VALUES (?, 'aia', 1, 1, 'processed', ?, ?, 'f', 0)",
            ((f"/s/{i}", f"h{i}", f"k{i}") for i in range(20_000)))
        db.execute("COMMIT")
    ticks: list[int] = []
    db.set_progress_handler(lambda: ticks.append(1) or 0, 100)  # every 100 instructions
    assert ledger.find_processed_duplicate("/s/new", "k123", "nope").path == "/s/123"
    assert ledger.find_processed_duplicate("/s/new", "none", "h19999").path == "/s/19999"
    assert ledger.find_processed_duplicate("/s/new", "none", "nope") is None
    assert ledger.lookup("/s/777", 1, 1).path == "/s/777"
    db.set_progress_handler(None, 100)
    # an index lookup is tens of instructions; one scan of 20 000 rows is > 200 000
    assert len(ticks) < 50, len(ticks)


def test_prune_drops_old_finished_rows_only(tmp_path: Path) -> None:
    ledger = ProcessedFileLedger(tmp_path / "l.sqlite3")
    for name in ("old", "recent", "open"):
        ledger.begin(f"/s/{name}.fits", "aia", 1, 1)
    ledger.finish("/s/old.fits", "processed", obs_key="k-old")
    ledger.finish("/s/recent.fits", "rejected", reason="truncated")
    now = ledger.get("/s/recent.fits").finished_at
    assert ledger.prune(10.0, now=now + 5.0) == 0  # nothing older than 10 s yet
    ledger._db.execute("UPDATE files SET finished_at = finished_at - 100 "
                       "WHERE path = '/s/old.fits'")
    assert ledger.prune(10.0, now=now + 5.0) == 1
    assert ledger.get("/s/old.fits") is None
    assert ledger.get("/s/recent.fits") is not None
    assert [e.path for e in ledger.unfinished()] == ["/s/open.fits"]  # never pruned
