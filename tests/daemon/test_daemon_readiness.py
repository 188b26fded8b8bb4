"""Readiness of an idle daemon on an external broker: nothing sent yet is not an outage."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support import daemon_config

from monitor.app import Daemon
from monitor.pipeline.status import readiness


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
        snapshot = daemon.snapshot()
        assert snapshot is not None
        ready, health = readiness(snapshot), snapshot.publisher
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return ready, health

    ready, health = asyncio.run(main())
    assert health.pending == 0  # type: ignore[attr-defined]
    assert ready.ready and ready.degraded == [], ready  # type: ignore[attr-defined]
    # the untrained package declares no provenance: read as synthetic-only, a warning that
    # keeps the daemon ready
    warnings = ready.warnings  # type: ignore[attr-defined]
    assert len(warnings) == 1 and "synthetic data only" in warnings[0], warnings


def test_a_dying_source_is_restarted_and_shown_until_it_runs(tmp_path: Path, kafka_bootstrap: str,
                                                              untrained_package: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_text("a file where the spool directory should be")  # run() fails at once
    config = daemon_config(tmp_path, spool, untrained_package, "dying.source")

    async def main() -> tuple[list[str], float, float, list[str], float]:
        stop = asyncio.Event()
        daemon = Daemon(config, [kafka_bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        registry = daemon.metrics.registry

        def degraded() -> list[str]:
            snapshot = daemon.snapshot()
            assert snapshot is not None
            return readiness(snapshot).degraded

        await asyncio.sleep(3.5)  # failures at 0, ~1 and ~3 s (backoff 1, 2, 4 s)
        for _ in range(20):  # the gauge is refreshed every second by housekeeping
            down = degraded()
            up_while_down = registry.get_sample_value("sdo_monitor_source_up", {"feed": "aia"})
            if up_while_down == 0.0:
                break
            await asyncio.sleep(0.25)
        restarts = registry.get_sample_value("sdo_monitor_source_restarts_total",
                                             {"feed": "aia"}) or 0.0
        spool.unlink()  # the fault goes away: the next restart runs
        for _ in range(40):
            await asyncio.sleep(0.5)
            snapshot = daemon.snapshot()
            if snapshot is not None and all(snapshot.sources_up.values()):
                break
        await asyncio.sleep(1.5)  # a housekeeping round to refresh the gauge
        after = degraded()
        up = registry.get_sample_value("sdo_monitor_source_up", {"feed": "aia"})
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return down, restarts, up_while_down or 0.0, after, up or 0.0

    down, restarts, up_while_down, after, up = asyncio.run(main())
    assert any(d.startswith("feed aia: source failed (FileExistsError") for d in down), down
    assert restarts >= 2 and up_while_down == 0.0
    assert not any("source failed" in d for d in after) and up == 1.0
    assert spool.is_dir()  # the restarted source created its directory
