"""``sdo-monitor demo``: the daemon on embedded defaults, fed by the synthetic Sun.

What runs: the bundled Kafka-compatible broker on 127.0.0.1 (unless the config
names a cluster), the real daemon (:class:`monitor.app.Daemon`) with the
shipped default model package, a synthetic AIA feed writing the ``demo``
scenario (a C flare, then an M6 flare) into a temporary spool at 60x real
time, and a console that reads the daemon's topics with its own Kafka
consumer and prints each frame's verdict and each alert as it arrives.

Everything printed was computed by the daemon and read back from Kafka.
The demo ends when the scenario's files are all analysed, or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config, parse_config
from monitor.sources import SpoolFeedSettings

__all__ = ["add_subparser", "demo_config", "run_demo"]


def demo_config() -> Config:
    """The embedded demo defaults (``monitor/defaults/demo.yaml``)."""
    text = resources.files("monitor").joinpath("defaults/demo.yaml").read_text("utf-8")
    return parse_config(text, "<embedded demo.yaml>")


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo", help="run the daemon on embedded defaults with a synthetic flare feed",
        description="Start a local Kafka-compatible broker, the daemon with the default model "
                    "package, and a synthetic AIA feed (a C flare, then an M6 flare, 60x real "
                    "time); print the frames and alerts read back from Kafka. Ctrl-C stops.")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="YAML config (default: embedded demo defaults)")
    parser.add_argument("--scenario", default="demo", help="synthetic scenario (default demo)")
    # 1024: the shipped model was trained on 1024-px files too (at 512 the binned
    # 94 A quiet disk rounds to ~0 DN in short flare exposures, see docs/training.md)
    parser.add_argument("--size", type=int, default=1024, choices=(512, 1024, 2048, 4096),
                        help="synthetic image size in pixels (default 1024)")
    parser.add_argument("--speed", type=float, default=60.0,
                        help="simulated seconds per second (default 60)")
    parser.add_argument("--seed", type=int, default=2014, help="synthetic feed seed")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: end of the scenario)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="spool and state directory (default: a new temporary directory)")
    parser.set_defaults(func=run_demo)


def _with_demo_paths(config: Config, workdir: Path, cadence_s: float) -> Config:
    spool = workdir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    feed = SpoolFeedSettings(name="synthetic", path=spool, cadence_s=cadence_s,
                             stable_s=0.5, poll_interval_s=0.2, after_processing="delete")
    service = dataclasses.replace(config.service, state_dir=workdir / "state",
                                  cache_dir=workdir / "cache")
    return dataclasses.replace(config, service=service, feeds=(feed,))


def _line(event: dict[str, Any]) -> str:
    data = event["data"]
    kind = event["type"].split(".", 2)[-1]
    if kind.startswith("frame.analyzed"):
        probs = data["class_probabilities"]
        p_m = probs.get("M", 0) + probs.get("X", 0)
        fe20 = next((x["value_w_m2"] for x in data["irradiance"] if "13.29" in x["line"]), None)
        return (f"frame {data['t_obs'][11:16]}  class {data['predicted_class']:<4} "
                f"P(>=M) {p_m:4.2f}  Fe XX 13.3 nm {fe20:.2e} W/m2" if fe20 else "")
    if kind.startswith("alert"):
        return f"ALERT {data['state'].upper():8} {data['message']}"
    if kind.startswith("input.rejected"):
        return f"reject {Path(data['path']).name}: {data['reason']}"
    return ""


def _console(bootstrap: list[str], prefix: str, stop: threading.Event,
             seen: dict[str, int]) -> None:
    """An independent consumer of the daemon's topics (not the daemon's own state)."""
    from kafka import KafkaConsumer

    topics = [f"{prefix}.frames", f"{prefix}.alerts", f"{prefix}.rejects"]
    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=300, metadata_max_age_ms=1000)
    try:
        while not stop.is_set():
            for message in consumer:
                event = json.loads(message.value)
                seen[message.topic] = seen.get(message.topic, 0) + 1
                text = _line(event)
                if text:
                    print(text, flush=True)
    finally:
        consumer.close()


def run_demo(args: argparse.Namespace) -> int:
    from monitor.commands.run import serve
    from monitor.synth import SynthFeed, load_scenario

    scenario = load_scenario(args.scenario)
    base = load_config(args.config) if args.config else demo_config()
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="sdo-monitor-demo-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
    config = _with_demo_paths(base, workdir, scenario.cadence_s)
    spool = config.feeds[0].path
    feed = SynthFeed(scenario, workdir / "staging", size=args.size, speed=args.speed,
                     seed=args.seed, truth_path=workdir / "truth.jsonl")
    stop_console = threading.Event()
    seen: dict[str, int] = {}
    stop = asyncio.Event()
    written = {"n": 0, "finished": False}
    threads: list[threading.Thread] = []

    def stop_console_now() -> None:
        stop_console.set()
        for thread in threads:
            thread.join(timeout=5)

    def writer() -> None:
        # SynthFeed writes and renames into its own directory; moving each
        # finished file into the spool keeps the truth sidecar out of it.
        for item in feed.run():
            if stop_console.is_set():
                break
            item.path.rename(spool / item.path.name)
            written["n"] += 1
        written["finished"] = True

    def on_ready(daemon: Any) -> None:
        bootstrap = daemon.bootstrap or list(config.kafka.bootstrap_servers)
        print(f"demo: daemon ready (http://{daemon.http_address[0]}:{daemon.http_address[1]}/"
              f"api/v1/status, Kafka {','.join(bootstrap)}); writing scenario "
              f"'{scenario.name}' at {args.speed:g}x into {spool}", flush=True)
        console = threading.Thread(target=_console, args=(
            bootstrap, config.kafka.topic_prefix, stop_console, seen), daemon=True)
        threads.append(console)
        console.start()
        threading.Thread(target=writer, daemon=True).start()
        asyncio.get_running_loop().create_task(_watch(daemon))

    async def _watch(daemon: Any) -> None:
        started = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.5)
            snap = daemon.snapshot()
            if snap is not None and written["finished"] and snap.settled >= written["n"] \
                    and snap.frames_queued == 0:
                await asyncio.sleep(2.0)  # let the console catch up with the last messages
                stop.set()
            if args.duration and time.monotonic() - started > args.duration:
                stop.set()

    try:
        code = serve(config, on_ready=on_ready, stop=stop, on_stopped=stop_console_now)
    except KeyboardInterrupt:
        code = 130
    finally:
        stop_console.set()
        feed.stop()
        if tmp is not None:
            tmp.cleanup()
    print(f"demo: done ({written['n']} files written; read back from Kafka: "
          f"{seen.get(config.kafka.topic_prefix + '.frames', 0)} frames, "
          f"{seen.get(config.kafka.topic_prefix + '.alerts', 0)} alerts)", file=sys.stderr)
    return code
