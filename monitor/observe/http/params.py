"""Strict parsing of what a request carries: whitelisted query parameters, ids, JSON out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.observe.http.guard import Reject

__all__ = ["MAX_CURSOR", "cache_buster", "decimal", "frame_id", "integer", "json_response",
           "params"]

_FRAME_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INT = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit() accepts '١' and '²'
_DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")
_CACHE_BUSTER = re.compile(r"[0-9A-Za-z_-]{1,32}")
MAX_CURSOR = 2**53  # integers JavaScript can represent exactly


def params(request: web.Request, **allowed: Callable[[str], Any]) -> dict[str, Any]:
    """Whitelisted query parameters, each given at most once, parsed strictly."""
    out: dict[str, Any] = {}
    for key in request.query:
        if key not in allowed:
            raise Reject(400, f"unknown query parameter {key[:40]!r}; allowed: "
                              f"{', '.join(sorted(allowed)) or 'none'}")
        values = request.query.getall(key)
        if len(values) != 1:
            raise Reject(400, f"query parameter {key!r} given {len(values)} times")
        out[key] = allowed[key](values[0])
    return out


def integer(low: int, high: int) -> Callable[[str], int]:
    """A parser of ASCII-digit integers in ``[low, high]``."""
    def parse(text: str) -> int:
        if not _INT.fullmatch(text) or not low <= int(text) <= high:
            raise Reject(400, f"expected an integer in [{low}, {high}], got {text[:40]!r}")
        return int(text)
    return parse


def decimal(low: float, high: float) -> Callable[[str], float]:
    """A parser of short decimals in ``(low, high]``."""
    def parse(text: str) -> float:
        if not _DECIMAL.fullmatch(text) or not low < float(text) <= high:
            raise Reject(400, f"expected a number in ({low}, {high}], got {text[:40]!r}")
        return float(text)
    return parse


def cache_buster(text: str) -> str:
    """An ignored cache-busting parameter, still bounded."""
    if not _CACHE_BUSTER.fullmatch(text):
        raise Reject(400, "t must be 1-32 characters [0-9A-Za-z_-]")
    return text


def frame_id(request: web.Request) -> str:
    """The ``{frame_id}`` of the URL, a lowercase UUID or refused."""
    value = request.match_info["frame_id"]
    if not _FRAME_ID.fullmatch(value):  # ids from URLs are validated, never trusted
        raise Reject(400, "frame id must be a lowercase UUID "
                          "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return value


def _finite(obj: Any) -> Any:
    """Non-finite floats as null: NaN and infinity are not JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def json_response(data: Any) -> web.Response:
    """``data`` as a JSON response, non-finite floats as null."""
    text = json.dumps(_finite(data), default=str, allow_nan=False)
    return web.Response(text=text, content_type="application/json")
