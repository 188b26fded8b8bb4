"""Reading feed indexes: HTML directory listings, JSON file lists, JSOC's image_times.json.

Everything here is pure (bytes in, names and URLs out) so it is tested
without a network. Links are resolved against the index URL and kept only
when they point at a file directly inside the listed directory (no parent
links, no sort links, no other hosts): a listing cannot steer the feed
elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

__all__ = ["IndexEntry", "IndexFormatError", "expand_url_template", "parse_json_index",
           "parse_latest", "parse_listing"]


class IndexFormatError(ValueError):
    """An index document that cannot be read."""


@dataclass(frozen=True)
class IndexEntry:
    """A file an index names: its absolute URL and file name, plus hints."""

    url: str
    name: str
    t_obs: float | None = None
    wavelength: int | None = None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)


def _child_file(directory_url: str, href: str) -> IndexEntry | None:
    if "?" in href or "#" in href:
        return None  # sort links and anchors
    url = urljoin(directory_url, href)
    base, target = urlsplit(directory_url), urlsplit(url)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        return None
    directory = base.path if base.path.endswith("/") else base.path.rsplit("/", 1)[0] + "/"
    if not target.path.startswith(directory):
        return None
    rest = target.path[len(directory):]
    if not rest or "/" in rest:
        return None  # the directory itself, or a subdirectory
    name = unquote(rest)
    if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        return None
    return IndexEntry(url=url, name=name)


def parse_listing(body: bytes, directory_url: str) -> list[IndexEntry]:
    """Files linked from an HTML directory listing (Apache, nginx, lighttpd styles)."""
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))  # lenient: never raises on bad markup
    parser.close()
    entries: dict[str, IndexEntry] = {}
    for href in parser.hrefs:
        entry = _child_file(directory_url, href)
        if entry is not None:
            entries.setdefault(entry.url, entry)
    return list(entries.values())


def _entries_json(data: object) -> Iterator[object]:
    if isinstance(data, dict):
        for key in ("files", "items", "entries"):
            if isinstance(data.get(key), list):
                yield from data[key]
                return
        raise IndexFormatError("JSON index object has no 'files' list")
    if isinstance(data, list):
        yield from data
        return
    raise IndexFormatError(f"JSON index must be a list or an object, not {type(data).__name__}")


def parse_json_index(body: bytes, index_url: str) -> list[IndexEntry]:
    """Files of a JSON index.

    Accepted shapes: a list (or ``{"files": [...]}``) of strings (URLs or paths
    relative to the index) or of objects with ``url`` (or ``path``/``name``)
    and optional ``t_obs`` (ISO 8601) and ``wavelength``.
    """
    from monitor.sources.notifications import parse_time

    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"not JSON: {exc}") from None
    out: list[IndexEntry] = []
    directory_url = index_url.rsplit("/", 1)[0] + "/"
    for item in _entries_json(data):
        t_obs = wavelength = None
        if isinstance(item, str):
            href = item
        elif isinstance(item, dict):
            href = item.get("url") or item.get("path") or item.get("name")
            if not isinstance(href, str):
                continue
            try:
                t_obs = parse_time(item["t_obs"]) if item.get("t_obs") is not None else None
            except (ValueError, TypeError):
                t_obs = None
            w = item.get("wavelength")
            wavelength = w if isinstance(w, int) and not isinstance(w, bool) else None
        else:
            continue
        url = urljoin(directory_url, href)
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if not name or name in (".", ".."):
            continue
        out.append(IndexEntry(url=url, name=name, t_obs=t_obs, wavelength=wavelength))
    return out


def parse_latest(body: bytes, time_format: str = "%Y%m%d_%H%M%S") -> float:
    """The newest time of a JSOC ``image_times.json`` (``{"last": "YYYYMMDD_HHMMSS"}``).

    Also reads the two-line text form (``Time     20260111_114600``).
    """
    text = body.decode("utf-8", "replace").strip()
    value: str | None = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IndexFormatError(f"not JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("last"), str):
            value = data["last"]
    else:
        first = text.splitlines()[0].split() if text else []
        if len(first) >= 2 and first[0].lower() == "time":
            value = first[1]
    if value is None:
        raise IndexFormatError("no 'last' time in the index")
    try:
        when = datetime.strptime(value, time_format)
    except ValueError as exc:
        raise IndexFormatError(f"bad time {value!r}: {exc}") from None
    return when.replace(tzinfo=UTC).timestamp()


def expand_url_template(template: str, start: float, end: float, step_s: int) -> list[str]:
    """The URLs a strftime template takes for times from ``start`` to ``end``, oldest first.

    A template without ``%`` fields is returned as is.
    """
    if "%" not in template:
        return [template]
    t = (int(start) // step_s) * step_s
    urls: list[str] = []
    while t <= end:
        url = datetime.fromtimestamp(t, tz=UTC).strftime(template)
        if url not in urls:
            urls.append(url)
        t += step_s
    if not urls:  # end before the first step: still list the directory of ``end``
        urls.append(datetime.fromtimestamp(end, tz=UTC).strftime(template))
    return urls

