"""Helpers of benchmarks/pipeline.py and benchmarks/soak.py (not a library module).

* :class:`ProcTree` samples CPU time and resident memory of a process and all
  its descendants from ``/proc`` (the daemon's pool workers are children of a
  forkserver, so ``getrusage`` of the daemon would miss them).
* :func:`cache_frames` renders synthetic AIA files once and reuses them.
* :func:`parse_metrics`, :func:`histogram_quantiles`, :func:`stage_means`
  read the daemon's ``/metrics``.

The daemon runner is in ``pipeline_daemon.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info as shared_machine_info

__all__ = ["CHANNELS", "DEFAULT_CACHE", "EXE", "SDO_MONITOR", "ProcTree", "cache_frames",
           "histogram_quantiles", "latency_stats", "machine_info", "model_package",
           "parse_metrics", "shift_day", "shifted_frames", "stage_means", "wavelength_of"]

EXE = Path(sys.executable).with_name("sdo-monitor")
#: The command line of ``sdo-monitor``: the installed script, else the module (a GPU
#: host runs the working tree with PYTHONPATH, nothing installed).
SDO_MONITOR = [str(EXE)] if EXE.is_file() else [sys.executable, "-m", "monitor.cli"]
#: Where rendered benchmark files and the untrained package are kept between runs.
DEFAULT_CACHE = (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                 / "sdo-monitor" / "bench")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
CHANNELS = 7


# -- machine and process tree ---------------------------------------------------------

def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (benchmarks/machine.py, plus the inference stack)."""
    return shared_machine_info("torch", "onnxruntime", "astropy")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _cpu_rss(pid: int) -> tuple[float, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[11], [12] = utime, stime (own time only: reaped children are counted
    # from their own samples, not again through the parent's cutime)
    return (int(fields[11]) + int(fields[12])) / _TICK, int(statm.split()[1]) * _PAGE


class ProcTree:
    """Sample CPU seconds and RSS of ``root`` and its descendants every ``interval`` s.

    CPU of a process is its last sampled user+system time, so a process that
    lives shorter than one interval is missed (the daemon's are long-lived).
    RSS is summed over the processes (shared pages counted in each).
    """

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.cpu: dict[int, float] = {}
        self.series: list[tuple[float, float, float, float]] = []  # t, rss MB, root MB, cpu s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="proctree")

    def start(self) -> ProcTree:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        tree, todo, children = [], [self.root], _children_map()
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        rss = root_rss = 0
        for pid in tree:
            got = _cpu_rss(pid)
            if got is None:
                continue
            self.cpu[pid] = got[0]
            rss += got[1]
            if pid == self.root:
                root_rss = got[1]
        if rss:
            self.series.append((time.time(), rss / 1e6, root_rss / 1e6, sum(self.cpu.values())))

    def cpu_at(self, t: float) -> float:
        """CPU seconds of the tree at the last sample before ``t``."""
        before = [s[3] for s in self.series if s[0] <= t]
        return before[-1] if before else 0.0

    def summary(self, since: float | None = None) -> dict[str, Any]:
        rows = [s for s in self.series if since is None or s[0] >= since] or self.series
        cpu_total = sum(self.cpu.values())
        return {"cpu_s": cpu_total - (self.cpu_at(since) if since else 0.0),
                "cpu_total_s": cpu_total,
                "peak_rss_mb": max((r[1] for r in rows), default=None),
                "peak_rss_main_mb": max((r[2] for r in rows), default=None),
                "processes": len(self.cpu)}


# -- inputs ---------------------------------------------------------------------------

def wavelength_of(path: str | Path) -> int:
    """Channel from an AIA level-1 file name (``aia.lev1.171A_2015-...``)."""
    return int(Path(path).name.split(".")[2].split("A_")[0])


def _manifest(directory: Path) -> list[list[str]]:
    """Complete frames of a directory, in time order, each sorted by channel."""
    from astropy.io import fits

    slots: dict[str, dict[int, str]] = {}
    for path in sorted(directory.glob("*.fits")):
        header = fits.getheader(path, 1)
        slots.setdefault(str(header["T_REC"]), {})[int(header["WAVELNTH"])] = path.name
    return [[files[w] for w in sorted(files)] for _, files in sorted(slots.items())
            if len(files) == CHANNELS]


def cache_frames(cache: Path, frames: int, size: int, seed: int, cadence_s: float,
                 scenario: str = "m_flare") -> list[list[str]]:
    """``frames`` complete frames of synthetic files (paths), rendered once into ``cache``.

    A cached set with at least as many frames is reused (its first frames); a
    ``.partial`` directory left by an interrupted run is finished if it already
    holds enough complete frames, else rendered again.
    """
    base = f"aia{size}_{scenario}_seed{seed}_c{cadence_s:g}"
    for directory in sorted(cache.glob(f"{base}_*f"), key=lambda d: int(d.name[len(base) + 1:-1])):
        manifest = directory / "manifest.json"
        if directory.is_dir() and manifest.exists():
            listed = json.loads(manifest.read_text())
            if len(listed) >= frames:
                return [[str(directory / n) for n in f] for f in listed[:frames]]
    target = cache / f"{base}_{frames}f"
    partial = target.with_name(target.name + ".partial")
    listed = _manifest(partial) if partial.is_dir() else []
    if len(listed) < frames:
        from monitor.synth import SynthFeed

        shutil.rmtree(partial, ignore_errors=True)
        print(f"rendering {frames} synthetic frames at {size} px into {partial} "
              "(once; reused by later runs) ...", flush=True)
        # one observation more than needed: the last slot may be cut by the duration
        feed = SynthFeed(scenario, partial, size=size, speed=0, seed=seed,
                         duration_s=(frames + 1) * cadence_s, cadence_s=cadence_s,
                         truth_path=partial / "truth.jsonl")
        for _ in feed.run():
            pass
        listed = _manifest(partial)
        if len(listed) < frames:
            raise RuntimeError(f"rendered {len(listed)} complete frames, wanted {frames}")
    (partial / "manifest.json").write_text(json.dumps(listed))
    partial.rename(target)
    return [[str(target / n) for n in f] for f in listed[:frames]]


def model_package(requested: Path | None, cache: Path) -> Path:
    """The package to benchmark: given, shipped default, or an exported untrained one."""
    if requested is not None:
        return requested
    from monitor.models.layout import default_package_path

    try:
        default: Path | None = default_package_path()
    except Exception:  # noqa: BLE001 - no default package installed yet
        default = None
    if default is not None and (default / "model.json").exists():
        return default
    out = cache / "untrained-seed0"
    if not (out / "model.json").exists():
        subprocess.run([*SDO_MONITOR, "export", "--random-init", "--seed", "0", "--out", str(out),
                        "--force"], check=True, stdout=subprocess.DEVNULL)
    return out


def shift_day(raw: bytes, days: int) -> bytes:
    """``raw`` with every date of its headers moved ``days`` later (same byte length).

    For frames of the ``active_regions`` scenario, which start on 2014-04-01
    (T_OBS, DATE-OBS, T_REC, DATE and ORB_REC patched in place, same length);
    only the header blocks before the compressed data are touched.
    """
    end = raw.index(b"ZIMAGE  =")  # the compressed image's header: its dates follow
    end = raw.index(b"END" + b" " * 77, end) + 80
    day = 1 + days
    if not 1 <= day <= 30:
        raise ValueError("day shifts stay within April 2014 (at most 29 copies)")
    head = (raw[:end].replace(b"2014-04-01", b"2014-04-%02d" % day)
            .replace(b"2014.04.01", b"2014.04.%02d" % day))
    return head + raw[end:]


def shifted_frames(base: list[list[str]], total: int, cache: Path) -> list[list[str]]:
    """``total`` frames: ``base`` then day-shifted copies of it (made once, in ``cache``).

    Each copy is a distinct observation to the daemon (new key, content hash and
    frame id); only the pixels repeat. ``base`` must be ``active_regions`` frames.
    """
    if total <= len(base):
        return base[:total]
    out = list(base)
    first = Path(base[0][0]).parent
    for copy in range(1, -(-total // len(base))):
        directory = cache / f"{first.name}_day+{copy}"
        directory.mkdir(exist_ok=True)
        for frame in base[:total - len(out)]:
            names = []
            for path in frame:
                name = Path(path).name.replace("2014-04-01", f"2014-04-{1 + copy:02d}")
                target = directory / name
                if not target.exists():
                    tmp = target.with_suffix(".part")
                    tmp.write_bytes(shift_day(Path(path).read_bytes(), copy))
                    tmp.rename(target)
                names.append(str(target))
            out.append(names)
    return out


# -- metrics ----------------------------------------------------------------------------

def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def histogram_quantiles(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
                        qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, float] | None:
    """Quantiles of a histogram by linear interpolation in its buckets (as PromQL does)."""
    buckets = sorted((float(labels["le"]), value) for labels, value in
                     samples.get(f"{name}_bucket", []))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    out: dict[str, float] = {"count": total}
    for q in qs:
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in buckets:
            if count >= rank:
                if upper == float("inf"):
                    value = lower  # beyond the last finite bucket: its bound
                else:
                    value = lower + (upper - lower) * (rank - below) / max(count - below, 1e-12)
                break
            lower, below = upper, count
        out[f"p{round(q * 100):d}"] = value
    sums = samples.get(f"{name}_sum", [])
    if sums:
        out["mean"] = sums[0][1] / total
    return out


def stage_means(samples: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
    """Mean seconds per observation of each stage histogram the daemon exports."""
    out = {}
    for stage in ("ingest", "preprocess", "queue_wait", "inference", "saliency", "overlay",
                  "publish", "end_to_end"):
        count = samples.get(f"sdo_monitor_{stage}_seconds_count", [])
        total = samples.get(f"sdo_monitor_{stage}_seconds_sum", [])
        if count and total and count[0][1]:
            out[stage] = total[0][1] / count[0][1]
    return out


def latency_stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values)
    return {"n": len(values), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max()), "mean": float(a.mean()),
            "values": sorted(round(float(v), 4) for v in a)}
