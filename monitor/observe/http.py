"""The daemon's HTTP API (aiohttp): metrics, probes, the JSON API and the status page.

Routes (all ``GET``/``HEAD``; documented in ``openapi.json`` beside this module,
which a test keeps equal to the routes registered here):

* ``/metrics`` -- Prometheus exposition of the daemon's registry;
* ``/healthz`` -- liveness: the event loop answers and the pipeline heartbeat
  is recent; 503 otherwise;
* ``/readyz`` -- readiness: warm-up done and nothing blocking, with the
  reasons when not (degraded states such as a TensorRT engine still building
  are reported but do not make the daemon unready);
* ``/`` and ``/static/*`` -- the status page (:mod:`monitor.observe.status_page`);
* ``/api/v1/openapi.json`` -- the API description;
* ``/api/v1/status``, ``/api/v1/frames`` (paginated), ``/api/v1/frames/latest``,
  ``/api/v1/frames/{frame_id}``, ``/api/v1/alerts`` (paginated),
  ``/api/v1/channels``, ``/api/v1/history``, ``/api/v1/saliency/latest.png``,
  ``/api/v1/saliency/{frame_id}.png``.

Security model: the server binds to 127.0.0.1 unless configured otherwise.
``/api/*`` (except the OpenAPI document) requires ``Authorization: Bearer
<token>`` when a token is configured, compared in constant time; metrics,
probes and the page's static files stay open so Prometheus and systemd need
no secret (the page asks for the token and keeps it in the tab's session
storage). Nothing user-supplied ever becomes a path: frame ids must be
lowercase UUIDs and are only dictionary keys; query parameters are
whitelisted per route and parsed strictly (ASCII digits, bounded). Every error
is a JSON body ``{"error": {"status", "code", "message"}}``. On a loopback
socket the ``Host`` header must name a loopback host, which stops DNS
rebinding from turning a web page into a reader of an unauthenticated API.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from yarl import URL

from monitor.observe import status_page

__all__ = [
    "TOKEN",
    "VIEW",
    "DaemonView",
    "Health",
    "Page",
    "Readiness",
    "build_app",
    "openapi_document",
    "start_http",
]

log = logging.getLogger(__name__)

_FRAME_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INT = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit() accepts '١' and '²'
_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")
_CACHE_BUSTER = re.compile(r"[0-9A-Za-z_-]{1,32}")
_MAX_CURSOR = 2**53  # integers JavaScript can represent exactly

#: Security headers on every response; the page loads only its own files.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' blob: data:; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
}


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


@dataclass(frozen=True)
class Page:
    """One page of a list, newest first; ``next`` is the cursor of the following page."""

    items: list[dict[str, Any]]
    next: int | None = None


class DaemonView(Protocol):
    """What the HTTP layer may read from the daemon (and nothing else)."""

    registry: CollectorRegistry

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

    async def saliency_png(self, frame_id: str) -> bytes | None: ...


VIEW: web.AppKey[DaemonView] = web.AppKey("view")
TOKEN: web.AppKey[str | None] = web.AppKey("token")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "payload_too_large", 414: "uri_too_long",
          503: "unavailable"}
_OPEN_API_PATHS = ("/api/v1/openapi.json",)


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           code: str | None = None) -> web.Response:
    body = {"error": {"status": status, "code": code or _CODES.get(status, "error"),
                      "message": message}}
    return web.json_response(body, status=status, headers=headers)


class _Reject(Exception):
    """A request refused with a JSON error (raised by validation helpers)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def _loopback_socket(request: web.Request) -> bool:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return False
    try:
        return ipaddress.ip_address(sockname[0]).is_loopback
    except ValueError:
        return False


def _host_is_loopback(host: str | None) -> bool:
    try:
        name = URL(f"http://{host}").host if host else None
    except ValueError:
        return False
    if not name:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_token(request: web.Request) -> None:
    token = request.app[TOKEN]
    if not token or not request.path.startswith("/api/") or request.path in _OPEN_API_PATHS:
        return
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    # constant-time comparison: the token is a secret (only its length may leak)
    ok = hmac.compare_digest(credentials.strip().encode("utf-8", "replace"),
                             token.encode("utf-8")) and scheme.lower() == "bearer"
    if not ok:
        challenge = 'Bearer realm="sdo-monitor"' + (', error="invalid_token"' if given else "")
        raise _Reject(401, "a valid bearer token is required for /api",
                      headers={"WWW-Authenticate": challenge})


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host check, token check, JSON errors and security headers for every route."""
    try:
        # browsers always send Host; a request without one cannot be a rebinding attack
        host = request.headers.get("Host")
        if host is not None and _loopback_socket(request) and not _host_is_loopback(host):
            raise _Reject(403, "Host header must name a loopback address on a loopback "
                               "listener (DNS rebinding protection)", code="host_not_allowed")
        _check_token(request)
        response = await handler(request)
    except _Reject as exc:
        response = _error(exc.status, exc.message, exc.headers, exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        response = _error(exc.status, exc.reason, headers)
    except Exception:
        log.exception("http handler failed", extra={"kv": {"path": request.path[:200]}})
        response = _error(500, "internal error (see the daemon's log)", code="internal_error")
    for key, value in _HEADERS.items():
        response.headers.setdefault(key, value)
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


# -- parameter validation ------------------------------------------------------
def _params(request: web.Request, **allowed: Callable[[str], Any]) -> dict[str, Any]:
    """Whitelisted query parameters, each given at most once, parsed strictly."""
    out: dict[str, Any] = {}
    for key in request.query:
        if key not in allowed:
            raise _Reject(400, f"unknown query parameter {key[:40]!r}; allowed: "
                               f"{', '.join(sorted(allowed)) or 'none'}")
        values = request.query.getall(key)
        if len(values) != 1:
            raise _Reject(400, f"query parameter {key!r} given {len(values)} times")
        out[key] = allowed[key](values[0])
    return out


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _INT.fullmatch(text) or not low <= int(text) <= high:
            raise _Reject(400, f"expected an integer in [{low}, {high}], got {text[:40]!r}")
        return int(text)
    return parse


def _decimal(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if not _DECIMAL.fullmatch(text) or not low < float(text) <= high:
            raise _Reject(400, f"expected a number in ({low}, {high}], got {text[:40]!r}")
        return float(text)
    return parse


def _cache_buster(text: str) -> str:
    if not _CACHE_BUSTER.fullmatch(text):
        raise _Reject(400, "t must be 1-32 characters [0-9A-Za-z_-]")
    return text


def _frame_id(request: web.Request) -> str:
    frame_id = request.match_info["frame_id"]
    if not _FRAME_ID.fullmatch(frame_id):  # ids from URLs are validated, never trusted
        raise _Reject(400, "frame id must be a lowercase UUID "
                           "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return frame_id


def _finite(obj: Any) -> Any:
    """Non-finite floats as null: NaN and infinity are not JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json(data: Any) -> web.Response:
    text = json.dumps(_finite(data), default=str, allow_nan=False)
    return web.Response(text=text, content_type="application/json")


# -- handlers ----------------------------------------------------------------------
async def _metrics(request: web.Request) -> web.Response:
    _params(request)
    body = generate_latest(request.app[VIEW].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    health = request.app[VIEW].health()
    return web.json_response(asdict(health), status=200 if health.alive else 503)


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[VIEW].readiness()
    return web.json_response(asdict(ready), status=200 if ready.ready else 503)


async def _openapi(request: web.Request) -> web.Response:
    _params(request)
    return web.Response(body=openapi_document(), content_type="application/json")


async def _status(request: web.Request) -> web.Response:
    _params(request)
    return _json(request.app[VIEW].status())


async def _frames(request: web.Request) -> web.Response:
    q = _params(request, limit=_integer(1, 100), before=_integer(1, _MAX_CURSOR))
    page = request.app[VIEW].frames(q.get("limit", 20), q.get("before"))
    return _json({"frames": page.items, "next": page.next})


async def _latest(request: web.Request) -> web.Response:
    _params(request)
    frame = request.app[VIEW].latest_frame()
    if frame is None:
        raise _Reject(404, "no frame analysed yet")
    return _json(frame)


async def _frame(request: web.Request) -> web.Response:
    frame_id = _frame_id(request)
    _params(request)
    frame = request.app[VIEW].frame(frame_id)
    if frame is None:
        raise _Reject(404, "no such frame among the recent frames kept in memory")
    return _json(frame)


async def _alerts(request: web.Request) -> web.Response:
    q = _params(request, limit=_integer(1, 200), before=_integer(1, _MAX_CURSOR))
    view = request.app[VIEW]
    page = view.alerts(q.get("limit", 50), q.get("before"))
    return _json({"open": view.open_alerts(), "alerts": page.items, "next": page.next})


async def _channels(request: web.Request) -> web.Response:
    _params(request)
    return _json({"channels": request.app[VIEW].channels()})


async def _history(request: web.Request) -> web.Response:
    q = _params(request, hours=_decimal(0.0, 24.0), points=_integer(10, 2000))
    return _json(request.app[VIEW].history(q.get("hours", 6.0) * 3600.0,
                                            q.get("points", 300)))


def _png(png: bytes | None, cache: str) -> web.Response:
    if png is None:
        raise _Reject(404, "no saliency overlay for this frame")
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": cache})


async def _saliency_latest(request: web.Request) -> web.Response:
    _params(request, t=_cache_buster)  # t: ignored cache buster (Grafana's ${__to})
    view = request.app[VIEW]
    latest = view.latest_frame()
    png = await view.saliency_png(latest["frame_id"]) if latest else None
    return _png(png, "no-store")


async def _saliency(request: web.Request) -> web.Response:
    frame_id = _frame_id(request)
    _params(request, t=_cache_buster)
    # a frame's overlay never changes: caches may keep it
    return _png(await request.app[VIEW].saliency_png(frame_id), "private, max-age=3600")


def openapi_document() -> bytes:
    """The OpenAPI 3.1 document of this API (``openapi.json`` beside this module)."""
    return resources.files("monitor.observe").joinpath("openapi.json").read_bytes()


def build_app(view: DaemonView, token: str | None = None) -> web.Application:
    """The aiohttp application over a daemon view.

    Parameters
    ----------
    view : DaemonView
        What the API reads (the daemon's :class:`~monitor.pipeline.view.DaemonStatusView`).
    token : str, optional
        Bearer token required on ``/api/*``; None or empty leaves the API open.
    """
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024)
    app[VIEW] = view
    app[TOKEN] = token or None
    add = app.router.add_get
    status_page.add_routes(app)
    add("/metrics", _metrics)
    add("/healthz", _healthz)
    add("/readyz", _readyz)
    add("/api/v1/openapi.json", _openapi)
    add("/api/v1/status", _status)
    add("/api/v1/frames", _frames)
    add("/api/v1/frames/latest", _latest)  # before {frame_id}: routes match in order
    add("/api/v1/frames/{frame_id}", _frame)
    add("/api/v1/alerts", _alerts)
    add("/api/v1/channels", _channels)
    add("/api/v1/history", _history)
    add("/api/v1/saliency/latest.png", _saliency_latest)
    add("/api/v1/saliency/{frame_id}.png", _saliency)
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
