"""systemd's notify protocol, spoken directly over the datagram socket.

``Type=notify`` services tell systemd when they are ready (``READY=1``),
what they are doing (``STATUS=``), that they are alive (``WATCHDOG=1``) and
that a slow start needs more time (``EXTEND_TIMEOUT_USEC=``). The protocol is
one datagram to ``$NOTIFY_SOCKET``; no dependency is needed. Outside systemd
(no socket) every call is a cheap no-op.
"""

from __future__ import annotations

import os
import socket

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends sd_notify messages when run under systemd."""

    def __init__(self, socket_path: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        if path.startswith("@"):
            path = "\0" + path[1:]  # abstract namespace socket
        self._address = path or None
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @staticmethod
    def watchdog_interval_s() -> float | None:
        """Half the watchdog timeout systemd asked for, or None if there is none."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2e6
        except ValueError:
            return None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (``notify(READY=1, STATUS="...")``)."""
        if self._address is None:
            return False
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                # Non-blocking: it is called on the event loop, and a systemd that stops
                # reading (its queue full) must cost a lost status line, not a frozen daemon.
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._sock.sendto(message, self._address)
            return True
        except OSError:
            return False  # queue full, systemd gone (shutdown) or socket not ours

    def ready(self, status: str) -> bool:
        return self.notify(READY=1, STATUS=status)

    def status(self, status: str) -> bool:
        return self.notify(STATUS=status)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def extend_timeout(self, seconds: float) -> bool:
        return self.notify(EXTEND_TIMEOUT_USEC=int(seconds * 1e6))

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
