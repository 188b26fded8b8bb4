"""The status page at ``/``: one HTML file, one script, one stylesheet, no build step.

The page is static; it reads the JSON API (``/api/v1/status``, ``/frames/latest``,
``/channels``, ``/history``, ``/alerts``) from the browser and redraws every
10 s. It shows per-feed freshness, the latest observation per channel, the
latest saliency overlay with its located regions, the class probabilities,
the 14 irradiance lines as sparklines over the last hours, and open alerts.
With a bearer token configured it asks for the token once and keeps it in the
tab's ``sessionStorage`` (never in a cookie or the URL).

The files are read once at import and served from memory under fixed routes,
so no request path ever reaches the file system.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

__all__ = ["FILES", "add_routes"]

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def _load(name: str) -> tuple[bytes, str]:
    data = resources.files(__name__).joinpath(name).read_bytes()
    return data, _TYPES[name[name.rindex("."):]]


#: URL path -> (body, content type); the whole page.
FILES: dict[str, tuple[bytes, str]] = {
    "/": _load("index.html"),
    "/static/app.js": _load("app.js"),
    "/static/style.css": _load("style.css"),
}


def _handler(body: bytes, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(request: web.Request) -> web.Response:
        if request.query:
            raise web.HTTPBadRequest(reason="the page takes no query parameters")
        # no-cache: revalidate so an upgraded daemon never runs an old script
        return web.Response(body=body, content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})
    return serve


def add_routes(app: web.Application) -> None:
    """Register the page's routes on ``app``."""
    for path, (body, content_type) in FILES.items():
        app.router.add_get(path, _handler(body, content_type))
