"""1-minute GOES XRS-B samples: value checks, and the in-memory flux history.

A :class:`GoesSample` is one 1-minute record of class-scale XRS-B flux (see
:mod:`monitor.goes.classes`), stamped with the start of its minute: a record
stamped T covers ``[T, T + 60 s)``, as SWPC and NCEI stamp them.

Bad values never raise: :func:`flux_problem` names what is wrong with a raw
value, and :class:`FluxSeries` sorts every accepted sample into one of a small
fixed set of outcomes (metric labels) -- duplicates, conflicting duplicates,
late arrivals -- and counts gap minutes and switches of satellite.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FILL_VALUES",
    "MAX_PLAUSIBLE_FLUX",
    "SAMPLE_OUTCOMES",
    "FluxSeries",
    "GoesSample",
    "WindowTruth",
    "flux_problem",
    "utc",
]

#: Outcomes of a raw record or sample (label values of the samples counter).
SAMPLE_OUTCOMES: dict[str, str] = {
    "accepted": "a new newest minute",
    "late": "a minute older than the newest that was missing: kept for truth, not detection",
    "duplicate": "the same minute again with the same value (inside one document)",
    "conflicting_duplicate": "the same minute again with another value or satellite "
                             "(the first one is kept)",
    "null_flux": "flux is null or missing",
    "non_finite_flux": "flux is NaN or infinite",
    "fill_value": "flux is a fill value (-9999, -99999, -1e31 ...)",
    "non_positive_flux": "flux is zero or negative",
    "implausible_flux": "flux above 0.1 W m^-2 (no instrument reading)",
    "flagged": "the data provider flagged the value bad (eclipse, calibration, ...)",
    "bad_time": "the time stamp is missing or unreadable",
    "bad_record": "the record is not an object or a field has the wrong type",
    "other_band": "a record of another energy band (XRS-A)",
}

#: Largest XRS-B flux taken as real; the biggest flares saturate near 2e-3.
MAX_PLAUSIBLE_FLUX = 0.1

#: Fill values seen in GOES products (NCEI netCDF -9999, older files -99999, IDL -1e31).
FILL_VALUES: frozenset[float] = frozenset({-9999.0, -99999.0, -1e31, -1.0e32})


def utc(seconds: float) -> datetime:
    """Aware UTC datetime of a Unix time."""
    return datetime.fromtimestamp(seconds, UTC)


def flux_problem(value: Any) -> str | None:
    """The outcome name of what is wrong with a raw flux value, or None if usable."""
    if value is None:
        return "null_flux"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "bad_record"
    flux = float(value)
    if not math.isfinite(flux):
        return "non_finite_flux"
    if flux in FILL_VALUES or flux <= -9990.0:
        return "fill_value"
    if flux <= 0.0:
        return "non_positive_flux"
    if flux > MAX_PLAUSIBLE_FLUX:
        return "implausible_flux"
    return None


@dataclass(frozen=True)
class GoesSample:
    """One 1-minute XRS-B record.

    Attributes
    ----------
    time : float
        Unix time of the start of the minute.
    flux : float
        Class-scale XRS-B flux, W m^-2 (the value NOAA's thresholds apply to).
    satellite : int or None
        GOES number, when known.
    """

    time: float
    flux: float
    satellite: int | None = None

    @property
    def minute(self) -> int:
        return int(self.time // 60)


@dataclass(frozen=True)
class WindowTruth:
    """What GOES saw in a verification window."""

    max_flux: float | None
    covered_minutes: int
    expected_minutes: int

    @property
    def coverage(self) -> float:
        return self.covered_minutes / self.expected_minutes if self.expected_minutes else 0.0


class FluxSeries:
    """Recent 1-minute XRS-B fluxes by minute, any arrival order, bounded by age.

    Parameters
    ----------
    history_s : float
        Minutes older than the newest minus this are forgotten.
    """

    def __init__(self, history_s: float = 3 * 86400.0) -> None:
        self.history_s = float(history_s)
        self._minutes: list[int] = []
        self._values: dict[int, tuple[float, int | None]] = {}
        self.newest: GoesSample | None = None
        self.counts: Counter[str] = Counter()
        self.gap_minutes = 0
        self.satellite_switches = 0

    def __len__(self) -> int:
        return len(self._minutes)

    def add(self, sample: GoesSample) -> str:
        """Store a sample; returns its outcome (``accepted``, ``late``, ``duplicate`` ...)."""
        minute = sample.minute
        known = self._values.get(minute)
        if known is not None:
            same = math.isclose(known[0], sample.flux, rel_tol=1e-6) and \
                known[1] == sample.satellite
            outcome = "duplicate" if same else "conflicting_duplicate"
        elif self.newest is not None and minute < self.newest.minute:
            if minute < (self.newest.time - self.history_s) // 60:
                outcome = "late"  # too old to keep, but not an error of the feed
            else:
                self._insert(minute, sample)
                outcome = "late"
        else:
            if self.newest is not None:
                self.gap_minutes += max(0, minute - self.newest.minute - 1)
                if (self.newest.satellite is not None and sample.satellite is not None
                        and self.newest.satellite != sample.satellite):
                    self.satellite_switches += 1
            self._insert(minute, sample)
            self.newest = sample
            self._expire()
            outcome = "accepted"
        self.counts[outcome] += 1
        return outcome

    def _insert(self, minute: int, sample: GoesSample) -> None:
        self._values[minute] = (sample.flux, sample.satellite)
        if not self._minutes or minute > self._minutes[-1]:
            self._minutes.append(minute)
        else:
            bisect.insort(self._minutes, minute)

    def _expire(self) -> None:
        assert self.newest is not None
        cutoff = int((self.newest.time - self.history_s) // 60)
        cut = bisect.bisect_left(self._minutes, cutoff)
        if cut:
            for minute in self._minutes[:cut]:
                del self._values[minute]
            del self._minutes[:cut]

    def get(self, time_s: float) -> GoesSample | None:
        """The record of the minute containing ``time_s``, if any."""
        minute = int(time_s // 60)
        value = self._values.get(minute)
        return None if value is None else GoesSample(minute * 60.0, value[0], value[1])

    def covered_until(self) -> float | None:
        """End of the newest minute (Unix time): truth is known before this."""
        return None if self.newest is None else self.newest.time + 60.0

    def window(self, start_s: float, end_s: float) -> WindowTruth:
        """Max flux of the records overlapping ``[start_s, end_s]`` and their coverage."""
        lo, hi = int(start_s // 60), int(end_s // 60)
        i = bisect.bisect_left(self._minutes, lo)
        j = bisect.bisect_right(self._minutes, hi)
        minutes = self._minutes[i:j]
        best = max((self._values[m][0] for m in minutes), default=None)
        return WindowTruth(best, len(minutes), hi - lo + 1)

    def samples(self, start_s: float | None = None,
                end_s: float | None = None) -> list[GoesSample]:
        """Stored samples in time order, optionally restricted to ``[start_s, end_s]``."""
        i = 0 if start_s is None else bisect.bisect_left(self._minutes, int(start_s // 60))
        j = len(self._minutes) if end_s is None else bisect.bisect_right(
            self._minutes, int(end_s // 60))
        return [GoesSample(m * 60.0, *self._values[m]) for m in self._minutes[i:j]]

    def first_crossing(self, threshold: float, start_s: float,
                       end_s: float) -> GoesSample | None:
        """The first record in ``[start_s, end_s]`` at or above ``threshold``."""
        for sample in self.samples(start_s, end_s):
            if sample.flux >= threshold:
                return sample
        return None
