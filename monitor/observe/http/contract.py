"""What the HTTP routes may read from the daemon, and the application keys they find it under.

The routes see the daemon only through :class:`DaemonView` (plain values out,
nothing to mutate) and the metrics registry only through ``/metrics``: the
view answers from its own snapshot, never from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

__all__ = ["METRICS", "TOKEN", "VIEW", "DaemonView", "Health", "Page", "Readiness"]


@dataclass(frozen=True)
class Health:
    """Liveness of the daemon."""

    alive: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    """Readiness, with the reasons it is not ready, any degraded states, and warnings
    (things a forecaster must know that do not make the daemon less able to serve,
    such as a model trained on synthetic data only)."""

    ready: bool
    reasons: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of a list, newest first; ``next`` is the cursor of the following page."""

    items: list[dict[str, Any]]
    next: int | None = None


class DaemonView(Protocol):
    """What the HTTP layer may read from the daemon (and nothing else)."""

    def health(self) -> Health: ...

    def readiness(self) -> Readiness: ...

    def status(self) -> dict[str, Any]: ...

    def latest_frame(self) -> dict[str, Any] | None: ...

    def frame(self, frame_id: str) -> dict[str, Any] | None: ...

    def frames(self, limit: int, before: int | None) -> Page: ...

    def alerts(self, limit: int, before: int | None) -> Page: ...

    def open_alerts(self) -> list[dict[str, Any]]: ...

    def channels(self) -> list[dict[str, Any]]: ...

    def history(self, window_s: float, points: int) -> dict[str, Any]: ...

    def models(self) -> dict[str, Any]: ...

    async def saliency_png(self, frame_id: str) -> bytes | None: ...


VIEW: web.AppKey[DaemonView] = web.AppKey("view")
#: The registry ``/metrics`` serves (only that route reads it).
METRICS: web.AppKey[CollectorRegistry] = web.AppKey("metrics")
TOKEN: web.AppKey[str | None] = web.AppKey("token")
