"""X-ray flare detection on 1-minute XRS-B fluxes, following NOAA's event definition.

NOAA (SWPC events README): the *begin* of an X-ray event is the first minute,
in a sequence of 4 minutes, of steep monotonic increase in 0.1-0.8 nm flux;
the *maximum* is the minute of peak flux; the *end* is when the flux has
decayed to a point halfway between the maximum and the pre-flare background.
The numbers that make "steep" concrete are SWPC's operational ones (all four
values at or above B1, the fourth at least 1.4 times the first; see
:class:`~monitor.goes.settings.DetectionSettings`). The pre-flare background
is the flux of the begin minute.

Beyond the definition, explicit choices for real data:

* a new steep rise that begins after the peak, below ``split_fraction`` of
  it, ends the running event at its first minute (``end_reason``
  ``next_event``) and begins a new one: NOAA lists such flares separately;
* a gap longer than ``max_gap_s`` ends a running event at its last sample
  (``data_gap``); shorter gaps are flagged, and no rising run spans a gap;
* a change of satellite never counts as a rise (the run restarts) and is
  flagged on a running event.

:class:`FlareDetector` works sample by sample (live), :func:`detect_flares`
over a whole series (files, the ``verify`` command). Both take class-scale
fluxes in time order.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from monitor.goes.classes import CLASS_BASES, R_LEVELS, goes_class, noaa_r_level
from monitor.goes.samples import GoesSample, utc
from monitor.goes.settings import DetectionSettings

__all__ = ["END_REASONS", "EventUpdate", "FlareDetector", "GoesEvent", "detect_flares"]

#: Why an event ended.
END_REASONS: dict[str, str] = {
    "half_decay": "flux decayed halfway from the peak to the pre-flare background (NOAA)",
    "next_event": "a new steep rise began during the decay",
    "data_gap": "no data for longer than detection.max_gap_s",
}

_CROSSING_LEVELS: tuple[tuple[str, float], ...] = (
    ("C", CLASS_BASES["C"]), ("M", CLASS_BASES["M"]), ("X", CLASS_BASES["X"]), *R_LEVELS)


@dataclass
class GoesEvent:
    """One X-ray event (running while ``end_time`` is None). Times are Unix seconds.

    ``crossings`` maps C/M/X and R1..R5 to the first minute the flux was at or
    above that level; fluxes are class scale (``flux_scale`` times the flux read).
    """

    event_id: str
    feed: str
    satellite: int | None
    begin_time: float
    begin_flux: float
    peak_time: float
    peak_flux: float
    flux_scale: float = 1.0
    end_time: float | None = None
    end_flux: float | None = None
    end_reason: str | None = None
    last_time: float = 0.0
    crossings: dict[str, float] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    samples: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def background_flux(self) -> float:
        """Pre-flare background: the flux of the begin minute."""
        return self.begin_flux

    @property
    def half_level(self) -> float:
        """Flux at which the event ends (halfway from the peak to the background)."""
        return self.background_flux + 0.5 * (self.peak_flux - self.background_flux)

    @property
    def ended(self) -> bool:
        return self.end_time is not None

    @property
    def goes_class(self) -> str:
        return goes_class(self.peak_flux) or "A0.0"

    @property
    def noaa_scale(self) -> str | None:
        return noaa_r_level(self.peak_flux)

    @property
    def integrated_flux_j_m2(self) -> float:
        """Sum of the 1-minute fluxes (times 60 s) from begin to end (or the last sample)."""
        stop = self.end_time if self.end_time is not None else float("inf")
        return sum(flux * 60.0 for t, flux in self.samples if t <= stop)

    def copy(self) -> GoesEvent:
        return dataclasses.replace(self, crossings=dict(self.crossings), flags=set(self.flags),
                                   samples=list(self.samples))

    def describe(self) -> str:
        end = f"{utc(self.end_time):%H:%M}" if self.end_time is not None else "running"
        return (f"{self.goes_class} begin {utc(self.begin_time):%H:%M} peak "
                f"{utc(self.peak_time):%H:%M} end {end}")


@dataclass(frozen=True)
class EventUpdate:
    """Something to announce about an event: it began, crossed an R level, or ended."""

    state: Literal["begin", "threshold", "end"]
    event: GoesEvent
    level: str | None = None


class FlareDetector:
    """Streaming NOAA-style event detection (see the module docstring).

    Parameters
    ----------
    settings : DetectionSettings
        Rise length, ratio, floor, gap and split rules.
    feed : str
        Feed name, part of the event ids.
    flux_scale : float
        Recorded on events (the fluxes pushed are already class scale).
    keep_all : bool
        Keep every finished event (a batch run), not only the last ``events_kept``.
    """

    def __init__(self, settings: DetectionSettings | None = None, feed: str = "goes",
                 flux_scale: float = 1.0, keep_all: bool = False) -> None:
        self.settings = settings or DetectionSettings()
        self.feed = feed
        self.flux_scale = flux_scale
        self.current: GoesEvent | None = None
        self.finished: deque[GoesEvent] = deque(
            maxlen=None if keep_all else self.settings.events_kept)
        self._run: deque[GoesSample] = deque(maxlen=self.settings.rise_minutes)
        self._last: GoesSample | None = None
        self.ignored_out_of_order = 0

    @property
    def events(self) -> list[GoesEvent]:
        """Finished events, then the running one."""
        return [*self.finished, *([self.current] if self.current else [])]

    def push(self, sample: GoesSample) -> list[EventUpdate]:
        """Feed the next sample (strictly later than the last); returns announcements."""
        last = self._last
        if last is not None and sample.time <= last.time:
            self.ignored_out_of_order += 1
            return []
        updates: list[EventUpdate] = []
        gap = last is not None and sample.time - last.time > 60.0
        switch = (last is not None and last.satellite is not None
                  and sample.satellite is not None and last.satellite != sample.satellite)
        if self.current is not None and last is not None:
            if sample.time - last.time > self.settings.max_gap_s:
                updates += self._end(last.time, last.flux, "data_gap")
            else:
                if gap:
                    self.current.flags.add("data_gap")
                if switch:
                    self.current.flags.add("satellite_switch")
        if gap or switch:
            self._run.clear()
        self._run.append(sample)
        self._last = sample
        rise = self._steep_rise()
        event = self.current
        if event is None:
            if rise:
                updates += self._begin()
        elif (rise and self._run[0].time > event.peak_time
              and self._run[0].flux < self.settings.split_fraction * event.peak_flux):
            first = self._run[0]
            updates += self._end(first.time, first.flux, "next_event")
            updates += self._begin()
        else:
            updates += self._extend(event, sample)
            if sample.time > event.peak_time and sample.flux <= event.half_level:
                updates += self._end(sample.time, sample.flux, "half_decay")
        return updates

    def _steep_rise(self) -> bool:
        run, s = self._run, self.settings
        if len(run) < s.rise_minutes:
            return False
        values = [x.flux for x in run]
        return (all(v >= s.min_flux_w_m2 for v in values)
                and all(b > a for a, b in itertools.pairwise(values))
                and values[-1] >= s.rise_ratio * values[0])

    def _begin(self) -> list[EventUpdate]:
        first = self._run[0]
        sat = first.satellite
        stamp = f"{utc(first.time):%Y%m%dT%H%MZ}"
        event_id = f"{self.feed}-g{sat}-{stamp}" if sat is not None else f"{self.feed}-{stamp}"
        event = GoesEvent(event_id=event_id, feed=self.feed, satellite=sat,
                          begin_time=first.time, begin_flux=first.flux, peak_time=first.time,
                          peak_flux=first.flux, flux_scale=self.flux_scale,
                          last_time=first.time)
        self.current = event
        crossed: list[EventUpdate] = []
        for sample in self._run:
            crossed += self._extend(event, sample)
        # announced once the rise is seen: peak and crossings so far included
        return [EventUpdate("begin", event.copy()), *crossed]

    def _extend(self, event: GoesEvent, sample: GoesSample) -> list[EventUpdate]:
        updates = []
        if not event.samples or sample.time > event.samples[-1][0]:
            event.samples.append((sample.time, sample.flux))
        event.last_time = sample.time
        if sample.flux > event.peak_flux:
            event.peak_flux, event.peak_time = sample.flux, sample.time
        for level, threshold in _CROSSING_LEVELS:
            if sample.flux >= threshold and level not in event.crossings:
                event.crossings[level] = sample.time
                if level.startswith("R"):
                    updates.append(EventUpdate("threshold", event.copy(), level))
        return updates

    def _end(self, time_s: float, flux: float, reason: str) -> list[EventUpdate]:
        event = self.current
        assert event is not None
        event.end_time, event.end_flux, event.end_reason = time_s, flux, reason
        event.samples = [(t, f) for t, f in event.samples if t <= time_s]
        self.finished.append(event)
        self.current = None
        return [EventUpdate("end", event.copy())]


def detect_flares(samples: Iterable[GoesSample], settings: DetectionSettings | None = None,
                  feed: str = "goes", flux_scale: float = 1.0) -> list[GoesEvent]:
    """All events of a time-ordered series; the last may still be running (no end).

    Samples out of order or repeated are skipped (the detector counts them).
    """
    detector = FlareDetector(settings, feed, flux_scale, keep_all=True)  # a batch run
    for sample in samples:
        detector.push(sample)
    return detector.events
