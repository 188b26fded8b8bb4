"""The daemon's lifetimes: a start that fails unwinds everything already started."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from pathlib import Path

import pytest
from support import daemon_config, wait_for

from monitor.app import Daemon
from monitor.typedyaml import override

#: Thread name prefixes of what starts before the HTTP server: the outbox's database
#: thread, the Kafka producer session's thread, the inference worker, the saliency
#: explainer and the ingest pool (thread executor in this config).
STARTED_BEFORE_HTTP = ("outbox", "kafka-publish", "inference", "saliency", "ingest")


def running(prefixes: tuple[str, ...]) -> list[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.is_alive() and t.name.startswith(prefixes))


def test_a_failed_http_bind_unwinds_what_was_started(tmp_path: Path, kafka_bootstrap: str,
                                                     untrained_package: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = override(daemon_config(tmp_path, spool, untrained_package, "failstart"),
                      {"http.port": port})
    before = running(STARTED_BEFORE_HTTP)

    async def main() -> None:
        daemon = Daemon(config, [kafka_bootstrap])
        await daemon.run(asyncio.Event())

    try:
        with pytest.raises(OSError) as err:
            asyncio.run(main())
    finally:
        taken.close()
    assert err.value.errno == errno.EADDRINUSE
    # the publisher, the pools and the workers were closed, not left running (a pool shut
    # down without waiting lets its idle threads end on their own, within moments)
    wait_for(lambda: running(STARTED_BEFORE_HTTP) == before, 10, 0.1,
             "the threads of the failed start to end")
    assert (tmp_path / "state" / "outbox.sqlite3").exists()  # the publisher had started
