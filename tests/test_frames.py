"""Frame assembly by observation time: ids, windows, missing-channel policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.frames import ChannelItem, FrameAssembler, FrameSettings, frame_id_for

CH = (94, 131, 171, 193, 211, 304, 335)
# Channel offsets within one 12 s AIA cycle (seconds), roughly as AIA takes them.
OFFSET = {94: 11.1, 131: 6.6, 171: 9.4, 193: 4.8, 211: 0.6, 304: 5.1, 335: 2.6}
T0 = datetime(2011, 6, 7, 6, 41, 12, tzinfo=UTC)


def item(ch: int, cycle: int = 0, feed: str = "aia") -> ChannelItem[str]:
    t = T0 + timedelta(seconds=12 * cycle + OFFSET[ch])
    return ChannelItem(feed, ch, t, f"{ch}@{cycle}", arrived_at=0.0)


def test_channels_in_any_order_make_one_complete_frame() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(), CH, {"aia": 12.0})
    ready = []
    for ch in reversed(CH):
        ready += asm.add(item(ch), now=0.0).ready
    assert len(ready) == 1
    frame = ready[0]
    assert frame.complete and set(frame.channels) == set(CH)
    assert asm.open_frames == 0
    assert frame.bucket_start == T0  # 06:41:12 is a 12 s boundary


def test_frame_id_is_stable_and_distinct_per_feed_and_cycle() -> None:
    a = frame_id_for("aia", T0)
    assert a == frame_id_for("aia", T0)
    assert a != frame_id_for("aia", T0 + timedelta(seconds=12))
    assert a != frame_id_for("other", T0)


def test_interleaved_cycles_are_kept_apart() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(), CH, {"aia": 12.0})
    ready = []
    for ch in CH:
        ready += asm.add(item(ch, 1), 0.0).ready
        ready += asm.add(item(ch, 0), 0.0).ready
    assert [f.channels[171].payload for f in ready] == ["171@1", "171@0"]


def test_reject_policy_abandons_incomplete_frames_after_wait() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(wait_s=30, on_missing="reject"),
                                              CH, {"aia": 12.0})
    for ch in CH[:-1]:
        asm.add(item(ch), now=100.0)
    assert not asm.expire(now=129.0).abandoned
    result = asm.expire(now=130.0)
    assert len(result.abandoned) == 1 and result.abandoned[0].missing == (335,)
    late = asm.add(item(335), now=131.0)
    assert late.refused and late.refused[0].reason == "late_channel"


@pytest.mark.parametrize(("on_missing", "channels", "expect_partial"), [
    ("partial", 5, 1), ("partial", 4, 0), ("reject", 6, 0)])
def test_partial_frames_follow_the_policy_and_min_channels(on_missing: str, channels: int,
                                                           expect_partial: int) -> None:
    settings = FrameSettings(wait_s=1, on_missing=on_missing, min_channels=5)  # type: ignore[arg-type]
    asm: FrameAssembler[str] = FrameAssembler(settings, CH, {"aia": 12.0})
    for ch in CH[:channels]:
        asm.add(item(ch), now=0.0)
    result = asm.expire(now=2.0)
    assert len(result.partial) == expect_partial
    assert len(result.abandoned) == 1 - expect_partial


def test_wait_policy_keeps_frames_until_memory_bound() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(on_missing="wait", max_open=2),
                                              CH, {"aia": 12.0})
    asm.add(item(171, 0), 0.0)
    assert not asm.expire(now=1e9).abandoned  # never times out
    asm.add(item(171, 1), 0.0)
    result = asm.add(item(171, 2), 0.0)
    assert [f.channels[171].payload for f in result.abandoned] == ["171@0"]


def test_duplicate_channel_in_one_frame_is_refused() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(), CH, {"aia": 12.0})
    asm.add(item(171), 0.0)
    result = asm.add(item(171), 0.0)
    assert result.refused[0].reason == "duplicate_channel"


def test_flush_closes_everything() -> None:
    asm: FrameAssembler[str] = FrameAssembler(FrameSettings(), CH, {"aia": 12.0})
    asm.add(item(171, 0), 0.0)
    asm.add(item(171, 5), 0.0)
    assert len(asm.flush().abandoned) == 2 and asm.open_frames == 0
