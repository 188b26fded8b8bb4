"""Synthetic-Sun benchmark: seconds per observation (7 channels) and ms per training sample.

    python benchmarks/synth.py                    # 4096, 1024, 512 px files; 256/512 samples
    python benchmarks/synth.py --sizes 1024 --repeats 3

For each file size: ``render`` is ``SyntheticSun.observe`` (physics, seven
channels, AEC, noise, int16; channels in parallel threads), ``write`` is the
seven RICE-compressed FITS files (temp + rename), ``total`` both. One untimed
warm-up observation first (it builds caches: profiles, noise tables), then
``--repeats`` timed ones with ``time.perf_counter``. ``write`` degrades the
files by the shipped table (``BSCALE``, the default); ``write undegraded`` writes
the same observation again with ``degradation="none"``, side by side. The dataset rows time
``SyntheticDataset.sample`` at each grid size over ``--samples`` indices.
Medians and minima are printed; on a shared machine compare cells of one run.
Results go to ``benchmarks/results/synth_<host>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.synth import SyntheticDataset, SyntheticSun, load_scenario
from monitor.synth.fitsio import write_channel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model


def bench_files(size: int, repeats: int, scenario: str) -> dict[str, object]:
    """Render and write ``repeats`` observations (after one warm-up) at ``size`` px."""
    sun = SyntheticSun(load_scenario(scenario), size=size, seed=1)
    render: list[float] = []
    write: list[float] = []
    write_plain: list[float] = []
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(repeats + 1):
            start = time.perf_counter()
            observation = sun.observe(10 + index)
            rendered = time.perf_counter()
            paths = [write_channel(Path(tmp), observation, w, sun.scenario.cadence_s)
                     for w in sun.channels]
            done = time.perf_counter()
            for p in paths:
                p.unlink()
            # the same files undegraded (no BSCALE step), side by side
            plain = [write_channel(Path(tmp), observation, w, sun.scenario.cadence_s,
                                   degradation="none") for w in sun.channels]
            plain_done = time.perf_counter()
            if index:
                render.append(rendered - start)
                write.append(done - rendered)
                write_plain.append(plain_done - done)
                sizes.extend(p.stat().st_size for p in paths)
            for p in plain:
                p.unlink()
    total = [r + w for r, w in zip(render, write, strict=True)]
    return {"size": size, "scenario": scenario, "workers": sun.workers,
            "render_s": render, "write_s": write, "write_undegraded_s": write_plain,
            "total_s": total,
            "file_mb_median": statistics.median(sizes) / 1e6}


def bench_dataset(size: int, samples: int) -> dict[str, object]:
    """Time ``samples`` dataset samples at grid ``size`` (after two warm-up samples)."""
    dataset = SyntheticDataset(size=size, seed=0)
    dataset[10_000]
    dataset[10_001]
    times = []
    for index in range(samples):
        start = time.perf_counter()
        dataset[index]
        times.append(time.perf_counter() - start)
    return {"size": size, "samples": samples, "sample_s": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 1024, 512])
    parser.add_argument("--grids", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--scenario", default="m_flare")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    files = [bench_files(size, args.repeats, args.scenario) for size in args.sizes]
    data = [bench_dataset(size, args.samples) for size in args.grids]

    load = os.getloadavg()
    print(f"synthetic Sun on {cpu_model()} ({os.cpu_count()} CPUs visible, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    print(f"{'observation (7 ch)':>20} {'render s':>10} {'write s':>9} {'undegr. s':>9} "
          f"{'total s':>9} {'(min)':>7} {'MB/file':>8}")
    for row in files:
        print(f"{row['size']:>17} px {statistics.median(row['render_s']):10.2f} "
              f"{statistics.median(row['write_s']):9.2f} "
              f"{statistics.median(row['write_undegraded_s']):9.2f} "
              f"{statistics.median(row['total_s']):9.2f} {min(row['total_s']):7.2f} "
              f"{row['file_mb_median']:8.2f}")
    print(f"{'training sample':>20} {'median ms':>10} {'min ms':>9}")
    for row in data:
        print(f"{row['size']:>17} px {statistics.median(row['sample_s']) * 1e3:10.1f} "
              f"{min(row['sample_s']) * 1e3:9.1f}")

    result = {"host": socket.gethostname(), "cpu": cpu_model(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "load_average": load,
              "files": files, "dataset": data}
    out = args.out or ROOT / "benchmarks" / "results" / f"synth_{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
