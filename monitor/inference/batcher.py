"""Dynamic batching on asyncio, with one worker thread that owns the device.

Requests (one frame or a few) are grouped until ``max_batch`` frames are
waiting or the oldest has waited ``max_wait_ms``, whichever comes first; the
batch runs on the single inference thread; each caller gets exactly its own
rows back. A request is never split across batches, and while the worker is
busy the next batch keeps filling, so under load batches are full and an idle
system answers a lone frame after at most ``max_wait_ms`` -- or at once, when
the caller's ``more_coming`` hint says no other frame is on
its way (a live feed at AIA's cadence: waiting for a batch only adds latency).

Failures stay with the request that caused them: input errors (wrong shape or
dtype) are rejected at :meth:`DynamicBatcher.submit`; if the backend raises on
a batch of several requests, each request is retried alone so only the
culprit(s) see the exception. A caller that gave up (cancelled) is skipped.

Observers (plain callables) receive one :class:`BatchEvent` per batch run, so
the daemon can bind Prometheus metrics (batch size, queue wait, inference
time, backend) without this module knowing about them. An observer that
raises is logged and ignored.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from monitor.inference.base import InferenceOutput, Runner
from monitor.logs import get_logger

__all__ = ["BatchEvent", "BatcherClosedError", "DynamicBatcher"]

log = get_logger(__name__)
T = TypeVar("T")


class BatcherClosedError(RuntimeError):
    """The batcher is closed (or not started); the request was not run."""


@dataclass(frozen=True)
class BatchEvent:
    """One batch run, for observers (metrics).

    Attributes
    ----------
    backend : str
        Backend that ran it.
    frames : int
        Frames in the batch.
    requests : int
        Requests in the batch.
    queue_wait_s : tuple of float
        Per request: seconds from submit to the start of its batch.
    infer_s : float
        Seconds the backend took (worker thread, includes retries on error).
    failed : int
        Requests that got an exception.
    """

    backend: str
    frames: int
    requests: int
    queue_wait_s: tuple[float, ...]
    infer_s: float
    failed: int


@dataclass
class _Request:
    frames: np.ndarray
    future: asyncio.Future[InferenceOutput]
    submitted: float


class DynamicBatcher:
    """Groups inference requests into batches for one :class:`Runner`.

    Parameters
    ----------
    runner : Runner
        A loaded backend (usually a :class:`~monitor.inference.registry.ManagedBackend`).
        The batcher owns it from :meth:`start` on: warm-up, inference and
        ``close()`` all run on the batcher's single worker thread.
    input_shape : tuple of int
        ``(C, N, N)`` of one frame; other shapes are rejected at submit.
    max_batch : int
        Largest batch in frames.
    max_wait_ms : float
        Longest time the oldest waiting request is held for its batch to fill.
    queue_size : int
        Requests that may wait; :meth:`submit` blocks (backpressure) beyond it.
    observers : sequence of callable, optional
        Each gets ``observer(event)`` after every batch (on the event loop).
    more_coming : callable, optional
        The caller's hint: False when no further request is on its way, so a
        partial batch runs now instead of waiting out ``max_wait_ms``.
    """

    def __init__(self, runner: Runner, input_shape: tuple[int, int, int], max_batch: int = 8,
                 max_wait_ms: float = 20.0, queue_size: int = 64, *,
                 observers: Sequence[Callable[[BatchEvent], None]] = (),
                 more_coming: Callable[[], bool] | None = None) -> None:
        if max_batch < 1 or max_wait_ms <= 0 or queue_size < 1:
            raise ValueError("max_batch >= 1, max_wait_ms > 0 and queue_size >= 1 required")
        self.runner = runner
        self.input_shape = tuple(input_shape)
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._slots = asyncio.Semaphore(queue_size)
        self._pending: deque[_Request] = deque()
        self._wakeup = asyncio.Event()
        self._observers = tuple(observers)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None
        self._ready = False
        self._closed = False
        self._more_coming = more_coming

    @property
    def ready(self) -> bool:
        """True once warm-up finished (readiness) and until close."""
        return self._ready and not self._closed

    @property
    def queued_frames(self) -> int:
        """Frames waiting for a batch (a queue-depth gauge)."""
        return sum(len(r.frames) for r in self._pending)

    async def run_in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the inference thread (device-owning work)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def start(self, warmup: bool = True) -> None:
        """Warm the runner up on the worker thread, then start batching."""
        if self._closed:
            raise BatcherClosedError("batcher is closed")
        if warmup:
            started = time.perf_counter()
            await self.run_in_worker(self.runner.warmup)
            log.info("inference warm-up done", backend=self.runner.name,
                     seconds=round(time.perf_counter() - started, 2))
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="batcher")
        self._ready = True

    async def submit(self, frames: np.ndarray) -> InferenceOutput:
        """Run one frame ``(C, N, N)`` or a few ``(b, C, N, N)``; returns ``b`` rows.

        Raises
        ------
        ValueError
            Wrong shape, non-float input or more than ``max_batch`` frames
            (only this request fails).
        BatcherClosedError
            The batcher is not running.
        """
        if self._closed or self._task is None:
            raise BatcherClosedError("batcher is not running")
        x = np.asarray(frames)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"frames of shape {tuple(np.shape(frames))} do not match "
                             f"(b, {', '.join(map(str, self.input_shape))})")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"frames must be floating point, got {x.dtype}")
        if not 1 <= len(x) <= self.max_batch:
            raise ValueError(f"{len(x)} frames in one request; 1..{self.max_batch} allowed")
        x = np.ascontiguousarray(x, dtype=np.float32)
        loop = asyncio.get_running_loop()
        async with self._slots:
            request = _Request(x, loop.create_future(), loop.time())
            self._pending.append(request)
            self._wakeup.set()
            return await request.future

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        frames = 0
        while self._pending:
            head = self._pending[0]
            if head.future.done():  # cancelled by its caller while waiting
                self._pending.popleft()
                continue
            if frames + len(head.frames) > self.max_batch:
                break
            batch.append(self._pending.popleft())
            frames += len(head.frames)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            while not self._pending and not self._closed:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self._closed:
                break
            deadline = self._pending[0].submitted + self.max_wait
            while self.queued_frames < self.max_batch and not self._closed:
                if self._more_coming is not None and not self._more_coming():
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            if self._closed:
                break
            batch = self._take_batch()
            if batch:
                await self._run(batch, loop.time())

    async def _run(self, batch: list[_Request], started: float) -> None:
        t0 = time.perf_counter()
        results = await self.run_in_worker(self._infer_isolated, [r.frames for r in batch])
        infer_s = time.perf_counter() - t0
        failed = 0
        for request, result in zip(batch, results):
            if request.future.done():
                continue
            if isinstance(result, BaseException):
                failed += 1
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        event = BatchEvent(
            backend=self.runner.name, frames=sum(len(r.frames) for r in batch),
            requests=len(batch), queue_wait_s=tuple(max(0.0, started - r.submitted)
                                                    for r in batch),
            infer_s=infer_s, failed=failed)
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("batch observer failed")

    def _infer_isolated(self, parts: list[np.ndarray]) -> list[InferenceOutput | BaseException]:
        """Worker thread: run the batch; on failure, run each request alone."""
        try:
            output = self.runner.infer(np.concatenate(parts) if len(parts) > 1 else parts[0])
        except Exception as exc:  # noqa: BLE001
            if len(parts) == 1:
                return [exc]
            log.warning("batch failed; retrying its requests one by one", requests=len(parts),
                        error=str(exc))
            results: list[InferenceOutput | BaseException] = []
            for part in parts:
                try:
                    results.append(self.runner.infer(part))
                except Exception as single:  # noqa: BLE001
                    results.append(single)
            return results
        out: list[InferenceOutput | BaseException] = []
        start = 0
        for part in parts:
            out.append(output.slice(start, start + len(part)))
            start += len(part)
        return out

    async def close(self) -> None:
        """Finish the batch in flight, fail the waiting requests, close the runner.

        The daemon drains its queues before calling this; requests still
        waiting here get :class:`BatcherClosedError`.
        """
        if self._closed:
            return
        self._closed = True
        self._ready = False
        self._wakeup.set()
        if self._task is not None:
            await self._task
        while self._pending:
            request = self._pending.popleft()
            if not request.future.done():
                request.future.set_exception(BatcherClosedError("batcher closed"))
        try:
            await self.run_in_worker(self.runner.close)
        finally:
            self._executor.shutdown(wait=True)
