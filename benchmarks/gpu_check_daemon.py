"""The daemon on the GPU host: replay throughput against the floor, over pool sizes.

Part of gpu_check.py, not a library module. The method is benchmarks/pipeline.py's:
the same synthetic RICE level-1 files (``SynthFeed``), the floor as bare astropy
decompression in a process pool, and ``sdo-monitor replay`` with the production
defaults (``inference.backend: auto``) publishing to the bundled broker, its
throughput taken in steady state. What differs:

* the files are ready before the daemon is timed (gpu_check.py prepares them in
  a separate process while it checks the backends): ``--distinct`` frames of the
  ``active_regions`` scenario, then day-shifted copies (new observations to the
  daemon, same pixels; ``pipeline_support.shifted_frames``), so a short run
  has enough frames for 16 workers;
* floor and daemon run at each pool size in ``--workers``, largest first (the
  floor with that many processes, the daemon with ``service.ingest_workers``), with
  ``--frames-per-worker`` frames per worker, so every run lasts about as long.

Reported per pool size: images/s of floor and daemon, their ratio (goal >= 0.85),
the daemon's speed-up over the smallest pool and its efficiency (speed-up /
ideal), the backend the daemon chose and whether every frame was delivered.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import CADENCE_S, TARGET_FLOOR_RATIO, run_child
from pipeline_daemon import DaemonRun, run_daemon
from pipeline_support import cache_frames, model_package, shifted_frames

__all__ = ["daemon_table", "prepare_frames", "run_scaling"]

SCENARIO = "active_regions"


def prepare_frames(cache: Path, distinct: int, total: int, size: int,
                   seed: int) -> tuple[list[list[str]], float]:
    """``total`` frames (rendered once, then day-shifted copies) and the seconds it took."""
    t0 = time.perf_counter()
    base = cache_frames(cache, distinct, size, seed, CADENCE_S, scenario=SCENARIO)
    frames = shifted_frames(base, total, cache)
    for frame in frames:  # page cache warm for floor and daemon alike
        for path in frame:
            Path(path).read_bytes()
    return frames, time.perf_counter() - t0


def _rate(run: dict[str, Any]) -> float:
    """images/s: the daemon in steady state when it has one, else over the whole run."""
    r = run.get("steady") or run
    return float(r["images"] / r["wall_s"]) if r["wall_s"] > 0 else 0.0


def run_scaling(frames: list[list[str]], workers: list[int], frames_per_worker: int,
                package: Path | None, cache: Path, deadline: float) -> dict[str, Any]:
    """Floor and daemon replay at each pool size; stops starting runs after ``deadline``.

    Largest pool first: if time runs out, what is lost is the low end of the
    scaling curve, not the all-cores comparison with the floor.
    """
    pkg = model_package(package, cache)
    rows: list[dict[str, Any]] = []
    for w in sorted(workers, reverse=True):
        if time.perf_counter() > deadline:
            rows.append({"workers": w, "status": "skipped", "note": "time budget"})
            continue
        subset = frames[:max(2, w * frames_per_worker)]
        files = [p for frame in subset for p in frame]
        row: dict[str, Any] = {"workers": w, "frames": len(subset), "images": len(files)}
        print(f"  {w} workers: floor ...", flush=True)
        try:
            floor = run_child("floor", {"files": files, "workers": w})
            row["floor_images_s"] = floor["images"] / floor["wall_s"]
            print(f"  {w} workers: daemon replay ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="sdo-gpu-check-") as tmp:
                run = run_daemon(DaemonRun("replay", Path(tmp) / "replay", subset, pkg,
                                           CADENCE_S, ingest_workers=w, timeout_s=600))
        except Exception as exc:  # noqa: BLE001 - one pool size failing is a row, not the end
            rows.append({**row, "status": "error", "note": f"{type(exc).__name__}: {exc}"[:400]})
            continue
        row.update({
            "daemon_images_s": _rate(run), "steady": run.get("steady"),
            "daemon_images_s_whole_run": len(files) / run["wall_s"] if run["wall_s"] > 0 else 0,
            "exit_code": run["exit_code"], "frames_delivered": run["frames_delivered"],
            "backend": run.get("backend"), "startup_s": run["startup_s"],
            "cpu_s_per_image": (run["steady"]["cpu_s"] / run["steady"]["images"]
                                if run.get("steady") else None),
            "stages_mean_s": run["stages_mean_s"], "peak_rss_mb": run.get("peak_rss_mb")})
        row["ratio"] = row["daemon_images_s"] / row["floor_images_s"]
        complete = run["exit_code"] == 0 and run["frames_delivered"] == len(subset)
        row["status"] = "ok" if complete else "FAIL"
        if not complete:
            row["note"] = (f"exit {run['exit_code']}, {run['frames_delivered']}/{len(subset)} "
                           "frames delivered")
            row["log_tail"] = run.get("log_tail", "")
        rows.append(row)
    rows.sort(key=lambda r: r["workers"])
    done = [r for r in rows if r.get("daemon_images_s")]
    if done:
        base = done[0]
        for r in done:
            r["speedup"] = r["daemon_images_s"] / base["daemon_images_s"]
            r["efficiency"] = r["speedup"] / (r["workers"] / base["workers"])
    best = max(done, key=lambda r: r["workers"], default=None)
    return {"package": str(pkg), "rows": rows, "cores": len(os.sched_getaffinity(0)),
            "goal_floor_ratio": TARGET_FLOOR_RATIO,
            "floor_ratio_at_most_workers": best["ratio"] if best else None,
            "goal_met": bool(best and best["ratio"] >= TARGET_FLOOR_RATIO)}


def daemon_table(scaling: dict[str, Any]) -> str:
    """Markdown table of the pool-size runs."""
    head = ("| pool workers | frames | floor images/s | daemon images/s | daemon/floor "
            "| speed-up | efficiency | backend | delivered | status |")
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in scaling["rows"]:
        def f(key: str, spec: str, r: dict[str, Any] = r) -> str:
            return "-" if r.get(key) is None else format(r[key], spec)
        backend = (r.get("backend") or {}).get("backend", "-")
        delivered = (f"{r['frames_delivered']}/{r['frames']}" if "frames_delivered" in r
                     else "-")
        lines.append(f"| {r['workers']} | {r.get('frames', '-')} | {f('floor_images_s', '.1f')} "
                     f"| {f('daemon_images_s', '.1f')} | {f('ratio', '.2f')} "
                     f"| {f('speedup', '.2f')} | {f('efficiency', '.2f')} | {backend} "
                     f"| {delivered} | {r['status']} {r.get('note', '')} |")
    ratio = scaling["floor_ratio_at_most_workers"]
    if ratio is not None:
        lines.append(f"\ndaemon/floor at the largest pool: **{ratio:.2f}** (goal >= "
                     f"{scaling['goal_floor_ratio']}: "
                     f"**{'met' if scaling['goal_met'] else 'MISSED'}**)")
    return "\n".join(lines)
