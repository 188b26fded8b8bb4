"""Readiness of an idle daemon on an external broker: nothing sent yet is not an outage."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support import daemon_config

from monitor.app import Daemon


def test_an_idle_daemon_is_ready_and_not_degraded(tmp_path: Path, kafka_bootstrap: str,
                                                  untrained_package: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    config = daemon_config(tmp_path, spool, untrained_package, "idle.ready")

    async def main() -> tuple[object, object]:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        await asyncio.sleep(3)  # several housekeeping rounds, nothing to publish
        assert daemon.worker is not None
        ready, health = daemon.worker.readiness(), daemon.worker.publisher.health()
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return ready, health

    ready, health = asyncio.run(main())
    assert health.pending == 0  # type: ignore[attr-defined]
    assert ready.ready and ready.degraded == [], ready  # type: ignore[attr-defined]
