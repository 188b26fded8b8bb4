"""Parity and speed of each inference backend on this machine (part of gpu_check.py).

Not a library module. Imports only the model and inference packages (no
astropy, no ingest), so it runs on a GPU host that has torch and nothing else.

Parity is measured on what the daemon publishes, against the package's CPU
reference (torch CPU fp32), per frame of two input sets (random normal frames
and Sun-like frames, the latter in a batch that is not a CUDA-graph bucket):

* ``outputs``: ``max|out - ref| / max|ref|`` over the raw logits, irradiance
  (target space) and feature maps;
* ``probabilities``: ``max|p - p_ref|`` of the class probabilities (softmax);
* ``eve``: ``max|y - y_ref| / |y_ref|`` of every EVE line in W m^-2;
* ``cam``: ``max|m - m_ref|`` of every class and line CAM, each divided by the
  largest ``|value|`` of its reference map before the ReLU (the map's own
  scale: a map that is mostly negative has a tiny positive peak, and dividing
  by that would measure nothing but the cut).

Speed: host array in to host arrays out (``infer``: staging copies, compute,
synchronisation) with ``perf_counter``; and, for GPU backends, the GPU work
alone (``run_on_device`` on the input already there) with CUDA events.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.inference.base import BackendUnavailableError, InferenceOutput
from monitor.inference.torch_cuda import TorchCUDABackend
from monitor.inference.trt_backend import TensorRTBackend
from monitor.models.package import ModelPackage
from monitor.saliency.cam import HeadWeights, class_activation_maps

__all__ = ["TOLERANCES", "Reference", "Result", "Step", "measure_speed", "parity",
           "run_step", "synthetic_frames"]

#: Tolerance per device kind and precision, per metric (module docstring). GPU fp32 runs
#: convolutions in TF32 (cuDNN's and TensorRT's default: 10-bit mantissa), hence 1e-2.
TOLERANCES: dict[str, dict[str, float]] = {
    "cpu-fp32": {"outputs": 1e-4, "probabilities": 1e-4, "eve": 1e-4, "cam": 1e-4},
    "gpu-fp32": {"outputs": 1e-2, "probabilities": 1e-2, "eve": 2e-2, "cam": 1e-2},
    "gpu-fp16": {"outputs": 2e-2, "probabilities": 2e-2, "eve": 5e-2, "cam": 2e-2},
    "gpu-bf16": {"outputs": 5e-2, "probabilities": 5e-2, "eve": 1e-1, "cam": 5e-2},
}
OUTPUTS = ("logits", "irradiance", "features")


@dataclass
class Step:
    """One backend configuration to check."""

    backend: str
    precision: str
    device: str
    cuda_graphs: bool | None  # None: the backend has no graphs (CPU)
    factory: Callable[[], Any]
    batches: tuple[int, ...]

    @property
    def label(self) -> str:
        graphs = {True: " graphs", False: " eager", None: ""}[self.cuda_graphs]
        return f"{self.backend} {self.precision} {self.device}{graphs}"


@dataclass
class Result:
    """One row of the report."""

    backend: str
    precision: str
    device: str
    cuda_graphs: bool | None
    status: str = "ok"  # ok | FAIL | skipped | error
    note: str = ""
    parity: dict[str, float] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    throughput_fps: dict[str, float] = field(default_factory=dict)
    device_fps: dict[str, float] = field(default_factory=dict)
    load_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, step: Step, status: str = "ok", note: str = "") -> Result:
        return cls(step.backend, step.precision, step.device, step.cuda_graphs, status, note)


def synthetic_frames(n: int, c: int, size: int, seed: int) -> np.ndarray:
    """Sun-like scaled frames: limb-darkened disk, faint corona, one flare kernel each."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    centre, radius = (size - 1) / 2, size * 1600 / 4096
    r = np.hypot(x - centre, y - centre) / radius
    disk = np.where(r < 1, np.sqrt(np.clip(1 - r**2, 0, 1)), 0.2 * np.exp(-(r - 1) * 8))
    out = np.empty((n, c, size, size), dtype=np.float32)
    for i in range(n):
        kx, ky = rng.uniform(0.3, 0.7, 2) * size
        kernel = 6.0 * np.exp(-((x - kx) ** 2 + (y - ky) ** 2) / (2 * (size / 100) ** 2))
        for ch in range(c):
            gain = 0.5 + ch / c
            out[i, ch] = gain * (disk + kernel) - 1.0 + 0.02 * rng.standard_normal((size, size))
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Reference:
    """What the daemon would publish for each input set, from the CPU reference backend."""

    package: ModelPackage
    heads: np.ndarray  # (K + L, F): every class and line row, for the CAMs
    inputs: dict[str, np.ndarray]
    outputs: dict[str, InferenceOutput]
    cam_scale: dict[str, np.ndarray]  # (B, K + L): max |map| before the ReLU

    @classmethod
    def compute(cls, package: ModelPackage, inputs: dict[str, np.ndarray],
                backend: Any) -> Reference:
        heads = HeadWeights.from_package(package)
        rows = np.concatenate([heads.class_weight, heads.irradiance_weight])
        outputs = {k: backend.infer(x) for k, x in inputs.items()}
        # max|M| = max(max ReLU(M), max ReLU(-M)): the CAM function, with negated heads
        scale = {k: np.maximum(class_activation_maps(o.features, rows).max(axis=(-2, -1)),
                               class_activation_maps(o.features, -rows).max(axis=(-2, -1)))
                 for k, o in outputs.items()}
        return cls(package, rows, inputs, outputs, scale)

    def published(self, out: InferenceOutput) -> dict[str, np.ndarray]:
        """Probabilities, EVE lines in W m^-2 and CAMs of one output."""
        return {"probabilities": _softmax(out.logits.astype(np.float64)),
                "eve": self.package.manifest.irradiance_w_m2(out.irradiance),
                "cam": class_activation_maps(out.features, self.heads).astype(np.float64)}


def parity(ref: Reference, label: str, got: InferenceOutput) -> dict[str, float]:
    """The four errors of the module docstring for one input set."""
    want = ref.outputs[label]
    errors = {"outputs": 0.0}
    for name in OUTPUTS:
        a, b = getattr(got, name).astype(np.float64), getattr(want, name).astype(np.float64)
        if a.shape != b.shape:
            return {k: math.inf for k in ("outputs", "probabilities", "eve", "cam")}
        errors["outputs"] = max(errors["outputs"],
                                float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)))
    p, q = ref.published(got), ref.published(want)
    errors["probabilities"] = float(np.abs(p["probabilities"] - q["probabilities"]).max())
    errors["eve"] = float((np.abs(p["eve"] - q["eve"]) / np.abs(q["eve"])).max())
    scale = ref.cam_scale[label]
    live = scale > 0
    diff = np.abs(p["cam"] - q["cam"]).max(axis=(-2, -1)) / np.where(live, scale, 1.0)
    errors["cam"] = float(diff[live].max()) if live.any() else 0.0
    return errors


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "min": ordered[0], "n": len(ordered)}


def _timed(call: Callable[[], float], warmup: int, iterations: int, max_s: float) -> list[float]:
    """Milliseconds of ``iterations`` calls (at least 3, fewer when over ``max_s``)."""
    for _ in range(warmup):
        call()
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < iterations and (len(out) < 3 or time.perf_counter() - start < max_s):
        out.append(call())
    return out


def measure_speed(backend: Any, step: Step, x: np.ndarray, result: Result, warmup: int,
                  iterations: int, max_s: float) -> None:
    """Latency of batch 1 and throughput at each batch size of ``step``."""
    for b in step.batches:
        batch = np.ascontiguousarray(x[np.arange(b) % len(x)])

        def host(batch: np.ndarray = batch) -> float:
            t0 = time.perf_counter()
            backend.infer(batch)
            return (time.perf_counter() - t0) * 1e3
        ms = _timed(host, warmup, iterations, max_s)
        result.latency_ms[f"b{b}"] = _summary(ms)
        result.throughput_fps[f"b{b}"] = b / (statistics.median(ms) / 1e3)
        if isinstance(backend, (TorchCUDABackend, TensorRTBackend)):
            result.device_fps[f"b{b}"] = b / (statistics.median(
                _device_times(backend, b, warmup, iterations, max_s)) / 1e3)


def _device_times(backend: Any, b: int, warmup: int, iterations: int,
                  max_s: float) -> list[float]:
    import torch

    def once() -> float:
        start, end = (torch.cuda.Event(enable_timing=True),
                      torch.cuda.Event(enable_timing=True))
        start.record(backend.stream)
        backend.run_on_device(b)
        end.record(backend.stream)
        end.synchronize()
        return float(start.elapsed_time(end))
    return _timed(once, warmup, iterations, max_s)


def run_step(step: Step, ref: Reference, max_batch: int, warmup: int, iterations: int,
             max_s: float) -> Result:
    """Load, warm up, check parity, time; never raises (errors become the row's status)."""
    kind = "cpu" if step.device == "cpu" else "gpu"
    result = Result.of(step)
    result.tolerance = dict(TOLERANCES[f"{kind}-{step.precision}"])
    backend = None
    try:
        backend = step.factory()
        t0 = time.perf_counter()
        backend.load(ref.package, step.device, step.precision, max_batch)
        result.load_s = time.perf_counter() - t0
        if isinstance(backend, TensorRTBackend):
            result.extra["engine_built_s"] = backend.built_seconds
        backend.warmup()
        worst = dict.fromkeys(result.tolerance, 0.0)
        for label, x in ref.inputs.items():
            errs = parity(ref, label, backend.infer(x))
            result.extra[f"parity_{label}"] = errs
            worst = {k: max(worst[k], errs[k]) for k in worst}
        result.parity = worst
        over = [k for k, v in worst.items() if not v <= result.tolerance[k]]
        if over:
            result.status, result.note = "FAIL", f"over tolerance: {', '.join(over)}"
        measure_speed(backend, step, ref.inputs["random"], result, warmup, iterations, max_s)
    except BackendUnavailableError as exc:
        result.status, result.note = "skipped", exc.reason
    except Exception as exc:  # noqa: BLE001 - report and go on to the next step
        result.status, result.note = "error", f"{type(exc).__name__}: {exc}"[:400]
    finally:
        if backend is not None:
            backend.close()
    if step.backend == "tensorrt" and result.status == "ok":
        _check_cache_reuse(step, ref, max_batch, result)
    return result


def _check_cache_reuse(step: Step, ref: Reference, max_batch: int, result: Result) -> None:
    """Load the same engine again: it must come from the cache, not a rebuild."""
    again = None
    try:
        again = step.factory()
        t0 = time.perf_counter()
        again.load(ref.package, step.device, step.precision, max_batch)
        result.extra["reload_from_cache_s"] = time.perf_counter() - t0
        result.extra["cache_reused"] = again.built_seconds is None
        if again.built_seconds is not None:
            result.status, result.note = "FAIL", "engine rebuilt instead of reused from the cache"
    except Exception as exc:  # noqa: BLE001 - the row says it; the run goes on
        result.status, result.note = "error", f"reload: {type(exc).__name__}: {exc}"[:400]
    finally:
        if again is not None:
            again.close()
