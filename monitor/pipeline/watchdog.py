"""systemd's watchdog and status line, fed by the pipeline's snapshot.

Only a pipeline that moves earns a watchdog ping (idle, or something finished
within :data:`~monitor.pipeline.status.STUCK_AFTER_S`), so systemd restarts a
hung daemon, not a quiet one. The heartbeat gauge follows the same rule, for
the alerting that runs outside systemd.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from monitor.observe.metrics import Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.status import PipelineSnapshot, heartbeat_ok, status_line

__all__ = ["keep_watch"]

#: The longest pause between two looks at the pipeline (the status line's refresh).
PERIOD_S = 5.0


async def keep_watch(snapshot: Callable[[], PipelineSnapshot], notifier: SystemdNotifier,
                     metrics: Metrics, *, ping: bool, stop: asyncio.Event) -> None:
    """Until ``stop``: look at the pipeline every period, beat the heartbeat and, with
    ``ping`` and a watchdog systemd asked for, ping it; refresh systemd's status."""
    interval = SystemdNotifier.watchdog_interval_s()
    period = min(interval, PERIOD_S) if interval else PERIOD_S
    while not stop.is_set():
        await asyncio.sleep(period)
        now = snapshot()
        if heartbeat_ok(now):
            metrics.heartbeat.set(time.time())
            if interval and ping:
                notifier.watchdog()
        notifier.status(status_line(now))
