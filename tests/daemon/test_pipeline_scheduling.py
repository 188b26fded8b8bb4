"""TurnOrder (publishing in dequeue order) and RetrySchedule (backoff) in isolation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from monitor.pipeline.retries import RetrySchedule
from monitor.pipeline.turns import TurnOrder
from monitor.sources import FileArrival


def test_turns_are_taken_in_ticket_order_whatever_order_work_ends() -> None:
    async def main() -> list[int]:
        turns, done = TurnOrder(), []
        tickets = [turns.take() for _ in range(4)]

        async def work(ticket: int, delay: float) -> None:
            await asyncio.sleep(delay)  # later tickets finish their analysis first
            await turns.wait(ticket)
            done.append(ticket)
            await turns.end(ticket)

        await asyncio.wait_for(asyncio.gather(*(work(t, 0.04 - 0.01 * t) for t in tickets)), 5)
        return done
    assert asyncio.run(main()) == [0, 1, 2, 3]


def test_a_ticket_that_fails_before_its_turn_is_skipped() -> None:
    async def main() -> list[int]:
        turns, done = TurnOrder(), []
        a, b, c = turns.take(), turns.take(), turns.take()
        await turns.end(b)  # b failed while a still works: b must not block c
        await turns.end(b)  # ending twice is harmless

        async def work(ticket: int) -> None:
            await turns.wait(ticket)
            done.append(ticket)
            await turns.end(ticket)

        task_c = asyncio.create_task(work(c))
        await asyncio.sleep(0.02)
        assert done == []  # c waits for a
        await work(a)
        await asyncio.wait_for(task_c, 5)
        return done
    assert asyncio.run(main()) == [0, 2]


def test_retry_schedule_backs_off_and_releases_only_due_files() -> None:
    retries = RetrySchedule(max_delay_s=60.0)
    arrival = FileArrival(path=Path("/spool/a.fits"), feed="aia", arrived_at=time.time(),
                          size_bytes=1)
    assert [retries.count_attempt("/spool/a.fits") for _ in range(3)] == [1, 2, 3]
    assert retries.schedule(arrival, 1) == 2.0
    assert retries.schedule(arrival, 10) == 60.0  # capped
    released: list[FileArrival] = []
    retries.release_due(lambda a: released.append(a) or True)
    assert released == [] and len(retries) == 2  # not due yet
    retries.forget("/spool/a.fits")
    assert retries.count_attempt("/spool/a.fits") == 1

    short = RetrySchedule(max_delay_s=0.01)
    short.schedule(arrival, 1)
    time.sleep(0.05)
    short.release_due(lambda a: False)  # due, but no room in the intake: kept
    assert len(short) == 1
    short.release_due(lambda a: released.append(a) or True)
    assert released == [arrival] and len(short) == 0
