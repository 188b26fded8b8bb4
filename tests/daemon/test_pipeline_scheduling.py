"""TurnOrder (publishing in dequeue order), RetrySchedule (backoff) and FrameQueue (the
overload policy) in isolation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.frames import Frame
from monitor.observe.metrics import Metrics
from monitor.pipeline.assembly import FrameQueue
from monitor.pipeline.handoffs import QueuedFrame
from monitor.pipeline.ingest_stage import PoolShare
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


T0 = datetime(2015, 1, 4, 15, 0, tzinfo=UTC)


def _queued(i: int) -> QueuedFrame:
    return QueuedFrame(Frame(frame_id=f"f{i}", feed="aia", bucket_start=T0, channels={},
                             required=(171,), opened_at=0.0))


def test_live_queue_drops_its_oldest_frame_when_full() -> None:
    async def main() -> tuple[list[str | None], list[str], float | None]:
        metrics = Metrics()
        queue = FrameQueue(2, replay=False, metrics=metrics)
        dropped = [await queue.put(_queued(i)) for i in range(4)]
        left = [(await queue.get()).frame.frame_id for _ in range(len(queue))]
        drops = metrics.registry.get_sample_value("sdo_monitor_drops_total",
                                                  {"stage": "frames", "reason": "overload"})
        return [d.frame.frame_id if d else None for d in dropped], left, drops

    dropped, left, drops = asyncio.run(main())
    assert dropped == [None, None, "f0", "f1"]  # the oldest go: near-real-time beats complete
    assert left == ["f2", "f3"]
    assert drops == 2


def test_replay_queue_waits_for_room_and_drops_nothing() -> None:
    async def main() -> tuple[bool, QueuedFrame | None, list[str]]:
        queue = FrameQueue(1, replay=True, metrics=Metrics())
        await queue.put(_queued(0))
        second = asyncio.create_task(queue.put(_queued(1)))
        await asyncio.sleep(0.05)
        blocked = not second.done()
        first = await queue.get()
        dropped = await asyncio.wait_for(second, 5)
        return blocked, dropped, [first.frame.frame_id, (await queue.get()).frame.frame_id]

    blocked, dropped, order = asyncio.run(main())
    assert blocked and dropped is None
    assert order == ["f0", "f1"]


def test_an_idle_pool_lends_its_cores_to_the_next_file() -> None:
    share = PoolShare(workers=2)
    with share.lend() as first:
        assert first == 2  # both workers idle: the file's decode may use both
        with share.lend() as second:
            assert second == 1  # the other worker is busy with the first file
            with share.lend() as third:
                assert third == 1  # queued behind both: never less than one
        assert share.in_pool == 1
    with share.lend() as again:
        assert again == 2
    assert share.in_pool == 0
