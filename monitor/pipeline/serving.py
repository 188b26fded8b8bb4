"""The serving ("champion") model, swappable between frames.

A :class:`ServingModel` is one package ready to analyse frames: the package,
its inference backend and batcher, and its :class:`FrameAnalyzer`. The
:class:`Champion` holds the one that serves now.

A frame *leases* the champion when it leaves the frames queue (at the same
instant it takes its turn, with no ``await`` in between) and keeps that model
until its analysis ends. Its inference runs on that model's own batcher, so a
batch never mixes packages, and since leases are taken in dequeue order,
every frame dequeued before a switch is analysed by the old package and
every frame after it by the new one: the switch point is clean. A switch
(:meth:`Champion.replace`) makes the new model current at once; the old one
is closed when its last leased frame is done. The new model is built and
warmed up completely beforehand (:func:`open_serving`), so a frame never
waits for a model to load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.inference import BatchEvent, DynamicBatcher, InferenceSettings, ManagedBackend
from monitor.inference.registry import open_backend
from monitor.models import ModelPackage
from monitor.models.provenance import ModelIdentity
from monitor.pipeline.analysis import FrameAnalyzer, OverlayInputs
from monitor.saliency import SaliencySettings

__all__ = ["Champion", "ServingModel", "open_serving"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ServingModel:
    """One package, loaded and warm: what a frame is analysed with."""

    package: ModelPackage
    backend: ManagedBackend
    analyzer: FrameAnalyzer

    @property
    def identity(self) -> ModelIdentity:
        return self.package.identity

    async def close(self) -> None:
        """Stop the explainer, then the batcher (which closes the backend).

        The explainer's thread may still draw an overlay someone asked for: it
        is joined off the event loop.
        """
        await asyncio.to_thread(self.analyzer.close)
        await self.analyzer.batcher.close()


async def open_serving(package: ModelPackage, settings: InferenceSettings,
                       saliency: SaliencySettings, cache_dir: Path, *,
                       observers: Sequence[Callable[[BatchEvent], None]],
                       more_coming: Callable[[], bool], finish_build: bool) -> ServingModel:
    """Load ``package`` onto a backend, start its batcher and warm everything up.

    ``finish_build`` also builds the target backend (a TensorRT engine) before
    returning, instead of serving from a stand-in meanwhile: what a package
    that replaces a serving one needs. Raises what loading raises
    (:class:`~monitor.inference.BackendUnavailableError`,
    :class:`~monitor.inference.BackendError`); nothing is left running then.
    """
    backend = await asyncio.to_thread(open_backend, settings, package, cache_dir)
    batcher = DynamicBatcher(backend, package.input_shape, settings.max_batch,
                             settings.max_wait_ms, settings.queue_size, observers=observers,
                             more_coming=more_coming)
    try:
        await batcher.start(warmup=settings.warmup_iterations > 0 or finish_build)
        if finish_build:
            await batcher.run_in_worker(backend.finish_build)
        analyzer = FrameAnalyzer(package, batcher, saliency)
        try:
            await analyzer.warm_up()
        except BaseException:
            analyzer.close()
            raise
    except BaseException:
        await batcher.close()
        raise
    return ServingModel(package, backend, analyzer)


class Champion:
    """The serving model and the frames that hold it (see the module docstring).

    Parameters
    ----------
    first : ServingModel
        The model that serves from the start; the champion owns it (and every
        later one) and closes it.
    """

    def __init__(self, first: ServingModel) -> None:
        self._current = first
        self._leases: dict[ServingModel, int] = {}
        self._retiring: set[ServingModel] = set()
        self._released = asyncio.Event()

    def current(self) -> ServingModel:
        """The model the next frame will lease."""
        return self._current

    @property
    def identity(self) -> ModelIdentity:
        return self._current.identity

    @contextlib.contextmanager
    def lease(self) -> Iterator[ServingModel]:
        """Hold the current model for one frame's analysis."""
        model = self._current
        self._leases[model] = self._leases.get(model, 0) + 1
        try:
            yield model
        finally:
            left = self._leases[model] - 1
            if left:
                self._leases[model] = left
            else:
                del self._leases[model]
                self._released.set()

    async def replace(self, new: ServingModel) -> ServingModel:
        """Serve ``new`` from the next frame on; close the old model once its frames are done.

        Returns the old model (closed).
        """
        old, self._current = self._current, new
        self._retiring.add(old)
        while old in self._leases:
            self._released.clear()
            await self._released.wait()
        self._retiring.discard(old)
        await old.close()
        return old

    async def draw_overlay(self, inputs: OverlayInputs) -> bytes:
        """Draw an overlay with the serving model's explainer (every package the champion
        accepts has the same channels and grid)."""
        return await self._current.analyzer.draw_overlay(inputs)

    async def close(self) -> None:
        """Close every model (the pipeline has stopped: no frame holds one)."""
        for model in (*self._retiring, self._current):
            await model.close()
        self._retiring.clear()
