"""Dynamic batcher: grouping, deadline, routing, per-request exceptions, cancellation, close."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from monitor.inference.base import InferenceOutput
from monitor.inference.batcher import BatcherClosedError, BatchEvent, DynamicBatcher
from monitor.inference.torch_cpu import TorchCPUBackend

SHAPE = (7, 64, 64)
LIVENESS_S = 30.0  # generous bound: only a hang (a broken trigger) can reach it


def _frames(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *SHAPE)).astype(np.float32)


class FakePoisonBackend:
    """Fault injection: wraps a real backend and raises on any batch holding a NaN frame."""

    def __init__(self, inner: TorchCPUBackend) -> None:
        self.inner = inner
        self.name = "fake_poison"
        self.batches: list[int] = []

    def warmup(self) -> None:
        self.inner.warmup()

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        self.batches.append(len(batch))
        if np.isnan(batch).any():
            raise FloatingPointError("NaN frame in batch")
        return self.inner.infer(batch)

    def close(self) -> None:
        self.inner.close()


async def _with_batcher(backend, max_batch: int, max_wait_ms: float, body,
                        more_coming=None) -> list[BatchEvent]:
    events: list[BatchEvent] = []
    batcher = DynamicBatcher(backend, SHAPE, max_batch=max_batch, max_wait_ms=max_wait_ms,
                             observers=[events.append], more_coming=more_coming)
    await batcher.start()
    assert batcher.ready
    try:
        await asyncio.wait_for(body(batcher), LIVENESS_S)
    finally:
        await batcher.close()
    assert not batcher.ready
    return events


def test_results_are_routed_to_their_callers(torch_backend: TorchCPUBackend) -> None:
    inputs = [_frames(1, seed)[0] for seed in range(10)]
    expected = [torch_backend.infer(x[None]) for x in inputs]

    async def body(batcher: DynamicBatcher) -> None:
        results = await asyncio.gather(*(batcher.submit(x) for x in inputs))
        for got, want in zip(results, expected):
            assert len(got) == 1
            np.testing.assert_allclose(got.logits, want.logits, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(got.irradiance, want.irradiance, rtol=1e-4, atol=1e-5)
            assert got.features.shape == want.features.shape

    events = asyncio.run(_with_batcher(torch_backend, 4, 50.0, body))
    assert sum(e.frames for e in events) == 10
    assert max(e.frames for e in events) <= 4
    assert max(e.requests for e in events) > 1  # it did batch


def test_full_batch_dispatches_without_waiting_for_the_deadline(
        torch_backend: TorchCPUBackend) -> None:
    async def body(batcher: DynamicBatcher) -> None:
        await asyncio.gather(*(batcher.submit(_frames(1, s)) for s in range(4)))

    # max_wait 10 min: only the max_batch trigger can finish this within LIVENESS_S
    events = asyncio.run(_with_batcher(torch_backend, 4, 600_000.0, body))
    assert [(e.frames, e.requests) for e in events] == [(4, 4)]


def test_lone_request_waits_for_the_deadline_then_runs(torch_backend: TorchCPUBackend) -> None:
    async def body(batcher: DynamicBatcher) -> None:
        out = await batcher.submit(_frames(1, 0)[0])
        assert out.logits.shape == (1, 4)

    events = asyncio.run(_with_batcher(torch_backend, 8, 60.0, body))
    assert [(e.frames, e.requests) for e in events] == [(1, 1)]
    # it was held for company, up to max_wait (loop clock; early wake-ups are < 1 tick)
    assert events[0].queue_wait_s[0] >= 0.8 * 0.060


def test_lone_request_runs_at_once_when_nothing_else_is_coming(
        torch_backend: TorchCPUBackend) -> None:
    hints: list[bool] = []

    def more_coming() -> bool:
        hints.append(False)
        return False

    async def body(batcher: DynamicBatcher) -> None:
        # max_wait 10 min: only the hint can finish this within LIVENESS_S
        out = await batcher.submit(_frames(1, 0)[0])
        assert out.logits.shape == (1, 4)

    events = asyncio.run(_with_batcher(torch_backend, 8, 600_000.0, body, more_coming))
    assert [(e.frames, e.requests) for e in events] == [(1, 1)]
    assert hints  # the hint was asked


def test_multi_frame_requests_keep_their_rows_together(torch_backend: TorchCPUBackend) -> None:
    a, b = _frames(3, 1), _frames(2, 2)

    async def body(batcher: DynamicBatcher) -> None:
        ra, rb = await asyncio.gather(batcher.submit(a), batcher.submit(b))
        assert len(ra) == 3 and len(rb) == 2
        np.testing.assert_allclose(rb.logits, torch_backend.infer(b).logits, rtol=1e-4,
                                   atol=1e-5)
        with pytest.raises(ValueError, match="1..4"):
            await batcher.submit(_frames(5, 3))

    events = asyncio.run(_with_batcher(torch_backend, 4, 20.0, body))
    assert [e.frames for e in events] == [3, 2]  # 3 + 2 > 4: never split across batches


def test_exception_is_isolated_to_the_poisoned_request(torch_backend: TorchCPUBackend) -> None:
    backend = FakePoisonBackend(torch_backend)
    good = [_frames(1, s)[0] for s in range(3)]
    poison = np.full(SHAPE, np.nan, dtype=np.float32)

    async def body(batcher: DynamicBatcher) -> None:
        results = await asyncio.gather(
            batcher.submit(good[0]), batcher.submit(poison), batcher.submit(good[1]),
            batcher.submit(good[2]), return_exceptions=True)
        assert isinstance(results[1], FloatingPointError)
        for frame, r in zip(good, (results[0], results[2], results[3])):
            assert isinstance(r, InferenceOutput)
            want = torch_backend.infer(frame[None])
            np.testing.assert_allclose(r.logits, want.logits, rtol=1e-4, atol=1e-5)
        # the batcher keeps serving after the failure
        assert len(await batcher.submit(good[0])) == 1

    # all four are queued in one loop turn, so they fill one batch well before 200 ms
    events = asyncio.run(_with_batcher(backend, 4, 200.0, body))
    assert events[0].requests == 4 and events[0].failed == 1
    assert backend.batches[:5] == [4, 1, 1, 1, 1]  # whole batch, then each request alone


def test_bad_input_is_rejected_at_submit_only(torch_backend: TorchCPUBackend) -> None:
    async def body(batcher: DynamicBatcher) -> None:
        with pytest.raises(ValueError, match="do not match"):
            await batcher.submit(np.zeros((6, 64, 64), np.float32))
        with pytest.raises(ValueError, match="floating"):
            await batcher.submit(np.zeros(SHAPE, np.int16))
        assert len(await batcher.submit(_frames(1, 0))) == 1

    asyncio.run(_with_batcher(torch_backend, 4, 10.0, body))


def test_cancelled_request_is_skipped(torch_backend: TorchCPUBackend) -> None:
    async def body(batcher: DynamicBatcher) -> None:
        doomed = asyncio.ensure_future(batcher.submit(_frames(1, 0)))
        await asyncio.sleep(0)  # let it enqueue
        doomed.cancel()
        kept = await asyncio.gather(*(batcher.submit(_frames(1, s)) for s in range(1, 5)))
        assert all(len(k) == 1 for k in kept)
        assert doomed.cancelled()

    events = asyncio.run(_with_batcher(torch_backend, 4, 600_000.0, body))
    assert sum(e.frames for e in events) == 4


def test_close_fails_waiting_requests_and_later_submits(torch_backend: TorchCPUBackend) -> None:
    async def main() -> None:
        batcher = DynamicBatcher(torch_backend, SHAPE, max_batch=4, max_wait_ms=600_000.0)
        await batcher.start(warmup=False)
        waiting = asyncio.ensure_future(batcher.submit(_frames(1, 0)))
        await asyncio.sleep(0.01)
        await asyncio.wait_for(batcher.close(), LIVENESS_S)
        with pytest.raises(BatcherClosedError):
            await waiting
        with pytest.raises(BatcherClosedError):
            await batcher.submit(_frames(1, 1))

    asyncio.run(main())
    assert torch_backend.model is None  # the runner was closed on the worker thread


def test_failing_observer_does_not_break_inference(torch_backend: TorchCPUBackend) -> None:
    seen: list[int] = []

    def fake_broken_observer(event: BatchEvent) -> None:
        raise RuntimeError("fake metrics failure")

    async def main() -> None:
        batcher = DynamicBatcher(torch_backend, SHAPE, max_batch=2, max_wait_ms=5.0,
                                 observers=[fake_broken_observer,
                                            lambda e: seen.append(e.frames)])
        await batcher.start(warmup=False)
        try:
            out = await asyncio.wait_for(batcher.submit(_frames(2, 0)), LIVENESS_S)
            assert len(out) == 2
        finally:
            await batcher.close()

    asyncio.run(main())
    assert seen == [2]
