"""The middleware every request passes: host check, bearer token, JSON errors, security headers."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from yarl import URL

from monitor.logs import get_logger
from monitor.observe.http.contract import TOKEN

__all__ = ["Reject", "guard"]

log = get_logger("monitor.observe.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Security headers on every response; the page loads only its own files.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' blob: data:; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
}

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "payload_too_large", 414: "uri_too_long",
          503: "unavailable"}
_OPEN_API_PATHS = ("/api/v1/openapi.json",)


class Reject(Exception):
    """A request refused with a JSON error (raised by handlers and validation helpers)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           code: str | None = None) -> web.Response:
    body = {"error": {"status": status, "code": code or _CODES.get(status, "error"),
                      "message": message}}
    return web.json_response(body, status=status, headers=headers)


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
        raise Reject(401, "a valid bearer token is required for /api",
                     headers={"WWW-Authenticate": challenge})


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host check, token check, JSON errors and security headers for every route."""
    try:
        # browsers always send Host; a request without one cannot be a rebinding attack
        host = request.headers.get("Host")
        if host is not None and _loopback_socket(request) and not _host_is_loopback(host):
            raise Reject(403, "Host header must name a loopback address on a loopback "
                              "listener (DNS rebinding protection)", code="host_not_allowed")
        _check_token(request)
        response = await handler(request)
    except Reject as exc:
        response = _error(exc.status, exc.message, exc.headers, exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        response = _error(exc.status, exc.reason, headers)
    except Exception:
        log.exception("http handler failed", path=request.path[:200])
        response = _error(500, "internal error (see the daemon's log)", code="internal_error")
    for key, value in _HEADERS.items():
        response.headers.setdefault(key, value)
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
