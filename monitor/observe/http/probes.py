"""``/metrics``, ``/healthz`` and ``/readyz``: open routes for Prometheus and systemd."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.observe.http.contract import METRICS, VIEW
from monitor.observe.http.params import params

__all__ = ["add_routes"]


async def _metrics(request: web.Request) -> web.Response:
    params(request)
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    health = request.app[VIEW].health()
    return web.json_response(asdict(health), status=200 if health.alive else 503)


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[VIEW].readiness()
    return web.json_response(asdict(ready), status=200 if ready.ready else 503)


def add_routes(app: web.Application) -> None:
    """Register the metrics and probe routes on ``app``."""
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
