"""Model switches under a live feed: frame latency while a switch is under way.

The daemon (``sdo-monitor run``, live spool, files renamed in at AIA's
12 s cadence, production defaults otherwise) serves package A through a
``models/current`` link. Every ``--every`` frames, as a frame's last file is
renamed in, the link is pointed at the other package (B is A with
its weights scaled by 1.01, re-packaged with hashes and parity) and the
daemon gets ``SIGHUP``: the new package is loaded, verified and warmed up
beside the serving one while that frame is ingested and analysed. Measured,
all in one run:

* frame latency (last file renamed into the spool -> the frame message at
  the consumer) of the frames whose processing overlapped a switch, against
  the frames that did not;
* each switch: from ``SIGHUP`` to the new package serving (the log's
  ``reload requested`` and ``model switch: switched`` lines);
* frames expected, delivered and duplicated, and whether every switch point
  is clean in observation order (the packages change exactly at the switches).

::

    .venv/bin/python benchmarks/switch.py                  # 16 frames at 1024 px, ~4 min
    .venv/bin/python benchmarks/switch.py --frames 30 --size 4096
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import signal
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline_daemon import DaemonRun, run_daemon
from pipeline_support import CHANNELS, DEFAULT_CACHE, cache_frames, machine_info

RESULTS = Path(__file__).resolve().parent / "results"


def perturbed_copy(source: Path, out: Path) -> Path:
    """``source`` with every weight scaled by 1.01, re-packaged (hashes, parity) as B."""
    import torch

    from monitor.models import load_package, write_package

    package = load_package(source, verify=False)
    model = package.build_torch_model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1.01)
    manifest = dataclasses.replace(package.manifest, name=f"{package.manifest.name}-b",
                                   created_utc="")
    return write_package(out, model, manifest, verify=True).path


def _log_times(log: Path, needle: str) -> list[float]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        found = re.search(r"ts=(\S+)", line) if needle in line else None
        if found:
            out.append(datetime.fromisoformat(found.group(1)).timestamp())
    return out


def _daemon_pid(config: Path) -> int:
    """The ``sdo-monitor run -c CONFIG`` process (run_daemon keeps its handle to itself)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(config).encode() in argv and b"run" in argv:
            return int(proc.name)
    raise RuntimeError(f"no daemon running with {config}")


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"n": len(ordered), "median_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "max_s": round(ordered[-1], 3)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.models.layout import default_package_path
    from monitor.models.promotion import replace_link

    frames = cache_frames(args.cache, args.frames, args.size, 7, args.cadence)
    work = Path(tempfile.mkdtemp(prefix="sdo-switch-bench-"))
    a = default_package_path()
    b = perturbed_copy(a, work / "models" / "b")
    link = work / "models" / "current"
    replace_link(link, a)
    run = DaemonRun(mode="realtime", workdir=work / "run", frames=frames, package=link,
                    cadence_s=args.cadence)
    sent: list[float] = []

    def switch_now_and_then(port: int, finished: Any) -> None:
        pid = _daemon_pid(run.workdir / "config.yaml")
        for k in range(args.every, args.frames, args.every):
            # as frame k's last file arrives: its ingest and analysis meet the switch
            while len(run.arrivals) < CHANNELS * (k + 1) and not finished():
                time.sleep(0.02)
            replace_link(link, b if len(sent) % 2 == 0 else a)
            os.kill(pid, signal.SIGHUP)
            sent.append(time.time())

    run = dataclasses.replace(run, on_ready=switch_now_and_then)
    result = run_daemon(run)
    log = Path(result["log"])
    switched = _log_times(log, "model switch: switched")
    windows = list(zip(sent, switched))
    first: dict[str, dict[str, Any]] = {}
    for r in run.received:
        first.setdefault(r["frame_id"], r)
    rows = []
    for r in sorted(first.values(), key=lambda r: r["t_obs"]):
        times = [run.arrivals[n] for n in r["inputs"] if n in run.arrivals]
        if len(times) == CHANNELS:
            overlap = any(max(times) <= end and r["received"] >= begin
                          for begin, end in windows)
            rows.append({"t_obs": r["t_obs"], "model": r["model"][:12],
                         "latency_s": round(r["received"] - max(times), 3),
                         "during_switch": overlap})
    models = [r["model"] for r in rows]
    runs = 1 + sum(1 for x, y in itertools.pairwise(models) if x != y)
    return {
        "machine": machine_info(), "frames": args.frames, "size_px": args.size,
        "cadence_s": args.cadence, "exit_code": result["exit_code"],
        "frames_delivered": result["frames_delivered"],
        "duplicates": result["frame_messages"] - result["frames_delivered"],
        "switches": len(switched), "switches_sent": len(sent),
        "switch_points_clean": runs == len(switched) + 1,
        "switch_s": [round(end - begin, 2) for begin, end in windows],
        "latency": {"during a switch": _stats([r["latency_s"] for r in rows
                                               if r["during_switch"]]),
                    "no switch": _stats([r["latency_s"] for r in rows
                                         if not r["during_switch"]])},
        "per_frame": rows, "log_tail": result.get("log_tail"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=1024, help="file size in px")
    parser.add_argument("--cadence", type=float, default=12.0,
                        help="AIA cadence of the files and of their arrival in the spool")
    parser.add_argument("--every", type=int, default=2, help="switch every N frames")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS / "switch_vm.json")
    args = parser.parse_args()
    out = measure(args)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"frames {out['frames']}, delivered {out['frames_delivered']}, duplicates "
          f"{out['duplicates']}; switches {out['switches']} of {out['switches_sent']} "
          f"(SIGHUP -> serving: {out['switch_s']} s), switch points clean: "
          f"{out['switch_points_clean']}")
    print("| frames | n | latency median (s) | p95 (s) | max (s) |\n|---|---|---|---|---|")
    for name, s in out["latency"].items():
        if s:
            print(f"| {name} | {s['n']} | {s['median_s']} | {s['p95_s']} | {s['max_s']} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
