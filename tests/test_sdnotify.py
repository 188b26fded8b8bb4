"""sd_notify datagrams arrive on a real unix socket as systemd would read them."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from monitor.observe.sdnotify import SystemdNotifier


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    notifier = SystemdNotifier(path)
    assert notifier.ready("processing 0 frames")
    assert server.recv(4096) == b"READY=1\nSTATUS=processing 0 frames"
    assert notifier.watchdog()
    assert server.recv(4096) == b"WATCHDOG=1"
    assert notifier.extend_timeout(90)
    assert server.recv(4096) == b"EXTEND_TIMEOUT_USEC=90000000"
    notifier.close()
    server.close()


def test_a_systemd_that_stops_reading_never_blocks_the_caller(tmp_path: Path) -> None:
    # The notifier runs on the event loop: with the socket's queue full, a send must fail
    # at once (the message is lost) instead of waiting for systemd to read.
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)  # bound, never read
    notifier = SystemdNotifier(path)
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.extend(
        notifier.status(f"status line {i}") for i in range(5000)), daemon=True)
    sender.start()
    sender.join(20)
    assert not sender.is_alive(), "a send blocked on the full queue"
    assert results[0] is True and results[-1] is False  # accepted until the queue filled
    assert server.recv(4096) == b"STATUS=status line 0"
    notifier.close()
    server.close()


def test_outside_systemd_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled and notifier.ready("x") is False


def test_watchdog_interval_is_half_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert SystemdNotifier.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert SystemdNotifier.watchdog_interval_s() is None
