"""Ingest + preprocessing benchmark: one 4096x4096 RICE level-1 file to the model grid.

Measures, on one synthetic full-resolution file (the real Sun of sunpy's sample
re-pointed, rolled 0.6 deg, Poisson noise, RICE int16 with BLANK packets):

* decompression alone (astropy) and the whole ingest (read, hash, header
  checks, decode, pixel checks);
* the fast path (``monitor.preprocess.preprocess``) to 512 (and other grids)
  with 1 and 2 threads, plus the per-channel scaling;
* baselines named in issue 4: OpenCV area resize and numpy block mean (both
  without any geometry);
* the standard slow path: the scipy register-style reference, and aiapy's
  ``register`` with its defaults when aiapy is installed.

It prints a table and writes ``benchmarks/results/preprocess_<host>.json``.
Verdicts: the fast path must add <= 30 ms to decompression and be >= 10x
faster than the slow path.

    python benchmarks/preprocess.py                 # default: 5 repeats
    python benchmarks/preprocess.py --repeat 9 --grids 256 512 1024
    python benchmarks/preprocess.py --quick         # skip aiapy and the 1-thread slow path

Timing: one warm-up, then ``--repeat`` runs with ``time.perf_counter``; the
table shows median and minimum. On a shared machine the median is what it did
and the minimum what the code can do.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.grid import ModelGrid
from monitor.ingest import read_observation
from monitor.ingest.samples import SyntheticSpec, write_synthetic_fits
from monitor.preprocess import (
    ChannelScaling,
    PreprocessSettings,
    apply_scaling,
    preprocess,
)
from monitor.preprocess.reference import aiapy_available, register_reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

FAST_BUDGET_MS = 30.0
MIN_SPEEDUP = 10.0
#: Decompression time of a 4096^2 RICE file measured on this machine unloaded
#: (issue 4); used to express contended measurements in unloaded terms.
ISSUE_DECOMPRESS_MS = 114.0


def timeit(fn: Callable[[], object], repeat: int) -> dict[str, float | None]:
    """Wall and process-CPU time in ms (median, minimum) after one warm-up call.

    On a shared machine the wall time of a single-threaded step is inflated by
    other tenants; its CPU time is close to what it costs on an idle core.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"median_ms": statistics.median(wall), "min_ms": min(wall),
            "cpu_median_ms": statistics.median(cpu), "cpu_min_ms": min(cpu), "n": repeat}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--grids", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--quick", action="store_true", help="skip aiapy")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows: list[tuple[str, dict[str, float | None]]] = []
    info = machine_info("numpy", "astropy", "opencv-python-headless", "scipy")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "aia.lev1.171A_2024-05-14T17-00-01.35Z.image_lev1.fits"
        write_synthetic_fits(path, SyntheticSpec(size=4096, center_offset_px=(-17.25, 9.5),
                                                 crota2=0.6, rsun_obs=972.0, scene="real",
                                                 blank_fraction=0.001, counts_scale=600.0))
        size_mb = path.stat().st_size / 1e6
        raw = path.read_bytes()

        from astropy.io import fits

        def decompress() -> None:
            with fits.open(io.BytesIO(raw), memmap=False, do_not_scale_image_data=True) as hdul:
                hdul[1].data.sum(dtype=np.int64)  # force the decode

        rows.append(("decompress (astropy, RICE int16 4096^2)", timeit(decompress, args.repeat)))
        rows.append(("ingest total (read_observation)",
                     timeit(lambda: read_observation(path), args.repeat)))
        result = read_observation(path)
        assert result.ok, result.rejection
        obs, image = result.observation, result.image
        stage = {k: [] for k in result.timings_s}
        for _ in range(args.repeat):
            for key, value in read_observation(path).timings_s.items():
                stage[key].append(value * 1e3)
        for key, values in stage.items():
            rows.append((f"  ingest stage: {key}",
                         {"median_ms": statistics.median(values), "min_ms": min(values),
                          "cpu_median_ms": None, "cpu_min_ms": None,
                          "n": len(values)}))

        fast: dict[tuple[int, int], dict[str, float | None]] = {}
        for grid_size in args.grids:
            for threads in (1, 2):
                grid = ModelGrid(grid_size)
                settings = PreprocessSettings(threads=threads)
                timing = timeit(lambda g=grid, s=settings: preprocess(obs, image, g, s),
                                args.repeat)
                fast[(grid_size, threads)] = timing
                label = f"fast path -> {grid_size} ({threads} thread{'s' if threads > 1 else ''})"
                rows.append((label, timing))
        frames = np.stack([preprocess(obs, image, ModelGrid(512))] * 7)
        scalings = [ChannelScaling("log10", 1.0, 0.0, 5.0, 2.5, 0.8)] * 7
        scaling_ms = timeit(lambda: apply_scaling(frames, scalings), args.repeat)
        rows.append(("scaling, 7 channels x 512^2 (all channels)", scaling_ms))

        import cv2

        pixels = image.pixels
        rows.append(("baseline: cv2 INTER_AREA 4096->512 (no geometry)",
                     timeit(lambda: cv2.resize(pixels, (512, 512),
                                               interpolation=cv2.INTER_AREA), args.repeat)))
        rows.append(("baseline: numpy 8x8 block mean (no geometry)",
                     timeit(lambda: pixels.astype(np.float32).reshape(512, 8, 512, 8)
                            .mean(axis=(1, 3)), args.repeat)))
        slow_repeat = max(1, min(3, args.repeat))
        slow = timeit(lambda: register_reference(obs, image, ModelGrid(512)), slow_repeat)
        rows.append(("slow path: scipy register (order 3) + 8x8 mean -> 512", slow))
        aiapy_ms = None
        if not args.quick and aiapy_available():
            import sunpy.map
            from aiapy.calibrate import register

            smap = sunpy.map.Map(path)
            aiapy_ms = timeit(lambda: register(smap), slow_repeat)
            rows.append(("slow path: aiapy register (defaults), 4096^2 only", aiapy_ms))

    width = max(len(name) for name, _ in rows)
    print(f"\nmachine: {info['cpu']}, {info['cores_available']} cores, "
          f"load {info['load_average_start']}")
    print(f"file: {size_mb:.1f} MB RICE_1 int16 4096x4096\n")
    print(f"{'step'.ljust(width)}  wall median  wall min  cpu median  cpu min   (ms)")
    def cell(value: float | None, size: int) -> str:
        return "-".rjust(size) if value is None else f"{value:{size}.1f}"

    for name, timing in rows:
        print(f"{name.ljust(width)}  {cell(timing['median_ms'], 11)}  {cell(timing['min_ms'], 8)}"
              f"  {cell(timing['cpu_median_ms'], 10)}  {cell(timing['cpu_min_ms'], 7)}")

    verdicts: dict[str, object] = {}
    if (512, 1) in fast:
        per_channel_scaling = scaling_ms["min_ms"] / 7
        best_threads = min((1, 2), key=lambda t: fast[(512, t)]["min_ms"])
        added = fast[(512, best_threads)]["min_ms"] + per_channel_scaling
        single_cpu = fast[(512, 1)]["cpu_min_ms"] + scaling_ms["cpu_min_ms"] / 7
        reference = aiapy_ms["min_ms"] if aiapy_ms else slow["min_ms"]
        decompress_cpu = rows[0][1]["cpu_min_ms"] or float("nan")
        calibrated = single_cpu / decompress_cpu * ISSUE_DECOMPRESS_MS
        verdicts = {"fast_added_ms": added, "fast_threads": best_threads,
                    "fast_single_thread_cpu_ms": single_cpu,
                    "fast_cpu_per_decompress_cpu": single_cpu / decompress_cpu,
                    "fast_ms_at_issue_decompress_speed": calibrated,
                    "fast_within_budget": added <= FAST_BUDGET_MS,
                    "speedup_vs_slow": reference / added,
                    "speedup_ok": reference / added >= MIN_SPEEDUP}
        print(f"\nfast path added to decompression (512 grid, {best_threads} thread(s), minimum "
              f"wall, + scaling per channel): {added:.1f} ms (budget {FAST_BUDGET_MS:.0f} ms) -> "
              f"{'PASS' if verdicts['fast_within_budget'] else 'FAIL'}; single thread: "
              f"{single_cpu:.1f} ms CPU")
        print(f"single thread relative to decompression (CPU): "
              f"{single_cpu / decompress_cpu:.3f} x -> {calibrated:.1f} ms at the issue's "
              f"unloaded {ISSUE_DECOMPRESS_MS:.0f} ms decompression")
        print(f"speed-up vs {'aiapy register' if aiapy_ms else 'scipy register'} (minimum "
              f"wall): {verdicts['speedup_vs_slow']:.0f}x (need {MIN_SPEEDUP:.0f}x) -> "
              f"{'PASS' if verdicts['speedup_ok'] else 'FAIL'}")

    info["load_average_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"preprocess_{socket.gethostname()}.json"
    out.write_text(json.dumps({"machine": info, "file_mb": size_mb,
                               "rows": [{"step": n, **t} for n, t in rows],
                               "verdicts": verdicts}, indent=2) + "\n")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
