"""SDOML v2 data loading: frames per second from a local store, per core.

What training pays per sample, on the format-faithful miniature
(``monitor.sdoml.testing``: 512 px float32 frames in blosc-zstd bit-shuffled
chunks of 15, the published layout) or on a local copy of the real store
(``--aia``/``--eve``/``--goes``):

* ``decode, storage order``: every frame of one array read in row order (each
  15-frame chunk is decoded once: the cache of decoded chunks hits);
* ``decode, time order``: the same frames in ``T_OBS`` order, as a time split
  reads them (storage order is not time order: chunk cache misses cost);
* ``decode + grid``: the same in time order, each frame also put on the 256 px
  model grid (``to_model_grid``: the daemon's resampling);
* ``sample draw``: whole training samples (every channel of one slot, gridded,
  with labels) through ``SdomlDraw``, as the cache builder draws them;
* ``cache build``: ``cached_split`` in one process (draw, quantise, write).

Every stage runs in one process: the rates are per core. The cache builder
draws with ``workers`` processes, each at about this rate when cores are free.

    python benchmarks/sdoml_loading.py                 # the miniature, ~1-2 min on 2 cores
    python benchmarks/sdoml_loading.py --aia /data/sdoml/sdomlv2.zarr \\
        --eve /data/sdoml/sdomlv2_eve.zarr --goes /data/goes --years 2011

Prints a table and writes ``benchmarks/results/sdoml_loading_<host>.json``
and ``.md``. Timing: ``time.perf_counter`` around each stage after one warm
read; on a shared machine rerun and compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_info

from monitor.grid import ModelGrid
from monitor.sdoml import open_store, read_channel_index, sdoml_geometry
from monitor.sdoml.aia import store_years, to_model_grid
from monitor.train.data import cached_split
from monitor.train.sdoml import sdoml_builders
from monitor.train.settings import ModelSettings, SdomlSourceSettings, TrainConfig

CHANNELS = (94, 131, 171, 193, 211, 304, 335)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else float("inf")


def _decode(aia: str, channel: int, years: list[int], size: int) -> list[dict]:
    store = open_store(aia)
    index = read_channel_index(store, channel, years)
    rows = []
    for label, order in (("decode, storage order",
                          np.lexsort((index.rows, index.years))),
                         ("decode, time order", np.arange(len(index))),
                         (f"decode + grid {size} px", np.arange(len(index)))):
        arrays = {y: open_store(aia).array(f"{y}/{channel}A") for y in set(index.years.tolist())}
        grid = ModelGrid(size)
        arrays[int(index.years[0])].frame(int(index.rows[0]))  # warm: imports, first chunk
        t0 = time.perf_counter()
        for k in order:
            frame = arrays[int(index.years[k])].frame(int(index.rows[k]))
            if "grid" in label:
                to_model_grid(frame, sdoml_geometry(index.geometry[k], index.size), grid)
        seconds = time.perf_counter() - t0
        rows.append({"stage": label, "frames": len(order), "seconds": round(seconds, 3),
                     "frames_per_s": _rate(len(order), seconds), "processes": 1})
    return rows


def _config(args: argparse.Namespace, cache: Path) -> TrainConfig:
    source = SdomlSourceSettings(aia=args.aia, eve=args.eve, goes=tuple(args.goes),
                                 years=tuple(args.years), block_days=1 / 24, gap_hours=0.0,
                                 pattern=("train", "train", "val", "test"),
                                 max_frames=args.max_samples)
    return TrainConfig(out_dir=cache / "run", cache_dir=cache / "cache", data=source,
                       model=ModelSettings(size=args.size, channels=CHANNELS))


def _draws(config: TrainConfig) -> list[dict]:
    builder = sdoml_builders(config)["train"]
    draw = builder.draw
    draw(0)  # warm
    t0 = time.perf_counter()
    for i in range(builder.count):
        draw(i)
    seconds = time.perf_counter() - t0
    frames = builder.count * len(CHANNELS)
    rows = [{"stage": f"sample draw ({len(CHANNELS)} channels, {config.model.size} px)",
             "frames": frames, "seconds": round(seconds, 3),
             "frames_per_s": _rate(frames, seconds), "processes": 1}]
    shutil.rmtree(config.cache_path, ignore_errors=True)
    t0 = time.perf_counter()
    cached_split(builder, config.cache_path, workers=1)
    seconds = time.perf_counter() - t0
    rows.append({"stage": "cache build (draw, quantise, write)", "frames": frames,
                 "seconds": round(seconds, 3), "frames_per_s": _rate(frames, seconds),
                 "processes": 1})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aia", default="", help="local AIA store (default: write the miniature)")
    parser.add_argument("--eve", default="")
    parser.add_argument("--goes", nargs="*", default=[])
    parser.add_argument("--years", nargs="*", type=int, default=[])
    parser.add_argument("--channel", type=int, default=171, help="channel of the decode stages")
    parser.add_argument("--size", type=int, default=256, choices=(64, 128, 256, 512))
    parser.add_argument("--max-samples", type=int, default=0, help="cap the aligned slots")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    info = machine_info("numpy", "numcodecs", "fsspec", "opencv-python-headless")
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="sdoml-bench-") as tmp:
        work = Path(tmp)
        source = "local copy"
        if not args.aia:
            from monitor.sdoml.testing import write_miniature

            t0 = time.perf_counter()
            mini = write_miniature(work / "mini")
            info["miniature_write_s"] = round(time.perf_counter() - t0, 1)
            args.aia, args.eve, args.goes = str(mini.aia), str(mini.eve), [str(mini.goes)]
            source = "miniature (monitor.sdoml.testing)"
        years = list(args.years) or store_years(open_store(args.aia))
        rows = _decode(args.aia, args.channel, years, args.size)
        rows += _draws(_config(args, work))
    per_core = {r["stage"]: round(r["frames_per_s"] / r["processes"], 2) for r in rows}
    where = args.aia if source == "local copy" else "temporary directory"
    result = {"benchmark": "sdoml_loading", "source": source, "aia": where,
              "machine": info, "rows": rows, "frames_per_s_per_core": per_core}
    lines = [(f"SDOML v2 loading, {source}, {cores} cores ({info['cpu']}), load "
             f"{info['load_average_start'][0]:.1f} at start"), "",
             "| stage | frames | seconds | frames/s | frames/s per process |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['frames']} | {r['seconds']} | {r['frames_per_s']} | "
              f"{per_core[r['stage']]} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"sdoml_loading_{socket.gethostname()}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
