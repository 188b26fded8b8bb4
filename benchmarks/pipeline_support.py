"""Helpers of benchmarks/pipeline.py and benchmarks/soak.py (not a library module).

* :class:`ProcTree` samples CPU time and resident memory of a process and all
  its descendants from ``/proc`` (the daemon's pool workers are children of a
  forkserver, so ``getrusage`` of the daemon would miss them).
* :func:`cache_frames` renders synthetic AIA files once and reuses them.
* :func:`run_daemon` runs ``sdo-monitor replay`` or ``sdo-monitor run`` (live,
  files renamed into a spool at AIA's cadence) against a real local broker,
  with a consumer that timestamps every frame message it receives, a
  ``/metrics`` scraper and, on request, py-spy.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DaemonRun", "ProcTree", "cache_frames", "histogram_quantiles", "latency_stats",
           "machine_info", "model_package", "parse_metrics", "run_daemon", "stage_means",
           "wavelength_of"]

EXE = Path(sys.executable).with_name("sdo-monitor")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
CHANNELS = 7


# -- machine and process tree ---------------------------------------------------------

def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime
    import torch

    return {"host": socket.gethostname(), "cpu": cpu,
            "cores_available": len(os.sched_getaffinity(0)),
            "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * _PAGE / 1e9, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "load_average_start": os.getloadavg()}


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
    from monitor.models.package import default_package_path

    try:
        default: Path | None = default_package_path()
    except Exception:  # noqa: BLE001 - no default package installed yet
        default = None
    if default is not None and (default / "model.json").exists():
        return default
    out = cache / "untrained-seed0"
    if not (out / "model.json").exists():
        subprocess.run([str(EXE), "export", "--random-init", "--seed", "0", "--out", str(out),
                        "--force"], check=True, stdout=subprocess.DEVNULL)
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
            "max": float(a.max()), "mean": float(a.mean())}


# -- the daemon ---------------------------------------------------------------------------

@dataclass
class DaemonRun:
    """One daemon run: ``replay`` (saturation) or ``realtime`` (live spool at cadence)."""

    mode: str
    workdir: Path
    frames: list[list[str]]
    package: Path
    cadence_s: float
    profile: bool = False
    sample_s: float = 0.2
    extra_config: str = ""
    on_sample: Any = None  # called with (ProcTree, metrics text) every scrape (soak)
    timeout_s: float = 7200.0
    received: list[dict[str, Any]] = field(default_factory=list)


def _config(run: DaemonRun, bootstrap: str, prefix: str, port: int, spool: Path) -> Path:
    feeds = ""
    if run.mode == "realtime":
        feeds = (f"feeds:\n  - {{kind: spool, name: aia, path: {spool}, cadence_s: "
                 f"{run.cadence_s}, after_processing: delete}}\n")
    path = run.workdir / "config.yaml"
    path.write_text(f"""service: {{state_dir: {run.workdir / 'state'}, cache_dir: {run.workdir / 'cache'},
          drain_timeout_s: 20}}
logging: {{level: INFO}}
http: {{host: 127.0.0.1, port: {port}}}
kafka: {{bootstrap_servers: ['{bootstrap}'], topic_prefix: {prefix}}}
inference: {{model_package: {run.package}}}
{feeds}{run.extra_config}
""")
    return path


def _consume(bootstrap: str, topic: str, out: list[dict[str, Any]], stop: threading.Event) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False,
                             fetch_max_wait_ms=25, consumer_timeout_ms=200)
    while not stop.is_set() and not consumer.partitions_for_topic(topic):
        time.sleep(0.2)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    while not stop.is_set():
        for record in consumer:
            now = time.time()
            event = json.loads(record.value)
            out.append({"received": now, "created": record.timestamp / 1000.0,
                        "id": event["id"], "frame_id": event["data"]["frame_id"],
                        "inputs": [Path(i["path"]).name for i in event["data"]["inputs"]]})
    consumer.close()


#: (category, markers): a sample belongs to the first category, innermost frame first,
#: whose marker is in the frame's text. Order matters where stacks nest.
PROFILE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("idle wait (event loop, queues, locks)", ("select (selectors", "EpollSelector",
                                               "wait (threading", "_wait_for_tstate_lock")),
    ("RICE decompression (astropy)", ("Rice1.decode", "_tiled_compression")),
    ("file read", ("_array_from_file", "_read (monitor/ingest/reader", "_stat_and_read")),
    ("hashing (sha256)", ("hashlib", "sha256")),
    ("overlay PNG (matplotlib, PIL)", ("matplotlib", "PIL/", "render_overlay")),
    ("SQLite (ledger, outbox)", ("sqlite3", "monitor/state.py", "publish/outbox.py")),
    ("Kafka client", ("kafka/",)),
    ("messages (JSON, schema validation)", ("jsonschema", "json/", "publish/envelope.py",
                                            "pipeline/messages.py")),
    ("inference (onnxruntime/torch)", ("onnxruntime", "torch/", "monitor/inference/")),
    ("saliency (CAM, regions, coordinates)", ("monitor/saliency/", "astropy/coordinates",
                                              "sunpy/", "astropy/wcs")),
    ("preprocess (geometry, resample)", ("monitor/preprocess/",)),
    ("ingest checks (header, pixels)", ("monitor/ingest/",)),
    ("imports and start-up", ("importlib", "<frozen")),
)


def _profile_summary(path: Path) -> dict[str, Any]:
    """Shares of py-spy samples by category (see PROFILE_CATEGORIES) and by leaf frame."""
    leaf: Counter[str] = Counter()
    category: Counter[str] = Counter()
    by_process: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        # py-spy prefixes the chain of processes: main;forkserver;worker;frames...
        by_process["pool workers" if "forkserver" in stack else "main process"] += n
        leaf[frames[-1]] += n
        for frame in reversed(frames[1:]):
            name = next((c for c, marks in PROFILE_CATEGORIES if any(m in frame for m in marks)),
                        None)
            if name is not None:
                category[name] += n
                break
        else:
            category["other"] += n

    def shares(counter: Counter[str], k: int) -> list[dict[str, Any]]:
        return [{"where": w, "share": c / max(1, total)} for w, c in counter.most_common(k)]
    return {"samples": total, "categories": shares(category, 20), "top": shares(leaf, 30),
            "processes": shares(by_process, 5), "raw": str(path)}


def run_daemon(run: DaemonRun) -> dict[str, Any]:
    """Run the daemon once and measure it (see benchmarks/pipeline.py for definitions)."""
    from monitor.publish.local_broker import LocalBroker, free_port

    run.workdir.mkdir(parents=True)
    spool = run.workdir / ("spool" if run.mode == "realtime" else "input")
    staging = run.workdir / "staging"
    spool.mkdir()
    staging.mkdir()
    for frame in run.frames:  # hard links: no copying, same file system as the cache?
        for path in frame:
            target = (staging if run.mode == "realtime" else spool) / Path(path).name
            try:
                os.link(path, target)
            except OSError:
                shutil.copy(path, target)
    n_frames, n_images = len(run.frames), sum(len(f) for f in run.frames)
    broker = LocalBroker().start()
    prefix = f"bench.{run.mode}.{uuid.uuid4().hex[:8]}"
    port = free_port()
    cfg = _config(run, broker.bootstrap, prefix, port, spool)
    args = ([str(EXE), "replay", str(spool), "-c", str(cfg), "--cadence", str(run.cadence_s),
             "--no-progress"] if run.mode != "realtime" else [str(EXE), "run", "-c", str(cfg)])
    stop = threading.Event()
    received: list[dict[str, Any]] = run.received
    consumer = threading.Thread(target=_consume, args=(broker.bootstrap, f"{prefix}.frames",
                                                       received, stop), daemon=True)
    consumer.start()
    log_path = run.workdir / "daemon.log"
    t_spawn = time.time()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    tree = ProcTree(proc.pid, run.sample_s).start()
    ready = threading.Event()
    t_ready = [0.0]

    def read_log() -> None:
        assert proc.stdout is not None
        with log_path.open("wb") as fh:
            for line in proc.stdout:
                fh.write(line)
                if not ready.is_set() and b"daemon ready" in line:
                    t_ready[0] = time.time()
                    ready.set()
    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    last_metrics = [""]

    def scrape() -> None:
        while proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    last_metrics[0] = r.read().decode()
                if run.on_sample is not None:
                    run.on_sample(tree, last_metrics[0])
            except OSError:
                pass
            time.sleep(0.5 if run.on_sample is None else 1.0)
    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    spy = None
    arrivals: dict[str, float] = {}
    try:
        if not ready.wait(300):
            raise RuntimeError(f"daemon not ready: {log_path.read_text()[-3000:]}")
        if run.profile:
            spy = subprocess.Popen([str(EXE.with_name("py-spy")), "record", "--pid",
                                    str(proc.pid), "--subprocesses", "--rate", "50",
                                    "--format", "raw", "--nonblocking",
                                    "--output", str(run.workdir / "profile.txt")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if run.mode == "realtime":
            from monitor.synth.responses import channel_spec

            t0 = time.time() + 1.0
            for k, frame in enumerate(run.frames):
                due = sorted((t0 + k * run.cadence_s + channel_spec(wavelength_of(p))
                              .t_obs_offset_s, Path(p).name) for p in frame)
                for when, name in due:
                    time.sleep(max(0.0, when - time.time()))
                    os.rename(staging / name, spool / name)
                    arrivals[name] = time.time()
            deadline = time.time() + 120
            while len({r["frame_id"] for r in received}) < n_frames and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # one more scrape after the last ack
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=run.timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        t_exit = time.time()
        tree.stop()
        time.sleep(0.5)  # the consumer's last fetch
        stop.set()
        consumer.join(10)
        reader.join(10)
        scraper.join(5)
        if spy is not None:
            spy.wait(timeout=60)
        broker.close()

    frame_ids = {r["frame_id"] for r in received}
    t_last = max((r["received"] for r in received), default=t_exit)
    samples = parse_metrics(last_metrics[0]) if last_metrics[0] else {}
    result: dict[str, Any] = {
        "mode": run.mode, "exit_code": code, "frames": n_frames, "images": n_images,
        "frames_delivered": len(frame_ids), "frame_messages": len(received),
        "startup_s": t_ready[0] - t_spawn, "wall_total_s": t_exit - t_spawn,
        "log": str(log_path)}
    if run.mode == "realtime":
        result["wall_s"] = n_frames * run.cadence_s  # the offered load: one frame per cadence
    else:
        result["wall_s"] = t_last - t_ready[0]
        # steady state: between the first and the last acknowledged frame, i.e. without
        # the one-time pool start-up (worker imports) and the first frame's pipeline fill
        acks = sorted(min(r["received"] for r in received if r["frame_id"] == f)
                      for f in frame_ids)
        if len(acks) >= 3:
            result["steady"] = {"images": (len(acks) - 1) * CHANNELS,
                                "wall_s": acks[-1] - acks[0],
                                "cpu_s": tree.cpu_at(acks[-1]) - tree.cpu_at(acks[0])}
    result.update(tree.summary(since=t_ready[0]))
    result["cpu_startup_s"] = tree.cpu_at(t_ready[0])
    result["daemon_e2e_s"] = histogram_quantiles(samples, "sdo_monitor_end_to_end_seconds")
    result["stages_mean_s"] = stage_means(samples)
    result["rss_series"] = [(round(t - t_spawn, 1), round(a, 1), round(b, 1))
                            for t, a, b, _ in tree.series[::max(1, len(tree.series) // 400)]]
    if arrivals:
        first_copy: dict[str, dict[str, Any]] = {}
        for r in received:
            first_copy.setdefault(r["frame_id"], r)
        last_lat, first_lat, lower = [], [], []
        for r in first_copy.values():
            times = [arrivals[n] for n in r["inputs"] if n in arrivals]
            if len(times) == CHANNELS:
                last_lat.append(r["received"] - max(times))
                first_lat.append(r["received"] - min(times))
                lower.append(r["created"] - max(times))
        result["frame_latency_s"] = latency_stats(last_lat)
        result["frame_latency_from_first_file_s"] = latency_stats(first_lat)
        result["frame_latency_lower_bound_s"] = latency_stats(lower)
    if spy is not None and (run.workdir / "profile.txt").exists():
        kept = Path(tempfile.gettempdir()) / f"sdo-monitor-{run.mode}-profile.txt"
        shutil.copy(run.workdir / "profile.txt", kept)  # the work dir goes away
        result["profile"] = _profile_summary(kept)
    return result
