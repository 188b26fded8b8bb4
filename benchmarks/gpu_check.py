"""GPU check: parity and speed of every available backend, in under 4 minutes.

Run it on a machine with an NVIDIA GPU (``benchmarks/gpu_check.sh``); it also
runs on a CPU-only machine and says what it skipped and why.

1. Writes an untrained package of the production network shape at 256 px
   (``--package`` to use a real one) and computes the reference outputs with
   torch CPU fp32 on two inputs: fresh random normal frames and a synthetic
   Sun-like frame set (limb-darkened disk, corona, one bright flare kernel).
2. For each available backend and precision (tensorrt fp16 and fp32,
   torch_cuda fp16 and fp32, onnxruntime CUDA if installed, and the CPU
   backends) loads, warms up, and checks parity against the reference:
   ``max|out - ref| / max|ref|`` per output (logits, irradiance, features).
   Tolerances: fp32 on CPU 1e-4; fp32 on GPU 5e-3 (TF32 convolutions are
   allowed by cuDNN and TensorRT by default); fp16 2e-2.
3. Times batch 1 and batch ``--max-batch`` end to end (host array in, host
   arrays out: copies, compute and synchronisation), after ``--warmup`` runs,
   with CUDA events on the backend's stream for GPU backends and
   ``perf_counter`` for CPU ones; reports median and p90 latency and the
   throughput at batch max.
4. Prints one table and writes the full results as JSON to
   ``benchmarks/results/gpu_check_<gpu>_<date>.json``.

A deadline (``--budget-s``, default 210 s) guards the 4-minute limit: a step
that would start after it is skipped and reported as such. TensorRT engines
are built into a fresh temporary cache (the build time is part of the
report), then loaded a second time to prove the cache is reused.
Exit code: 0 when every check that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from monitor.inference import ort_backend, torch_cuda, trt_backend
from monitor.inference.base import Backend
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.settings import TensorRTSettings
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.models.package import ModelPackage, load_package
from monitor.models.testing import make_random_package

TOL = {("cpu", "fp32"): 1e-4, ("gpu", "fp32"): 5e-3, ("gpu", "fp16"): 2e-2,
       ("gpu", "bf16"): 5e-2}
OUTPUTS = ("logits", "irradiance", "features")


@dataclass
class Result:
    """One backend/precision row of the report."""

    backend: str
    precision: str
    device: str
    status: str = "ok"  # ok | FAIL | skipped | error
    note: str = ""
    parity: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    throughput_fps: float = 0.0
    load_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


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


def relative_errors(got: Any, ref: Any) -> dict[str, float]:
    """``max|got - ref| / max|ref|`` per output."""
    errors = {}
    for name in OUTPUTS:
        a, b = getattr(got, name).astype(np.float64), getattr(ref, name).astype(np.float64)
        if a.shape != b.shape:
            errors[name] = float("inf")
            continue
        errors[name] = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
    return errors


def time_backend(backend: Backend, x: np.ndarray, warmup: int, iters: int) -> list[float]:
    """Milliseconds per ``infer`` call, CUDA events on the backend's stream when it has one."""
    for _ in range(warmup):
        backend.infer(x)
    stream = getattr(backend, "stream", None)
    times = []
    for _ in range(iters):
        if stream is not None:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            backend.infer(x)  # synchronises its stream before returning
            end.record(stream)
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            backend.infer(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def summarize(times: list[float]) -> dict[str, float]:
    """Median and p90 of a list of milliseconds."""
    ordered = sorted(times)
    return {"median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "min": ordered[0], "n": len(ordered)}


def environment() -> dict[str, Any]:
    """Versions and devices, for the report."""
    env: dict[str, Any] = {"host": socket.gethostname(), "python": platform.python_version(),
                           "torch": torch.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        env["driver_gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory
                                             / 2**30, 1)
    trt, reason = trt_backend.import_tensorrt()
    env["tensorrt"] = trt.__version__ if trt is not None else f"absent: {reason}"
    import onnxruntime

    env["onnxruntime"] = onnxruntime.__version__
    env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return env


def plan(args: argparse.Namespace, cache_dir: Path) -> list[tuple[str, str, str, Any]]:
    """(backend, precision, device, factory) for everything to try, in report order."""
    steps: list[tuple[str, str, str, Any]] = []
    for precision in args.trt_precisions:
        steps.append(("tensorrt", precision, "cuda:0",
                      lambda: trt_backend.TensorRTBackend(
                          TensorRTSettings(optimization_level=args.trt_opt_level), cache_dir,
                          warmup_iterations=args.warmup)))
    for precision in ("fp16", "fp32"):
        steps.append(("torch_cuda", precision, "cuda:0",
                      lambda: torch_cuda.TorchCUDABackend(warmup_iterations=args.warmup)))
    steps.append(("onnxruntime", "fp32", "cuda:0",
                  lambda: OnnxRuntimeBackend(warmup_iterations=args.warmup)))
    steps.append(("onnxruntime", "fp32", "cpu",
                  lambda: OnnxRuntimeBackend(warmup_iterations=args.warmup)))
    steps.append(("torch_cpu", "fp32", "cpu",
                  lambda: TorchCPUBackend(warmup_iterations=args.warmup)))
    return steps


def unavailable_reason(name: str, device: str) -> str:
    """Why a backend cannot run here, or '' when it can."""
    if name == "tensorrt":
        ok, reason = trt_backend.probe()
    elif name == "torch_cuda":
        ok, reason = torch_cuda.probe()
    elif name == "onnxruntime" and device.startswith("cuda"):
        ok, reason = ort_backend.probe_cuda()
    else:
        ok, reason = True, ""
    return "" if ok else reason


def run_step(name: str, precision: str, device: str, factory: Any, package: ModelPackage,
             inputs: dict[str, np.ndarray], refs: dict[str, Any], args: argparse.Namespace,
             cache_dir: Path) -> Result:
    """Load, check parity, time; never raises."""
    kind = "cpu" if device == "cpu" else "gpu"
    result = Result(name, precision, device, tolerance=TOL[(kind, precision)])
    backend = factory()
    try:
        t0 = time.perf_counter()
        backend.load(package, device, precision, args.max_batch)
        result.load_s = time.perf_counter() - t0
        if name == "tensorrt":
            result.extra["engine_built_s"] = backend.built_seconds
        backend.warmup()
        worst = {o: 0.0 for o in OUTPUTS}
        for label, x in inputs.items():
            errs = relative_errors(backend.infer(x), refs[label])
            result.extra[f"parity_{label}"] = errs
            worst = {o: max(worst[o], errs[o]) for o in OUTPUTS}
        result.parity = worst
        if max(worst.values()) > result.tolerance:
            result.status = "FAIL"
        x_max = inputs["random"]
        for batch in sorted({1, args.max_batch}):
            times = time_backend(backend, x_max[:batch], args.warmup, args.iterations)
            result.latency_ms[f"b{batch}"] = summarize(times)
        med = result.latency_ms[f"b{args.max_batch}"]["median"]
        result.throughput_fps = args.max_batch / (med / 1e3)
    except Exception as exc:  # noqa: BLE001 - report and go on to the next backend
        result.status, result.note = "error", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        backend.close()
    if name == "tensorrt" and result.status == "ok":
        again = factory()
        try:
            t0 = time.perf_counter()
            again.load(package, device, precision, args.max_batch)
            result.extra["reload_from_cache_s"] = time.perf_counter() - t0
            result.extra["cache_reused"] = again.built_seconds is None
            if again.built_seconds is not None:
                result.status, result.note = "FAIL", "engine rebuilt instead of cache reuse"
        finally:
            again.close()
    return result


def print_table(results: list[Result], env: dict[str, Any], max_batch: int) -> None:
    """The one human-readable table."""
    print(f"\n# GPU check: {env.get('gpu', 'no GPU')}  torch {env['torch']}  "
          f"tensorrt {env['tensorrt']}  onnxruntime {env['onnxruntime']}")
    head = (f"{'backend':12} {'prec':5} {'device':7} {'status':7} {'max rel err':>11} "
            f"{'tol':>6} {'b1 ms':>8} {f'b{max_batch} ms':>8} {'frames/s':>9}  note")
    print(head)
    print("-" * len(head))
    for r in results:
        err = f"{max(r.parity.values()):.1e}" if r.parity else "-"
        b1 = f"{r.latency_ms['b1']['median']:.2f}" if "b1" in r.latency_ms else "-"
        bm = r.latency_ms.get(f"b{max_batch}", {}).get("median")
        bms = f"{bm:.2f}" if bm is not None else "-"
        fps = f"{r.throughput_fps:.0f}" if r.throughput_fps else "-"
        note = r.note
        if "engine_built_s" in r.extra and r.extra["engine_built_s"] is not None:
            note = f"engine built {r.extra['engine_built_s']:.0f} s; " + note
        tol = f"{r.tolerance:.0e}" if r.status != "skipped" else "-"
        print(f"{r.backend:12} {r.precision:5} {r.device:7} {r.status:7} {err:>11} "
              f"{tol:>6} {b1:>8} {bms:>8} {fps:>9}  {note}")


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, help="model package (default: untrained)")
    parser.add_argument("--size", type=int, default=256, help="grid size of the default package")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--trt-precisions", nargs="*", default=["fp16", "fp32"])
    parser.add_argument("--trt-opt-level", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=210.0,
                        help="skip steps that would start after this many seconds")
    parser.add_argument("--out", type=Path, help="JSON output (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    env = environment()
    print(json.dumps(env))
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        package = load_package(args.package) if args.package else make_random_package(
            work / "pkg", size=args.size, network={}, seed=0)
        c, n, _ = package.input_shape
        inputs = {
            "random": np.random.default_rng(1).standard_normal(
                (args.max_batch, c, n, n), dtype=np.float32),
            "synthetic": synthetic_frames(min(4, args.max_batch), c, n, seed=2),
        }
        reference = TorchCPUBackend(warmup_iterations=0)
        reference.load(package, "cpu", "fp32", args.max_batch)
        refs = {label: reference.infer(x) for label, x in inputs.items()}
        reference.close()
        for name, precision, device, factory in plan(args, work / "engines"):
            reason = unavailable_reason(name, device)
            if reason:
                results.append(Result(name, precision, device, "skipped", reason))
                print(f"skipped {name} {precision} {device}: {reason}", flush=True)
                continue
            elapsed = time.perf_counter() - started
            if elapsed > args.budget_s:
                results.append(Result(name, precision, device, "skipped",
                                      f"time budget ({elapsed:.0f} s > {args.budget_s:.0f} s)"))
                print(f"skipped {name} {precision} {device}: time budget", flush=True)
                continue
            print(f"checking {name} {precision} {device} ...", flush=True)
            results.append(run_step(name, precision, device, factory, package, inputs, refs,
                                    args, work / "engines"))
    total = time.perf_counter() - started
    print_table(results, env, args.max_batch)
    print(f"\ntotal {total:.0f} s; tolerances: max|out-ref|/max|ref| per output vs torch CPU "
          "fp32; latency = host in -> host out, median of "
          f"{args.iterations} after {args.warmup} warm-up runs")
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", env.get("gpu", "cpu-only")).strip("-").lower()
    out = args.out or ROOT / "benchmarks" / "results" / \
        f"gpu_check_{gpu}_{time.strftime('%Y%m%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "gpu_check", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env, "package": str(args.package or f"untrained, {args.size} px"),
        "max_batch": args.max_batch, "total_s": total,
        "results": [r.__dict__ for r in results]}, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    failed = [r for r in results if r.status in ("FAIL", "error")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
