"""Every Prometheus metric of the daemon, defined in this one module.

Naming follows Prometheus conventions: prefix ``sdo_monitor_``, base units
(seconds, bytes), ``_total`` for counters, labels only from small fixed sets
(feed, channel, stage, backend, reason, topic). The Grafana dashboard and the
alert rules may use only names defined here (a test checks this).

Metrics live in their own registry rather than the process-global default so
tests and an embedded daemon can create a fresh set.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

import monitor

__all__ = ["Metrics", "PREFIX"]

PREFIX = "sdo_monitor"


@dataclass
class Metrics:
    """The daemon's metrics, bound to one registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.build_info = Info(
            f"{PREFIX}_build", "Version of the running daemon and its runtime.", registry=r)
        self.build_info.info({"version": monitor.__version__,
                              "python": platform.python_version()})
        self.up = Gauge(f"{PREFIX}_up", "1 while the daemon is running.", registry=r)
        self.ready = Gauge(
            f"{PREFIX}_ready", "1 when the daemon is ready to process frames.", registry=r)
        self.local_broker = Gauge(
            f"{PREFIX}_local_broker",
            "1 when the bundled local Kafka broker is in use instead of a cluster.", registry=r)
        self.config_errors_total = Counter(
            f"{PREFIX}_config_errors_total", "Configuration problems found at start.",
            registry=r)
