"""The source supervisor: backoff and state with a fake clock, and the async loop that
restarts a real source class whose run() dies."""

from __future__ import annotations

import asyncio

from monitor.sources.base import Emit, FileArrival, SourceBase
from monitor.sources.supervisor import SourceSupervisor, supervise


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_caps_and_starts_afresh_after_a_healthy_run() -> None:
    clock = Clock()
    sup = SourceSupervisor(clock, initial_delay_s=1.0, max_delay_s=8.0, healthy_after_s=60.0)
    delays = []
    for _ in range(6):
        sup.started("aia")
        clock.now += 0.2
        delays.append(sup.failed("aia", "ValueError: embedded null byte"))
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    state = sup.states()[0]
    assert (state.feed, state.running, state.restarts) == ("aia", False, 6)
    assert state.last_error == "ValueError: embedded null byte"
    assert state.restart_at == clock.now + 8.0
    assert sup.problems() == [("feed aia: source failed (ValueError: embedded null byte), "
                               "restart 6 in 8 s")]
    sup.started("aia")  # restarted: running again, nothing to report
    assert sup.problems() == [] and sup.states()[0].running
    clock.now += 61.0  # ran long enough to count as healthy
    assert sup.failed("aia", "OSError") == 1.0


def test_feeds_are_tracked_apart_and_errors_are_bounded() -> None:
    clock = Clock()
    sup = SourceSupervisor(clock)
    sup.started("a")
    sup.started("b")
    sup.failed("b", "x" * 5000)
    states = {s.feed: s for s in sup.states()}
    assert states["a"].running and not states["b"].running
    assert len(states["b"].last_error or "") < 400


class _Flaky(SourceBase, kind="test-flaky"):
    """A source whose run() raises twice, then emits one arrival and idles."""

    def __init__(self) -> None:
        super().__init__("flaky")
        self.runs = 0

    async def run(self, emit: Emit) -> None:
        self.runs += 1
        if self.runs <= 2:
            raise RuntimeError(f"broken run {self.runs}")
        await emit(FileArrival(path=__file__, feed=self.name, arrived_at=0.0,  # type: ignore[arg-type]
                               size_bytes=1))
        await asyncio.Event().wait()

    async def done(self, arrival: FileArrival, outcome: str) -> None:  # pragma: no cover
        pass


def test_supervise_restarts_a_dying_source_until_it_runs() -> None:
    source = _Flaky()
    sup = SourceSupervisor(initial_delay_s=0.01)
    failures: list[str] = []
    slept: list[float] = []
    got: list[FileArrival] = []

    async def emit(arrival: FileArrival) -> None:
        got.append(arrival)

    async def fast_sleep(delay: float) -> None:
        slept.append(delay)
        await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(supervise(source, emit, sup, failures.append, fast_sleep))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    assert source.runs == 3 and len(got) == 1
    assert failures == ["flaky", "flaky"] and slept == [0.01, 0.02]
    state = sup.states()[0]
    assert state.running and state.restarts == 2 and "broken run 2" in (state.last_error or "")
