"""Pipeline throughput with and without HTTP API load, side by side in one run.

The issue's target: the HTTP API under a load generator on loopback must not
hurt pipeline throughput by more than 10 %. Each trial is one
``sdo-monitor replay`` of the same synthetic frames (real local broker,
production defaults); trials alternate between no load and load
(A B A B ...) so that drift of a shared machine hits both alike. The load is
:func:`monitor.observe.loadgen.run_load` in this process (its own CPU is not
counted in the daemon's), at two levels:

* ``readers``: a paced 20 requests/s, about what Prometheus, a Grafana
  dashboard refreshing every 5 s and a few open status pages send;
* ``flood``: as fast as 8 clients get answers (a misbehaving dashboard).

Throughput is images per second between the first and the last frame's
broker acknowledgement (pool start-up excluded), as in benchmarks/pipeline.py.

    python benchmarks/http_load.py                 # 100 frames at 512 px, 2 pairs per level
    python benchmarks/http_load.py --frames 200 --pairs 3

Writes ``benchmarks/results/http_load_<host>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_daemon import DaemonRun, run_daemon
from pipeline_support import DEFAULT_CACHE, cache_frames, machine_info, model_package

TARGET_SLOWDOWN = 0.10
LEVELS: dict[str, dict[str, Any]] = {
    "readers": {"rate_per_s": 20.0, "concurrency": 4},
    "flood": {"rate_per_s": None, "concurrency": 8},
}


def _trial(frames: list[list[str]], package: Path, level: str | None,
           workdir: Path) -> dict[str, Any]:
    loads: list[dict[str, Any]] = []

    def load(port: int, finished: Any) -> None:
        from monitor.observe.loadgen import run_load

        n_frames = len(frames)
        report = asyncio.run(run_load(
            f"http://127.0.0.1:{port}", requests=10**9, duration_s=3600,
            until=lambda: finished() or len({r["frame_id"] for r in run.received}) >= n_frames,
            **LEVELS[level])) if level else None
        if report is not None:
            loads.append(report.as_dict())

    run = DaemonRun("replay", workdir, frames, package, 12.0,
                    on_ready=load if level else None)
    result = run_daemon(run)
    steady = result.get("steady")
    rate = steady["images"] / steady["wall_s"] if steady else None
    out = {"level": level or "none", "images_per_s": rate, "exit_code": result["exit_code"],
           "frames_delivered": result["frames_delivered"], "frames": result["frames"],
           "cpu_s_per_image": (steady["cpu_s"] / steady["images"]) if steady else None}
    if loads:
        out["load"] = loads[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=512, choices=(512, 1024, 4096))
    parser.add_argument("--pairs", type=int, default=2, help="no-load/load pairs per level")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--cache", type=Path,
                        default=DEFAULT_CACHE)
    parser.add_argument("--package", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    info = machine_info()
    frames = cache_frames(args.cache, args.frames, args.size, 3, 12.0, scenario="active_regions")
    package = model_package(args.package, args.cache)
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sdo-httpload-") as tmp:
        for level in args.levels.split(","):
            for k in range(args.pairs):
                for which in (None, level):
                    name = f"{level}-{k}-{'load' if which else 'quiet'}"
                    trial = _trial(frames, package, which, Path(tmp) / name)
                    trial["pair"] = f"{level}-{k}"
                    trials.append(trial)
                    load = trial.get("load", {})
                    print(f"  {name:18s} {trial['images_per_s'] or 0:7.2f} images/s"
                          + (f"  {load.get('requests', 0)} requests ({load.get('rate_per_s')}/s),"
                             f" {load.get('failures')} failures" if load else ""), flush=True)
    summary: dict[str, Any] = {}
    for level in args.levels.split(","):
        pairs = [(a, b) for a, b in zip(trials[::2], trials[1::2])
                 if a["pair"].startswith(level + "-") and a["images_per_s"] and b["images_per_s"]]
        ratios = [b["images_per_s"] / a["images_per_s"] for a, b in pairs]
        loads = [b.get("load", {}) for _, b in pairs]
        summary[level] = {
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratios": ratios,
            "requests_per_s": statistics.fmean(x.get("rate_per_s", 0) for x in loads)
            if loads else None,
            "failures": sum(x.get("failures", 0) for x in loads),
            "server_errors": sum(x.get("server_errors", 0) for x in loads),
            "latency_ms_p99_max": max((x.get("latency_ms", {}).get("p99", 0) for x in loads),
                                      default=None),
            "met": bool(ratios) and statistics.median(ratios) >= 1 - TARGET_SLOWDOWN,
        }
    print(f"\nmachine: {info['cpu']}, {info['cores_available']} cores; {args.frames} frames "
          f"x 7 at {args.size} px per trial, {args.pairs} pair(s) per level")
    print(f"{'load':10s} {'req/s':>8s} {'p99 ms':>8s} {'5xx':>5s} {'fail':>5s} "
          f"{'throughput loaded/quiet':>24s}  target >= {1 - TARGET_SLOWDOWN:.2f}")
    for level, s in summary.items():
        ratio = s["ratio_median"]
        print(f"{level:10s} {s['requests_per_s'] or 0:8.1f} {s['latency_ms_p99_max'] or 0:8.1f} "
              f"{s['server_errors']:5d} {s['failures']:5d} "
              f"{(f'{ratio:.3f}' if ratio else 'n/a'):>24s}  {'met' if s['met'] else 'MISSED'}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"http_load_{info['host']}.json"
    path.write_text(json.dumps({"benchmark": "http_load", "machine": info,
                                "frames": args.frames, "size_px": args.size,
                                "package": str(package), "levels": LEVELS, "trials": trials,
                                "summary": summary, "target_slowdown": TARGET_SLOWDOWN},
                               indent=1, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
