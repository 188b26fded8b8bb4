"""What an HTTP feed's index lists now, and which of those files the feed still wants.

Two parts of one poll cycle of :class:`~monitor.sources.httpfeed.HttpSource`,
each with its own state:

* :class:`IndexPoller` fetches the index documents: the latest-time document
  for the anchor (or the clock without one), then every listing the
  directory template expands to over ``[anchor - lookback_s, anchor]``, each
  conditionally, so an unchanged document costs a 304 and its parsed entries
  are reused. A document that fails is counted; the cycle goes on with what
  it had before.
* :class:`SeenFiles` is the bounded memory of every URL the feed has dealt
  with (fetched, failed, ignored, to retry) and picks from the listed entries
  the files not dealt with yet that match ``file_pattern``, have a
  configured channel and lie in the window, oldest first.

Both are given the feed's settings and its counters at construction, and
hand back plain values (:class:`IndexScan`, :class:`Selection`). Those
settings, :class:`HttpFeedSettings` (``kind: http``), are defined here, beside
the two readers of most of its options; ``httpfeed`` imports them.
"""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from monitor.logs import get_logger
from monitor.sources.base import AIA_CHANNELS, FEED_NAME, check_feed_name
from monitor.sources.download import Document, Downloader, DownloadSettings
from monitor.sources.fetchfailures import DownloadError
from monitor.sources.index import (
    IndexEntry,
    IndexFormatError,
    expand_url_template,
    parse_json_index,
    parse_latest,
    parse_listing,
)
from monitor.sources.urlpolicy import UrlAllowList, UrlRefused

__all__ = ["JSOC_NRT_PATTERN", "Candidate", "HttpFeedSettings", "IndexPoller", "IndexScan",
           "SeenFiles", "Selection"]

log = get_logger(__name__)

#: File names of JSOC's AIA synoptic NRT product, e.g. ``AIA20260624_200300_0171.fits``
#: (the time is the 180 s slot, T_REC; the wavelength is zero-padded to 4 digits).
JSOC_NRT_PATTERN = r"^AIA(?P<time>\d{8}_\d{6})_(?P<wavelength>\d{4})\.fits$"


def _check_url(key: str, url: str | None) -> list[tuple[str, str]]:
    if url is not None and not url.startswith(("http://", "https://")):
        return [(key, f"must start with http:// or https://, got {url!r}")]
    if url is not None and not urlsplit(url).path:
        # its documents must stay below its directory: there is none without a path
        return [(key, f"must name a path on its server (at least '/'), got {url!r}")]
    return []


@dataclass(frozen=True)
class HttpFeedSettings:
    """An HTTP index (directory listing or JSON) polled for new files.

    The defaults describe JSOC's AIA synoptic NRT product; pointing ``url`` at
    ``.../synoptic/nrt/%Y/%m/%d/H%H00/`` and ``latest_url`` at
    ``.../synoptic/nrt/image_times.json`` is all that feed needs.
    """

    name: str = field(metadata=FEED_NAME)
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
        issues = check_feed_name(self.name) + _check_url("url", self.url)
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


def _directory_of(url: str) -> UrlAllowList:
    """The directory ``url`` lies in, above its first strftime field: where its
    documents (and their redirects) must stay."""
    parts = urlsplit(url.split("%", 1)[0])
    directory = parts.path[:parts.path.rfind("/") + 1] or "/"
    return UrlAllowList([f"{parts.scheme}://{parts.netloc}{directory}"])


def _refusal(kind: str, exc: Exception) -> str:
    """Error counter key: a refused redirect or URL keeps its reason, other failures are ``kind``."""
    if isinstance(exc, UrlRefused) or (isinstance(exc, DownloadError)
                                        and exc.reason == "redirect_not_allowed"):
        return f"{kind}_{exc.reason}"
    return kind


@dataclass(frozen=True)
class IndexScan:
    """What one poll of the index found.

    Attributes
    ----------
    window_start : float
        Unix seconds; files observed before it are not wanted.
    entries : list of IndexEntry
        Every file the window's documents list, in document order.
    observed : float or None
        The newest slot time the latest-time document announced, when it
        could be read (now or, unchanged, before): the feed's freshness.
    """

    window_start: float
    entries: list[IndexEntry]
    observed: float | None


class IndexPoller:
    """Fetches a feed's index documents, conditionally, and parses them.

    Parameters
    ----------
    settings : HttpFeedSettings
        The feed: ``url``, ``latest_url``, ``index``, ``lookback_s``...
    errors : collections.Counter
        The feed's error counters (``latest``, ``index_<reason>``, ``index_format``).
    clock : callable
        Unix seconds: the anchor when there is no latest-time document.
    """

    def __init__(self, settings: HttpFeedSettings, errors: Counter[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.errors = errors
        self.clock = clock
        # the index documents and their redirects stay in their configured directories
        self._index_area = _directory_of(settings.url)
        self._latest_area = _directory_of(settings.latest_url or settings.url)
        self._documents: dict[str, tuple[Document, list[IndexEntry]]] = {}
        self._latest: tuple[Document, float] | None = None

    async def scan(self, downloader: Downloader) -> IndexScan:
        """Fetch the anchor, then every document of the window; cache what answered."""
        s = self.settings
        anchor, observed = await self._anchor(downloader)
        window_start = anchor - s.lookback_s
        if s.index == "listing":
            urls = expand_url_template(s.url, window_start, anchor, s.directory_step_s)
        else:
            urls = [s.url]
        entries: list[IndexEntry] = []
        for url in urls:
            entries += await self._entries(downloader, url)
        self._documents = {u: v for u, v in self._documents.items() if u in urls}
        return IndexScan(window_start, entries, observed)

    async def _anchor(self, downloader: Downloader) -> tuple[float, float | None]:
        url = self.settings.latest_url
        if url is None:
            return self.clock(), None
        previous = self._latest
        try:
            doc = await downloader.get_document(
                self._latest_area.check(url).url,
                *(previous[0].etag, previous[0].last_modified) if previous else (None, None),
                allow=self._latest_area)
            if doc.body is None and previous is not None:
                anchor = previous[1]
            else:
                anchor = parse_latest(doc.body or b"", self.settings.time_format)
                self._latest = (doc, anchor)
            return anchor, anchor
        except (DownloadError, IndexFormatError, UrlRefused) as exc:
            self.errors[_refusal("latest", exc)] += 1
            log.warning("latest-time index unavailable, using the last known time",
                        feed=self.settings.name, url=url, error=str(exc))
            return (previous[1] if previous else self.clock()), None

    async def _entries(self, downloader: Downloader, url: str) -> list[IndexEntry]:
        cached = self._documents.get(url)
        try:
            doc = await downloader.get_document(
                self._index_area.check(url).url,
                *(cached[0].etag, cached[0].last_modified) if cached else (None, None),
                allow=self._index_area)
        except (DownloadError, UrlRefused) as exc:
            if exc.reason == "not_found":
                return []  # the hour's directory does not exist yet
            self.errors[f"index_{exc.reason}"] += 1
            log.warning("index unavailable", feed=self.settings.name, url=url, error=str(exc))
            return cached[1] if cached else []
        if doc.body is None and cached is not None:
            return cached[1]
        try:
            if self.settings.index == "listing":
                entries = parse_listing(doc.body or b"", url)
            else:
                entries = parse_json_index(doc.body or b"", url)
        except IndexFormatError as exc:
            self.errors["index_format"] += 1
            log.warning("unreadable index", feed=self.settings.name, url=url, error=str(exc))
            return []
        self._documents[url] = (doc, entries)
        return entries


@dataclass(frozen=True)
class Candidate:
    """A listed file the feed wants: where it is, and what its name says."""

    url: str
    name: str
    t_obs: float | None
    wavelength: int | None

    def order(self) -> tuple[float, int, str]:
        return (self.t_obs if self.t_obs is not None else float("inf"),
                self.wavelength or 0, self.name)


@dataclass
class Selection:
    """The files to fetch this cycle, oldest first, and what choosing them counted.

    ``new`` counts files never looked at before; ``ignored`` the entries left
    alone for good, by reason (``not_matching``, ``bad_name``, ``channel``).
    """

    candidates: list[Candidate] = field(default_factory=list)
    new: int = 0
    ignored: Counter[str] = field(default_factory=Counter)


class SeenFiles:
    """The feed's bounded memory of URLs and its choice of what to fetch.

    A URL's state is ``fetched``, ``failed`` (permanent: a 404, oversize),
    ``ignored`` or ``retry`` (transient: asked for again next cycle). Only the
    ``settings.remember`` most recently listed URLs are kept, so the memory
    stays bounded however long the feed runs.

    Parameters
    ----------
    settings : HttpFeedSettings
        ``file_pattern``, ``channels``, ``time_format`` and ``remember``.
    """

    def __init__(self, settings: HttpFeedSettings) -> None:
        self.settings = settings
        self._pattern = re.compile(settings.file_pattern)
        self._channels = frozenset(settings.channels)
        self._states: OrderedDict[str, str] = OrderedDict()  # url -> state

    def remember(self, url: str, state: str) -> None:
        self._states[url] = state
        self._states.move_to_end(url)
        while len(self._states) > self.settings.remember:
            self._states.popitem(last=False)

    def select(self, entries: Iterable[IndexEntry], window_start: float) -> Selection:
        """The entries to fetch, oldest first (then by channel); the rest are
        remembered as ignored, or left alone when older than the window."""
        selection = Selection()
        for entry in entries:
            state = self._states.get(entry.url)
            if state is not None and state != "retry":
                self._states.move_to_end(entry.url)
                continue
            candidate = self._read_name(entry)
            if isinstance(candidate, str):
                selection.ignored[candidate] += 1
                self.remember(entry.url, "ignored")
            elif candidate.t_obs is None or candidate.t_obs >= window_start:
                # (one older than the window is neither new nor interesting)
                if state is None:
                    selection.new += 1
                selection.candidates.append(candidate)
        selection.candidates.sort(key=Candidate.order)
        return selection

    def _read_name(self, entry: IndexEntry) -> Candidate | str:
        """The entry as a candidate, or why its name is not wanted."""
        match = self._pattern.search(entry.name)
        if match is None:
            return "not_matching"
        groups = self._pattern.groupindex
        t_obs, wavelength = entry.t_obs, entry.wavelength
        try:
            if "time" in groups and match.group("time"):
                t_obs = datetime.strptime(match.group("time"), self.settings.time_format) \
                    .replace(tzinfo=UTC).timestamp()
            if "wavelength" in groups and match.group("wavelength"):
                wavelength = int(match.group("wavelength"))
        except ValueError:
            return "bad_name"
        if wavelength is not None and wavelength not in self._channels:
            return "channel"
        return Candidate(entry.url, entry.name, t_obs, wavelength)
