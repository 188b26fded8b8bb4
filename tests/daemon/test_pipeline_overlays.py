"""OverlayStore: PNGs drawn on first request, once, for the last N frames only."""

from __future__ import annotations

import asyncio


def test_overlays_are_drawn_once_on_request_and_bounded() -> None:
    from monitor.pipeline.overlays import OverlayStore

    drawn: list[str] = []
    timings: list[float] = []

    async def draw(inputs: str) -> bytes:
        drawn.append(inputs)
        await asyncio.sleep(0.01)
        return f"png:{inputs}".encode()

    async def main() -> None:
        store = OverlayStore(draw, keep=2, on_drawn=timings.append)
        store.add("a", "A")
        store.add("b", "B")
        assert drawn == []  # nothing drawn until asked
        # concurrent requests share one drawing
        first, second = await asyncio.gather(store.png("a"), store.png("a"))
        assert first == second == b"png:A" and drawn == ["A"]
        assert await store.png("a") == b"png:A" and drawn == ["A"]  # kept
        store.add("c", "C")  # "a" is the oldest and goes
        assert "a" not in store and await store.png("a") is None
        assert await store.png("c") == b"png:C"
        assert await store.png("never") is None
        assert len(timings) == 2 and all(t > 0 for t in timings)

    asyncio.run(main())


def test_a_failed_drawing_is_an_error_count_not_an_exception() -> None:
    from monitor.pipeline.overlays import OverlayStore

    errors: list[int] = []

    async def draw(inputs: str) -> bytes:
        raise RuntimeError("matplotlib broke")

    async def main() -> None:
        store = OverlayStore(draw, keep=4, on_error=lambda: errors.append(1))
        store.add("a", "A")
        assert await store.png("a") is None
        assert errors == [1]
        assert "a" in store  # still known: a later request may try again

    asyncio.run(main())


def test_keep_zero_keeps_nothing() -> None:
    from monitor.pipeline.overlays import OverlayStore

    async def draw(inputs: str) -> bytes:
        return b"x"

    store = OverlayStore(draw, keep=0)
    store.add("a", "A")
    assert "a" not in store and len(store) == 0
