"""Settings of the feeds the daemon watches, one dataclass per kind of source.

The YAML's ``kind`` key selects the class (see ``monitor.typedyaml``). This
module imports only the standard library so loading a config stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from monitor.sources.urlpolicy import UrlRefused, parse_prefix

__all__ = [
    "AIA_CHANNELS",
    "JSOC_NRT_PATTERN",
    "DownloadSettings",
    "FeedSettings",
    "HttpFeedSettings",
    "KafkaFeedSettings",
    "SpoolFeedSettings",
]

#: The EUV channels of AIA, in Angstrom.
AIA_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335)

#: File names of JSOC's AIA synoptic NRT product, e.g. ``AIA20260624_200300_0171.fits``
#: (the time is the 180 s slot, T_REC; the wavelength is zero-padded to 4 digits).
JSOC_NRT_PATTERN = r"^AIA(?P<time>\d{8}_\d{6})_(?P<wavelength>\d{4})\.fits$"

_NAME = {"doc": "short feed name used in metric labels and logs"}
_DISPOSAL = ("keep", "move", "delete")


def _check_name(name: str) -> list[tuple[str, str]]:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        return [("name", f"must be letters, digits, '-' or '_', got {name!r}")]
    return []


def _check_url(key: str, url: str | None) -> list[tuple[str, str]]:
    if url is not None and not url.startswith(("http://", "https://")):
        return [(key, f"must start with http:// or https://, got {url!r}")]
    if url is not None and not urlsplit(url).path:
        # its documents must stay below its directory: there is none without a path
        return [(key, f"must name a path on its server (at least '/'), got {url!r}")]
    return []


@dataclass(frozen=True)
class DownloadSettings:
    """How files and index documents are fetched over HTTP (HTTP feed, Kafka URLs)."""

    connect_timeout_s: float = field(default=10.0, metadata={"gt": 0})
    read_timeout_s: float = field(
        default=30.0, metadata={"gt": 0, "doc": "longest silence while reading a body"})
    total_timeout_s: float = field(
        default=300.0, metadata={"gt": 0, "doc": "whole request, one attempt"})
    max_file_bytes: int = field(
        default=64 * 1024 * 1024, metadata={"gt": 0, "doc": "abort a download past this size"})
    max_index_bytes: int = field(
        default=8 * 1024 * 1024, metadata={"gt": 0, "doc": "limit for listings and JSON indexes"})
    retries: int = field(
        default=4, metadata={"ge": 0, "le": 20,
                             "doc": "extra attempts after a transient failure (5xx, 429, "
                                    "timeout, truncated body)"})
    backoff_initial_s: float = field(default=1.0, metadata={"gt": 0})
    backoff_max_s: float = field(default=60.0, metadata={"gt": 0})
    concurrency: int = field(
        default=4, metadata={"ge": 1, "le": 64, "doc": "downloads in flight at once"})
    user_agent: str = "sdo-monitor"

    def check(self) -> list[tuple[str, str]]:
        if self.backoff_max_s < self.backoff_initial_s:
            return [("backoff_max_s", "must be >= backoff_initial_s")]
        return []


@dataclass(frozen=True)
class SpoolFeedSettings:
    """A directory that other software writes complete files into."""

    name: str = field(metadata=_NAME)
    path: Path = field(metadata={"doc": "spool directory to watch"})
    kind: Literal["spool"] = "spool"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(
        default=12.0, metadata={"gt": 0, "doc": "expected seconds between observations"})
    stable_s: float = field(
        default=2.0, metadata={"ge": 0, "doc": "size/mtime must be unchanged this long "
                                               "for files that were not renamed into place"})
    poll_interval_s: float = field(default=1.0, metadata={"gt": 0})
    watch: Literal["auto", "inotify", "poll"] = field(
        default="auto", metadata={"doc": "inotify (Linux) sees renames at once; polling is the "
                                         "portable fallback and always runs as a safety net"})
    recursive: bool = field(
        default=False, metadata={"doc": "also scan subdirectories (polling only)"})
    include: tuple[str, ...] = field(
        default=("*.fits", "*.fit", "*.fts", "*.fits.fz", "*.fits.gz", "*.jp2", "*.j2k"),
        metadata={"doc": "glob patterns of file names to pick up; others are left alone"})
    order: Literal["mtime", "name"] = field(
        default="mtime", metadata={"doc": "emission order of a backlog"})
    after_processing: Literal["keep", "move", "delete"] = "move"
    done_dir: Path | None = field(
        default=None, metadata={"doc": "where processed files go with after_processing: move; "
                                       "default <path>/done"})
    rejected_dir: Path | None = field(
        default=None, metadata={"doc": "where rejected files go; default <path>/rejected"})

    def check(self) -> list[tuple[str, str]]:
        issues = _check_name(self.name)
        for key in ("done_dir", "rejected_dir"):
            value = getattr(self, key)
            if value is not None and Path(value) == Path(self.path):
                issues.append((key, "must differ from the spool path"))
        return issues


@dataclass(frozen=True)
class HttpFeedSettings:
    """An HTTP index (directory listing or JSON) polled for new files.

    The defaults describe JSOC's AIA synoptic NRT product; pointing ``url`` at
    ``.../synoptic/nrt/%Y/%m/%d/H%H00/`` and ``latest_url`` at
    ``.../synoptic/nrt/image_times.json`` is all that feed needs.
    """

    name: str = field(metadata=_NAME)
    url: str = field(metadata={"doc": "index URL (http:// or https://); for listings it may "
                                      "hold strftime fields expanded over the lookback window"})
    spool: Path = field(metadata={"doc": "downloads land here before ingest"})
    kind: Literal["http"] = "http"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(default=180.0, metadata={"gt": 0})
    poll_interval_s: float = field(default=60.0, metadata={"gt": 0})
    index: Literal["listing", "json"] = field(
        default="listing", metadata={"doc": "listing: HTML directory index (Apache style); "
                                            "json: a list of file names/URLs or objects"})
    latest_url: str | None = field(
        default=None, metadata={"doc": "JSON with the newest time under 'last' (JSOC "
                                       "image_times.json); anchors the window, else the clock"})
    file_pattern: str = field(
        default=JSOC_NRT_PATTERN,
        metadata={"doc": "regex a file name must match; named groups 'time' and "
                         "'wavelength' give the observation hints"})
    time_format: str = field(
        default="%Y%m%d_%H%M%S", metadata={"doc": "strptime format of the 'time' group and "
                                                  "of latest_url's 'last'"})
    directory_step_s: int = field(
        default=3600, metadata={"gt": 0, "doc": "time span of one directory in url"})
    lookback_s: float = field(
        default=3600.0, metadata={"ge": 0, "doc": "how far before the newest time to look "
                                                  "for late (out-of-order) files"})
    remember: int = field(
        default=20000, metadata={"ge": 100, "doc": "URLs remembered so they are fetched once"})
    after_processing: Literal["keep", "move", "delete"] = "delete"
    done_dir: Path | None = None
    download: DownloadSettings = field(default_factory=DownloadSettings)

    def check(self) -> list[tuple[str, str]]:
        issues = _check_name(self.name) + _check_url("url", self.url)
        issues += _check_url("latest_url", self.latest_url)
        try:
            pattern = re.compile(self.file_pattern)
        except re.error as exc:
            issues.append(("file_pattern", f"is not a valid regular expression: {exc}"))
        else:
            if "time" in pattern.groupindex:
                try:
                    datetime.strptime(datetime(2020, 1, 2, 3, 4, 5).strftime(self.time_format),
                                      self.time_format)
                except ValueError as exc:
                    issues.append(("time_format", f"does not round-trip: {exc}"))
        return issues


@dataclass(frozen=True)
class KafkaFeedSettings:
    """A Kafka topic of "file available" notifications consumed in a group.

    Connection and security come from the top-level ``kafka`` section.
    """

    name: str = field(metadata=_NAME)
    topic: str = field(metadata={"doc": "notification topic"})
    kind: Literal["kafka"] = "kafka"
    group_id: str = "sdo-monitor"
    channels: tuple[int, ...] = field(default=AIA_CHANNELS, metadata={"choices": AIA_CHANNELS})
    cadence_s: float = field(default=12.0, metadata={"gt": 0})
    path_roots: tuple[Path, ...] = field(
        default=(), metadata={"doc": "directories notified paths must lie in (after resolving "
                                     "symlinks); paths elsewhere are ignored"})
    url_prefixes: tuple[str, ...] = field(
        default=(), metadata={"doc": "directories (http(s) URLs ending in '/') notified URLs "
                                     "must lie in, compared after parsing and normalising; "
                                     "redirects must stay inside them too"})
    spool: Path | None = field(
        default=None, metadata={"doc": "where notified URLs are downloaded to"})
    auto_offset_reset: Literal["earliest", "latest"] = field(
        default="earliest", metadata={"doc": "where a new group starts"})
    max_in_flight: int = field(
        default=64, metadata={"ge": 1, "le": 10000,
                              "doc": "notifications handed out but not yet done; "
                                     "consumption pauses at this bound"})
    session_timeout_s: float = field(default=45.0, metadata={"gt": 0})
    heartbeat_interval_s: float = field(default=3.0, metadata={"gt": 0})
    max_poll_interval_s: float = field(
        default=300.0, metadata={"gt": 0, "doc": "Tansu needs a few seconds here or a "
                                                 "group's first join waits this long"})
    after_processing: Literal["keep", "move", "delete"] = field(
        default="delete", metadata={"doc": "for downloaded files only; notified paths belong "
                                           "to the producer and are never touched"})
    done_dir: Path | None = None
    download: DownloadSettings = field(default_factory=DownloadSettings)

    def warnings(self) -> list[tuple[str, str]]:
        """Legal but probably not meant: a prefix without its trailing '/'."""
        return [(f"url_prefixes[{i}]", (f"{prefix!r} does not end in '/': it is read as the "
                                       f"directory {prefix.rstrip('/')}/ (not as a name "
                                       "prefix)"))
                for i, prefix in enumerate(self.url_prefixes) if not prefix.endswith("/")]

    def check(self) -> list[tuple[str, str]]:
        issues = _check_name(self.name)
        if not self.path_roots and not self.url_prefixes:
            issues.append(("path_roots", ("set path_roots and/or url_prefixes: notifications "
                                          "outside them are ignored")))
        for i, prefix in enumerate(self.url_prefixes):
            try:
                parse_prefix(prefix)
            except UrlRefused as exc:
                issues.append((f"url_prefixes[{i}]", (f"must be a plain http(s) URL of a "
                                                      f"directory: {exc.detail}")))
        if self.url_prefixes and self.spool is None:
            issues.append(("spool", "is required to download notified URLs"))
        if self.heartbeat_interval_s >= self.session_timeout_s:
            issues.append(("heartbeat_interval_s", "must be < session_timeout_s"))
        return issues


FeedSettings = SpoolFeedSettings | HttpFeedSettings | KafkaFeedSettings
