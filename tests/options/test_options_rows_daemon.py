"""Options of ``service``, ``http``, ``logging`` and the daemon's own file names.

Most of them only act inside a running daemon, so three daemons run here
(variants A, B and C, one after the other, on the session's broker) and each
row reads what its option decides from outside: the ``/api/v1/status``
document, ``/metrics``, HTTP answers with and without a bearer token, the
files in the state directory, the systemd notifications received, a file
from the future refused or not. A row's ``a`` and ``b`` name the variants
compared. Options that belong to one component are probed on that component
as the daemon builds it (frame queue, overlay store, ingest pool, intake,
housekeeper, logging).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from optionrows import Row, scratch

from monitor.app import Daemon
from monitor.config import parse_config
from monitor.frames import Frame
from monitor.ingest.samples import SyntheticSpec, write_synthetic_fits
from monitor.logs import setup_logging
from monitor.observe.metrics import Metrics
from monitor.pipeline.assembly import FrameQueue
from monitor.pipeline.filebook import FileBook
from monitor.pipeline.handoffs import QueuedFrame
from monitor.pipeline.housekeeping import Housekeeper
from monitor.pipeline.ingest_pool import make_pool
from monitor.pipeline.intake import Intake
from monitor.pipeline.overlays import OverlayStore
from monitor.sources import SpoolFeedSettings
from monitor.state import ProcessedFileLedger

CONTEXT: dict[str, Any] = {}  # the session's broker and package (set by the fixture below)
TOKEN_ENV = "SDO_MONITOR_OPTIONS_TEST_TOKEN"


@pytest.fixture(autouse=True)
def _context(kafka_bootstrap: str, untrained_package: Path) -> None:
    CONTEXT.update(bootstrap=kafka_bootstrap, package=untrained_package)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def _variant(name: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """The YAML of variant ``name`` and the bearer tokens it should accept."""
    spool = tmp / "spool"
    spool.mkdir()
    (tmp / "token").write_text("token-b\n")
    fields = ("instance", "state", "outbox", "watchdog", "future", "host", "port", "prefix",
              "token")
    variants = {
        "A": ("alpha", "stateA", "outA.sqlite3", "true", "3600", "127.0.0.1", "0", "optA",
              f"token_env: {TOKEN_ENV}"),
        "B": ("beta", "stateB", "outbox.sqlite3", "false", "10000000000", "127.0.0.2",
              str(_free_port()), "optB", f"token_file: {tmp / 'token'}"),
        "C": ("alpha", "stateA", "outA.sqlite3", "true", "3600", "127.0.0.1", "0", "optA", ""),
    }
    v = dict(zip(fields, variants[name], strict=True))
    return f"""
service:
  state_dir: {tmp / v['state']}
  cache_dir: {tmp / 'cache'}
  instance: {v['instance']}
  watchdog: {v['watchdog']}
  max_future_s: {v['future']}
  ingest_executor: thread
  ingest_workers: 1
http: {{host: {v['host']}, port: {v['port']}, {v['token']}}}
kafka: {{topic_prefix: {v['prefix']}-{os.getpid()}, partitions: 1}}
publish: {{outbox_file: {v['outbox']}}}
inference: {{model_package: {CONTEXT['package']}, backend: onnxruntime, max_batch: 1,
             warmup_iterations: 0}}
saliency: {{overlay: false}}
feeds:
  - {{kind: spool, name: aia, path: {spool}, stable_s: 0, poll_interval_s: 0.1}}
""", {}


@functools.cache
def run(name: str) -> dict[str, Any]:
    """Start variant ``name``, drop a file from 2099 into its spool, look, stop."""
    tmp = scratch(f"options-daemon-{name}-")
    text, _ = _variant(name, tmp)
    config = parse_config(text)
    notifications: list[bytes] = []
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp / "notify"))
    sock.settimeout(0.1)
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                notifications.append(sock.recv(4096))
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    env = {"NOTIFY_SOCKET": str(tmp / "notify"), "WATCHDOG_USEC": "400000",
           "WATCHDOG_PID": str(os.getpid()), TOKEN_ENV: "token-a"}

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        daemon = Daemon(config, [CONTEXT["bootstrap"]])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        write_synthetic_fits(tmp / "spool" / "future.fits",
                             SyntheticSpec(size=128, t_obs="2099-01-01T00:00:00.00Z"))
        host, port = daemon.http_address
        base = f"http://{host}:{port}"
        statuses: dict[str, int] = {}
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # refused, or waiting in an open frame
                snap = daemon.snapshot()
                if snap is not None and (snap.counts.get("rejected") or snap.open_channels):
                    break
                await asyncio.sleep(0.1)
            async with http.get(f"{base}/metrics", headers=_bearer(name)) as r:
                metrics = await r.text()
            future = next((line for line in metrics.splitlines() if "rejections_total{"
                           in line and "t_obs_in_future" in line), "")
            await asyncio.sleep(1.0)  # watchdog pings at 0.2 s
            for token in ("token-a", "token-b", None):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.get(f"{base}/api/v1/status", headers=headers) as r:
                    statuses[str(token)] = r.status
                    if r.status == 200:
                        status = await r.json()
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return {"instance": status["instance"], "address": (host, port),
                "port_as_configured": port == config.http.port, "statuses": statuses,
                "future": future, "metrics": metrics}

    try:
        with mock.patch.dict(os.environ, env):
            result = asyncio.run(main())
    finally:
        done.set()
        listener.join()
        sock.close()
    result["files"] = sorted(str(p.relative_to(tmp)) for p in tmp.glob("state*/*")
                             if p.suffix == ".sqlite3")
    result["watchdog_pings"] = sum(b"WATCHDOG=1" in n for n in notifications)
    return result


def _bearer(name: str) -> dict[str, str]:
    token = {"A": "token-a", "B": "token-b"}.get(name)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _seen(fn: Any) -> Any:
    return lambda variant: fn(run(variant))


# -- components, built as the daemon builds them -------------------------------------------
T0 = datetime(2026, 6, 24, 20, 0, tzinfo=UTC)


def queue(mode: str, size: int) -> tuple[Any, ...]:
    """Three frames offered to the frame queue; which were dropped, whether the third
    put had to wait (replay blocks, live drops the oldest)."""
    async def main() -> tuple[Any, ...]:
        q = FrameQueue(size, mode == "replay", Metrics())
        frames = [QueuedFrame(Frame(f"f{i}", "aia", T0, {}, (), 0.0)) for i in range(3)]
        dropped = []
        for frame in frames[:2]:
            out = await q.put(frame)
            dropped.append(out.frame.frame_id if out else None)
        third = asyncio.create_task(q.put(frames[2]))
        await asyncio.sleep(0.1)
        waited = not third.done()
        third.cancel()
        return tuple(dropped), waited, len(q)

    return asyncio.run(main())


def overlays(keep: int) -> tuple[bool, ...]:
    store = OverlayStore(lambda inputs: inputs, keep)
    for i in range(3):
        store.add(f"f{i}", b"png")
    return tuple(f"f{i}" in store for i in range(3))


def pool(executor: str, workers: int) -> tuple[Any, ...]:
    """The pool kind, and how many threads ran four tasks that each wait 0.3 s."""
    pool = make_pool(executor, workers)
    try:
        if executor == "process":  # starting worker processes costs seconds: not needed
            return type(pool).__name__, None
        return type(pool).__name__, len(set(pool.map(_thread, range(4))))
    finally:
        pool.shutdown()


def _thread(_: int) -> int:
    time.sleep(0.3)
    return threading.get_ident()


def stale(after_cadences: float) -> list[str]:
    """Feeds reported stale 200 s after start (cadence 100 s)."""
    feed = SpoolFeedSettings(name="aia", path=Path("/x"), cadence_s=100.0)
    intake = Intake([], [feed], 64, after_cadences, Metrics())
    later = time.time() + 200.0
    with mock.patch("monitor.pipeline.intake.time.time", return_value=later):
        return intake.stale_feeds()


def retention(days: float) -> int:
    """Ledger rows the housekeeper prunes a moment after a file finished."""
    tmp = scratch("options-ledger-")
    ledger = ProcessedFileLedger(tmp / "ledger.sqlite3")
    ledger.begin("/s/a.fits", "aia", 10, 1)
    ledger.finish("/s/a.fits", "processed")
    time.sleep(0.3)
    keeper = Housekeeper(snapshot=lambda: None, outcomes=None, assembly=None,  # unused by
                         book=FileBook(ledger), feeds=[], retention_days=days,  # pruning
                         metrics=Metrics())
    try:
        return asyncio.run(keeper.prune_ledger())
    finally:
        ledger.close()


def logged(field: str, value: str) -> str:
    """What one INFO line of the daemon looks like on stderr under the config's logging."""
    config = parse_config(f"logging: {{{field}: {value}}}")
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with mock.patch.object(sys, "stderr", stream):
            setup_logging(config.logging.level, config.logging.format)
        logging.getLogger("monitor.app").info("daemon ready", extra={"kv": {"feeds": 1}})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return stream.getvalue().split(" ", 1)[-1]  # without the time stamp


ROWS = [
    Row("service.instance", "A", "B", _seen(lambda r: r["instance"])),
    Row("service.state_dir", "A", "B", _seen(lambda r: sorted({f.split("/")[0]
                                                                for f in r["files"]}))),
    Row("publish.outbox_file", "A", "B", _seen(lambda r: [f.split("/")[1] for f in r["files"]
                                                          if "ledger" not in f])),
    Row("service.watchdog", "A", "B", _seen(lambda r: r["watchdog_pings"] > 0)),
    Row("service.max_future_s", "A", "B", _seen(lambda r: bool(r["future"])
                                                 and not r["future"].endswith(" 0.0"))),
    Row("http.host", "A", "B", _seen(lambda r: r["address"][0])),
    Row("http.port", "A", "B", _seen(lambda r: r["port_as_configured"])),
    Row("http.token_env", "A", "C", _seen(lambda r: (r["statuses"]["token-a"],
                                                     r["statuses"]["None"]))),
    Row("http.token_file", "B", "C", _seen(lambda r: (r["statuses"]["token-b"],
                                                      r["statuses"]["None"]))),
    Row("kafka.topic_prefix", "A", "B", _seen(lambda r: sorted(
        {line.split('topic="')[1].split(".")[0] for line in r["metrics"].splitlines()
         if "published_total{" in line and 'topic="' in line}))),
    Row("service.mode", "live", "replay", lambda mode: queue(mode, 2)),
    Row("service.queue_size", 2, 8, lambda size: queue("live", size)),
    Row("service.overlays_kept", 64, 1, overlays),
    Row("service.ingest_executor", "thread", "process", lambda e: pool(e, 2)[0]),
    Row("service.ingest_workers", 1, 4, lambda n: pool("thread", n)[1]),
    Row("service.stale_after_cadences", 1.5, 10.0, stale),
    Row("service.ledger_retention_days", 30.0, 1e-6, retention),
    Row("logging.level", "INFO", "WARNING", functools.partial(logged, "level")),
    Row("logging.format", "keyvalue", "json", functools.partial(logged, "format")),
]


EXEMPT = {
    "service.cache_dir": (
        "holds rebuildable TensorRT engines (under <cache_dir>/tensorrt unless "
        "inference.tensorrt.engine_cache_dir is set); no CPU backend caches anything. "
        "tests/inference/test_inference_tensorrt.py::test_tensorrt_engine_parity_and_cache_reuse "
        "builds and reuses engines where TensorRT runs"),
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()
