"""GOES events as ``goes.event.v1`` payloads, and GOES confirmation of alerts.

Each event is announced up to three ways, each a message with a stable id
(identity: ``event_id``, ``state``, ``level``): ``begin`` when the steep rise
is seen (three minutes after the begin minute), ``threshold`` each time the
flux first reaches a NOAA radio-blackout level R1..R5 (SWPC's ALERT for M5 is
the R2 one), and ``end`` when the flux has decayed halfway to the background,
with the final peak, class and R level (SWPC's SUMMARY).

:func:`confirm_alert` answers "did GOES see it?" for an alert: the first
minute at or above the alert's threshold within a window around its start.
:class:`AlertWatch` keeps asking it for the alerts still open, as GOES data
arrive, until each is confirmed or its window has passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.goes.classes import CLASS_BASES, R_LEVELS, class_flux, goes_class, noaa_r_level
from monitor.goes.detect import EventUpdate, FlareDetector, GoesEvent
from monitor.goes.samples import FluxSeries, utc
from monitor.goes.settings import ConfirmationSettings

__all__ = ["AlertWatch", "Confirmation", "confirm_alert", "event_payload", "threshold_for_alert",
           "threshold_value"]


def _ts(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return utc(seconds).isoformat(timespec="seconds").replace("+00:00", "Z")


def event_payload(update: EventUpdate) -> dict[str, Any]:
    """The ``data`` of a ``goes.event.v1`` message for one announcement."""
    e = update.event
    return {
        "event_id": e.event_id,
        "state": update.state,
        "level": update.level,
        "feed": e.feed,
        "satellite": e.satellite,
        "begin_time": _ts(e.begin_time),
        "peak_time": _ts(e.peak_time),
        "end_time": _ts(e.end_time),
        "data_through": _ts(e.last_time),
        "begin_flux_w_m2": e.begin_flux,
        "peak_flux_w_m2": e.peak_flux,
        "end_flux_w_m2": e.end_flux,
        "background_flux_w_m2": e.background_flux,
        "goes_class": e.goes_class,
        "noaa_scale": e.noaa_scale,
        "flux_scale": e.flux_scale,
        "integrated_flux_j_m2": e.integrated_flux_j_m2,
        "end_reason": e.end_reason,
        "crossings": {level: _ts(t) for level, t in sorted(e.crossings.items())},
        "flags": sorted(e.flags),
    }


def threshold_value(threshold: str) -> float:
    """Flux of a threshold name: a letter (``"M"``), an R level (``"R2"``) or a class (``"M5"``)."""
    levels = dict(R_LEVELS)
    if threshold in levels:
        return levels[threshold]
    if threshold in CLASS_BASES:
        return CLASS_BASES[threshold]
    return class_flux(threshold)


def threshold_for_alert(signal: str | None = None, noaa_scale: str | None = None) -> str:
    """The GOES threshold that confirms an alert: its R level, else its signal's letter.

    ``p_ge_M`` is confirmed by M1, ``p_ge_X`` by X1; an alert that carries
    ``noaa_scale`` R2 needs M5.
    """
    if noaa_scale in dict(R_LEVELS):
        return str(noaa_scale)
    if signal and signal.startswith("p_ge_") and signal[5:] in CLASS_BASES:
        return signal[5:]
    return "M"


@dataclass(frozen=True)
class Confirmation:
    """GOES reached an alert's threshold.

    Attributes
    ----------
    confirmed_at : float
        Unix time of the first 1-minute record at or above the threshold.
    flux : float
        Class-scale flux of that record.
    event_id : str or None
        The detected event it belongs to (None when GOES crossed the threshold
        without a NOAA-style event, e.g. a slow rise).
    """

    threshold: str
    confirmed_at: float
    flux: float
    event_id: str | None
    peak_time: float | None
    peak_class: str | None
    noaa_scale: str | None

    @property
    def message(self) -> str:
        """Follow-up text, e.g. ``GOES confirmed at 06:37 UT: M1.2 reached (event M2.5, peak
        06:41 UT, R1)``."""
        text = f"GOES confirmed at {utc(self.confirmed_at):%H:%M} UT: " \
               f"{goes_class(self.flux)} reached (threshold {self.threshold})"
        if self.event_id is not None and self.peak_time is not None:
            scale = f", {self.noaa_scale}" if self.noaa_scale else ""
            text += f"; event {self.peak_class}, peak {utc(self.peak_time):%H:%M} UT{scale}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "confirmed_at": _ts(self.confirmed_at),
                "flux_w_m2": self.flux, "event_id": self.event_id,
                "peak_time": _ts(self.peak_time), "peak_class": self.peak_class,
                "noaa_scale": self.noaa_scale, "message": self.message}


def _as_seconds(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone (UTC) first")
        return moment.timestamp()
    return float(moment)


def confirm_alert(started_at: datetime | float, events: Iterable[GoesEvent],
                  threshold: str = "M", before_s: float = 1800.0, after_s: float = 3600.0,
                  series: FluxSeries | None = None) -> Confirmation | None:
    """The GOES confirmation of an alert that started at ``started_at``, or None (yet).

    Looks for the first 1-minute record at or above ``threshold`` (``"M"``,
    ``"X"``, ``"R2"``, ``"M5"`` ...) in ``[started_at - before_s, started_at +
    after_s]``: first among the detected events' samples (running ones count),
    then, if ``series`` is given, in the raw series (GOES crossed without a
    NOAA-style event). Call it again as data arrive; None means not yet.
    """
    start = _as_seconds(started_at)
    lo, hi = start - before_s, start + after_s
    level = threshold_value(threshold)
    best: Confirmation | None = None
    for event in events:
        for t, flux in event.samples:
            if lo <= t <= hi and flux >= level:
                if best is None or t < best.confirmed_at:
                    best = Confirmation(threshold, t, flux, event.event_id, event.peak_time,
                                        event.goes_class, event.noaa_scale)
                break
    if best is None and series is not None:
        sample = series.first_crossing(level, lo, hi)
        if sample is not None:
            best = Confirmation(threshold, sample.time, sample.flux, None, None, None,
                                noaa_r_level(sample.flux))
    return best


class AlertWatch:
    """Alerts waiting for GOES confirmation, and the answers once they come.

    An alert is closed either way: confirmed (a :class:`Confirmation`) or not
    confirmed (None) once the GOES data reach past its window, so a
    follow-up is sent for every watched alert exactly once.

    Parameters
    ----------
    settings : ConfirmationSettings
        The window around an alert's start (``before_s``, ``after_s``).
    detector : FlareDetector
        Whose events (running ones too) are searched first.
    series : FluxSeries
        The raw flux, searched when no event crossed the threshold.
    """

    def __init__(self, settings: ConfirmationSettings, detector: FlareDetector,
                 series: FluxSeries) -> None:
        self.settings = settings
        self.detector = detector
        self.series = series
        self._open: dict[str, tuple[float, str]] = {}  # alert id -> (start, threshold)

    def confirm(self, started_at: datetime | float, threshold: str = "M"
                ) -> Confirmation | None:
        """GOES confirmation of an alert now (see :func:`confirm_alert`)."""
        return confirm_alert(started_at, self.detector.events, threshold,
                             self.settings.before_s, self.settings.after_s, self.series)

    def watch(self, alert_id: str, start: float, threshold: str) -> Confirmation | None:
        """The confirmation at once if GOES already has it; otherwise the alert
        stays open until :meth:`closed` reports it."""
        found = self.confirm(start, threshold)
        if found is None:
            self._open[alert_id] = (start, threshold)
        return found

    def closed(self) -> list[tuple[str, Confirmation | None]]:
        """The open alerts GOES now confirms or whose window it has passed."""
        covered = self.series.covered_until()
        done: list[tuple[str, Confirmation | None]] = []
        for alert_id, (start, threshold) in list(self._open.items()):
            found = self.confirm(start, threshold)
            expired = covered is not None and covered > start + self.settings.after_s
            if found is not None or expired:
                del self._open[alert_id]
                done.append((alert_id, found))
        return done
