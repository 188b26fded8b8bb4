"""Instrument degradation: the factor that turns observed DN/s into a fresh AIA's DN/s.

AIA's EUV channels lose sensitivity with time (304 A keeps ~6 % of its 2010
response by 2024, 335 A ~16 %), so level-1 data of today's Sun are many times
fainter than those of 2010. ``corrected = observed / factor``, with the factor
from a :class:`DegradationTable`:

* ``factor(channel, t)``: the table's value, or past its last day an
  extrapolation: the trend of ``log(factor)`` over the table's last 90 days
  (least squares), continued from the last value; for a table whose last
  months are flat that is the last value.
* ``applied(channel, t)``: the same as an :class:`AppliedFactor` that says
  whether, and how far, it was extrapolated (frame messages carry it).
* ``age_days(now)``: days from the table's last day to ``now`` (a gauge);
  ``is_stale`` is true once frames are corrected by extrapolation.

Tables come from the aiapy/SolarSoft response table or daily CSV factors
(:mod:`monitor.preprocess.tables`); :meth:`DegradationTable.builtin` is the copy
shipped with the package (calibration version 9, daily, 2010-05-01 to
2024-07-11; provenance in ``monitor/preprocess/data/``). Data that are already
corrected (SDOML) must never go through a table: their readers pass none.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from monitor.preprocess.tables import (
    CalibrationUnavailable,
    Curve,
    DailyCurve,
    read_daily,
    read_response_table,
)

__all__ = ["BUILTIN", "NONE", "AppliedFactor", "CalibrationStatus", "CalibrationUnavailable",
           "DegradationTable", "calibration_status", "load_degradation_table",
           "write_daily_table"]

#: ``preprocess.degradation_table`` values that are not paths.
BUILTIN = "builtin"
NONE = "none"
#: Days at the end of a table whose trend is extrapolated.
TREND_DAYS = 90
_BUILTIN_FILE = "aia_degradation_v9.csv.gz"
_DAY_S = 86400.0


@dataclass(frozen=True)
class AppliedFactor:
    """The factor one image was divided by.

    Attributes
    ----------
    channel : int
        Wavelength in angstrom.
    factor : float
        Observed / corrected (1.0 = a fresh instrument).
    extrapolated_days : float
        0 inside the table; otherwise how many days past its last day ``t`` lies.
    """

    channel: int
    factor: float
    extrapolated_days: float = 0.0

    @property
    def extrapolated(self) -> bool:
        return self.extrapolated_days > 0.0


@dataclass(frozen=True)
class CalibrationStatus:
    """How current the daemon's degradation correction is (for probes and gauges).

    Attributes
    ----------
    age_days : float
        Days from the table's last day to now (NaN without a table).
    last_day : str or None
        The table's last day (ISO date).
    extrapolated_days : float
        How far past that day the latest accepted file's factor was extrapolated (0: not).
    """

    age_days: float = math.nan
    last_day: str | None = None
    extrapolated_days: float = 0.0

    @property
    def stale_reason(self) -> str | None:
        """The ``calibration_stale`` readiness entry, or None while nothing is extrapolated."""
        if self.extrapolated_days <= 0:
            return None
        return (f"calibration_stale: degradation factors extrapolated "
                f"{self.extrapolated_days:.0f} days past the table's last day "
                f"({self.last_day}); update preprocess.degradation_table")


def calibration_status(spec: str, latest: AppliedFactor | None, now: datetime
                       ) -> CalibrationStatus:
    """The status of table ``spec`` (a ``preprocess.degradation_table`` value) at ``now``."""
    table = load_degradation_table(spec)
    if table is None:
        return CalibrationStatus()
    return CalibrationStatus(table.age_days(now), table.last_day.date().isoformat(),
                             latest.extrapolated_days if latest is not None else 0.0)


@dataclass(frozen=True)
class _Trend:
    end: datetime
    value: float
    slope_per_day: float  # of log(factor)


def _trend(curve: Curve) -> _Trend:
    end_value = curve.value(curve.end)
    days, logs = [], []
    for k in range(TREND_DAYS + 1):
        try:
            logs.append(math.log(curve.value(curve.end - timedelta(days=k))))
        except CalibrationUnavailable:
            continue
        days.append(-float(k))
    slope = float(np.polyfit(days, logs, 1)[0]) if len(days) >= 2 else 0.0
    if abs(slope) < 1e-12:  # a flat end: keep the last value exactly, not its rounding noise
        slope = 0.0
    return _Trend(curve.end, end_value, slope)


class DegradationTable:
    """Degradation factors per channel and time.

    Parameters
    ----------
    curves : dict of int to Curve
        Per wavelength (angstrom), from :mod:`monitor.preprocess.tables`.
    source : str
        Where the curves came from (messages, logs, ``inspect``).
    """

    def __init__(self, curves: dict[int, Curve], source: str) -> None:
        if not curves:
            raise ValueError(f"{source}: no channels")
        self.source = source
        self._curves = dict(sorted(curves.items()))
        self._trends = {w: _trend(c) for w, c in self._curves.items()}
        self.first_day = min(c.start for c in self._curves.values())
        self.last_day = min(c.end for c in self._curves.values())

    # -- construction
    @classmethod
    def from_file(cls, path: str | Path) -> DegradationTable:
        """A response table (``*.txt``), a folder of daily CSVs or one wide CSV (``.csv[.gz]``).

        Raises
        ------
        ValueError
            The file does not follow its format (with file and line).
        """
        path = Path(path)
        if path.is_dir() or path.name.endswith((".csv", ".csv.gz")):
            return cls(read_daily(path), str(path))
        return cls(read_response_table(path), str(path))

    @classmethod
    def builtin(cls) -> DegradationTable:
        """The table shipped with the package (see ``monitor/preprocess/data/README.md``)."""
        with resources.as_file(resources.files("monitor.preprocess") / "data" /
                               _BUILTIN_FILE) as path:
            table = cls(read_daily(path), f"{BUILTIN}:{_BUILTIN_FILE}")
        return table

    # -- queries
    def channels(self) -> tuple[int, ...]:
        """Wavelengths with factors."""
        return tuple(self._curves)

    def applied(self, wavelength: int, t_obs: datetime) -> AppliedFactor:
        """The factor for ``wavelength`` at ``t_obs``, marked when extrapolated.

        Raises
        ------
        CalibrationUnavailable
            The channel is absent, or ``t_obs`` lies before the table.
        """
        curve = self._curves.get(int(wavelength))
        if curve is None:
            raise CalibrationUnavailable(f"{self.source}: no factors for {wavelength} A")
        t = t_obs if t_obs.tzinfo else t_obs.replace(tzinfo=UTC)
        trend = self._trends[int(wavelength)]
        if t <= trend.end:
            try:
                return AppliedFactor(int(wavelength), curve.value(t))
            except CalibrationUnavailable as exc:
                raise CalibrationUnavailable(f"{self.source}: {exc}") from None
        days = (t - trend.end).total_seconds() / _DAY_S
        return AppliedFactor(int(wavelength), trend.value * math.exp(trend.slope_per_day * days),
                             days)

    def factor(self, wavelength: int, t_obs: datetime) -> float:
        """Observed / corrected for ``wavelength`` at ``t_obs`` (see :meth:`applied`)."""
        return self.applied(wavelength, t_obs).factor

    def age_days(self, now: datetime) -> float:
        """Days from the table's last day to ``now`` (negative while it still covers now)."""
        return (now - self.last_day).total_seconds() / _DAY_S

    def is_stale(self, now: datetime) -> bool:
        """True once observations at ``now`` are corrected by extrapolation."""
        return self.age_days(now) > 0.0

    def describe(self) -> dict[str, Any]:
        """Plain summary (source, coverage, channels) for logs and ``inspect``."""
        return {"source": self.source, "first_day": self.first_day.isoformat(),
                "last_day": self.last_day.isoformat(), "channels": list(self.channels())}


@lru_cache(maxsize=4)
def load_degradation_table(spec: str) -> DegradationTable | None:
    """The table a ``preprocess.degradation_table`` value names, read once per process.

    ``"builtin"`` is the shipped table, ``"none"`` disables correction (returns
    None), anything else is a path for :meth:`DegradationTable.from_file`.

    Raises
    ------
    ValueError
        Missing file or a bad table.
    """
    if spec == NONE:
        return None
    if spec == BUILTIN:
        return DegradationTable.builtin()
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"degradation table {spec} does not exist")
    return DegradationTable.from_file(path)


def write_daily_table(curves: dict[int, Curve], out: Path, provenance: dict[str, Any]) -> None:
    """Write daily curves as one gzipped wide CSV plus a JSON provenance file beside it.

    All curves must share their sample times (as the v9 folder's do). The JSON
    gets the CSV's SHA-256 so a reader can tell the pair belongs together.
    """
    series = [c.samples() for c in curves.values() if isinstance(c, DailyCurve)]
    if len(series) != len(curves) or any(not np.array_equal(s[0], series[0][0])
                                         for s in series):
        raise ValueError("every channel needs the same daily sample times")
    times = series[0][0]
    out = Path(out)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["time", *[str(w) for w in curves]])
    for i, t in enumerate(times):
        stamp = datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        writer.writerow([stamp, *[repr(float(s[1][i])) for s in series]])
    # mtime=0: the same factors give the same bytes (and SHA-256)
    out.write_bytes(gzip.compress(text.getvalue().encode("ascii"), compresslevel=9, mtime=0))
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    meta = dict(provenance, file=out.name, sha256=digest, channels=list(curves),
                first_day=datetime.fromtimestamp(float(times[0]), UTC).isoformat(),
                last_day=datetime.fromtimestamp(float(times[-1]), UTC).isoformat(),
                rows=len(times))
    out.with_name(out.name.removesuffix(".csv.gz") + ".json").write_text(
        json.dumps(meta, indent=2) + "\n")
