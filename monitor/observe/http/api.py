"""The JSON API under ``/api/v1``: one handler per route, each reading the daemon's view.

A route is a handler here and a line in :func:`add_routes` (and its entry in
``monitor/observe/openapi.json``, which a test keeps equal to the routes).
Handlers parse their query with :func:`~.params.params` (whitelist, strict)
and refuse with :class:`~.guard.Reject`; the guard turns that into the JSON
error body.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from monitor.observe.http.contract import VIEW
from monitor.observe.http.guard import Reject
from monitor.observe.http.params import (
    MAX_CURSOR,
    cache_buster,
    decimal,
    frame_id,
    integer,
    json_response,
    params,
)

__all__ = ["add_routes", "openapi_document"]


def openapi_document() -> bytes:
    """The OpenAPI 3.1 document of this API (``monitor/observe/openapi.json``)."""
    return resources.files("monitor.observe").joinpath("openapi.json").read_bytes()


async def _openapi(request: web.Request) -> web.Response:
    params(request)
    return web.Response(body=openapi_document(), content_type="application/json")


async def _status(request: web.Request) -> web.Response:
    params(request)
    return json_response(request.app[VIEW].status())


async def _frames(request: web.Request) -> web.Response:
    q = params(request, limit=integer(1, 100), before=integer(1, MAX_CURSOR))
    page = request.app[VIEW].frames(q.get("limit", 20), q.get("before"))
    return json_response({"frames": page.items, "next": page.next})


async def _latest(request: web.Request) -> web.Response:
    params(request)
    frame = request.app[VIEW].latest_frame()
    if frame is None:
        raise Reject(404, "no frame analysed yet")
    return json_response(frame)


async def _frame(request: web.Request) -> web.Response:
    fid = frame_id(request)
    params(request)
    frame = request.app[VIEW].frame(fid)
    if frame is None:
        raise Reject(404, "no such frame among the recent frames kept in memory")
    return json_response(frame)


async def _alerts(request: web.Request) -> web.Response:
    q = params(request, limit=integer(1, 200), before=integer(1, MAX_CURSOR))
    view = request.app[VIEW]
    page = view.alerts(q.get("limit", 50), q.get("before"))
    return json_response({"open": view.open_alerts(), "alerts": page.items, "next": page.next})


async def _channels(request: web.Request) -> web.Response:
    params(request)
    return json_response({"channels": request.app[VIEW].channels()})


async def _history(request: web.Request) -> web.Response:
    q = params(request, hours=decimal(0.0, 24.0), points=integer(10, 2000))
    return json_response(request.app[VIEW].history(q.get("hours", 6.0) * 3600.0,
                                                   q.get("points", 300)))


async def _models(request: web.Request) -> web.Response:
    params(request)
    return json_response(request.app[VIEW].models())


def _png(png: bytes | None, cache: str) -> web.Response:
    if png is None:
        raise Reject(404, "no saliency overlay for this frame")
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": cache})


async def _saliency_latest(request: web.Request) -> web.Response:
    params(request, t=cache_buster)  # t: ignored cache buster (Grafana's ${__to})
    view = request.app[VIEW]
    latest = view.latest_frame()
    png = await view.saliency_png(latest["frame_id"]) if latest else None
    return _png(png, "no-store")


async def _saliency(request: web.Request) -> web.Response:
    fid = frame_id(request)
    params(request, t=cache_buster)
    # a frame's overlay never changes: caches may keep it
    return _png(await request.app[VIEW].saliency_png(fid), "private, max-age=3600")


def add_routes(app: web.Application) -> None:
    """Register the API's routes on ``app``."""
    add = app.router.add_get
    add("/api/v1/openapi.json", _openapi)
    add("/api/v1/status", _status)
    add("/api/v1/frames", _frames)
    add("/api/v1/frames/latest", _latest)  # before {frame_id}: routes match in order
    add("/api/v1/frames/{frame_id}", _frame)
    add("/api/v1/alerts", _alerts)
    add("/api/v1/channels", _channels)
    add("/api/v1/history", _history)
    add("/api/v1/models", _models)
    add("/api/v1/saliency/latest.png", _saliency_latest)
    add("/api/v1/saliency/{frame_id}.png", _saliency)
