"""CPU inference benchmark: ms per frame by backend, batch size and grid size.

Runs the production network shape (untrained weights: speed does not depend on
them) through every CPU backend and prints one table; the full results go to
``benchmarks/results/inference_cpu_<host>.json``.

    python benchmarks/inference.py                       # 256 and 512 px, batches 1, 4, 8
    python benchmarks/inference.py --sizes 256 --batches 1 --threads 1
    python benchmarks/inference.py --package path/to/package

Timing: ``--warmup`` untimed runs, then ``--iterations`` timed runs per cell
with ``time.perf_counter``, the whole sweep repeated ``--repeats`` times; the
table shows, per frame, the best of the sweep medians and the overall minimum.
Repeating whole sweeps keeps a burst of other jobs on a shared machine from
owning one cell; the JSON keeps every sweep's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.inference.base import Backend
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.torch_cpu import TorchCPUBackend, available_cores
from monitor.models.package import ModelPackage, load_package
from monitor.models.testing import make_random_package

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info


def make_backend(name: str, threads: int) -> Backend:
    """A CPU backend by name."""
    if name == "torch_cpu":
        return TorchCPUBackend(threads=threads, warmup_iterations=0)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(threads=threads, warmup_iterations=0)
    raise SystemExit(f"unknown CPU backend {name!r}")


def time_cell(backend: Backend, x: np.ndarray, warmup: int, iterations: int) -> list[float]:
    """Seconds per call for ``iterations`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        backend.infer(x)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        backend.infer(x)
        times.append(time.perf_counter() - t0)
    return times


def packages(args: argparse.Namespace, workdir: Path) -> dict[int, ModelPackage]:
    """One package per grid size (the given one, or untrained production-shaped ones)."""
    if args.package:
        pkg = load_package(args.package)
        return {pkg.manifest.input.size: pkg}
    return {size: make_random_package(workdir / f"pkg{size}", size=size, network={}, seed=0)
            for size in args.sizes}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, help="model package (default: untrained)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["torch_cpu", "onnxruntime"])
    parser.add_argument("--threads", type=int, default=0, help="0 = all available cores")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3,
                        help="whole sweeps; each cell reports its best sweep median")
    parser.add_argument("--out", type=Path, help="JSON output (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    info = machine_info("torch", "onnxruntime")
    threads = args.threads or available_cores()
    sweeps: dict[tuple[str, int, int], list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pkgs = packages(args, Path(tmp))
        for _ in range(args.repeats):
            for size, package in pkgs.items():
                for name in args.backends:
                    backend = make_backend(name, threads)
                    backend.load(package, "cpu", "fp32", max(args.batches))
                    for batch in args.batches:
                        x = np.random.default_rng(batch).normal(
                            size=(batch, *package.input_shape)).astype(np.float32)
                        times = time_cell(backend, x, args.warmup, args.iterations)
                        sweeps.setdefault((name, size, batch), []).append(times)
                    backend.close()
    rows = []
    for (name, size, batch), runs in sweeps.items():
        # Best sweep median: robust to other jobs that share the cores for a while.
        med = min(statistics.median(t) for t in runs)
        rows.append({"backend": name, "size": size, "batch": batch, "threads": threads,
                     "median_ms_per_batch": med * 1e3, "ms_per_frame": med * 1e3 / batch,
                     "min_ms_per_batch": min(min(t) for t in runs) * 1e3,
                     "sweep_medians_ms": [statistics.median(t) * 1e3 for t in runs],
                     "frames_per_s": batch / med, "iterations": sum(len(t) for t in runs)})

    print(f"# CPU inference, {info['cpu']}, {threads} thread(s), torch {info['torch']}, "
          f"onnxruntime {info['onnxruntime']}")
    print(f"{'size':>5} {'batch':>5} " + " ".join(f"{b:>14}" for b in args.backends)
          + "   (ms per frame: best sweep median / min)")
    for size in sorted({r["size"] for r in rows}):
        for batch in args.batches:
            cells = []
            for b in args.backends:
                r = next(r for r in rows if (r["size"], r["batch"], r["backend"]) ==
                         (size, batch, b))
                best = r["min_ms_per_batch"] / batch
                cells.append(f"{r['ms_per_frame']:7.1f} /{best:5.1f}")
            print(f"{size:5d} {batch:5d} " + " ".join(cells))

    out = args.out or ROOT / "benchmarks" / "results" / f"inference_cpu_{info['host']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "inference_cpu", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime()),
           "machine": info, "package": str(args.package or "untrained, production shape"),
           "load_average": os.getloadavg(), "rows": rows}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
