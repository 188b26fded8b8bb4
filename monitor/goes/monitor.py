"""The live GOES side of the daemon: feed, event detection, verification, confirmation.

:class:`GoesMonitor` is the one object the daemon holds. It polls the SWPC
JSON (:meth:`run`), keeps the recent 1-minute fluxes, detects NOAA-style
events and hands their ``goes.event.v1`` payloads to ``on_event``, pairs the
predictions given to :meth:`observe_frame` with GOES truth, one
:class:`~monitor.goes.verify.Verifier` per model package (the serving package
and each shadow are scored apart, on the same GOES truth), and answers
:meth:`scores`, :meth:`status` and :meth:`confirm_alert`. Anything can feed
it samples directly (:meth:`ingest`): files, tests, the ``verify`` command.

Hooks (given to the constructor; each may be a plain function or a coroutine
function): ``on_event(payload)`` for every announcement to publish;
``on_count(family, reason, n)`` for counters (families ``samples``,
``polls``, ``feed_errors``, ``predictions``, ``gap_minutes``, ``satellite``,
``confirmations``);
``on_sample(sample)`` for the newest flux; ``on_confirmation(alert_id,
confirmation)`` for alerts registered with :meth:`watch_alert`, once GOES
confirms them (a :class:`~monitor.goes.events.Confirmation`) or once their
window has passed without it (None). Hooks that raise are logged and do not
stop the feed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from monitor.goes.detect import EventUpdate, FlareDetector, GoesEvent
from monitor.goes.events import Confirmation, confirm_alert, event_payload
from monitor.goes.samples import FluxSeries, GoesSample, utc
from monitor.goes.scores import SkillRow
from monitor.goes.settings import GoesSettings
from monitor.goes.swpc import FetchResult, SwpcPoller, parse_swpc
from monitor.goes.verify import Verifier
from monitor.logs import get_logger

__all__ = ["DEFAULT_PACKAGE", "MAX_PACKAGES", "GoesMonitor"]

#: The package of frames observed without one (offline tools, tests).
DEFAULT_PACKAGE = ""
#: Packages scored at once (the serving one, a few shadows, one switched out).
MAX_PACKAGES = 8

log = get_logger(__name__)

Hook = Callable[..., Any]


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
        self._clock = clock
        self.verifiers: dict[str, Verifier] = {}
        self.poller = SwpcPoller(settings.feed)
        self.counts: Counter[str] = Counter()  # "<family>:<reason>"
        self.on_event = on_event
        self.on_count = on_count
        self.on_sample = on_sample
        self.on_confirmation = on_confirmation
        self._watched: dict[str, tuple[float, str]] = {}  # alert id -> (start, threshold)
        self._queued_confirmations: list[tuple[str, Confirmation | None]] = []
        self.published: list[dict[str, Any]] = []  # recent payloads (status page)
        self._queued: list[dict[str, Any]] = []

    # -- input -----------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll the SWPC JSON until ``stop`` is set or the task is cancelled."""
        log.info("goes feed polling", feed=self.feed, url=self.settings.feed.url,
                 interval_s=self.settings.feed.poll_interval_s)
        await self.poller.run(self._on_fetch, stop)

    async def _on_fetch(self, result: FetchResult) -> None:
        if result.outcome == "error":
            self._count("feed_errors", str(result.reason))
        else:
            self._count("polls", result.outcome)
        if result.outcome == "ok":
            parsed = parse_swpc(result.document, self.settings.feed.flux_scale)
            for reason, n in parsed.counts.items():
                self._count("samples", reason, n)
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
                self._count("samples", outcome)
            if outcome != "accepted":
                continue
            newest = sample
            for update in self.detector.push(sample):
                payloads.append(self._announce(update))
        if newest is not None:
            self._count("gap_minutes", "gap", self.series.gap_minutes - self.counts[
                "gap_minutes:gap"])
            self._count("satellite", "switch", self.series.satellite_switches - self.counts[
                "satellite:switch"])
            self._call(self.on_sample, newest)
        before = self._prediction_counts()
        for verifier in self.verifiers.values():
            verifier.resolve()
        self._count_predictions(before)
        self._check_watched()
        return payloads

    @property
    def verifier(self) -> Verifier:
        """The verifier of frames observed without a package name."""
        verifier = self.package_verifier(DEFAULT_PACKAGE)
        assert verifier is not None  # the default package always has room
        return verifier

    def package_verifier(self, package: str) -> Verifier | None:
        """The verifier of one package, made on first use; None past
        :data:`MAX_PACKAGES` packages."""
        verifier = self.verifiers.get(package)
        if verifier is None:
            if len(self.verifiers) >= MAX_PACKAGES and package != DEFAULT_PACKAGE:
                return None
            verifier = Verifier(self.settings.verification, self.series, self._clock)
            self.verifiers[package] = verifier
        return verifier

    @property
    def pending(self) -> int:
        """Predictions of every package waiting for GOES truth."""
        return sum(v.pending for v in self.verifiers.values())

    def watch_alert(self, alert_id: str, started_at: datetime | float,
                    threshold: str = "M") -> Confirmation | None:
        """Follow an alert until GOES confirms it or its window passes.

        Returns the confirmation at once if GOES already has it; otherwise
        ``on_confirmation(alert_id, ...)`` is called later, from :meth:`ingest`.
        """
        start = _parse_time(started_at)
        found = self.confirm_alert(start, threshold)
        if found is None:
            self._watched[alert_id] = (start, threshold)
        return found

    def _check_watched(self) -> None:
        covered = self.series.covered_until()
        for alert_id, (start, threshold) in list(self._watched.items()):
            found = self.confirm_alert(start, threshold)
            expired = covered is not None and covered > start + self.settings.confirmation.after_s
            if found is not None or expired:
                del self._watched[alert_id]
                self._count("confirmations", "confirmed" if found else "not_confirmed")
                self._queued_confirmations.append((alert_id, found))

    def _announce(self, update: EventUpdate) -> dict[str, Any]:
        payload = event_payload(update)
        self._queued.append(payload)
        self.published.append(payload)
        del self.published[:-200]
        log.info("goes event", event=update.event.event_id, state=update.state,
                 level=update.level, **{"class": update.event.goes_class})
        return payload

    async def deliver(self) -> None:
        """Hand queued event payloads to ``on_event`` and confirmations to
        ``on_confirmation`` (awaited when the hooks are coroutine functions)."""
        queued, self._queued = self._queued, []
        calls: list[tuple[Hook | None, tuple[Any, ...]]] = [
            (self.on_event, (payload,)) for payload in queued]
        confirmations, self._queued_confirmations = self._queued_confirmations, []
        calls += [(self.on_confirmation, item) for item in confirmations]
        for hook, args in calls:
            result = self._call(hook, *args)
            if asyncio.iscoroutine(result):
                try:
                    await result
                except Exception:  # publishing must not stop the feed
                    log.exception("goes hook failed")

    def observe_frame(self, frame_id: str, t_obs: datetime | float | str,
                      class_probabilities: Mapping[str, float] | None = None,
                      predicted_class: str | None = None,
                      package: str = DEFAULT_PACKAGE) -> str:
        """Record a package's prediction of a frame for scoring; returns ``pending``,
        ``scored`` or the reason it was dropped (see
        :data:`~monitor.goes.verify.PREDICTION_OUTCOMES`)."""
        verifier = self.package_verifier(package)
        if verifier is None:
            self._count("predictions", "too_many_packages")
            return "too_many_packages"
        before = self._prediction_counts()
        outcome = verifier.observe(frame_id, _parse_time(t_obs), class_probabilities,
                                   predicted_class)
        self._count_predictions(before)
        return outcome

    def observe_frame_data(self, data: Mapping[str, Any]) -> str:
        """:meth:`observe_frame` from a ``frame.analyzed.v1`` ``data`` object."""
        return self.observe_frame(str(data["frame_id"]), data["t_obs"],
                                  data.get("class_probabilities"), data.get("predicted_class"))

    # -- output ------------------------------------------------------------------
    def scores(self) -> list[SkillRow]:
        """Contingency table, TSS and HSS per package, threshold and window (the gauges)."""
        return [dataclasses.replace(row, package=package)
                for package, verifier in self.verifiers.items()
                for row in verifier.scores.rows()]

    def events(self) -> list[GoesEvent]:
        """Recent events, the running one last."""
        return self.detector.events

    def confirm_alert(self, started_at: datetime | float, threshold: str = "M"
                      ) -> Confirmation | None:
        """GOES confirmation of an alert (see :func:`~monitor.goes.events.confirm_alert`)."""
        c = self.settings.confirmation
        return confirm_alert(started_at, self.detector.events, threshold, c.before_s,
                             c.after_s, self.series)

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
        return {"version": 2, "packages": {package: verifier.scores.snapshot()
                                           for package, verifier in self.verifiers.items()}}

    def restore(self, state: Mapping[str, Any], unnamed_as: str = DEFAULT_PACKAGE) -> int:
        """Restore :meth:`snapshot`; returns the pairs restored (0 if incompatible).

        A version-1 snapshot (one package, unnamed) is restored as package
        ``unnamed_as`` (the daemon passes its serving package).
        """
        if state.get("version") == 1:
            packages = {unnamed_as: state.get("scores", {})}
        elif state.get("version") == 2 and isinstance(state.get("packages"), Mapping):
            packages = state["packages"]
        else:
            return 0
        restored = 0
        for package, scores in packages.items():
            verifier = self.package_verifier(str(package))
            if verifier is not None and isinstance(scores, Mapping):
                restored += verifier.scores.restore(scores)
        return restored

    async def close(self) -> None:
        await self.poller.close()

    # -- counting ------------------------------------------------------------------------
    def _prediction_counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for verifier in self.verifiers.values():
            total.update(verifier.counts)
        return total

    def _count_predictions(self, before: Counter[str]) -> None:
        for reason, n in self._prediction_counts().items():
            if n > before.get(reason, 0):
                self._count("predictions", reason, n - before.get(reason, 0))

    def _count(self, family: str, reason: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[f"{family}:{reason}"] += n
        self._call(self.on_count, family, reason, n)

    @staticmethod
    def _call(hook: Hook | None, *args: Any) -> Any:
        if hook is None:
            return None
        try:
            return hook(*args)
        except Exception:
            log.exception("goes hook failed")
            return None
