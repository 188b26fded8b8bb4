"""systemd's watchdog: a ping only while the pipeline moves, the status line always.

The notifier writes to a real unix datagram socket, read here as systemd
would read it; the pipeline is a snapshot of plain values.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from monitor.inference.registry import BackendStatus
from monitor.models.provenance import UNDECLARED, ModelIdentity
from monitor.observe.metrics import PREFIX, Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.status import STUCK_AFTER_S, PipelineSnapshot
from monitor.pipeline.watchdog import keep_watch
from monitor.publish.producer import PublisherHealth


def snapshot(*, busy: int, progress_ago_s: float) -> PipelineSnapshot:
    return PipelineSnapshot(
        counts={"processed": 3, "rejected": 1, "duplicate": 0, "frames": 2}, arrivals=0,
        frames_queued=0, open_frames=0, open_channels=0, busy=busy,
        last_progress=time.monotonic() - progress_ago_s, feeds=(), sources_up={},
        source_problems=(), last_observation={},
        backend=BackendStatus("auto", "onnxruntime", "onnxruntime", "fp32", False,
                              "not_needed", "serving"),
        model=ModelIdentity("sdo-cnn", "1.0.0", "ab" * 32, UNDECLARED), model_switch=None,
        publisher=PublisherHealth(True, True, 0, 0, 0.0, 0, None, 1))


def watch(tmp_path: Path, state: PipelineSnapshot, *, ping: bool) -> tuple[list[bytes], float]:
    """Run the watchdog for a moment; the datagrams it sent and the heartbeat gauge."""
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.05)
    notifier, metrics = SystemdNotifier(path), Metrics()
    got: list[bytes] = []
    done = threading.Event()

    def listen() -> None:  # as systemd does: a full socket would block the sender
        while not done.is_set():
            try:
                got.append(server.recv(4096))
            except TimeoutError:
                continue

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(keep_watch(lambda: state, notifier, metrics, ping=ping,
                                              stop=stop))
        await asyncio.sleep(0.2)  # about ten periods of 10 ms
        stop.set()
        await asyncio.wait_for(task, 1.0)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        asyncio.run(main())
        time.sleep(0.1)  # the last datagrams
    finally:
        done.set()
        listener.join()
        notifier.close()
        server.close()
    beat = metrics.registry.get_sample_value(f"{PREFIX}_heartbeat_timestamp_seconds")
    return got, beat or 0.0


@pytest.fixture
def systemd_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000")  # pings wanted every 10 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))


@pytest.mark.usefixtures("systemd_watchdog")
def test_a_moving_pipeline_pings_and_beats(tmp_path: Path) -> None:
    got, beat = watch(tmp_path, snapshot(busy=1, progress_ago_s=1.0), ping=True)
    assert got.count(b"WATCHDOG=1") >= 2
    status = b"STATUS=2 frames, 3 files processed, 1 rejected, backend onnxruntime"
    assert status in got
    assert beat == pytest.approx(time.time(), abs=5)


@pytest.mark.usefixtures("systemd_watchdog")
def test_a_hung_pipeline_earns_no_ping(tmp_path: Path) -> None:
    got, beat = watch(tmp_path, snapshot(busy=1, progress_ago_s=STUCK_AFTER_S + 1), ping=True)
    assert b"WATCHDOG=1" not in got
    assert got and all(g.startswith(b"STATUS=") for g in got)  # systemd still sees the status
    assert beat == 0.0


@pytest.mark.usefixtures("systemd_watchdog")
def test_an_idle_pipeline_is_not_hung(tmp_path: Path) -> None:
    got, _ = watch(tmp_path, snapshot(busy=0, progress_ago_s=STUCK_AFTER_S + 1), ping=True)
    assert b"WATCHDOG=1" in got


@pytest.mark.usefixtures("systemd_watchdog")
def test_without_service_watchdog_it_beats_but_never_pings(tmp_path: Path) -> None:
    got, beat = watch(tmp_path, snapshot(busy=1, progress_ago_s=1.0), ping=False)
    assert b"WATCHDOG=1" not in got and got
    assert beat > 0.0
