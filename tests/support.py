"""Helpers shared by the end-to-end and reliability tests (on sys.path via pytest's pythonpath)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from monitor.config import Config, parse_config

EXE = Path(sys.executable).with_name("sdo-monitor")


def daemon_config(tmp: Path, spool: Path, package: Path, prefix: str, **service: object) -> Config:
    extra = "".join(f"\n  {k}: {v}" for k, v in service.items())
    return parse_config(f"""
service:
  state_dir: {tmp / 'state'}
  cache_dir: {tmp / 'cache'}
  ingest_executor: thread
  ingest_workers: 2{extra}
http: {{host: 127.0.0.1, port: 0}}
kafka: {{topic_prefix: {prefix}, partitions: 1}}
inference: {{model_package: {package}, backend: onnxruntime, max_batch: 2, warmup_iterations: 1}}
frames: {{wait_s: 20}}
feeds:
  - {{kind: spool, name: aia, path: {spool}, cadence_s: 60, stable_s: 0.5, poll_interval_s: 0.2}}
""")


def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60) -> list[dict]:
    """Every message of a topic (all partitions, no group) until ``expect`` or timeout."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    deadline = time.monotonic() + timeout_s
    while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    out: list[dict] = []
    while len(out) < expect and time.monotonic() < deadline:
        out.extend(json.loads(m.value) for m in consumer)
    consumer.close()
    return out


def write_config(path: Path, *, state: Path, bootstrap: str, prefix: str, package: Path,
                 feeds: str = "", mode: str = "live", extra: str = "") -> Path:
    path.write_text(f"""
service:
  state_dir: {state}
  cache_dir: {state.parent / 'cache'}
  mode: {mode}
  ingest_executor: thread
  ingest_workers: 2
  drain_timeout_s: 5
http: {{host: 127.0.0.1, port: 0}}
kafka:
  bootstrap_servers: [{bootstrap}]
  topic_prefix: {prefix}
  partitions: 2
inference: {{model_package: {package}, backend: onnxruntime, max_batch: 2,
            warmup_iterations: 1}}
publish: {{retry_backoff_max_s: 1.0}}
frames: {{wait_s: 30}}
{feeds}
{extra}
""")
    return path


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``sdo-monitor`` with its output in a file (read it when a test fails)."""
    handle = log.open("ab")
    return subprocess.Popen([str(EXE), *args], stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
