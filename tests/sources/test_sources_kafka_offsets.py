"""The Kafka feed's commit bookkeeping: in-order commits, epochs that void stale notices."""

from __future__ import annotations

from monitor.sources.kafkaoffsets import PartitionOffsets

P0, P1 = ("notices", 0), ("notices", 1)


def test_commits_only_the_done_prefix_of_each_partition() -> None:
    book = PartitionOffsets()
    book.assign([P0, P1])
    epochs = {key: book.epoch(key) for key in (P0, P1)}
    for offset in (5, 6, 7):
        assert book.hand_out(P0, offset) == epochs[P0]
    book.hand_out(P1, 0)
    assert book.load() == (4, 4)
    book.notify_done(P0, 6, epochs[P0])  # 5 still in flight: nothing to commit on P0
    book.notify_done(P1, 0, epochs[P1])
    book.apply_notices()
    assert book.committable() == {P1: 1}
    assert book.load() == (2, 3)
    book.notify_done(P0, 5, epochs[P0])
    book.apply_notices()
    assert book.committable() == {P0: 7}
    assert book.committable() == {}  # taken once
    assert book.load() == (1, 1)


def test_a_notice_from_before_a_revocation_commits_nothing() -> None:
    book = PartitionOffsets()
    book.assign([P0])
    old = book.epoch(P0)
    book.hand_out(P0, 3)
    book.forget([P0])
    assert book.hand_out(P0, 4) is None and book.partitions() == []
    book.assign([P0])
    new = book.epoch(P0)
    assert new is not None and new != old
    book.hand_out(P0, 3)
    book.notify_done(P0, 3, old)  # the file handed out under the old assignment
    book.apply_notices()
    assert book.committable() == {}
    book.notify_done(P0, 3, new)
    book.apply_notices()
    assert book.committable({P1}) == {}
    assert book.committable({P0}) == {P0: 4}
