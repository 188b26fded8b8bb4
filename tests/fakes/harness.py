"""Run a source in the background and collect its arrivals (tests, benchmarks, demo)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from monitor.sources.base import FileArrival, Source

__all__ = ["Collector", "running"]


class Collector:
    """An ``emit`` callable that records arrivals; optionally blocks to apply back-pressure.

    Parameters
    ----------
    gate : asyncio.Semaphore, optional
        Acquired once per arrival before it is recorded, so a test can hold the
        source back (replay mode's blocking emit).
    """

    def __init__(self, gate: asyncio.Semaphore | None = None) -> None:
        self.arrivals: list[FileArrival] = []
        self._changed = asyncio.Event()
        self._gate = gate

    async def __call__(self, arrival: FileArrival) -> None:
        if self._gate is not None:
            await self._gate.acquire()
        self.arrivals.append(arrival)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[FileArrival]], bool],
                       timeout: float = 30.0) -> list[FileArrival]:
        """Wait until ``predicate(arrivals)`` holds; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while not predicate(self.arrivals):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met after {timeout}s "
                                   f"({len(self.arrivals)} arrivals)")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return self.arrivals

    async def wait_count(self, n: int, timeout: float = 30.0) -> list[FileArrival]:
        """Wait until at least ``n`` arrivals were recorded."""
        return await self.wait_for(lambda a: len(a) >= n, timeout)


@contextlib.asynccontextmanager
async def running(source: Source, emit: Callable[[FileArrival], object]) -> AsyncIterator[
        asyncio.Task[None]]:
    """Run ``source.run(emit)`` as a task for the block; cancel and await it after.

    An exception raised by the source is re-raised at the end of the block.
    """
    task = asyncio.create_task(source.run(emit))  # type: ignore[arg-type]
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises what the source died of, if it did
