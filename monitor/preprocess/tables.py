"""Readers for the two published forms of AIA degradation factors.

* The SolarSoft/aiapy **response table** (``$SSW/sdo/aia/response/aia_V*_response_table.txt``,
  what ``aiapy.calibrate.util.get_correction_table`` reads): whitespace-separated
  columns named on the first line (``DATE T_START T_STOP VER_NUM WAVE_STR WAVELNTH
  ... EFF_AREA EFF_WVLN EFFA_P1 EFFA_P2 EFFA_P3 RMSE``), one row per calibration
  epoch and version. The factor at ``t`` follows aiapy's ``degradation`` (after
  SolarSoft's ``aia_bp_corrections.pro``)::

      factor = EFF_AREA[epoch] / EFF_AREA[first] * (1 + P1 dt + P2 dt^2 + P3 dt^3)

  over the rows of one channel (``WAVE_STR`` ``"171_THIN"``, bare ``"1600"`` for
  the UV channels) and one calibration version (the highest in the file, as aiapy
  defaults to its latest), sorted by ``DATE`` (file order among equal dates):
  ``first`` is the first row, ``epoch`` the last row with ``T_START <= t < T_STOP``,
  ``dt`` days since its ``T_START``.
  The table's last day is its newest ``DATE`` (when it was computed): later
  factors are forecasts.
* **Daily factors**: a folder of ``degrad_<channel>.csv`` files with rows
  ``"YYYY-MM-DDTHH:MM:SS.sss",factor`` (the form SDOML and sdoml-lite ship,
  computed with aiapy), or one CSV (optionally gzipped) with a ``time`` column
  and one column per channel (the package's compact copy). Between rows the factor
  is interpolated linearly.

Both become :class:`Curve` objects per channel; :mod:`monitor.preprocess.calibrate`
adds what happens beyond a curve's end.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

__all__ = ["CalibrationUnavailable", "Curve", "DailyCurve", "ResponseCurve", "read_daily",
           "read_response_table"]

_REQUIRED = ("DATE", "T_START", "T_STOP", "WAVE_STR", "EFF_AREA", "EFFA_P1", "EFFA_P2",
             "EFFA_P3")
_UV = (1600, 1700, 4500)
_DAILY_NAME = re.compile(r"degrad_([0-9]{2,4})\.csv")
_DAY_S = 86400.0


class CalibrationUnavailable(Exception):
    """The table has no factor for the channel or the time."""


def _time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.strip().strip('"').replace("Z", ""))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Curve:
    """One channel's factor over ``[start, end]`` (UTC)."""

    start: datetime
    end: datetime

    def value(self, t: datetime) -> float:
        """Factor at ``t`` inside the curve; raises :class:`CalibrationUnavailable` outside."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Epoch:
    t_start: datetime
    t_stop: datetime
    eff_area: float
    p: tuple[float, float, float]


class ResponseCurve(Curve):
    """aiapy's ``degradation`` over the epochs of one channel and version."""

    def __init__(self, label: str, epochs: list[_Epoch], made: datetime) -> None:
        self.label = label
        self._epochs = epochs
        self._first_area = epochs[0].eff_area
        self.start = min(e.t_start for e in epochs)
        self.end = made

    def value(self, t: datetime) -> float:
        t = _utc(t)
        inside = [e for e in self._epochs if e.t_start <= t < e.t_stop]
        if not inside:
            raise CalibrationUnavailable(f"no {self.label} epoch contains {t.isoformat()}")
        epoch = inside[-1]  # several rows for one epoch: the last one written
        dt = (t - epoch.t_start).total_seconds() / _DAY_S
        p1, p2, p3 = epoch.p
        value = epoch.eff_area / self._first_area * (1.0 + p1 * dt + p2 * dt ** 2 + p3 * dt ** 3)
        if not math.isfinite(value) or value <= 0:
            raise CalibrationUnavailable(f"{self.label} factor {value} at {t.isoformat()} "
                                         "is not positive")
        return value


class DailyCurve(Curve):
    """Factors sampled at given times, interpolated linearly between them.

    A time up to one day before the first sample takes the first value: the
    samples sit at noon, observations of the first morning still belong to it.
    """

    def __init__(self, label: str, times: list[datetime], values: list[float]) -> None:
        self.label = label
        self._t = np.array([t.timestamp() for t in times], dtype=np.float64)
        self._v = np.array(values, dtype=np.float64)
        self.start, self.end = times[0], times[-1]

    def value(self, t: datetime) -> float:
        x = _utc(t).timestamp()
        if x < self._t[0] - _DAY_S or x > self._t[-1]:
            raise CalibrationUnavailable(f"{self.label}: {t.isoformat()} is outside "
                                         f"{self.start.date()} .. {self.end.date()}")
        return float(np.interp(x, self._t, self._v))

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(Unix seconds, factors), for writing the table out."""
        return self._t.copy(), self._v.copy()


def read_response_table(path: Path) -> dict[int, Curve]:
    """Curves per wavelength from an ``aia_V*_response_table.txt``.

    Raises
    ------
    ValueError
        Missing columns, a row of the wrong width or an unparsable value, with
        the file and line number.
    """
    lines = Path(path).read_text(encoding="ascii").splitlines()
    content = [(n, line) for n, line in enumerate(lines, 1)
               if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise ValueError(f"{path}: empty response table")
    header = content[0][1].split()
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    col = {name: header.index(name) for name in header}
    rows: list[tuple[str, int, datetime, _Epoch]] = []
    for number, line in content[1:]:
        cells = line.split()
        if len(cells) != len(header):
            raise ValueError(f"{path}:{number}: {len(cells)} cells, header has {len(header)}")
        try:
            version = int(cells[col["VER_NUM"]]) if "VER_NUM" in col else 0
            epoch = _Epoch(_time(cells[col["T_START"]]), _time(cells[col["T_STOP"]]),
                           float(cells[col["EFF_AREA"]]),
                           (float(cells[col["EFFA_P1"]]), float(cells[col["EFFA_P2"]]),
                            float(cells[col["EFFA_P3"]])))
            rows.append((cells[col["WAVE_STR"]], version, _time(cells[col["DATE"]]), epoch))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if not epoch.eff_area > 0 or epoch.t_stop <= epoch.t_start:
            raise ValueError(f"{path}:{number}: EFF_AREA must be > 0 and T_STOP after T_START")
    curves: dict[int, Curve] = {}
    for wave_str in dict.fromkeys(r[0] for r in rows):
        digits = wave_str.split("_")[0]
        if not digits.isdigit():
            continue  # e.g. thick-filter rows the daemon never sees
        wavelength = int(digits)
        if wave_str != (digits if wavelength in _UV else f"{digits}_THIN"):
            continue
        mine = [r for r in rows if r[0] == wave_str]
        version = max(r[1] for r in mine)
        chosen = sorted((r for r in mine if r[1] == version), key=lambda r: r[2])  # stable
        curves[wavelength] = ResponseCurve(f"{wave_str} v{version}", [r[3] for r in chosen],
                                           made=max(r[2] for r in chosen))
    if not curves:
        raise ValueError(f"{path}: no AIA channel rows")
    return curves


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", newline="")
    return open(path, encoding="ascii", newline="")  # closed by the caller


def _times(path: Path, rows: list[tuple[int, str]]) -> list[datetime]:
    times: list[datetime] = []
    for number, stamp in rows:
        try:
            t = _time(stamp)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if times and t <= times[-1]:
            raise ValueError(f"{path}:{number}: times must increase ({stamp})")
        times.append(t)
    if len(times) < 2:
        raise ValueError(f"{path}: fewer than two rows")
    return times


def _values(path: Path, rows: list[tuple[int, str]]) -> list[float]:
    values = []
    for number, cell in rows:
        try:
            v = float(cell)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{path}:{number}: factor {cell!r} is not a positive number")
        values.append(v)
    return values


def _read_channel_file(path: Path) -> DailyCurve:
    with _open_text(path) as handle:
        rows = [(n, r) for n, r in enumerate(csv.reader(handle), 1)
                if r and not (n == 1 and not r[0].strip().strip('"')[:1].isdigit())]
    for n, r in rows:
        if len(r) != 2:
            raise ValueError(f"{path}:{n}: expected time,factor")
    times = _times(path, [(n, r[0]) for n, r in rows])
    return DailyCurve(path.stem, times, _values(path, [(n, r[1]) for n, r in rows]))


def _read_wide_file(path: Path) -> dict[int, Curve]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        body = [(n, r) for n, r in enumerate(reader, 2) if r]
    if not header or len(header) < 2 or header[0] != "time" or \
            not all(h.isdigit() for h in header[1:]):
        raise ValueError(f"{path}: the header must be time,<wavelength>,... (got {header!r})")
    for n, r in body:
        if len(r) != len(header):
            raise ValueError(f"{path}:{n}: {len(r)} cells, header has {len(header)}")
    times = _times(path, [(n, r[0]) for n, r in body])
    return {int(w): DailyCurve(f"{w} A", times, _values(path, [(n, r[k]) for n, r in body]))
            for k, w in enumerate(header[1:], 1)}


def read_daily(path: Path) -> dict[int, Curve]:
    """Curves per wavelength from a folder of ``degrad_<channel>.csv`` or one wide CSV.

    Raises
    ------
    ValueError
        No usable file, or a bad row (with the file and line number).
    """
    path = Path(path)
    if path.is_dir():
        found = {int(m.group(1)): p for p in sorted(path.iterdir())
                 if (m := _DAILY_NAME.fullmatch(p.name)) and p.is_file()}
        if not found:
            raise ValueError(f"{path}: no degrad_<channel>.csv files")
        return {w: _read_channel_file(p) for w, p in sorted(found.items())}
    return _read_wide_file(path)

