"""Labels for real frames: GOES XRS-B flux from NOAA files, flare positions from HEK rows.

GOES files are read by :mod:`monitor.goes.files` (1-minute class-scale samples:
the 0.7 science-to-operational factor of GOES-13/14/15 is applied there, as for
verification). A frame's flux is the sample of the minute it falls in.

Flare positions come from a HEK-style CSV (``event_starttime``,
``event_endtime``, ``event_peaktime``, and ``hv_hpc_x_final``/
``hv_hpc_y_final`` or ``hpc_coord`` ``POINT(x y)`` in arcsec): a frame inside a
record's start..end interval gets that record's position (the record whose peak
is nearest when several cover it). Rotation during the flare is ignored.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.goes.files import read_goes_files
from monitor.sdoml.store import StoreError
from monitor.sdoml.values import parse_numbers, parse_times

__all__ = ["FlarePositions", "GoesFlux", "goes_paths", "read_goes_flux", "read_hek"]

#: File names the GOES readers know (NCEI netCDF, SDAC FITS, SWPC JSON).
GOES_SUFFIXES: tuple[str, ...] = (".nc", ".fits", ".fts", ".fit", ".json")
_POINT = re.compile(r"POINT\(\s*([-0-9.eE+]+)\s+([-0-9.eE+]+)\s*\)")


def goes_paths(entries: Sequence[str | Path]) -> list[Path]:
    """Files of ``entries``: files as given, directories searched for GOES XRS files.

    Flare summaries (``*flsum*``) are events, not flux series, and are skipped.
    """
    out: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in GOES_SUFFIXES and "flsum" not in p.name)
            if not found:
                raise StoreError(str(path), "*", f"no GOES XRS files ({', '.join(GOES_SUFFIXES)})")
            out.extend(found)
        else:
            raise StoreError(str(path), "-", "no such file or directory")
    if not out:
        raise StoreError("data.goes", "-", "no GOES files given")
    return out


@dataclass(frozen=True)
class GoesFlux:
    """Class-scale XRS-B flux per minute (W m^-2)."""

    minutes: np.ndarray
    flux: np.ndarray

    def at(self, times_s: np.ndarray) -> np.ndarray:
        """Flux of the minute each time falls in; NaN where there is no sample."""
        minute = np.floor(np.asarray(times_s, dtype=np.float64) / 60.0).astype(np.int64)
        pos = np.clip(np.searchsorted(self.minutes, minute), 0, max(self.minutes.size - 1, 0))
        out = np.full(minute.size, np.nan)
        if self.minutes.size:
            hit = self.minutes[pos] == minute
            out[hit] = self.flux[pos[hit]]
        return out


def read_goes_flux(entries: Sequence[str | Path]) -> GoesFlux:
    """All samples of the GOES files in ``entries`` (:func:`goes_paths`)."""
    day = read_goes_files(goes_paths(entries))
    minutes = np.array([s.minute for s in day.samples], dtype=np.int64)
    flux = np.array([s.flux for s in day.samples], dtype=np.float64)
    order = np.argsort(minutes, kind="stable")
    return GoesFlux(minutes[order], flux[order])


@dataclass(frozen=True)
class FlarePositions:
    """Flare records with a position: start, end and peak (POSIX s), x and y (arcsec)."""

    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)

    def at(self, times_s: np.ndarray) -> np.ndarray:
        """``(n, 2)`` helioprojective arcsec of the flare under way at each time (else NaN)."""
        t = np.asarray(times_s, dtype=np.float64)
        out = np.full((t.size, 2), np.nan)
        for i, when in enumerate(t):
            live = np.flatnonzero((self.start <= when) & (when <= self.end))
            if live.size:
                best = live[np.argmin(np.abs(self.peak[live] - when))]
                out[i] = (self.x[best], self.y[best])
        return out


def _coords(row: dict[str, str]) -> tuple[float, float]:
    x, y = (parse_numbers([row.get("hv_hpc_x_final", ""), row.get("hv_hpc_y_final", "")]))
    if math.isfinite(x) and math.isfinite(y):
        return float(x), float(y)
    match = _POINT.search(row.get("hpc_coord", "") or "")
    if match:
        return float(match.group(1)), float(match.group(2))
    return math.nan, math.nan


def read_hek(path: str | Path) -> FlarePositions:
    """Flare records of a HEK-style CSV that have times and a position."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StoreError(str(path), "-", f"unreadable: {exc}") from None
    needed = ("event_starttime", "event_endtime")
    if rows and any(k not in rows[0] for k in needed):
        raise StoreError(str(path), "header", f"needs columns {list(needed)}")
    records = []
    for row in rows:
        start, end = parse_times([row["event_starttime"], row["event_endtime"]])
        peak = parse_times([row.get("event_peaktime", "")])[0]
        x, y = _coords(row)
        if not all(math.isfinite(v) for v in (start, end, x, y)) or end < start:
            continue
        records.append((start, end, peak if math.isfinite(peak) else (start + end) / 2, x, y))
    arr = np.array(records, dtype=np.float64).reshape(-1, 5)
    return FlarePositions(*(arr[:, i] for i in range(5)))
