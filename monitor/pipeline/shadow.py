"""Shadow packages: candidate models run on the serving package's frames, never alerting.

A shadow ("challenger") package sees the same preprocessed frames as the
serving ("champion") package: once the champion's result of a frame is in the
outbox, :meth:`ShadowStage.offer` hands the frame to each shadow whose turn
the :class:`~monitor.pipeline.spare.SparePolicy` grants. A shadow runs on
its own :class:`~monitor.inference.DynamicBatcher` over a backend chosen by
the same registry and settings as the champion's (:func:`open_shadow`), so a
TensorRT host runs its candidates on TensorRT too. Its result
(:class:`ShadowResult`) becomes one ``frame.shadow.v1`` message on
``<prefix>.frames.shadow`` and goes to the listeners (the GOES verification
scores every package), but never to the alert rules, and no saliency is
computed for it: shadows take spare capacity only.

The frame's grid images are unscaled, so each package applies its own
normalisation (:func:`~monitor.pipeline.analysis.model_input`); a shadow must
use the serving package's grid size and a subset of its channels
(:func:`compatibility_problem`), which :func:`open_shadow` checks.

A shadow analysis that fails is logged and counted with the skipped ones
(reason ``failed``): a broken candidate never touches the champion's path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from monitor.frames import Frame
from monitor.inference import DynamicBatcher, InferenceSettings, open_backend
from monitor.logs import get_logger
from monitor.models import ModelPackage, load_package
from monitor.observe.metrics import Metrics
from monitor.pipeline.analysis import (
    AnalysedFrame,
    IrradianceLine,
    ShadowResult,
    model_input,
    read_outputs,
)
from monitor.pipeline.handoffs import IngestedFile
from monitor.pipeline.spare import Load, SparePolicy

__all__ = ["ShadowListener", "ShadowModel", "ShadowResult", "ShadowStage",
           "compatibility_problem", "irradiance_difference", "open_shadow"]

log = get_logger(__name__)

#: Longest a shadow waits for the outbox to reach the broker before it counts as behind.
SETTLE_S = 5.0


class ShadowListener(Protocol):
    """Hears every shadow result whose message is in the outbox."""

    def shadow_published(self, result: ShadowResult) -> None: ...


def compatibility_problem(shadow: ModelPackage, serving: ModelPackage) -> str | None:
    """Why ``shadow`` cannot read the serving package's frames (None when it can)."""
    s, c = shadow.manifest.input, serving.manifest.input
    if s.size != c.size:
        return f"grid size {s.size} px differs from the serving package's {c.size} px"
    missing = sorted(set(s.channels) - set(c.channels))
    if missing:
        return (f"channels {missing} are not among the serving package's "
                f"{sorted(c.channels)}")
    if shadow.sha256 == serving.sha256:
        return "it is the serving package itself (same sha256)"
    return None


def irradiance_difference(shadow: Sequence[IrradianceLine],
                          serving: Sequence[IrradianceLine]) -> float | None:
    """Median over the lines both packages estimate of ``|shadow - serving| / |serving|``.

    How far a challenger's virtual EVE is from the champion's on the same frame
    (None when they share no line with a non-zero serving value). Not an error
    against EVE: the daemon has no EVE measurements.
    """
    reference = {line.name: line.value_w_m2 for line in serving if line.value_w_m2 != 0.0}
    ratios = [abs(line.value_w_m2 - reference[line.name]) / abs(reference[line.name])
              for line in shadow if line.name in reference]
    return float(np.median(ratios)) if ratios else None


class ShadowModel:
    """One loaded shadow package and its started batcher (made by :func:`open_shadow`)."""

    def __init__(self, package: ModelPackage, batcher: DynamicBatcher, backend: str) -> None:
        self.package = package
        self.batcher = batcher
        self.backend = backend
        self.identity = package.identity
        #: ``name:version``: the metric label ``package`` and the API's key
        self.label = self.identity.label
        self.analysed = 0
        self.skipped = 0

    async def run(self, frame: Frame[IngestedFile], done: AnalysedFrame) -> ShadowResult:
        """Infer one frame (no saliency: shadows take spare capacity only)."""
        t0 = time.perf_counter()
        out = await self.batcher.submit(model_input(frame, self.package)[None])
        infer_s = time.perf_counter() - t0
        readout = read_outputs(self.package, out)
        return ShadowResult(
            frame_id=done.frame_id, feed=done.feed, t_obs=done.t_obs, model=self.identity,
            champion=done.model, probabilities=readout.probabilities,
            predicted_class=readout.predicted_class, irradiance=readout.irradiance,
            backend=self.backend, timings_s={"inference": infer_s},
            flags=tuple(f for f in done.flags if f in ("replay", "quality_warning")))

    async def close(self) -> None:
        await self.batcher.close()


async def open_shadow(path: Path, serving: ModelPackage, settings: InferenceSettings,
                      cache_dir: Path) -> ShadowModel:
    """Load, check and start one shadow package on the champion's backend machinery.

    Raises
    ------
    monitor.models.PackageError
        The package does not load (hashes, parity) or cannot read the serving
        package's frames (:func:`compatibility_problem`).
    monitor.inference.BackendError
        No backend can run it.
    """
    from monitor.models.errors import PackageFormatError

    package = await asyncio.to_thread(load_package, path, settings.verify_package)
    problem = compatibility_problem(package, serving)
    if problem is not None:
        raise PackageFormatError(path, f"cannot shadow the serving package: {problem}")
    backend = await asyncio.to_thread(open_backend, settings, package, cache_dir)
    # one frame at a time, at once: a shadow never waits to fill a batch
    batcher = DynamicBatcher(backend, package.input_shape, max_batch=1, max_wait_ms=1.0,
                             queue_size=1)
    try:
        await batcher.start(warmup=settings.warmup_iterations > 0)
    except BaseException:
        await batcher.close()
        raise
    status = backend.status()
    return ShadowModel(package, batcher, f"{status.active}-{status.precision}")


class ShadowStage:
    """Runs the shadow packages on published frames, in spare capacity only.

    Parameters
    ----------
    models : sequence of ShadowModel
        The started shadow packages.
    policy : SparePolicy
        Decides whether the pipeline has room for a shadow analysis.
    publish : callable
        Awaitable ``publish(result) -> bool``: the message is in the outbox.
    settle : callable, optional
        Awaitable ``settle(timeout_s) -> bool``: the outbox has handed every
        message to the broker (the publisher's ``wait_drained``). A shadow
        starts only then, so its CPU burst never delays the serving package's
        delivery; None starts at once.
    listeners : sequence of ShadowListener
        Told of every published shadow result.
    metrics : Metrics
        ``shadow_skipped_total{package}``, ``shadow_frames_total{package}`` and the
        latest irradiance difference from the serving package.
    clock : callable
        Unix time (tests pass their own).
    """

    def __init__(self, models: Sequence[ShadowModel], policy: SparePolicy,
                 publish: Callable[[ShadowResult], Awaitable[bool]],
                 listeners: Sequence[ShadowListener], metrics: Metrics,
                 settle: Callable[[float], Awaitable[bool]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.models = tuple(models)
        self._policy = policy
        self._publish = publish
        self._settle = settle
        self._listeners = tuple(listeners)
        self._metrics = metrics
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        for model in self.models:  # every series exists from the start (rate() needs it)
            metrics.shadow_skipped.labels(model.label)
            metrics.shadow_frames.labels(model.label)

    def offer(self, frame: Frame[IngestedFile], done: AnalysedFrame, load: Load) -> None:
        """The champion's result of ``frame`` is published and ``load`` is how busy the
        serving side is now: run each shadow the policy lets run."""
        if not self.models:
            return
        now = self._clock()
        for model in self.models:
            if model.identity.sha256 == done.model.sha256:
                # promoted: this package analysed the frame as the serving one already
                self._skip(model, "now_serving")
                continue
            task = self._running.get(model.label)
            reason = self._policy.skip_reason(load, task is not None and not task.done(),
                                              done.arrived[1], now)
            if reason is not None:
                self._skip(model, reason)
                continue
            self._running[model.label] = asyncio.create_task(
                self._run(model, frame, done), name=f"shadow:{model.label}")

    def _skip(self, model: ShadowModel, reason: str) -> None:
        model.skipped += 1
        self._metrics.shadow_skipped.labels(model.label).inc()
        log.debug("shadow skipped", package=model.label, reason=reason)

    async def _run(self, model: ShadowModel, frame: Frame[IngestedFile],
                   done: AnalysedFrame) -> None:
        try:
            if self._settle is not None and not await self._settle(SETTLE_S):
                self._skip(model, "outbox_backlog")
                return
            result = await model.run(frame, done)
            if not await self._publish(result):
                self._skip(model, "outbox_refused")
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken candidate never touches the champion's path
            log.error("shadow analysis failed", package=model.label, frame=done.frame_id,
                      error=f"{type(exc).__name__}: {exc}")
            self._skip(model, "failed")
            return
        model.analysed += 1
        self._metrics.shadow_frames.labels(model.label).inc()
        difference = irradiance_difference(result.irradiance, done.irradiance)
        if difference is not None:
            self._metrics.shadow_irradiance_difference.labels(model.label).set(difference)
        for listener in self._listeners:
            listener.shadow_published(result)

    @property
    def in_flight(self) -> int:
        return sum(1 for task in self._running.values() if not task.done())

    async def close(self) -> None:
        """Cancel the shadow analyses in flight (spare work: nothing waits for it).

        The shadow batchers are closed by whoever opened them (the daemon's
        exit stack), after this.
        """
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
