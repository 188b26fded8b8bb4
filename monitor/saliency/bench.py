"""Timing of the saliency stage: ``python -m monitor.saliency.bench [--json PATH]``.

Measures, per frame, on this machine's CPU:

* ``explain`` (CAM GEMM + upsampling + regions + their solar coordinates) from
  feature maps of the production network shape (F = 128, stride 16), without
  and with the flare located in two hot channels (:mod:`monitor.saliency.refine`);
* locating three region centroids in solar coordinates: the closed form the
  analysis runs beside astropy's WCS + sunpy's transform (its test reference);
* ``render_overlay`` at two PNG sizes;
* the torch Grad-CAM reference against one plain forward pass of the
  production-shape network (random weights: timing only).

Prints a table; ``--json`` also writes the numbers (for benchmarks/results/).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from monitor.saliency.cam import HeadWeights
from monitor.saliency.geometry import FrameGeometry
from monitor.saliency.settings import SaliencySettings
from monitor.saliency.summary import SaliencySummary, explain_outputs

__all__ = ["main", "run"]


def _time_ms(what: str, fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Median and minimum wall time; the minimum is the uncontended cost on shared cores."""
    fn()  # warm caches (imports, interpolation matrices, fonts)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"what": what, "median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
            "repeat": repeat}


def _inputs(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, HeadWeights,
                                               FrameGeometry, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = size // 16
    yy, xx = np.mgrid[0:h, 0:h]
    features = rng.gamma(1.0, 0.2, (128, h, h)).astype(np.float32)
    for k in range(0, 128, 8):  # a few features with a compact bright spot
        cy, cx = rng.uniform(0.3 * h, 0.7 * h, 2)
        features[k] += 3.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0)
    heads = HeadWeights(class_weight=rng.standard_normal((4, 128)).astype(np.float32),
                        irradiance_weight=rng.standard_normal((14, 128)).astype(np.float32),
                        class_names=("none", "C", "M", "X"),
                        line_names=tuple(f"line {i}" for i in range(14)),
                        line_wavelengths_nm=tuple(10.0 + i for i in range(14)))
    geometry = FrameGeometry(t_obs=datetime(2024, 5, 10, 17, 0, tzinfo=UTC),
                             rsun_obs_arcsec=950.0, dsun_obs_m=1.511e11, hglt_obs_deg=-3.1,
                             size=size)
    logits = np.array([0.0, 0.5, 2.0, 0.1], np.float32)
    image = rng.gamma(4.0, 50.0, (size, size)).astype(np.float32)
    return features, logits, heads, geometry, image


def _gradcam_rows(size: int, repeat: int) -> list[dict[str, Any]]:
    import torch

    from monitor.models.network import build_network
    from monitor.saliency.cam import Target
    from monitor.saliency.gradcam import grad_cam

    model = build_network(seed=0)
    x = torch.randn(1, model.config.in_channels, size, size)
    target = [Target("class", 2, "M")]

    def forward() -> None:
        with torch.no_grad():
            model(x)

    return [
        _time_ms(f"torch forward, production net, {size} px", forward, repeat),
        _time_ms(f"torch Grad-CAM reference (1 target), {size} px",
                 lambda: grad_cam(model, x, target), repeat),
    ]


def _stage_rows(size: int, repeat: int, render_overlay: Callable[..., bytes]
                ) -> list[dict[str, Any]]:
    features, logits, heads, geometry, image = _inputs(size)
    frames = itertools.count()

    hot = {94: 0.1 * image, 131: image}

    def explain_frame(settings: SaliencySettings, refine: bool = False) -> SaliencySummary:
        # A new observation time per call, as in operation: nothing geometric is cached.
        g = replace(geometry, t_obs=geometry.t_obs + timedelta(seconds=12 * next(frames)))
        return explain_outputs(features, logits, heads, g, settings, hot=hot if refine else None)

    def locate(reference: bool) -> None:
        g = replace(geometry, t_obs=geometry.t_obs + timedelta(seconds=12 * next(frames)))
        xs, ys = np.array([0.3, 0.5, 0.6]) * size, np.array([0.4, 0.5, 0.7]) * size
        if reference:
            from sunpy.coordinates import HeliographicStonyhurst

            hpc = g.wcs().pixel_to_world(xs, ys)
            hpc.transform_to(HeliographicStonyhurst(obstime=hpc.obstime))
        else:
            g.pixel_to_solar(xs, ys)

    one = SaliencySettings()
    three = SaliencySettings(irradiance_lines_nm=(10.0, 13.0))
    summary = explain_frame(one)
    return [
        _time_ms("locate 3 centroids, closed form", lambda: locate(False), repeat),
        _time_ms("locate 3 centroids, astropy WCS + sunpy transform", lambda: locate(True),
                 repeat),
        _time_ms(f"explain, 1 target (predicted class), {size} px",
                 lambda: explain_frame(one), repeat),
        _time_ms(f"explain, 1 target, flare located in 94 + 131 A, {size} px",
                 lambda: explain_frame(one, refine=True), repeat),
        _time_ms(f"explain, 3 targets (class + 2 lines), {size} px",
                 lambda: explain_frame(three), repeat),
        *(_time_ms(f"overlay PNG {png} px from {size} px grid",
                   lambda png=png: render_overlay(image, summary, size_px=png), repeat)
          for png in (256, 512)),
    ]


def run(sizes: tuple[int, ...] = (256, 512), repeat: int = 20,
        gradcam: bool = True) -> list[dict[str, Any]]:
    """Time the stage; returns rows ``{"what": str, "ms": float}`` (medians)."""
    from monitor.saliency.overlay import render_overlay

    rows: list[dict[str, Any]] = []
    for size in sizes:
        rows.extend(_stage_rows(size, repeat, render_overlay))
        if gradcam:
            rows.extend(_gradcam_rows(size, max(3, repeat // 4)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-gradcam", action="store_true", help="skip the torch timings")
    args = parser.parse_args(argv)
    rows = run(repeat=args.repeat, gradcam=not args.no_gradcam)
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    width = max(len(r["what"]) for r in rows)
    lines = [f"saliency timings on CPU ({machine}, {os.cpu_count()} cores)",
             f"{'':<{width}}  {'median ms':>9}  {'min ms':>8}", "-" * (width + 21)]
    lines += [f"{r['what']:<{width}}  {r['median_ms']:9.2f}  {r['min_ms']:8.2f}" for r in rows]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "cores": os.cpu_count(),
                                         "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
