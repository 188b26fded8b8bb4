"""What one shadow package costs the serving package: the daemon with and without it.

One run, one machine, the same synthetic RICE level-1 files (``SynthFeed``
``m_flare``, rendered once into the benchmark cache), the same serving
package (the shipped default). The shadow is a perturbed copy of it
re-packaged through :func:`monitor.models.write_package` (same network, so
the same inference cost: a retrained candidate of the same architecture).
Each configuration runs in turn, ``--repeats`` times, in alternating order
(without, with; then with, without; ...), so slow drifts of a shared machine
fall on both:

* **real time** -- ``sdo-monitor run`` on a live spool, the files renamed in
  at AIA's 12 s cadence (each channel at its place in AIA's cycle). Measured: the
  serving package's *frame latency* (rename of a frame's last file to the
  receipt of its ``frame.analyzed`` message, as in benchmarks/pipeline.py)
  and how many frames the shadow analysed and skipped.
* **saturation** -- ``sdo-monitor replay`` of the whole set (blocking replay
  mode): the serving package's steady throughput (images/s between the first
  and the last acknowledged frame). A saturated pipeline is behind by
  definition, so the spare-capacity rule should skip the shadow on almost
  every frame; the skipped and analysed counts say whether it did.

Target: with the shadow, the serving package's p50 and p95 frame latency and
its saturated throughput within 5 % of the run without it (ratios of runs
side by side, never absolute timings)::

    python benchmarks/shadow.py                        # 1024 px, 8 frames: ~6 min
    python benchmarks/shadow.py --size 4096 --frames 12 --repeats 2

Writes ``benchmarks/results/shadow_<host>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_daemon import DaemonRun, run_daemon
from pipeline_support import DEFAULT_CACHE, cache_frames, machine_info, parse_metrics

TARGET_RATIO = 1.05
CADENCE_S = 12.0  # the files' own cadence: the feed groups channels into frames by it


def challenger(serving: Path, cache: Path) -> Path:
    """The serving package with a perturbed class head, re-packaged (cached)."""
    import torch

    from monitor.models import load_package, write_package

    shipped = load_package(serving, verify=False)
    out = cache / f"shadow-of-{shipped.sha256[:12]}"
    if (out / "model.json").exists():
        return out
    model = shipped.build_torch_model()
    with torch.no_grad():
        model.class_head.bias.add_(torch.linspace(-1.0, 1.0, model.class_head.bias.numel()))
    manifest = dataclasses.replace(shipped.manifest, name=f"{shipped.manifest.name}-shadow",
                                   version=f"{shipped.manifest.version}-bench", created_utc="")
    write_package(out, model, manifest, overwrite=True, verify=True)
    return out


def _counts(metrics_text: str) -> dict[str, float]:
    samples = parse_metrics(metrics_text) if metrics_text else {}
    return {name: sum(v for _, v in samples.get(f"sdo_monitor_shadow_{name}_total", []))
            for name in ("frames", "skipped")}


def one(mode: str, frames: list[list[str]], serving: Path, shadows: list[Path],
        cadence_s: float, workdir: Path) -> dict[str, Any]:
    last = [""]

    def keep(_tree: Any, text: str) -> None:
        last[0] = text
    result = run_daemon(DaemonRun(mode, workdir, frames, serving, cadence_s, shadows=shadows,
                                  on_sample=keep))
    result["shadow"] = _counts(last[0])
    result.pop("rss_series", None)
    for key in ("frame_latency_s", "frame_latency_from_first_file_s",
                "frame_latency_lower_bound_s"):
        if result.get(key):
            result[key].pop("values", None)
    return result


def _rate(r: dict[str, Any]) -> float | None:
    steady = r.get("steady")
    return steady["images"] / steady["wall_s"] if steady and steady["wall_s"] > 0 else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per configuration and the with/without ratios against the 5 % target."""
    out: dict[str, Any] = {}
    for mode in ("realtime", "replay"):
        by: dict[str, dict[str, Any]] = {}
        for config in ("without", "with"):
            rs = [r for r in runs if r["mode"] == mode and r["config"] == config]
            lat = [r["frame_latency_s"] for r in rs if r.get("frame_latency_s")]
            by[config] = {
                "runs": len(rs),
                "p50_s": _mean([x["p50"] for x in lat]), "p95_s": _mean([x["p95"] for x in lat]),
                "images_per_s": _mean([x for x in (_rate(r) for r in rs) if x is not None]),
                "frames_delivered": sum(r["frames_delivered"] for r in rs),
                "frames": sum(r["frames"] for r in rs),
                "shadow_frames": sum(r["shadow"]["frames"] for r in rs),
                "shadow_skipped": sum(r["shadow"]["skipped"] for r in rs)}
        ratios = {}
        for key, better in (("p50_s", "lower"), ("p95_s", "lower"), ("images_per_s", "higher")):
            a, b = by["without"][key], by["with"][key]
            if a and b:
                ratio = b / a if better == "lower" else a / b  # > 1: the shadow costs
                ratios[key] = {"cost_ratio": ratio, "met": ratio <= TARGET_RATIO}
        out[mode] = {"configs": by, "ratios": ratios}
    return out


def _f(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(summary: dict[str, Any]) -> str:
    lines = ["| mode | metric | without shadow | with one shadow | cost (with/without) | "
             "target <= 1.05 |", "|---|---|---:|---:|---:|---|"]
    for mode, metrics in (("realtime", ("p50_s", "p95_s")), ("replay", ("images_per_s",))):
        s = summary[mode]
        for key in metrics:
            a, b = s["configs"]["without"][key], s["configs"]["with"][key]
            r = s["ratios"].get(key)
            lines.append(f"| {mode} | {key} | {_f(a, '.3f')} | {_f(b, '.3f')} | "
                         f"{_f(r and r['cost_ratio'], '.3f')} | "
                         f"{'met' if r and r['met'] else 'MISSED' if r else '–'} |")
        w = s["configs"]["with"]
        lines.append(f"| {mode} | shadow frames analysed / skipped | – | "
                     f"{w['shadow_frames']:.0f} / {w['shadow_skipped']:.0f} "
                     f"(of {w['frames']}) | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024, choices=(512, 1024, 2048, 4096))
    parser.add_argument("--repeats", type=int, default=1,
                        help="pairs of runs per mode (order alternates)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default="realtime,replay")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    from monitor.models.layout import default_package_path

    info = machine_info()
    frames = cache_frames(args.cache, args.frames, args.size, args.seed, CADENCE_S)[:args.frames]
    serving = default_package_path()
    shadow = challenger(serving, args.cache)
    for frame in frames:  # page cache warm for every run alike
        for path in frame:
            Path(path).read_bytes()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sdo-bench-shadow-") as tmp:
        k = 0
        for mode in [m for m in args.only.split(",") if m]:
            for rep in range(args.repeats):
                order = ("without", "with") if rep % 2 == 0 else ("with", "without")
                for config in order:
                    k += 1
                    print(f"{mode} {config} shadow (run {k}) ...", flush=True)
                    r = one(mode, frames, serving, [shadow] if config == "with" else [],
                            CADENCE_S, Path(tmp) / f"run{k}")
                    r["config"] = config
                    runs.append(r)
    info["load_average_end"] = os.getloadavg()
    summary = summarise(runs)
    text = table(summary)
    print(f"\nmachine: {info['cpu']}, {info['cores_available']} cores, load at start "
          f"{info['load_average_start'][0]:.1f}, end {info['load_average_end'][0]:.1f}")
    print(f"files: {args.size} px, {args.frames} frames; real time at {CADENCE_S:g} s "
          f"cadence; {args.repeats} pair(s) per mode\n")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"shadow_{info['host']}.json"
    payload = {"benchmark": "shadow", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": info, "size_px": args.size, "frames": args.frames,
               "cadence_s": CADENCE_S, "serving": str(serving), "shadow": str(shadow),
               "summary": summary, "runs": runs, "table_markdown": text}
    path.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
