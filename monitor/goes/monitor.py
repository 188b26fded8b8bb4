"""The live GOES side of the daemon: feed, event detection, verification, confirmation.

:class:`GoesMonitor` is the one object the daemon holds. It polls the SWPC
JSON (:meth:`run`), keeps the recent 1-minute fluxes, detects NOAA-style
events and hands their ``goes.event.v1`` payloads to ``on_event``, pairs the
predictions given to :meth:`observe_frame` with GOES truth per model package
(:class:`~monitor.goes.packages.PackageVerifiers`: the serving package and
each shadow are scored apart, on the same GOES truth), follows alerts until
GOES confirms them (:class:`~monitor.goes.events.AlertWatch`), and answers
:meth:`scores`, :meth:`status` and :meth:`confirm_alert`. Anything can feed
it samples directly (:meth:`ingest`): files, tests, the ``verify`` command.

Hooks (given to the constructor, kept by :class:`~monitor.goes.hooks.GoesHooks`;
each may be a plain function or a coroutine function): ``on_event(payload)``
for every announcement to publish; ``on_count(family, reason, n)`` for
counters (families ``samples``, ``polls``, ``feed_errors``, ``predictions``,
``gap_minutes``, ``satellite``, ``confirmations``); ``on_sample(sample)`` for
the newest flux; ``on_confirmation(alert_id, confirmation)`` for alerts
registered with :meth:`watch_alert`, once GOES confirms them (a
:class:`~monitor.goes.events.Confirmation`) or once their window has passed
without it (None). Hooks that raise are logged and do not stop the feed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from monitor.goes.detect import EventUpdate, FlareDetector, GoesEvent
from monitor.goes.events import AlertWatch, Confirmation, event_payload
from monitor.goes.hooks import GoesHooks, Hook
from monitor.goes.packages import DEFAULT_PACKAGE, MAX_PACKAGES, PackageVerifiers
from monitor.goes.samples import FluxSeries, GoesSample, utc
from monitor.goes.scores import SkillRow
from monitor.goes.settings import GoesSettings
from monitor.goes.swpc import FetchResult, SwpcPoller, parse_swpc
from monitor.goes.verify import Verifier
from monitor.logs import get_logger

__all__ = ["DEFAULT_PACKAGE", "MAX_PACKAGES", "GoesMonitor"]

log = get_logger(__name__)


def _parse_time(value: datetime | float | str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone (UTC) first")
        return value.timestamp()
    if isinstance(value, str):
        from monitor.goes.swpc import parse_time_tag

        parsed = parse_time_tag(value)
        if parsed is None:
            raise ValueError(f"unreadable time {value!r}")
        return parsed
    return float(value)


class GoesMonitor:
    """GOES feed + detection + verification for one daemon (see the module docstring).

    Parameters
    ----------
    settings : GoesSettings
        The ``goes`` config section.
    clock : callable
        Monotonic seconds for the verifier's ``max_wait_s`` (tests may fake it).
    on_event, on_count, on_sample, on_confirmation : callable, optional
        The hooks (see the module docstring).
    """

    def __init__(self, settings: GoesSettings | None = None,
                 clock: Callable[[], float] = time.monotonic, *, on_event: Hook | None = None,
                 on_count: Hook | None = None, on_sample: Hook | None = None,
                 on_confirmation: Hook | None = None) -> None:
        self.settings = settings = settings or GoesSettings()
        self.feed = settings.feed.name
        self.series = FluxSeries(settings.history_s)
        self.detector = FlareDetector(settings.detection, self.feed, settings.feed.flux_scale)
        self.verifiers = PackageVerifiers(settings.verification, self.series, clock)
        self.alerts = AlertWatch(settings.confirmation, self.detector, self.series)
        self.poller = SwpcPoller(settings.feed)
        self.hooks = GoesHooks(on_event, on_count, on_sample, on_confirmation)
        self.published: list[dict[str, Any]] = []  # recent payloads (status page)

    @property
    def counts(self) -> Counter[str]:
        """Every count so far, by ``"<family>:<reason>"``."""
        return self.hooks.counts

    # -- input -----------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll the SWPC JSON until ``stop`` is set or the task is cancelled."""
        log.info("goes feed polling", feed=self.feed, url=self.settings.feed.url,
                 interval_s=self.settings.feed.poll_interval_s)
        await self.poller.run(self._on_fetch, stop)

    async def _on_fetch(self, result: FetchResult) -> None:
        if result.outcome == "error":
            self.hooks.count("feed_errors", str(result.reason))
        else:
            self.hooks.count("polls", result.outcome)
        if result.outcome == "ok":
            parsed = parse_swpc(result.document, self.settings.feed.flux_scale)
            self.hooks.count_all("samples", parsed.counts)
            self.ingest(parsed.samples)
        await self.deliver()

    def ingest(self, samples: Iterable[GoesSample]) -> list[dict[str, Any]]:
        """Take samples (any order, repeats allowed); returns new event payloads.

        The payloads are also queued for ``on_event`` (sent by :meth:`deliver`).
        Exact repeats of stored minutes are not counted: every SWPC document
        repeats the hours before (repeats inside one document are counted by
        the parser).
        """
        payloads: list[dict[str, Any]] = []
        newest: GoesSample | None = None
        for sample in sorted(samples, key=lambda s: s.time):
            outcome = self.series.add(sample)
            if outcome != "duplicate":
                self.hooks.count("samples", outcome)
            if outcome != "accepted":
                continue
            newest = sample
            for update in self.detector.push(sample):
                payloads.append(self._announce(update))
        if newest is not None:
            counts = self.counts
            self.hooks.count("gap_minutes", "gap",
                             self.series.gap_minutes - counts["gap_minutes:gap"])
            self.hooks.count("satellite", "switch",
                             self.series.satellite_switches - counts["satellite:switch"])
            self.hooks.sample(newest)
        self.hooks.count_all("predictions", self.verifiers.resolve())
        for alert_id, found in self.alerts.closed():
            self.hooks.count("confirmations", "confirmed" if found else "not_confirmed")
            self.hooks.queue_confirmation(alert_id, found)
        return payloads

    def _announce(self, update: EventUpdate) -> dict[str, Any]:
        payload = event_payload(update)
        self.hooks.queue_event(payload)
        self.published.append(payload)
        del self.published[:-200]
        log.info("goes event", event=update.event.event_id, state=update.state,
                 level=update.level, **{"class": update.event.goes_class})
        return payload

    async def deliver(self) -> None:
        """Hand queued event payloads and confirmations to their hooks."""
        await self.hooks.deliver()

    def watch_alert(self, alert_id: str, started_at: datetime | float,
                    threshold: str = "M") -> Confirmation | None:
        """Follow an alert until GOES confirms it or its window passes.

        Returns the confirmation at once if GOES already has it; otherwise
        ``on_confirmation(alert_id, ...)`` is called later, from :meth:`ingest`.
        """
        return self.alerts.watch(alert_id, _parse_time(started_at), threshold)

    def observe_frame(self, frame_id: str, t_obs: datetime | float | str,
                      class_probabilities: Mapping[str, float] | None = None,
                      predicted_class: str | None = None,
                      package: str = DEFAULT_PACKAGE) -> str:
        """Record a package's prediction of a frame for scoring; returns ``pending``,
        ``scored`` or the reason it was dropped (see
        :data:`~monitor.goes.verify.PREDICTION_OUTCOMES`)."""
        outcome, added = self.verifiers.observe(package, frame_id, _parse_time(t_obs),
                                                class_probabilities, predicted_class)
        self.hooks.count_all("predictions", added)
        return outcome

    def observe_frame_data(self, data: Mapping[str, Any]) -> str:
        """:meth:`observe_frame` from a ``frame.analyzed.v1`` ``data`` object."""
        return self.observe_frame(str(data["frame_id"]), data["t_obs"],
                                  data.get("class_probabilities"), data.get("predicted_class"))

    # -- output ------------------------------------------------------------------
    @property
    def verifier(self) -> Verifier:
        """The verifier of frames observed without a package name."""
        verifier = self.verifiers.get(DEFAULT_PACKAGE)
        assert verifier is not None  # the default package always has room
        return verifier

    @property
    def pending(self) -> int:
        """Predictions of every package waiting for GOES truth."""
        return self.verifiers.pending

    def scores(self) -> list[SkillRow]:
        """Contingency table, TSS and HSS per package, threshold and window (the gauges)."""
        return self.verifiers.scores()

    def events(self) -> list[GoesEvent]:
        """Recent events, the running one last."""
        return self.detector.events

    def confirm_alert(self, started_at: datetime | float, threshold: str = "M"
                      ) -> Confirmation | None:
        """GOES confirmation of an alert (see :func:`~monitor.goes.events.confirm_alert`)."""
        return self.alerts.confirm(started_at, threshold)

    def status(self) -> dict[str, Any]:
        """JSON-ready summary for ``/api/v1/status`` and the status page."""
        newest = self.series.newest
        running = self.detector.current
        return {
            "feed": self.feed,
            "url": self.settings.feed.url,
            "latest": None if newest is None else {
                "time": utc(newest.time).isoformat(), "flux_w_m2": newest.flux,
                "satellite": newest.satellite},
            "running_event": None if running is None else running.describe(),
            "recent_events": [e.describe() for e in list(self.detector.finished)[-10:]],
            "pending_predictions": self.pending,
            "scores": [row.to_dict() for row in self.scores()],
            "counts": dict(sorted(self.counts.items())),
            "poll_failures_in_a_row": self.poller.failures,
        }

    def snapshot(self) -> dict[str, Any]:
        """Scored pairs per package for a restart (the rolling windows survive it)."""
        return self.verifiers.snapshot()

    def restore(self, state: Mapping[str, Any], unnamed_as: str = DEFAULT_PACKAGE) -> int:
        """Restore :meth:`snapshot` (see :meth:`PackageVerifiers.restore`)."""
        return self.verifiers.restore(state, unnamed_as)

    async def close(self) -> None:
        await self.poller.close()
