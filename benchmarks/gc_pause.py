"""The garbage collector's full pass in a started daemon, with and without the frozen heap.

In one fresh process: import what the daemon imports, load and warm the
default model package on ONNX Runtime, run the saliency explainer once
(``monitor.pipeline.analysis``'s warm-up), then time ``gc.collect()`` (the
oldest generation, what CPython runs every few minutes on its own) ``--repeat``
times; then :func:`monitor.heap.freeze_startup_heap`, and time it again with
as much new garbage per pass as one frame's analysis leaves.

    python benchmarks/gc_pause.py              # ~20 s

Prints a table and writes ``benchmarks/results/gc_pause_<host>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_info


def _started_daemon_heap(cache: Path) -> Any:
    """What a started daemon holds (kept alive by the return value): its modules and the
    serving model opened as the daemon opens it (backend, batcher, warmed-up explainer)."""
    import matplotlib  # noqa: F401 - the overlay renderer's import
    import sunpy.map  # noqa: F401 - the ingest and reality paths
    import torch  # noqa: F401 - the CPU fallback backend and training code

    import monitor.app  # noqa: F401 - the daemon's modules
    from monitor.inference.settings import InferenceSettings
    from monitor.models import load_package
    from monitor.models.layout import default_package_path
    from monitor.pipeline.serving import open_serving
    from monitor.saliency import SaliencySettings

    async def start() -> Any:
        return await open_serving(load_package(default_package_path()),
                                  InferenceSettings(backend="onnxruntime"), SaliencySettings(),
                                  cache, observers=(), more_coming=lambda: False,
                                  finish_build=False)

    return asyncio.run(start())


def _frame_garbage() -> None:
    """Objects of the kind one frame's analysis leaves behind (dicts, lists, cycles)."""
    for i in range(20_000):
        a: dict[str, Any] = {"i": i, "v": [i, str(i)]}
        a["self"] = a


def _full_passes(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        _frame_garbage()
        t0 = time.perf_counter()
        gc.collect()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    info = machine_info("numpy", "torch", "astropy", "sunpy", "onnxruntime")
    with tempfile.TemporaryDirectory(prefix="gc-pause-") as tmp:
        kept = _started_daemon_heap(Path(tmp))
    from monitor.heap import freeze_startup_heap

    tracked = len(gc.get_objects())
    before = _full_passes(args.repeat)
    frozen = freeze_startup_heap()
    after = _full_passes(args.repeat)
    rows = [{"heap": "as started", "objects_scanned": tracked,
             "median_ms": round(statistics.median(before), 2), "max_ms": round(max(before), 2)},
            {"heap": "start-up heap frozen", "objects_scanned": len(gc.get_objects()),
             "median_ms": round(statistics.median(after), 2), "max_ms": round(max(after), 2)}]
    title = (f"full collection in a started daemon ({info['cpu']}, "
             f"{info['cores_available']} cores, load {info['load_average_start'][0]:.1f})")
    lines = [title, "",
             "| heap | objects scanned | median ms | max ms |", "|---|---:|---:|---:|"]
    lines += [f"| {r['heap']} | {r['objects_scanned']} | {r['median_ms']} | {r['max_ms']} |"
              for r in rows]
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gc_pause_{socket.gethostname()}.json"
    path.write_text(json.dumps({"benchmark": "gc_pause", "machine": info, "frozen": frozen,
                                "repeat": args.repeat, "rows": rows,
                                "before_ms": before, "after_ms": after}, indent=2) + "\n")
    del kept
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
