"""The SQLite outbox: idempotence, order, bounds, crash survival, a full disk."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from monitor.publish.outbox import (
    AsyncOutbox,
    MessageTooLarge,
    OutboundMessage,
    Outbox,
    OutboxError,
    OutboxFull,
)


def message(i: int, size: int = 100, topic: str = "t.frames") -> OutboundMessage:
    return OutboundMessage(f"id-{i:05d}", topic, f"k{i % 3}".encode(), bytes([i % 256]) * size,
                           created_at=1_700_000_000.0 + i)


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "state" / "outbox.sqlite3", max_messages=50, max_bytes=20_000,
                 max_message_bytes=5_000)
    yield box
    box.close()


def test_add_is_idempotent_per_message_id(outbox: Outbox) -> None:
    assert outbox.add([message(1), message(2), message(1)]) == 2  # duplicate inside one call
    assert outbox.add([message(1), message(2)]) == 0              # resubmission after a crash
    changed = OutboundMessage("id-00001", "t.other", None, b"different", 0.0)
    assert outbox.add([changed]) == 0                             # first version wins
    assert outbox.count() == 2
    assert [m.message_id for m in outbox.pending()] == ["id-00001", "id-00002"]
    assert outbox.pending()[0] == message(1)


def test_pending_keeps_insertion_order_and_ack_deletes(outbox: Outbox) -> None:
    ids = [7, 3, 9, 1, 5]  # insertion order differs from id order on purpose
    for i in ids:
        outbox.add([message(i)])
    assert [m.message_id for m in outbox.pending()] == [f"id-{i:05d}" for i in ids]
    assert [m.message_id for m in outbox.pending(limit=2)] == ["id-00007", "id-00003"]
    assert outbox.ack(["id-00003", "id-00001", "never-added"]) == 2
    assert [m.message_id for m in outbox.pending()] == ["id-00007", "id-00009", "id-00005"]
    assert [m.message_id for m in outbox.pending(skip_topics=["t.frames"])] == []
    assert outbox.ack([]) == 0


def test_size_accounting_and_oldest_age(outbox: Outbox) -> None:
    assert (outbox.count(), outbox.size_bytes(), outbox.oldest_age_s()) == (0, 0, 0.0)
    outbox.add([message(1, 100), message(2, 300)])
    assert outbox.size_bytes() == (100 + 2) + (300 + 2)  # value + key
    keyless = OutboundMessage("id-nokey", "t.frames", None, b"x" * 50, 1_700_000_100.0)
    outbox.add([keyless])
    assert outbox.size_bytes() == 404 + 50
    assert outbox.oldest_age_s(now=1_700_000_011.0) == pytest.approx(10.0)  # message(1)
    outbox.ack(["id-00001"])
    assert outbox.size_bytes() == 302 + 50
    assert outbox.oldest_age_s(now=1_700_000_012.0) == pytest.approx(10.0)  # message(2)
    stats = outbox.stats()
    assert (stats.count, stats.size_bytes, stats.oldest_created_at) == (2, 352, 1_700_000_002.0)


def test_bounds_raise_outbox_full_and_add_nothing(outbox: Outbox) -> None:
    outbox.add([message(i) for i in range(45)])
    with pytest.raises(OutboxFull, match="45 messages.*would exceed 50"):
        outbox.add([message(i) for i in range(100, 110)])
    assert outbox.count() == 45  # all or nothing: no partial batch
    assert outbox.add([message(i) for i in range(40)]) == 0  # known ids never count as new
    outbox.ack([f"id-{i:05d}" for i in range(10)])
    assert outbox.add([message(i) for i in range(100, 110)]) == 10
    assert outbox.count() == 45


def test_byte_bound_and_oversized_message(outbox: Outbox) -> None:
    outbox.add([message(i, 4_000) for i in range(4)])  # 16 008 of 20 000 bytes
    with pytest.raises(OutboxFull, match="bytes"):
        outbox.add([message(10, 4_000)])
    with pytest.raises(MessageTooLarge, match="max_message_bytes=5000"):
        outbox.add([message(11, 6_000)])
    assert outbox.count() == 4


def test_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    writer = textwrap.dedent(f"""
        import os
        from monitor.publish.outbox import OutboundMessage, Outbox
        box = Outbox({str(path)!r})
        for i in range(20):
            box.add([OutboundMessage(f"m{{i:03d}}", "t", None, b"v" * i, float(i))])
        box.ack(["m000", "m001"])
        os._exit(0)  # no close(), no atexit: as abrupt as a crash after the commits
    """)
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[2])
    box = Outbox(path)
    try:
        pending = box.pending(limit=100)
        assert [m.message_id for m in pending] == [f"m{i:03d}" for i in range(2, 20)]
        assert box.count() == 18 and box.size_bytes() == sum(range(2, 20))
        assert pending[5].value == b"v" * 7
    finally:
        box.close()


class FullDiskOutbox(Outbox):
    """A fake full disk: SQLite's ``max_page_count`` caps the file at its current size.

    The only way to provoke SQLITE_FULL without filling a real file system.
    """

    def fill_disk(self) -> None:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count={pages}")


def test_full_disk_is_a_clear_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = FullDiskOutbox(path, max_messages=10_000, max_bytes=10**9, max_message_bytes=10**6)
    box.add([message(i, 1000) for i in range(5)])
    box.fill_disk()
    with pytest.raises(OutboxError, match="SQLITE_FULL") as caught:
        box.add([message(i, 20_000) for i in range(100, 120)])
    assert not isinstance(caught.value, OutboxFull)  # a disk problem, not the configured bound
    assert box.count() == 5 and box.size_bytes() == 5 * 1002
    assert box.ack(["id-00000"]) == 1  # the connection is still usable
    box.close()
    again = Outbox(path)
    try:
        assert [m.message_id for m in again.pending()] == [f"id-{i:05d}" for i in range(1, 5)]
    finally:
        again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_garbage_file_is_an_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match="open"):
        Outbox(path)


def test_dead_letters_are_kept_and_never_re_added(outbox: Outbox) -> None:
    outbox.add([message(1), message(2)])
    assert outbox.bury("id-00001", "MessageSizeTooLargeError") is True
    assert outbox.bury("id-00001", "again") is False
    assert outbox.count() == 1 and outbox.size_bytes() == 102
    assert outbox.dead_letter_count() == 1 and outbox.stats().dead_letters == 1
    assert outbox.add([message(1)]) == 0  # resubmission of a buried message is a no-op
    assert [m.message_id for m in outbox.pending()] == ["id-00002"]


def test_async_outbox_serialises_calls_on_one_thread(tmp_path: Path) -> None:
    threads: set[str] = set()

    async def scenario() -> tuple[int, int, int, list[str]]:
        box = await AsyncOutbox.open(tmp_path / "o.sqlite3", max_messages=1000)
        try:
            # sqlite3 raises ProgrammingError if a connection is used from two
            # threads: 30 concurrent calls prove they are serialised on one.
            results = await asyncio.gather(*(box.add([message(i)]) for i in range(30)))
            await box._call(lambda: threads.add(threading.current_thread().name))
            acked, stats = await box.ack([f"id-{i:05d}" for i in range(10)])
            pending = await box.pending(100)
            return sum(n for n, _ in results), acked, stats.count, [m.message_id for m in pending]
        finally:
            await box.close()

    added, acked, left, pending = asyncio.run(scenario())
    assert (added, acked, left) == (30, 10, 20)
    assert sorted(pending) == [f"id-{i:05d}" for i in range(10, 30)]
    assert len(threads) == 1 and next(iter(threads)).startswith("outbox")


def test_outbox_refuses_an_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        Outbox(tmp_path / "o.sqlite3", synchronous="OFF")  # type: ignore[arg-type]


def test_created_at_is_wall_clock_so_age_survives_restarts(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.add([OutboundMessage("x", "t", None, b"v", time.time() - 30.0)])
    box.close()
    again = Outbox(path)
    try:
        assert 29.0 < again.oldest_age_s() < 120.0
    finally:
        again.close()
