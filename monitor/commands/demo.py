"""``sdo-monitor demo``: the main job on embedded defaults, with a local broker.

What runs today: the bundled Kafka-compatible broker on loopback, the
daemon's topics, and a console consumer that prints every message published
to them. Stages join the demo as they land (see the README's status table);
nothing here prints results that were not computed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from importlib import resources

from monitor.config import Config, load_config, parse_config
from monitor.publish.kafka_client import client_options, ensure_topics, topic_names
from monitor.publish.local_broker import LocalBroker

__all__ = ["add_subparser", "demo_config", "run_demo"]


def demo_config() -> Config:
    """The embedded demo defaults (``monitor/defaults/demo.yaml``)."""
    text = resources.files("monitor").joinpath("defaults/demo.yaml").read_text("utf-8")
    return parse_config(text, "<embedded demo.yaml>")


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo", help="run the main job on embedded defaults with a local broker",
        description="Start the bundled Kafka-compatible broker on 127.0.0.1 (unless the config "
                    "names a cluster), create the daemon's topics and print every message "
                    "published to them. Stop with Ctrl-C.")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="YAML config (default: embedded demo defaults)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.set_defaults(func=run_demo)


def _console(options: dict, topics: list[str], stop: threading.Event) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(*topics, **options, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        while not stop.is_set():
            for message in consumer:
                try:
                    body = json.loads(message.value)
                    text = json.dumps(body, separators=(",", ":"))[:300]
                except ValueError:
                    text = repr(message.value[:300])
                print(f"[{message.topic}] {text}", flush=True)
    finally:
        consumer.close()


def run_demo(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else demo_config()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        bootstrap = None
        if config.kafka.uses_local_broker:
            broker = stack.enter_context(LocalBroker(config.kafka.local.port,
                                                     config.kafka.local.start_timeout_s))
            bootstrap = [broker.bootstrap]
        options = client_options(config.kafka, bootstrap)
        topics = list(topic_names(config.kafka.topic_prefix).values())
        ensure_topics(options, topics, config.kafka.partitions, config.kafka.replication_factor)
        print(f"demo: Kafka at {','.join(options['bootstrap_servers'])}, "
              f"topics {', '.join(topics)}", flush=True)
        print("demo: the processing pipeline is not built yet; printing whatever is "
              "published to the topics (Ctrl-C to stop)", flush=True)
        console = threading.Thread(target=_console, args=(options, topics, stop), daemon=True)
        console.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("demo: stopping", file=sys.stderr)
        stop.set()
        console.join(timeout=5)
    return 0
