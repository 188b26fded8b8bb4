"""What every source hands the daemon, and how a source is chosen from its settings.

A source finds complete files and calls ``emit(arrival)`` for each one, in
order, awaiting it: ``emit`` may block (replay mode's back-pressure), so a
source never runs ahead of it by more than a small, fixed amount. When the
daemon has dealt with a file it calls ``done(arrival, outcome)`` so the source
can move, delete, commit or remember it.

Input a source refuses itself (a notification that is not JSON, a path
outside ``path_roots``, a URL outside ``url_prefixes``, anything whose
handling raised) becomes a :class:`Refusal` handed to the ``refuse`` callback
the source was built with; the daemon publishes it on ``<prefix>.rejects``.
One bad message never ends a feed: every source catches per message.

Sources register themselves by the ``kind`` of their settings
(``class SpoolSource(SourceBase, kind="spool")``, see :mod:`monitor.plugins`)
and define that settings class in their own module, with the pieces every
kind shares from here (:data:`AIA_CHANNELS`, :data:`FEED_NAME`,
:func:`check_feed_name`): a new kind is one new module in this package plus
its line in :data:`monitor.sources.FeedSettings`. :func:`make_source` builds
the right one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from monitor.logs import bounded, get_logger
from monitor.plugins import Registry
from monitor.sources.disposal import Disposer

__all__ = ["AIA_CHANNELS", "FEED_NAME", "SOURCES", "Emit", "FileArrival", "Outcome", "Refusal",
           "Refuse", "Source", "SourceBase", "SourceStats", "check_feed_name", "make_source",
           "registered_kinds"]

#: Longest ``target`` and ``detail`` of a :class:`Refusal` (outside input can be huge).
MAX_REFUSAL_CHARS = 1024

log = get_logger(__name__)

Outcome = Literal["processed", "rejected", "duplicate"]

#: The EUV channels of AIA, in Angstrom: what a feed watches unless told otherwise.
AIA_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335)

#: Metadata of the ``name`` field every kind's settings have.
FEED_NAME = {"doc": "short feed name used in metric labels and logs"}


def check_feed_name(name: str) -> list[tuple[str, str]]:
    """The rule on ``name`` that every kind's settings ``check()`` applies."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        return [("name", f"must be letters, digits, '-' or '_', got {name!r}")]
    return []


@dataclass(frozen=True)
class FileArrival:
    """A complete file a source has found.

    Attributes
    ----------
    path : Path
        Local path of the complete file (never a partial download).
    feed : str
        Name of the feed (the settings' ``name``).
    arrived_at : float
        ``time.time()`` when the source saw the file complete: the start of
        the end-to-end latency.
    size_bytes : int
        File size when it was found.
    url : str or None
        Where an HTTP or notified file was downloaded from.
    topic, partition, offset : str, int, int or None
        The Kafka notification this file came from.
    observation_key : str or None
        Frame key when the source knows it (notification key, JSOC slot time),
        ``YYYY-MM-DDTHH:MM:SSZ``.
    t_obs : float or None
        Observation time hint (Unix seconds, UTC) from a name or notification.
    wavelength : int or None
        Channel hint in Angstrom.
    """

    path: Path
    feed: str
    arrived_at: float
    size_bytes: int
    url: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    observation_key: str | None = None
    t_obs: float | None = None
    wavelength: int | None = None


Emit = Callable[[FileArrival], Awaitable[None]]


@dataclass(frozen=True)
class Refusal:
    """Input a source refused before it became a file arrival.

    Attributes
    ----------
    feed : str
        The feed's name.
    target : str
        What was refused: a path, a URL, or ``topic[partition]@offset`` for a
        message without a usable one; printable and bounded.
    reason : str
        Reason code (``not_json``, ``path_not_allowed``, ``url_userinfo``...).
    detail : str
        A sentence for people, bounded.
    """

    feed: str
    target: str
    reason: str
    detail: str


Refuse = Callable[[Refusal], Awaitable[None]]


def _printable(text: str) -> str:
    # NUL, newlines and undecodable bytes must not reach a message, a log or a file name
    shown = text if text.isprintable() else repr(text)[1:-1]
    return bounded(shown, MAX_REFUSAL_CHARS)


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of one source's counters (monotonic within a run).

    Attributes
    ----------
    seen : int
        Candidate files (or notifications) looked at, counted once each.
    emitted : int
        Arrivals handed to the daemon.
    ignored : dict of str to int
        Candidates left alone, by reason (``temporary``, ``symlink_outside``...).
    errors : dict of str to int
        Failures by kind (``download``, ``scan``, ``oversize``...).
    outcomes : dict of str to int
        ``done()`` calls by outcome.
    last_seen : float or None
        ``time.time()`` of the newest emitted arrival.
    last_observation_time : float or None
        Newest observation time the feed announced (Unix seconds), for staleness.
    in_flight : int
        Emitted and not yet done.
    extra : dict of str to float
        Source-specific counters (bytes downloaded, 304 answers, commits...).
    """

    feed: str
    kind: str
    seen: int = 0
    emitted: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    last_seen: float | None = None
    last_observation_time: float | None = None
    in_flight: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """What the daemon needs from a source."""

    name: str

    async def run(self, emit: Emit) -> None:
        """Find files and ``await emit(arrival)`` for each; runs until cancelled."""

    async def done(self, arrival: FileArrival, outcome: Outcome) -> None:
        """The daemon has finished with ``arrival``."""

    def stats(self) -> SourceStats:
        """Counters for metrics and the status page."""

    @property
    def last_observation_time(self) -> float | None:
        """Newest observation time the feed announced (Unix seconds), or None."""


class SourceBase:
    """Shared bookkeeping; subclasses register with ``class X(SourceBase, kind="spool")``."""

    kind: ClassVar[str] = ""
    #: Moves, deletes or keeps finished files (sources whose files are theirs to handle).
    _disposer: Disposer | None = None

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
            SOURCES.add(kind, cls)

    @classmethod
    def from_settings(cls, settings: Any, **context: Any) -> Self:
        """Build the source from one feed's settings (see :func:`make_source`)."""
        raise NotImplementedError(f"{cls.__name__} does not say how to build it")

    def __init__(self, name: str, refuse: Refuse | None = None) -> None:
        self.name = name
        self._refuse_sink = refuse
        self._n_seen = 0
        self._n_emitted = 0
        self._ignored: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        self._extra: Counter[str] = Counter()
        self._last_seen: float | None = None
        self._last_observation: float | None = None
        self._in_flight = 0

    async def done(self, arrival: FileArrival, outcome: Outcome) -> None:
        """Count the outcome; move, delete or keep the file (rejected files go to
        ``rejected/``). A disposal that fails is counted and logged, never raised."""
        self._note_done(outcome)
        if self._disposer is None:
            return
        try:
            await asyncio.to_thread(self._disposer.dispose, arrival.path, outcome)
        except OSError as exc:
            self._errors["dispose"] += 1
            log.error("cannot dispose of file", feed=self.name, path=str(arrival.path),
                      outcome=outcome, error=str(exc))

    # -- bookkeeping used by subclasses ---------------------------------------
    def _note_emitted(self, arrival: FileArrival) -> None:
        self._n_emitted += 1
        self._in_flight += 1
        self._last_seen = time.time()
        if arrival.t_obs is not None:
            self._note_observation(arrival.t_obs)

    def _note_done(self, outcome: str) -> None:
        self._outcomes[outcome] += 1
        self._in_flight = max(0, self._in_flight - 1)

    def _note_observation(self, t_obs: float) -> None:
        if self._last_observation is None or t_obs > self._last_observation:
            self._last_observation = t_obs

    async def _refuse(self, target: str, reason: str, detail: str) -> None:
        """Count, log and hand on one refused input; never raises (the feed goes on)."""
        self._ignored[reason] += 1
        refusal = Refusal(self.name, _printable(target) or "-", reason, _printable(detail))
        log.warning("input refused", feed=self.name, target=refusal.target, reason=reason,
                    detail=refusal.detail)
        if self._refuse_sink is None:
            return
        try:
            await self._refuse_sink(refusal)
        except Exception as exc:  # noqa: BLE001 - publishing the refusal must not end the feed
            log.error("refusal could not be published", feed=self.name, reason=reason,
                      error=f"{type(exc).__name__}: {exc}")

    @property
    def last_observation_time(self) -> float | None:
        return self._last_observation

    def stats(self) -> SourceStats:
        return SourceStats(
            feed=self.name, kind=self.kind, seen=self._n_seen, emitted=self._n_emitted,
            ignored=dict(self._ignored), errors=dict(self._errors),
            outcomes=dict(self._outcomes), last_seen=self._last_seen,
            last_observation_time=self._last_observation, in_flight=self._in_flight,
            extra={k: float(v) for k, v in self._extra.items()})


#: Every kind of source, found by name in this package's modules.
SOURCES: Registry[SourceBase] = Registry("monitor.sources", "feed kind")


def registered_kinds() -> tuple[str, ...]:
    """The ``kind`` values :func:`make_source` accepts."""
    return SOURCES.names()


def make_source(settings: Any, **context: Any) -> SourceBase:
    """Build the source for one feed's settings.

    Parameters
    ----------
    settings : FeedSettings
        One entry of the config's ``feeds``; its ``kind`` picks the class.
    **context
        Shared resources a kind may need: ``kafka_options`` (kafka-python
        connection options from ``monitor.publish.kafka_client.client_options``)
        for Kafka feeds, ``session`` (an ``aiohttp.ClientSession``) to share one
        connection pool, ``refuse`` (a :data:`Refuse` callback) for input the
        source refuses. Keys a kind does not use are ignored.
    """
    return SOURCES.get(settings.kind).from_settings(settings, **context)
