"""Ingested files into frames, and frames into the bounded queue before analysis.

:class:`FrameQueue` is the one place the overload policy acts: in ``live``
mode a full queue drops its oldest frame (near-real-time beats complete; the
dropped files are rejected as ``overload_dropped``, so nothing disappears
silently); in ``replay`` mode the assembler waits for room instead and drops
nothing. :class:`Assembly` feeds the :class:`~monitor.frames.FrameAssembler`
and settles what it returns: ready and partial frames are queued, abandoned
frames and refused files are rejected.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from monitor.frames import AssemblyResult, ChannelItem, Frame, FrameAssembler
from monitor.observe.metrics import Metrics
from monitor.pipeline.handoffs import PIPELINE_REASONS, IngestedFile, QueuedFrame
from monitor.pipeline.outcomes import Outcomes

__all__ = ["Assembly", "FrameQueue"]


class FrameQueue:
    """Frames waiting for analysis, at most ``limit`` of them.

    Parameters
    ----------
    limit : int
        ``service.queue_size``.
    replay : bool
        Block when full (replay) instead of dropping the oldest frame (live).
    metrics : Metrics
        Queue depth and overload drops.
    """

    def __init__(self, limit: int, replay: bool, metrics: Metrics) -> None:
        self._limit = limit
        self._replay = replay
        self._metrics = metrics
        self._frames: deque[QueuedFrame] = deque()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._frames)

    async def put(self, queued: QueuedFrame) -> QueuedFrame | None:
        """Queue a frame; returns the frame dropped to make room (live mode), if any."""
        dropped = None
        async with self._changed:
            if self._replay:
                await self._changed.wait_for(lambda: len(self._frames) < self._limit)
            elif len(self._frames) >= self._limit:
                dropped = self._frames.popleft()
                self._metrics.drops.labels("frames", "overload").inc()
            self._frames.append(queued)
            self._changed_depth()
        return dropped

    async def get(self) -> QueuedFrame:
        """The oldest waiting frame (waits for one)."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._frames))
            queued = self._frames.popleft()
            self._changed_depth()
        return queued

    def _changed_depth(self) -> None:
        self._metrics.queue_depth.labels("frames").set(len(self._frames))
        self._changed.notify_all()


class Assembly:
    """Groups ingested files into frames and queues them (see the module docstring)."""

    def __init__(self, assembler: FrameAssembler[IngestedFile], queue: FrameQueue,
                 outcomes: Outcomes, metrics: Metrics) -> None:
        self._assembler = assembler
        self._queue = queue
        self._outcomes = outcomes
        self._metrics = metrics
        self._rejecting: set[asyncio.Task[None]] = set()

    @property
    def open_frames(self) -> int:
        return self._assembler.open_frames

    @property
    def open_channels(self) -> int:
        return self._assembler.open_channels

    async def add(self, item: ChannelItem[IngestedFile]) -> None:
        await self._settle(self._assembler.add(item, time.monotonic()))

    async def expire(self) -> None:
        """Close the frames whose window has passed."""
        await self._settle(self._assembler.expire(time.monotonic()))

    async def flush(self) -> None:
        """Close every open frame now (end of a replay)."""
        await self._settle(self._assembler.flush())

    def reopen(self, frame_id: str) -> None:
        """A frame that failed after leaving the assembler may be assembled again."""
        self._assembler.reopen(frame_id)

    async def _settle(self, result: AssemblyResult[IngestedFile]) -> None:
        for frame in result.ready:
            await self._enqueue(frame, ())
        for frame in result.partial:
            await self._enqueue(frame, ("partial_frame",))
        for frame in result.abandoned:
            self._metrics.frames.labels(frame.feed, "abandoned").inc()
            missing = ",".join(str(c) for c in frame.missing)
            await self._outcomes.reject_frame(
                frame, "incomplete_frame", f"{PIPELINE_REASONS['incomplete_frame']}: {missing}")
        for refused in result.refused:
            await self._outcomes.reject_file(
                refused.item.payload, refused.item.feed, refused.reason,
                f"{PIPELINE_REASONS[refused.reason]} (frame {refused.frame_id})")

    async def _enqueue(self, frame: Frame[IngestedFile], flags: tuple[str, ...]) -> None:
        dropped = await self._queue.put(QueuedFrame(frame, flags))
        if dropped is not None:
            # in the background: publishing the rejections must not hold up newer frames
            task = asyncio.create_task(self._outcomes.reject_frame(
                dropped.frame, "overload_dropped", PIPELINE_REASONS["overload_dropped"]))
            self._rejecting.add(task)
            task.add_done_callback(self._rejecting.discard)
