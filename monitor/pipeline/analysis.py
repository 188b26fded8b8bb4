"""One frame through the model, the saliency explainer and the alert rules.

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

from monitor.alerts import AlertEngine, AlertEvent, class_signals
from monitor.frames import Frame
from monitor.grid import ModelGrid
from monitor.inference import DynamicBatcher
from monitor.models import ModelPackage
from monitor.pipeline.ingest_stage import StageResult
from monitor.pipeline.messages import frame_data, saliency_data, softmax
from monitor.preprocess import apply_scaling
from monitor.saliency import FrameGeometry, HeadWeights, SaliencySettings, explain_outputs
from monitor.saliency.overlay import overlay_channel_index, render_overlay

__all__ = ["AnalysedFrame", "FrameAnalyzer", "OverlayInputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverlayInputs:
    """What drawing one frame's overlay needs: the overlay channel (scaled, model grid)
    and the saliency summary."""

    image: np.ndarray
    summary: Any


@dataclass
class AnalysedFrame:
    """Everything the daemon publishes and shows for one frame."""

    frame_id: str
    feed: str
    t_obs: datetime
    frame: dict[str, Any]
    saliency: dict[str, Any] | None
    alerts: list[AlertEvent]
    timings_s: dict[str, float] = field(default_factory=dict)
    #: What drawing the overlay needs (None when the frame has no overlay).
    overlay_inputs: OverlayInputs | None = None
    #: Alert rule inputs: cumulative class probabilities and the top saliency region.
    signals: dict[str, float] = field(default_factory=dict)
    location: dict[str, Any] | None = None


class FrameAnalyzer:
    """Runs frames through the model and explains them.

    Parameters
    ----------
    package : ModelPackage
        The loaded model package (channels, scaling, classes, lines).
    batcher : DynamicBatcher
        Started batcher over the chosen backend.
    alerts : AlertEngine
        Alert rules (state lives here; the daemon persists it).
    saliency : SaliencySettings
        What to explain and whether to draw overlays.
    """

    def __init__(self, package: ModelPackage, batcher: DynamicBatcher, alerts: AlertEngine,
                 saliency: SaliencySettings) -> None:
        self.package = package
        self.batcher = batcher
        self.alerts = alerts
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

    async def warm_up(self) -> None:
        """Pay the explainer's one-time costs before the first frame, not during it.

        The first frame otherwise carries sunpy's coordinate frames and
        transform graph, astropy's WCS and matplotlib's fonts (~0.5-1.5 s),
        which made the first frame after start-up the slowest of every run
        (the real-time p99). Runs on the explainer thread, as frames do.
        """
        if not self.saliency.enabled:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._explainer, self._warm)

    def _warm(self) -> None:
        spec = self.package.manifest.features
        cells = self.grid.size // spec.stride
        features = np.zeros((spec.channels, cells, cells), dtype=np.float32)
        logits = np.zeros(len(self.package.manifest.classes.classes), dtype=np.float32)
        geometry = FrameGeometry(t_obs=datetime.now(UTC), rsun_obs_arcsec=960.0,
                                 dsun_obs_m=1.496e11, size=self.grid.size)
        centre = np.array([self.grid.center])
        geometry.pixel_to_solar(centre, centre)  # flat maps have no region to locate
        summary = explain_outputs(features, logits, self.heads, geometry, self.saliency)
        if self.saliency.overlay:
            self._draw(np.zeros((self.grid.size, self.grid.size), dtype=np.float32), summary)

    def model_input(self, frame: Frame[StageResult]) -> np.ndarray:
        """The scaled ``(C, N, N)`` input; missing channels sit at the channel mean (0)."""
        size = self.grid.size
        stack = np.zeros((len(self.channels), size, size), dtype=np.float32)
        present = np.zeros(len(self.channels), dtype=bool)
        for i, channel in enumerate(self.channels):
            item = frame.channels.get(channel)
            if item is not None and item.payload.grid_image is not None:
                stack[i] = item.payload.grid_image
                present[i] = True
        scaled = apply_scaling(stack, self.scaling)
        scaled[~present] = 0.0  # after scaling, 0 is the training mean of the channel
        return scaled

    async def analyse(self, frame: Frame[StageResult], backend: str,
                      flags: list[str]) -> AnalysedFrame:
        """Infer, explain and evaluate the alert rules for one frame."""
        loop = asyncio.get_running_loop()
        timings: dict[str, float] = {}
        x = self.model_input(frame)
        t0 = time.perf_counter()
        out = await self.batcher.submit(x[None])
        timings["inference"] = time.perf_counter() - t0
        probabilities = softmax(out.logits[0].astype(np.float64))
        irradiance = np.asarray(self.package.manifest.irradiance_w_m2(out.irradiance[:1]))[0]
        observations = [item.payload.observation for item in frame.channels.values()
                        if item.payload.observation is not None]
        t1 = time.perf_counter()
        hot = {w: frame.channels[w].payload.grid_image for w in self.saliency.refine_channels
               if w in frame.channels and frame.channels[w].payload.grid_image is not None}
        summary, summary_obj = await loop.run_in_executor(
            self._explainer, self._explain, out.features[0], out.logits[0], irradiance,
            observations, x, hot)
        timings["saliency"] = time.perf_counter() - t1
        t_obs = frame.t_obs
        location = None
        if summary is not None:
            regions = summary["targets"][0]["regions"] if summary["targets"] else []
            location = regions[0] if regions else None
        signals = class_signals(dict(zip(self.package.manifest.classes.classes,
                                         probabilities.tolist())))
        for item in frame.channels.values():
            for stage in ("ingest", "preprocess"):
                timings[stage] = max(timings.get(stage, 0.0),
                                     item.payload.timings_s.get(stage, 0.0))
        data = frame_data(frame_id=frame.frame_id, t_obs=t_obs, observations=observations,
                          missing=frame.missing, probabilities=probabilities,
                          irradiance_w_m2=irradiance, package=self.package, backend=backend,
                          latencies_s=timings, flags=flags,
                          flare=summary_obj.flare() if summary_obj is not None else None,
                          pointing_error_arcsec=self._pointing)
        sal = None
        if summary is not None:
            drawn = self.saliency.overlay and bool(summary["targets"])
            url = f"/api/v1/saliency/{frame.frame_id}.png" if drawn else None
            sal = saliency_data(frame_id=frame.frame_id, t_obs=t_obs, package=self.package,
                                summary=summary, overlay_url=url)
        inputs = None
        if sal is not None and sal["overlay_url"]:
            # a copy: the (C, N, N) model input is large and need not outlive the frame
            inputs = OverlayInputs(x[self._overlay_index].copy(), summary_obj)
        return AnalysedFrame(frame.frame_id, frame.feed, t_obs, data, sal, [],
                             timings, inputs, signals, location)

    def evaluate_alerts(self, done: AnalysedFrame) -> None:
        """Run the alert rules on an analysed frame (call in observation order)."""
        done.alerts = self.alerts.observe(done.feed, done.frame_id, done.t_obs, done.signals,
                                          done.location)

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
                 observations: list[Any], x: np.ndarray, hot: dict[int, np.ndarray]
                 ) -> tuple[dict[str, Any] | None, Any]:
        if not self.saliency.enabled or not observations:
            return None, None
        ref = observations[0]
        g = ref.geometry
        geometry = FrameGeometry(
            t_obs=ref.t_obs, rsun_obs_arcsec=g.rsun_obs,
            dsun_obs_m=g.dsun_obs if g.dsun_obs else 1.496e11,
            hgln_obs_deg=g.hgln_obs or 0.0, hglt_obs_deg=g.hglt_obs or 0.0,
            size=self.grid.size)
        summary = explain_outputs(features, logits, self.heads, geometry, self.saliency,
                                  irradiance_w_m2=irradiance, hot=hot)
        return summary.to_dict(), summary

