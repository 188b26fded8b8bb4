"""Frame assembly: the channels of one AIA observation cycle become one model input.

AIA takes its seven EUV channels a few seconds apart within each 12 s cycle,
and files arrive in any order. A frame is identified by its feed and a time
bucket of the feed's cadence (``floor(T_OBS / cadence)``), which is the same
on every daemon instance and after every restart: the frame id derived from it
is stable, so consumers can drop duplicates.

When a bucket's window closes with channels missing (``wait_s`` after its
first channel arrived) the policy decides: ``partial`` emits the frame flagged
as partial when it has at least ``min_channels`` (the model sees the missing
channels at their normalised mean, zero), ``reject`` gives up on it (each file is rejected with a reason), ``wait``
keeps it open until more than ``max_open`` frames are waiting, then rejects
the oldest. A channel that arrives after its frame was emitted is rejected as
late. Nothing is dropped without a reason.

The assembler is plain synchronous logic driven with explicit clock values so
that it can be tested exactly; the daemon calls it from its event loop.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

__all__ = ["ChannelItem", "Frame", "FrameAssembler", "FrameSettings", "LateOrDuplicate",
           "frame_bucket", "frame_id_for"]

_NAMESPACE = uuid.UUID("3f1d7c52-6c1e-4d8e-9a53-5d0b6f7a1c20")  # sdo-monitor frames

P = TypeVar("P")


@dataclass(frozen=True)
class FrameSettings:
    """How channels are grouped into frames."""

    wait_s: float = field(
        default=30.0, metadata={"gt": 0, "doc": "wall-clock wait for missing channels after "
                                                "the first one of a frame arrived"})
    on_missing: Literal["wait", "partial", "reject"] = field(
        default="reject", metadata={"doc": "what to do when wait_s passes with channels "
                                           "missing: partial analyses frames with at least "
                                           "min_channels (missing ones at the channel mean), "
                                           "flagged partial_frame"})
    min_channels: int = field(
        default=5, metadata={"ge": 1, "le": 7, "doc": "fewest channels a partial frame needs"})
    max_open: int = field(
        default=32, metadata={"ge": 1, "doc": "open frames kept at most (memory bound)"})


@dataclass
class ChannelItem(Generic[P]):
    """One channel ready for a frame; ``payload`` is what the pipeline carries."""

    feed: str
    channel: int
    t_obs: datetime
    payload: P
    arrived_at: float


@dataclass
class Frame(Generic[P]):
    """The channels of one observation cycle."""

    frame_id: str
    feed: str
    bucket_start: datetime
    channels: dict[int, ChannelItem[P]]
    required: tuple[int, ...]
    opened_at: float

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(c for c in self.required if c not in self.channels)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def t_obs(self) -> datetime:
        """Mean observation time of the channels present."""
        stamps = [item.t_obs.timestamp() for item in self.channels.values()]
        return datetime.fromtimestamp(sum(stamps) / len(stamps), tz=UTC)


@dataclass(frozen=True)
class LateOrDuplicate(Generic[P]):
    """A channel that cannot join a frame, with the reason code."""

    item: ChannelItem[P]
    reason: Literal["late_channel", "duplicate_channel"]
    frame_id: str


def frame_bucket(t_obs: datetime, cadence_s: float) -> datetime:
    """Start of the cadence bucket that ``t_obs`` falls in (UTC)."""
    ts = t_obs.timestamp()
    return datetime.fromtimestamp(math.floor(ts / cadence_s) * cadence_s, tz=UTC)


def frame_id_for(feed: str, bucket_start: datetime) -> str:
    """The stable frame id: a UUIDv5 of feed and bucket start."""
    stamp = bucket_start.astimezone(UTC).isoformat(timespec="milliseconds")
    return str(uuid.uuid5(_NAMESPACE, f"{feed}|{stamp}"))


@dataclass
class AssemblyResult(Generic[P]):
    """What one call to the assembler produced."""

    ready: list[Frame[P]] = field(default_factory=list)
    partial: list[Frame[P]] = field(default_factory=list)
    abandoned: list[Frame[P]] = field(default_factory=list)
    refused: list[LateOrDuplicate[P]] = field(default_factory=list)

    def extend(self, other: AssemblyResult[P]) -> None:
        self.ready += other.ready
        self.partial += other.partial
        self.abandoned += other.abandoned
        self.refused += other.refused


class FrameAssembler(Generic[P]):
    """Groups channel items into frames per feed and cadence bucket.

    Parameters
    ----------
    settings : FrameSettings
        Window and missing-channel policy.
    required : tuple of int
        The channels the model needs, in model order.
    cadence_s : dict
        Bucket width per feed name (the feed's cadence).
    """

    def __init__(self, settings: FrameSettings, required: tuple[int, ...],
                 cadence_s: dict[str, float]) -> None:
        self.settings = settings
        self.required = tuple(required)
        self.cadence_s = dict(cadence_s)
        self._open: dict[str, Frame[P]] = {}
        # Emitted ids, bounded: enough to recognise late channels of recent frames.
        self._closed: dict[str, None] = {}
        self._closed_limit = 4096

    @property
    def open_frames(self) -> int:
        return len(self._open)

    @property
    def open_channels(self) -> int:
        """Channels waiting in open frames."""
        return sum(len(f.channels) for f in self._open.values())

    def add(self, item: ChannelItem[Any], now: float) -> AssemblyResult[P]:
        """Add one channel; returns frames that became ready and anything refused."""
        result: AssemblyResult[P] = AssemblyResult()
        bucket = frame_bucket(item.t_obs, self.cadence_s.get(item.feed, 12.0))
        frame_id = frame_id_for(item.feed, bucket)
        if frame_id in self._closed:
            result.refused.append(LateOrDuplicate(item, "late_channel", frame_id))
            return result
        frame = self._open.get(frame_id)
        if frame is None:
            frame = Frame(frame_id, item.feed, bucket, {}, self.required, now)
            self._open[frame_id] = frame
        if item.channel in frame.channels or item.channel not in self.required:
            result.refused.append(LateOrDuplicate(item, "duplicate_channel", frame_id))
            return result
        frame.channels[item.channel] = item
        if frame.complete:
            result.ready.append(self._close(frame_id))
        result.extend(self._evict_over_limit())
        return result

    def reopen(self, frame_id: str) -> None:
        """Accept channels of an emitted frame again (its analysis must be redone)."""
        self._closed.pop(frame_id, None)

    def expire(self, now: float) -> AssemblyResult[P]:
        """Close windows older than ``wait_s`` according to the missing-channel policy."""
        result: AssemblyResult[P] = AssemblyResult()
        if self.settings.on_missing == "wait":
            return result
        for frame_id, frame in list(self._open.items()):
            if now - frame.opened_at >= self.settings.wait_s:
                self._settle(self._close(frame_id), result)
        return result

    def flush(self) -> AssemblyResult[P]:
        """Close every open frame (end of a replay, shutdown)."""
        result: AssemblyResult[P] = AssemblyResult()
        for frame_id in list(self._open):
            self._settle(self._close(frame_id), result)
        return result

    def _settle(self, frame: Frame[P], result: AssemblyResult[P]) -> None:
        usable = (self.settings.on_missing == "partial"
                  and len(frame.channels) >= self.settings.min_channels)
        (result.partial if usable else result.abandoned).append(frame)

    def _evict_over_limit(self) -> AssemblyResult[P]:
        result: AssemblyResult[P] = AssemblyResult()
        while len(self._open) > self.settings.max_open:
            oldest = min(self._open.values(), key=lambda f: f.bucket_start)
            self._settle(self._close(oldest.frame_id), result)
        return result

    def _close(self, frame_id: str) -> Frame[P]:
        frame = self._open.pop(frame_id)
        self._closed[frame_id] = None
        while len(self._closed) > self._closed_limit:
            del self._closed[next(iter(self._closed))]
        return frame
