"""Memory soak: many distinct frames through ``sdo-monitor replay``; does resident memory grow?

The issue's soak is 10,000 frames (70,000 files) in replay mode with RSS
growth over the second half below 5 %. The files are distinct synthetic
observations (the ledger would reject re-used ones as duplicates by
observation key), 512 px so that rendering and decoding stay cheap and the
run measures the daemon's per-frame bookkeeping rather than decompression.

RSS of the daemon's main process and of its whole process tree (pool workers
included) is sampled every second together with the frames analysed so far
(``sdo_monitor_frames_total``) and the outbox depth. Growth over the second
half = RSS at the end / RSS when half the frames were done - 1, each taken as
the median of the samples in a window of 5 % of the frames around that point.

    python benchmarks/soak.py                    # 1,000 frames (render ~5 min once, ~6 min run)
    python benchmarks/soak.py --frames 10000 --distinct 1000   # the issue's soak (~1 h)

``--distinct N`` renders N frames and makes the rest by copying them with the
date shifted by whole days (T_OBS, DATE-OBS, T_REC, DATE and ORB_REC patched
in place in the FITS header, same length, nothing else touched): every copy
is a distinct observation to the daemon (new key, new content hash, new
frame id), the pixels repeat. Rendering 10,000 distinct frames takes ~2 h on
2 cores; the copies take minutes.

Writes ``benchmarks/results/soak_<host>_<frames>.json`` and prints a summary.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_daemon import DaemonRun, run_daemon
from pipeline_support import (
    DEFAULT_CACHE,
    ProcTree,
    cache_frames,
    machine_info,
    model_package,
    parse_metrics,
    shifted_frames,
)

TARGET_GROWTH = 0.05


def _metric_sum(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in samples.get(name, []))


def growth(series: list[dict[str, float]], frames: int, key: str) -> dict[str, float] | None:
    """RSS growth from half-way to the end (medians over 5 %-of-frames windows)."""
    half = [s[key] for s in series if abs(s["frames"] - frames / 2) <= frames * 0.025]
    end = [s[key] for s in series if s["frames"] >= frames * 0.95]
    if not half or not end:
        return None
    mid_mb, end_mb = statistics.median(half), statistics.median(end)
    second = [s for s in series if s["frames"] >= frames / 2]
    slope = None
    if len(second) >= 2 and second[-1]["frames"] > second[0]["frames"]:
        xs = [s["frames"] for s in second]
        ys = [s[key] for s in second]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 1000 if var else None
    return {"half_mb": mid_mb, "end_mb": end_mb, "growth": end_mb / mid_mb - 1,
            "slope_mb_per_1000_frames": slope}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512, choices=(512, 1024))
    parser.add_argument("--distinct", type=int, default=None,
                        help="render this many frames, make the rest by day-shifted copies")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cache", type=Path,
                        default=DEFAULT_CACHE)
    parser.add_argument("--package", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    info = machine_info()
    t0 = time.monotonic()
    distinct = min(args.distinct or args.frames, args.frames)
    frames = cache_frames(args.cache, distinct, args.size, args.seed, 12.0,
                          scenario="active_regions")
    frames = shifted_frames(frames, args.frames, args.cache)
    print(f"{len(frames)} frames at {args.size} px ready ({time.monotonic() - t0:.0f} s)",
          flush=True)
    package = model_package(args.package, args.cache)
    series: list[dict[str, float]] = []
    started = time.time()

    def on_sample(tree: ProcTree, text: str) -> None:
        if not tree.series or not text:
            return
        samples = parse_metrics(text)
        t, rss, main_rss, cpu = tree.series[-1]
        series.append({"t": t - started, "frames": _metric_sum(samples, "sdo_monitor_frames_total"),
                       "rss_tree_mb": rss, "rss_main_mb": main_rss, "cpu_s": cpu,
                       "outbox": _metric_sum(samples, "sdo_monitor_outbox_pending_messages")})
        if len(series) % 60 == 0:
            s = series[-1]
            print(f"  {s['t']:7.0f} s  {s['frames']:6.0f} frames  main {s['rss_main_mb']:6.0f} MB"
                  f"  tree {s['rss_tree_mb']:6.0f} MB  outbox {s['outbox']:.0f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="sdo-soak-") as tmp:
        result = run_daemon(DaemonRun("replay", Path(tmp) / "soak", frames, package, 12.0,
                                      sample_s=1.0, on_sample=on_sample,
                                      timeout_s=48 * 3600))
    result.pop("rss_series", None)
    summary = {key: growth(series, args.frames, key) for key in ("rss_main_mb", "rss_tree_mb")}
    info["load_average_end"] = os.getloadavg()
    main_growth = summary["rss_main_mb"]
    verdict = None if main_growth is None else main_growth["growth"] < TARGET_GROWTH
    rate = result["images"] / result["wall_s"] if result["wall_s"] else 0.0
    print(f"\nmachine: {info['cpu']}, {info['cores_available']} cores; {args.frames} frames "
          f"({result['images']} files) at {args.size} px in {result['wall_s']:.0f} s "
          f"({rate / 7:.2f} frames/s), exit {result['exit_code']}, delivered "
          f"{result['frames_delivered']} frames")
    for key, g in summary.items():
        if g:
            slope = g["slope_mb_per_1000_frames"]
            print(f"{key}: {g['half_mb']:.0f} MB at half, {g['end_mb']:.0f} MB at the end: "
                  f"growth {g['growth']:+.1%} (slope {slope:+.1f} MB / 1000 frames)"
                  if slope is not None else f"{key}: growth {g['growth']:+.1%}")
    print(f"target: main-process growth < {TARGET_GROWTH:.0%} over the second half: "
          + {True: "met", False: "MISSED", None: "not measured (too few samples)"}[verdict])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"soak_{info['host']}_{args.frames}.json"
    payload: dict[str, Any] = {"benchmark": "soak", "machine": info, "frames": args.frames,
                               "distinct_frames": distinct,
                               "size_px": args.size, "package": str(package), "result": result,
                               "growth": summary, "target_growth": TARGET_GROWTH,
                               "met": verdict, "series": series[::max(1, len(series) // 600)]}
    path.write_text(json.dumps(payload, indent=1, default=float))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
