"""Saliency overlay PNGs for the HTTP API: drawn on first request, kept for recent frames.

An overlay is for people (the status page, Grafana's image panel, a
forecaster following a link in a saliency message), not for Kafka. Drawing
one costs ~0.1 s of CPU per frame, as much as the saliency summary and the
inference together, so the daemon does not draw every frame: it keeps what
the drawing needs (the overlay channel on the model grid and the summary, a
few hundred kB) for the last ``keep`` frames and draws a PNG the first time
someone asks for it. Concurrent requests for the same frame share one drawing.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.logs import get_logger
from monitor.pipeline.publishing import PublishedFrame

__all__ = ["OverlayStore"]

log = get_logger(__name__)

Draw = Callable[[Any], Awaitable[bytes]]


class OverlayStore:
    """Overlay inputs and drawn PNGs of the last ``keep`` frames.

    Parameters
    ----------
    draw : callable
        ``await draw(inputs)`` -> PNG bytes (the analyzer draws on its explainer thread).
    keep : int
        Frames whose overlay can still be asked for; 0 keeps none.
    on_drawn : callable, optional
        Called with the drawing's duration in seconds (the overlay histogram).
    on_error : callable, optional
        Called when a drawing fails (the saliency error counter).
    """

    def __init__(self, draw: Draw, keep: int,
                 on_drawn: Callable[[float], None] | None = None,
                 on_error: Callable[[], None] | None = None) -> None:
        self._draw = draw
        self.keep = keep
        self._on_drawn = on_drawn
        self._on_error = on_error
        self._entries: OrderedDict[str, Any] = OrderedDict()  # inputs, or PNG once drawn
        self._drawing: dict[str, asyncio.Future[bytes | None]] = {}

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def frame_published(self, published: PublishedFrame) -> None:
        """A frame listener: keep what the frame's overlay needs, if it has one."""
        inputs = published.done.overlay_inputs
        if inputs is not None:
            self.add(published.done.frame_id, inputs)

    def add(self, frame_id: str, inputs: Any) -> None:
        """Remember what frame ``frame_id``'s overlay needs; the oldest frame goes."""
        if self.keep <= 0:
            return
        self._entries[frame_id] = inputs
        while len(self._entries) > self.keep:
            self._entries.popitem(last=False)

    async def png(self, frame_id: str) -> bytes | None:
        """The frame's PNG, drawn now if it was not yet; None for unknown frames."""
        entry = self._entries.get(frame_id)
        if entry is None or isinstance(entry, bytes):
            return entry
        pending = self._drawing.get(frame_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._drawing[frame_id] = future
        t0 = time.perf_counter()
        png: bytes | None = None
        try:
            png = await self._draw(entry)
        except Exception:  # a picture for people; the published result stands
            log.exception("overlay failed", frame=frame_id)
            if self._on_error is not None:
                self._on_error()
        finally:
            del self._drawing[frame_id]
            future.set_result(png)
        if png is not None:
            if self._on_drawn is not None:
                self._on_drawn(time.perf_counter() - t0)
            if frame_id in self._entries:
                self._entries[frame_id] = png
        return png
