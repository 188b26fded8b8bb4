"""The daemon runner of benchmarks/pipeline.py and benchmarks/soak.py (not a library module).

:func:`run_daemon` runs ``sdo-monitor replay`` or ``sdo-monitor run`` (live,
files renamed into a spool at AIA's cadence) against a real local broker,
with a consumer that timestamps every frame message it receives, a
``/metrics`` scraper, a process-tree sampler and, on request, py-spy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_support import (
    CHANNELS,
    EXE,
    SDO_MONITOR,
    ProcTree,
    histogram_quantiles,
    latency_stats,
    parse_metrics,
    stage_means,
    wavelength_of,
)

__all__ = ["PROFILE_CATEGORIES", "DaemonRun", "run_daemon"]


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
    shadows: list[Path] = field(default_factory=list)  # inference.shadow packages
    ingest_workers: int = 0  # service.ingest_workers: 0 = every core
    on_sample: Any = None  # called with (ProcTree, metrics text) every scrape (soak)
    on_ready: Any = None  # called with (HTTP port, finished: Callable[[], bool]) in a thread
    timeout_s: float = 7200.0
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Realtime: when each file was renamed into the spool (file name -> Unix time).
    arrivals: dict[str, float] = field(default_factory=dict)


def _config(run: DaemonRun, bootstrap: str, prefix: str, port: int, spool: Path) -> Path:
    feeds = ""
    if run.mode == "realtime":
        feeds = (f"feeds:\n  - {{kind: spool, name: aia, path: {spool}, cadence_s: "
                 f"{run.cadence_s}, after_processing: delete}}\n")
    path = run.workdir / "config.yaml"
    path.write_text(f"""service: {{state_dir: {run.workdir / 'state'}, cache_dir: {run.workdir / 'cache'},
          drain_timeout_s: 20, ingest_workers: {run.ingest_workers}}}
logging: {{level: INFO}}
http: {{host: 127.0.0.1, port: {port}}}
kafka: {{bootstrap_servers: ['{bootstrap}'], topic_prefix: {prefix}}}
inference: {{model_package: {run.package}, shadow: [{", ".join(str(p) for p in run.shadows)}]}}
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
                        "t_obs": event["data"]["t_obs"],
                        "model": event["data"]["model"]["sha256"],
                        "inputs": [Path(i["path"]).name for i in event["data"]["inputs"]],
                        "stages_s": event["data"].get("latencies_s", {})})
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
    for frame in run.frames:  # hard links (no copying) where the cache shares the file system
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
    args = ([*SDO_MONITOR, "replay", str(spool), "-c", str(cfg), "--cadence",
             str(run.cadence_s), "--no-progress"] if run.mode != "realtime"
            else [*SDO_MONITOR, "run", "-c", str(cfg)])
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
    arrivals = run.arrivals
    try:
        if not ready.wait(300):
            raise RuntimeError(f"daemon not ready: {log_path.read_text()[-3000:]}")
        side = None
        if run.on_ready is not None:
            side = threading.Thread(target=run.on_ready,
                                    args=(port, lambda: proc.poll() is not None), daemon=True)
            side.start()
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
        if side is not None:
            side.join(60)
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
        if len(acks) >= 3 and acks[-1] - acks[0] >= 5 * run.sample_s:
            result["steady"] = {"images": (len(acks) - 1) * CHANNELS,
                                "wall_s": acks[-1] - acks[0],
                                "cpu_s": tree.cpu_at(acks[-1]) - tree.cpu_at(acks[0])}
    result.update(tree.summary(since=t_ready[0]))
    result["cpu_startup_s"] = tree.cpu_at(t_ready[0])
    result["daemon_e2e_s"] = histogram_quantiles(samples, "sdo_monitor_end_to_end_seconds")
    result["stages_mean_s"] = stage_means(samples)
    result["backend"] = next((labels for labels, _ in samples.get("sdo_monitor_backend_info", [])),
                             None)
    if code != 0 or len(frame_ids) < n_frames:
        result["log_tail"] = log_path.read_text(errors="replace")[-4000:]
    result["rss_series"] = [(round(t - t_spawn, 1), round(a, 1), round(b, 1))
                            for t, a, b, _ in tree.series[::max(1, len(tree.series) // 400)]]
    if arrivals:
        first_copy: dict[str, dict[str, Any]] = {}
        for r in received:
            first_copy.setdefault(r["frame_id"], r)
        last_lat, first_lat, lower, per_frame = [], [], [], []
        for r in first_copy.values():
            times = [arrivals[n] for n in r["inputs"] if n in arrivals]
            if len(times) == CHANNELS:
                last_lat.append(r["received"] - max(times))
                first_lat.append(r["received"] - min(times))
                lower.append(r["created"] - max(times))
                # in arrival order, so a slow frame can be told apart from a slow start
                per_frame.append({"t_obs": r["t_obs"], "latency_s": round(last_lat[-1], 4),
                                  "lower_bound_s": round(lower[-1], 4),
                                  "stages_s": {k: round(float(v), 4)
                                               for k, v in r["stages_s"].items()}})
        result["per_frame"] = per_frame
        result["frame_latency_s"] = latency_stats(last_lat)
        result["frame_latency_from_first_file_s"] = latency_stats(first_lat)
        result["frame_latency_lower_bound_s"] = latency_stats(lower)
    if spy is not None and (run.workdir / "profile.txt").exists():
        kept = Path(tempfile.gettempdir()) / f"sdo-monitor-{run.mode}-profile.txt"
        shutil.copy(run.workdir / "profile.txt", kept)  # the work dir goes away
        result["profile"] = _profile_summary(kept)
    return result
