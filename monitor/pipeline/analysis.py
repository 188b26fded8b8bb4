"""One frame through the model and the saliency explainer, into an :class:`AnalysedFrame`.

The inference itself runs on the batcher's single worker (it owns the
device); saliency and the overlay run on one more worker thread because the
explainer caches per-frame WCS objects that are not thread-safe and would
otherwise stall the event loop for ~10-40 ms per frame. The overlay PNG is
for people, not for Kafka: the analysis keeps only what drawing it needs
(:class:`OverlayInputs`) and :meth:`FrameAnalyzer.draw_overlay` draws it when
someone asks (:mod:`monitor.pipeline.overlays`), off the latency path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.alerts import AlertEvent, class_signals
from monitor.frames import Frame
from monitor.grid import ModelGrid
from monitor.inference import DynamicBatcher, InferenceOutput
from monitor.ingest import Observation
from monitor.models import ModelPackage
from monitor.models.provenance import ModelIdentity
from monitor.pipeline.handoffs import IngestedFile
from monitor.preprocess import AppliedFactor, apply_scaling
from monitor.saliency import FrameGeometry, HeadWeights, SaliencySettings, explain_outputs
from monitor.saliency.overlay import overlay_channel_index, render_overlay
from monitor.saliency.regions import FlareLocation
from monitor.saliency.summary import SaliencySummary

__all__ = ["AnalysedFrame", "FrameAnalyzer", "IrradianceLine", "OverlayInputs", "ShadowResult",
           "model_input", "softmax"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverlayInputs:
    """What drawing one frame's overlay needs: the overlay channel (scaled, model grid)
    and the saliency summary."""

    image: np.ndarray
    summary: Any


@dataclass(frozen=True)
class IrradianceLine:
    """The model's estimate of one EVE line."""

    name: str
    ion: str
    wavelength_nm: float
    value_w_m2: float


@dataclass(frozen=True)
class AnalysedFrame:
    """Everything the daemon publishes and shows for one frame (typed; the messages are
    made from it at the publishing edge)."""

    frame_id: str
    feed: str
    t_obs: datetime
    #: The frame's files, by wavelength.
    observations: tuple[Observation, ...]
    missing: tuple[int, ...]
    probabilities: dict[str, float]
    predicted_class: str
    irradiance: tuple[IrradianceLine, ...]
    #: ``<backend>-<precision>`` that ran the frame.
    backend: str
    flags: tuple[str, ...]
    timings_s: dict[str, float]
    #: Unix times the frame's first and last file arrived (end-to-end latency).
    arrived: tuple[float, float]
    #: The package that analysed the frame (every message of the frame names it).
    model: ModelIdentity
    saliency: SaliencySummary | None = None
    overlay_url: str | None = None
    #: What drawing the overlay needs (None when the frame has no overlay).
    overlay_inputs: OverlayInputs | None = None
    #: Alert rule inputs: cumulative class probabilities and the top saliency region.
    signals: dict[str, float] = field(default_factory=dict)
    location: dict[str, Any] | None = None
    #: The explained class and its located flare, and the package's measured pointing error.
    flare: tuple[str, FlareLocation] | None = None
    pointing_error_arcsec: dict[str, Any] | None = None
    #: The instrument degradation divided out of each channel (wavelength -> factor).
    degradation: dict[int, AppliedFactor] = field(default_factory=dict)
    #: Transitions the alert rules decided for this frame (set in observation order).
    alerts: tuple[AlertEvent, ...] = ()


@dataclass(frozen=True)
class ShadowResult:
    """One shadow package's result for one frame (``frame.shadow.v1`` at the edge)."""

    frame_id: str
    feed: str
    t_obs: datetime
    #: The shadow package and the package serving when the frame was analysed.
    model: ModelIdentity
    champion: ModelIdentity
    probabilities: dict[str, float]
    predicted_class: str
    irradiance: tuple[IrradianceLine, ...]
    #: ``<backend>-<precision>`` that ran the shadow.
    backend: str
    timings_s: dict[str, float]
    flags: tuple[str, ...]


def model_input(frame: Frame[IngestedFile], package: ModelPackage) -> np.ndarray:
    """A frame's scaled ``(C, N, N)`` input for ``package``; missing channels sit at the
    channel mean (0).

    The frame's grid images are unscaled, so packages with other normalisations
    (a shadow package) read the same frame, each with its own scaling.
    """
    spec = package.manifest.input
    channels, size = tuple(spec.channels), spec.size
    stack = np.zeros((len(channels), size, size), dtype=np.float32)
    present = np.zeros(len(channels), dtype=bool)
    for i, channel in enumerate(channels):
        item = frame.channels.get(channel)
        if item is not None and item.payload.grid_image is not None:
            stack[i] = item.payload.grid_image
            present[i] = True
    scaled = apply_scaling(stack, spec.scaling)
    scaled[~present] = 0.0  # after scaling, 0 is the training mean of the channel
    return scaled


@dataclass(frozen=True)
class Readout:
    """One sample's network outputs in the message's terms (``package``'s classes and lines)."""

    probabilities: dict[str, float]
    predicted_class: str
    irradiance: tuple[IrradianceLine, ...]
    #: softmax over the classes, unclipped (the alert signals' input)
    raw: np.ndarray
    #: the lines in W m^-2, in the package's order (saliency's input)
    irradiance_w_m2: np.ndarray


def read_outputs(package: ModelPackage, out: InferenceOutput) -> Readout:
    """The first sample of ``out``: class probabilities and EVE lines in W m^-2."""
    manifest = package.manifest
    probabilities = softmax(out.logits[0].astype(np.float64))
    irradiance = np.asarray(manifest.irradiance_w_m2(out.irradiance[:1]))[0]
    classes = manifest.classes.classes
    return Readout(
        probabilities={n: float(np.clip(p, 0.0, 1.0)) for n, p in zip(classes, probabilities)},
        predicted_class=classes[int(np.argmax(probabilities))],
        irradiance=tuple(IrradianceLine(line.name, line.ion, float(line.wavelength_nm),
                                        float(value))
                         for line, value in zip(manifest.lines, irradiance)),
        raw=probabilities, irradiance_w_m2=irradiance)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class FrameAnalyzer:
    """Runs frames through the model and explains them.

    Parameters
    ----------
    package : ModelPackage
        The loaded model package (channels, scaling, classes, lines).
    batcher : DynamicBatcher
        Started batcher over the chosen backend.
    saliency : SaliencySettings
        What to explain and whether to draw overlays.
    """

    def __init__(self, package: ModelPackage, batcher: DynamicBatcher,
                 saliency: SaliencySettings) -> None:
        self.package = package
        self.identity = package.identity
        self.batcher = batcher
        self.saliency = saliency
        self.channels = tuple(package.manifest.input.channels)
        self.scaling = package.manifest.input.scaling
        self.grid = ModelGrid(package.manifest.input.size)
        self.heads = HeadWeights.from_package(package)
        self._pointing = package.pointing_error_arcsec()
        self._overlay_index = overlay_channel_index(self.channels, saliency.overlay_channel)
        self._explainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saliency")

    def close(self) -> None:
        self._explainer.shutdown(wait=True, cancel_futures=True)

    async def warm_up(self) -> SaliencySummary | None:
        """Pay the explainer's one-time costs before the first frame, not during it;
        returns the warm-up frame's explanation (None with saliency off).

        The first frame otherwise carries the first calls into numpy's and
        scipy's routines and matplotlib's fonts (up to ~1 s), which made the
        first frame after start-up the slowest of every run (the real-time
        p99). Runs on the explainer thread, as frames do.
        """
        if not self.saliency.enabled:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._explainer, self._warm)

    def _warm(self) -> SaliencySummary:
        # One bright spot on the disk, explained as the most severe class with its flare
        # in the hot channels: every path a flaring frame takes (regions, their solar
        # coordinates, the flare refinement) runs once here rather than in the first one.
        spec = self.package.manifest.features
        cells, size = self.grid.size // spec.stride, self.grid.size
        features = np.zeros((spec.channels, cells, cells), dtype=np.float32)
        features[:, cells // 3, cells // 3] = np.clip(self.heads.class_weight[-1], 0.0, None)
        logits = np.zeros(len(self.package.manifest.classes.classes), dtype=np.float32)
        logits[-1] = 4.0
        geometry = FrameGeometry(t_obs=datetime.now(UTC), rsun_obs_arcsec=960.0,
                                 dsun_obs_m=1.496e11, size=size)
        yy, xx = np.mgrid[0:size, 0:size]
        spot = (spec.stride * (cells // 3) + spec.stride / 2) - 0.5
        blob = (100.0 * np.exp(-((xx - spot) ** 2 + (yy - spot) ** 2) / 8.0)).astype(np.float32)
        summary = explain_outputs(features, logits, self.heads, geometry, self.saliency,
                                  hot={w: blob for w in self.saliency.refine_channels})
        if self.saliency.overlay:
            self._draw(np.zeros((self.grid.size, self.grid.size), dtype=np.float32), summary)
        return summary

    def model_input(self, frame: Frame[IngestedFile]) -> np.ndarray:
        """The scaled ``(C, N, N)`` input (see :func:`model_input`)."""
        return model_input(frame, self.package)

    async def analyse(self, frame: Frame[IngestedFile], backend: str,
                      flags: tuple[str, ...]) -> AnalysedFrame:
        """Infer and explain one frame."""
        loop = asyncio.get_running_loop()
        timings: dict[str, float] = {}
        x = self.model_input(frame)
        t0 = time.perf_counter()
        out = await self.batcher.submit(x[None])
        timings["inference"] = time.perf_counter() - t0
        readout = read_outputs(self.package, out)
        observations = tuple(item.payload.observation for item in frame.channels.values()
                             if item.payload.observation is not None)
        t1 = time.perf_counter()
        hot = {w: frame.channels[w].payload.grid_image for w in self.saliency.refine_channels
               if w in frame.channels and frame.channels[w].payload.grid_image is not None}
        summary = await loop.run_in_executor(
            self._explainer, self._explain, out.features[0], out.logits[0],
            readout.irradiance_w_m2,
            observations, hot)
        timings["saliency"] = time.perf_counter() - t1
        for item in frame.channels.values():
            for stage in ("ingest", "preprocess"):
                timings[stage] = max(timings.get(stage, 0.0),
                                     item.payload.timings_s.get(stage, 0.0))
        location = url = inputs = None
        if summary is not None:
            top = summary.targets[0].regions if summary.targets else ()
            location = top[0].to_dict() if top else None
            if self.saliency.overlay and summary.targets:
                url = f"/api/v1/saliency/{frame.frame_id}.png"
                # a copy: the (C, N, N) model input is large and need not outlive the frame
                inputs = OverlayInputs(x[self._overlay_index].copy(), summary)
        arrivals = [item.arrived_at for item in frame.channels.values()]
        return AnalysedFrame(
            frame_id=frame.frame_id, feed=frame.feed, t_obs=frame.t_obs,
            observations=tuple(sorted(observations, key=lambda o: o.wavelength)),
            missing=tuple(sorted(frame.missing)),
            probabilities=readout.probabilities, predicted_class=readout.predicted_class,
            irradiance=readout.irradiance, backend=backend, flags=tuple(sorted(set(flags))), timings_s=timings,
            arrived=(min(arrivals), max(arrivals)), model=self.identity, saliency=summary,
            overlay_url=url,
            overlay_inputs=inputs,
            signals=class_signals(dict(zip(self.package.manifest.classes.classes,
                                           readout.raw.tolist()))),
            location=location, flare=summary.flare() if summary is not None else None,
            pointing_error_arcsec=self._pointing,
            degradation={w: item.payload.degradation for w, item in frame.channels.items()
                         if item.payload.degradation is not None})

    async def draw_overlay(self, inputs: OverlayInputs) -> bytes:
        """Draw a frame's saliency overlay PNG (on the explainer thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._explainer, self._draw, inputs.image,
                                          inputs.summary)

    def _draw(self, image: np.ndarray, summary: Any) -> bytes:
        index = self._overlay_index
        return render_overlay(image, summary, size_px=self.saliency.overlay_size_px,
                              alpha=self.saliency.overlay_alpha,
                              threshold_fraction=self.saliency.threshold_fraction,
                              channel_label=f"AIA {self.channels[index]} Å", scale="linear")

    def _explain(self, features: np.ndarray, logits: np.ndarray, irradiance: np.ndarray,
                 observations: tuple[Observation, ...],
                 hot: dict[int, np.ndarray]) -> SaliencySummary | None:
        if not self.saliency.enabled or not observations:
            return None
        ref = observations[0]
        g = ref.geometry
        geometry = FrameGeometry(
            t_obs=ref.t_obs, rsun_obs_arcsec=g.rsun_obs,
            dsun_obs_m=g.dsun_obs if g.dsun_obs else 1.496e11,
            hgln_obs_deg=g.hgln_obs or 0.0, hglt_obs_deg=g.hglt_obs or 0.0,
            size=self.grid.size)
        return explain_outputs(features, logits, self.heads, geometry, self.saliency,
                               irradiance_w_m2=irradiance, hot=hot)
