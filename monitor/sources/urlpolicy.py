"""Which URLs a feed may fetch: an allow-list compared on parsed, normalised URLs.

A string prefix is not an allow-list: ``http://127.0.0.1:18999@127.0.0.1:18998/x``
starts with ``http://127.0.0.1:18999`` and names another port (the first part
is userinfo), and ``.../aia/%2e%2e/%2e%2e/secret/y.fits`` starts with
``.../aia/`` and names another directory. So both sides are parsed into
scheme, host, port and path segments (percent-decoded, dot segments removed)
and compared part by part; the URL that is fetched is rebuilt from those
parts, so the server is asked for exactly what was checked.

Anything that two parsers could read differently is refused rather than
guessed at: userinfo, schemes other than http(s), non-ASCII or control
characters, backslashes, fragments, encoded slashes or NULs, a ``%`` left
after decoding (double encoding), numeric hosts that are not a plain dotted
quad (``0x7f.1``, ``2130706433``), trailing dots in host names. Each refusal
carries a reason code from :data:`URL_REASONS`.

Pure functions and a frozen class, no I/O: tested table by table.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

__all__ = ["URL_REASONS", "AllowedUrl", "UrlAllowList", "UrlPrefix", "UrlRefused",
           "normalise_url", "parse_prefix"]

#: Reason codes of :class:`UrlRefused` (metric labels, ``.rejects`` reasons).
URL_REASONS = {
    "url_scheme": "only http and https URLs are fetched",
    "url_userinfo": "URLs with user:password@ are refused (they can hide the real host)",
    "url_ambiguous": "a URL parsers could read differently (encoding, characters, host form)",
    "url_not_allowed": "the URL lies outside every allowed prefix",
}

#: Longest URL considered at all (browsers and servers cap near 8 KB).
MAX_URL_CHARS = 4096

_DEFAULT_PORTS = {"http": 80, "https": 443}
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# RFC 3986 unreserved characters plus sub-delims and ':@', kept as they are in a segment
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


class UrlRefused(ValueError):
    """A URL that will not be fetched; ``reason`` is a key of :data:`URL_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AllowedUrl:
    """A URL taken apart: what the allow-list compares and what is fetched."""

    scheme: str
    host: str  # lower case; IPv6 literals without brackets, in compressed form
    port: int
    segments: tuple[str, ...]  # decoded, dot segments removed
    query: str

    @property
    def url(self) -> str:
        """The normalised URL, re-encoded: the one to request."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"
        path = "/" + "/".join(quote(s, safe=_SEGMENT_SAFE) for s in self.segments)
        return f"{self.scheme}://{netloc}{path}" + (f"?{self.query}" if self.query else "")

    @property
    def file_name(self) -> str:
        """The last path segment (empty for a directory URL)."""
        return self.segments[-1] if self.segments else ""


@dataclass(frozen=True)
class UrlPrefix:
    """An allowed prefix: a scheme, host and port, and a directory below which URLs may lie."""

    base: AllowedUrl
    directory: bool  # the configured text ended in '/'

    def covers(self, url: AllowedUrl) -> bool:
        b = self.base
        # a prefix names a directory: its segments, minus the empty one after a trailing '/'
        segments = b.segments[:-1] if b.segments and b.segments[-1] == "" else b.segments
        return ((url.scheme, url.host, url.port) == (b.scheme, b.host, b.port)
                and url.segments[:len(segments)] == segments
                and len(url.segments) > len(segments))


def _host(raw: str) -> str:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise UrlRefused("url_ambiguous", "unterminated IPv6 literal")
        try:
            address = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise UrlRefused("url_ambiguous", "not a valid IPv6 literal") from None
        if address.scope_id:
            raise UrlRefused("url_ambiguous", "IPv6 zone ids are refused")
        return address.compressed
    host = raw.lower()
    labels = host.split(".")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        # only the canonical dotted quad: inet_aton reads 0x7f.1 and 2130706433 too
        try:
            if str(ipaddress.IPv4Address(host)) == host:
                return host
        except ValueError:
            pass
        raise UrlRefused("url_ambiguous", "numeric host that is not a dotted-quad IPv4 address")
    if not _HOST_NAME.fullmatch(host):
        raise UrlRefused("url_ambiguous", "host is not a plain DNS name (no trailing dot, "
                                          "no encoding, ASCII letters, digits and '-')")
    return host


def _segments(path: str) -> tuple[str, ...]:
    out: list[str] = []
    raw = path.split("/")[1:] if path else []
    for i, part in enumerate(raw):
        decoded = unquote(part, errors="strict")
        if "/" in decoded or "\\" in decoded or "\x00" in decoded:
            raise UrlRefused("url_ambiguous", "encoded '/', '\\' or NUL in the path")
        if re.search(r"%[0-9A-Fa-f]{2}", decoded):
            raise UrlRefused("url_ambiguous", "percent-encoding left after decoding "
                                              "(double encoding)")
        if not decoded.isprintable():
            raise UrlRefused("url_ambiguous", "control characters in the path")
        last = i == len(raw) - 1
        if decoded == ".":
            if last:
                out.append("")
        elif decoded == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(decoded)
    return tuple(out)


def normalise_url(url: object) -> AllowedUrl:
    """Parse ``url`` strictly into its normalised parts.

    Raises
    ------
    UrlRefused
        With reason ``url_scheme``, ``url_userinfo`` or ``url_ambiguous``.
    """
    if not isinstance(url, str):
        raise UrlRefused("url_ambiguous", "not a string")
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused("url_ambiguous", f"longer than {MAX_URL_CHARS} characters")
    if not _VISIBLE_ASCII.fullmatch(url):
        raise UrlRefused("url_ambiguous", "empty, or characters other than visible ASCII "
                                          "(spaces, controls, non-ASCII)")
    if "\\" in url:
        raise UrlRefused("url_ambiguous", "backslash in the URL")
    scheme, sep, _ = url.partition(":")
    if not sep or scheme.lower() not in _DEFAULT_PORTS:
        raise UrlRefused("url_scheme", f"scheme {scheme.lower()[:20]!r} is not http or https")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("url_ambiguous", f"cannot parse: {exc}") from None
    if not url[len(scheme) + 1:].startswith("//"):
        raise UrlRefused("url_ambiguous", "no '//' authority after the scheme")
    if "@" in parts.netloc:
        raise UrlRefused("url_userinfo", "user information before the host")
    if parts.fragment or "#" in url:
        raise UrlRefused("url_ambiguous", "fragment ('#') in the URL")
    netloc = parts.netloc
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise UrlRefused("url_ambiguous", "unterminated IPv6 literal")
        host_part, rest = netloc[:end + 1], netloc[end + 1:]
    else:
        host_part, colon, port_text = netloc.partition(":")
        rest = colon + port_text
    if rest and not re.fullmatch(r":[1-9][0-9]{0,4}", rest):
        raise UrlRefused("url_ambiguous", "port is not a plain number in 1-65535")
    if not host_part:
        raise UrlRefused("url_ambiguous", "no host")
    host = _host(host_part)
    scheme = scheme.lower()
    try:
        segments = _segments(parts.path)
    except UnicodeDecodeError:
        raise UrlRefused("url_ambiguous", "percent-encoded bytes that are not UTF-8") from None
    return AllowedUrl(scheme, host, port if port is not None else _DEFAULT_PORTS[scheme],
                      segments, parts.query)


def parse_prefix(text: str) -> UrlPrefix:
    """An allow-list entry; raises :class:`UrlRefused` when it is not a plain http(s) URL."""
    base = normalise_url(text)
    if base.query:
        raise UrlRefused("url_ambiguous", "a prefix has no query")
    return UrlPrefix(base, directory=text.endswith("/"))


class UrlAllowList:
    """URLs a feed may fetch: below one of ``prefixes`` after normalisation.

    Parameters
    ----------
    prefixes : sequence of str
        Allowed directories, e.g. ``https://jsoc1.stanford.edu/data/aia/synoptic/nrt/``.
        A prefix without a trailing ``/`` still means that directory (never
        "any name starting with these characters").
    """

    def __init__(self, prefixes: tuple[str, ...] | list[str]) -> None:
        self.prefixes = tuple(parse_prefix(p) for p in prefixes)

    def check(self, url: object) -> AllowedUrl:
        """The normalised URL when allowed; raises :class:`UrlRefused` otherwise."""
        parsed = normalise_url(url)
        if not any(prefix.covers(parsed) for prefix in self.prefixes):
            raise UrlRefused("url_not_allowed", f"{parsed.url[:300]} is outside url_prefixes")
        return parsed

    def check_redirect(self, current: str, location: str) -> AllowedUrl:
        """The target of a redirect from ``current``, checked like any notified URL."""
        return self.check(urljoin(current, location))
