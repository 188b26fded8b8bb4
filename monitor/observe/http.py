"""The daemon's HTTP API (aiohttp): metrics, health, readiness and status.

Routes (DESIGN.md, "HTTP"):

* ``/metrics`` -- Prometheus exposition of the daemon's registry;
* ``/healthz`` -- liveness: the event loop answers and the pipeline heartbeat
  is recent; 503 otherwise;
* ``/readyz`` -- readiness: warm-up done and nothing blocking, with the
  reasons when not (degraded states such as a TensorRT engine still building
  are reported but do not make the daemon unready);
* ``/api/v1/status``, ``/api/v1/frames/latest``, ``/api/v1/alerts``,
  ``/api/v1/saliency/{frame_id}.png``.

``/api/*`` requires ``Authorization: Bearer <token>`` when a token is
configured; metrics and probes stay open so Prometheus and systemd need no
secret. The server binds to 127.0.0.1 unless configured otherwise.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["DaemonView", "Health", "Readiness", "VIEW", "build_app", "start_http"]

_FRAME_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Health:
    """Liveness of the daemon."""

    alive: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    """Readiness, with the reasons it is not ready and any degraded states."""

    ready: bool
    reasons: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)


class DaemonView(Protocol):
    """What the HTTP layer may read from the daemon (and nothing else)."""

    registry: CollectorRegistry

    def health(self) -> Health: ...

    def readiness(self) -> Readiness: ...

    def status(self) -> dict[str, Any]: ...

    def latest_frame(self) -> dict[str, Any] | None: ...

    def alerts(self) -> list[dict[str, Any]]: ...

    def saliency_png(self, frame_id: str) -> bytes | None: ...


VIEW: web.AppKey[DaemonView] = web.AppKey("view")
TOKEN: web.AppKey[str | None] = web.AppKey("token")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[TOKEN]
    if token and request.path.startswith("/api/"):
        given = request.headers.get("Authorization", "")
        # constant-time comparison: the token is a secret
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(text="bearer token required\n",
                                       headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[VIEW].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    health = request.app[VIEW].health()
    return web.json_response(asdict(health), status=200 if health.alive else 503)


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[VIEW].readiness()
    return web.json_response(asdict(ready), status=200 if ready.ready else 503)


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[VIEW].status(), dumps=_dumps)


async def _latest(request: web.Request) -> web.Response:
    frame = request.app[VIEW].latest_frame()
    if frame is None:
        raise web.HTTPNotFound(text="no frame analysed yet\n")
    return web.json_response(frame, dumps=_dumps)


async def _alerts(request: web.Request) -> web.Response:
    return web.json_response({"alerts": request.app[VIEW].alerts()}, dumps=_dumps)


async def _saliency(request: web.Request) -> web.Response:
    frame_id = request.match_info["frame_id"]
    if not _FRAME_ID.match(frame_id):  # ids from URLs are validated, never trusted
        raise web.HTTPBadRequest(text="frame id must be a lowercase UUID\n")
    png = request.app[VIEW].saliency_png(frame_id)
    if png is None:
        raise web.HTTPNotFound(text="no saliency overlay for this frame\n")
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str)


def build_app(view: DaemonView, token: str | None = None) -> web.Application:
    """The aiohttp application over a daemon view."""
    app = web.Application(middlewares=[_auth], client_max_size=64 * 1024)
    app[VIEW] = view
    app[TOKEN] = token
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/api/v1/status", _status)
    app.router.add_get("/api/v1/frames/latest", _latest)
    app.router.add_get("/api/v1/alerts", _alerts)
    app.router.add_get("/api/v1/saliency/{frame_id}.png", _saliency)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; returns the runner (``await runner.cleanup()`` stops it).

    With ``port=0`` the kernel picks a free port; read it from
    ``runner.addresses``.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner
