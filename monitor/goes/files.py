"""GOES XRS days from files: sunpy TimeSeries files, NCEI L2 netCDF, SWPC JSON, flare summaries.

Everything returns 1-minute :class:`~monitor.goes.samples.GoesSample` series
in class scale, with the counts of what was refused:

* files sunpy's ``TimeSeries`` reads (SDAC GOES FITS such as sunpy's
  ``go1520110607.fits``, NCEI netCDF): 2-3 s samples averaged into minutes
  ``[T, T + 60 s)``; a minute needs ``min_per_minute`` good samples;
* NCEI science-quality 1-minute averages (``sci_xrsf-l2-avg1m_g15_*.nc``),
  read with h5netcdf, honouring ``_FillValue`` and the ``xrsb_flag`` good-data
  bits;
* SWPC's JSON (a saved ``xrays-*.json``), parsed as the live feed parses it;
* NCEI flare summaries (``sci_xrsf-l2-flsum_*.nc``): reference events.

The class scale of each file follows :func:`~monitor.goes.classes.flux_scale_for`:
science-quality GOES-13/14/15 data are multiplied by 0.7, operational data
and GOES-16+ are used as read. An explicit ``flux_scale`` overrides it.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor.goes.classes import flux_scale_for
from monitor.goes.samples import GoesSample, flux_problem
from monitor.goes.swpc import parse_swpc

__all__ = ["GoesDay", "ReferenceEvent", "read_flare_summary", "read_goes_file",
           "read_goes_files"]

log = logging.getLogger(__name__)

_EPOCH_J2000_NOON = datetime(2000, 1, 1, 12, tzinfo=UTC)
#: xrsb_flag bits that make a value bad (bad_data, eclipsed_by_earth,
#: temperature_recovery); the electron-correction bits do not.
_BAD_FLAG_BITS = 0b111


@dataclass
class GoesDay:
    """Samples read from one or more files.

    Attributes
    ----------
    samples : list of GoesSample
        Class-scale 1-minute samples in time order (one per minute).
    flux_scale : float
        Factor applied to the fluxes read.
    satellite : int or None
        GOES number (the last one read).
    kind : str
        ``operational``, ``science`` or ``swpc_json``.
    counts : Counter
        Refused values by outcome (see :data:`~monitor.goes.samples.SAMPLE_OUTCOMES`).
    """

    samples: list[GoesSample]
    flux_scale: float
    satellite: int | None
    kind: str
    counts: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReferenceEvent:
    """An event of a reference list (NCEI flare summary). Times are Unix seconds."""

    begin_time: float | None
    peak_time: float | None
    end_time: float | None
    flare_class: str | None
    peak_flux: float | None
    background_flux: float | None
    counter: int


def _satellite_from(text: str) -> int | None:
    match = re.search(r"(?:goes[ _-]?|_g|^g)(\d{1,2})\b", text.lower())
    return int(match.group(1)) if match else None


def _seconds_since_j2000_noon(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) + _EPOCH_J2000_NOON.timestamp()


def _read_l2_avg1m(path: Path, flux_scale: float | None) -> GoesDay:
    import h5netcdf

    counts: Counter[str] = Counter()
    with h5netcdf.File(path, "r") as f:
        var = f.variables["xrsb_flux"]
        fill = var.attrs.get("_FillValue")
        flux = np.asarray(var[:], dtype=np.float64)
        times = _seconds_since_j2000_noon(f.variables["time"][:])
        flags = (np.asarray(f.variables["xrsb_flag"][:], dtype=np.int64)
                 if "xrsb_flag" in f.variables else np.zeros(flux.shape, dtype=np.int64))
        platform = str(f.attrs.get("platform", "")) or path.name
        level = str(f.attrs.get("processing_level", ""))
    satellite = _satellite_from(platform) or _satellite_from(path.name)
    science = "level 2" in level.lower() or path.name.startswith("sci_")
    scale = flux_scale if flux_scale is not None else flux_scale_for(satellite, science)
    samples = []
    for t, value, flag in zip(times, flux, flags):
        if not np.isfinite(t) or t < 0:
            counts["bad_time"] += 1
            continue
        if fill is not None and value == float(fill):
            counts["fill_value"] += 1
            continue
        problem = flux_problem(float(value))
        if problem is None and int(flag) & _BAD_FLAG_BITS:
            problem = "flagged"
        if problem is not None:
            counts[problem] += 1
            continue
        samples.append(GoesSample(float(np.floor(t / 60.0) * 60.0), float(value) * scale,
                                  satellite))
    return GoesDay(samples, scale, satellite, "science" if science else "operational", counts,
                   [str(path)])


def _read_sunpy(path: Path, flux_scale: float | None, min_per_minute: int) -> GoesDay:
    import warnings

    import sunpy.timeseries

    with warnings.catch_warnings():
        # pandas deprecations inside sunpy's reader are not about the data
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        series = sunpy.timeseries.TimeSeries(str(path))
    frame = series.to_dataframe()
    meta = series.meta.metas[0] if series.meta.metas else {}
    telescope = str(meta.get("telescop", "") or meta.get("platform", "") or path.name)
    satellite = _satellite_from(telescope) or _satellite_from(path.name)
    level = str(meta.get("processing_level", "")).lower()
    science = "level 2" in level or "science" in str(meta.get("title", "")).lower()
    scale = flux_scale if flux_scale is not None else flux_scale_for(satellite, science)
    counts: Counter[str] = Counter()
    times = frame.index.values.astype("datetime64[ns]").astype(np.int64) / 1e9
    flux = frame["xrsb"].to_numpy(dtype=np.float64)
    good = np.ones(flux.shape, dtype=bool)
    if "xrsb_quality" in frame.columns:
        quality = frame["xrsb_quality"].to_numpy()
        flagged = quality != 0
        counts["flagged"] += int(flagged.sum())
        good &= ~flagged
    for i in np.flatnonzero(good):
        problem = flux_problem(float(flux[i]))
        if problem is not None:
            counts[problem] += 1
            good[i] = False
    minutes = np.floor(times[good] / 60.0).astype(np.int64)
    values = flux[good]
    samples = []
    if minutes.size:
        order = np.argsort(minutes, kind="stable")
        minutes, values = minutes[order], values[order]
        starts = np.flatnonzero(np.r_[True, minutes[1:] != minutes[:-1]])
        sums = np.add.reduceat(values, starts)
        n = np.diff(np.r_[starts, minutes.size])
        for minute, total, count in zip(minutes[starts], sums, n):
            if count < min_per_minute:
                counts["sparse_minute"] += 1
                continue
            samples.append(GoesSample(float(minute) * 60.0, float(total / count) * scale,
                                      satellite))
    kind = "science" if science else "operational"
    return GoesDay(samples, scale, satellite, kind, counts, [str(path)])


def _read_json(path: Path, flux_scale: float | None) -> GoesDay:
    document = json.loads(path.read_text(encoding="utf-8"))
    scale = 1.0 if flux_scale is None else flux_scale
    parsed = parse_swpc(document, flux_scale=scale)
    sats = [s.satellite for s in parsed.samples if s.satellite is not None]
    return GoesDay(parsed.samples, scale, sats[-1] if sats else None, "swpc_json",
                   parsed.counts, [str(path)])


def read_goes_file(path: Path | str, flux_scale: float | None = None,
                   min_per_minute: int = 10) -> GoesDay:
    """Read one GOES XRS file into class-scale 1-minute samples.

    Parameters
    ----------
    path : path
        ``*.json`` (SWPC), ``sci_xrsf-l2-avg1m*.nc`` (NCEI 1-minute science
        data), or anything sunpy's TimeSeries reads as GOES XRS (FITS, netCDF).
    flux_scale : float, optional
        Override the class-scale factor (default: by kind and satellite).
    min_per_minute : int
        High-cadence files: good samples a minute needs (GOES 13-15: 30 a minute).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".json"):
        return _read_json(path, flux_scale)
    if name.endswith(".nc") and "avg1m" in name:
        return _read_l2_avg1m(path, flux_scale)
    return _read_sunpy(path, flux_scale, min_per_minute)


def read_goes_files(paths: list[Path] | list[str], flux_scale: float | None = None) -> GoesDay:
    """Several files merged in time order (the first value of a minute wins)."""
    days = [read_goes_file(p, flux_scale) for p in paths]
    if not days:
        return GoesDay([], 1.0 if flux_scale is None else flux_scale, None, "none")
    merged: dict[int, GoesSample] = {}
    counts: Counter[str] = Counter()
    for day in days:
        counts.update(day.counts)
        for sample in day.samples:
            if sample.minute in merged:
                counts["duplicate"] += 1
            else:
                merged[sample.minute] = sample
    last = days[-1]
    return GoesDay([merged[m] for m in sorted(merged)], last.flux_scale, last.satellite,
                   last.kind, counts, [s for d in days for s in d.sources])


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip()
    return str(value).strip()


def read_flare_summary(path: Path | str) -> list[ReferenceEvent]:
    """Events of an NCEI flare summary (``*-flsum_*.nc``: EVENT_START/PEAK/END rows).

    Fluxes are as in the file (science scale for GOES-13/14/15).
    """
    import h5netcdf

    with h5netcdf.File(Path(path), "r") as f:
        times = _seconds_since_j2000_noon(f.variables["time"][:])
        status = [_text(s) for s in f.variables["status"][:]]
        flux = np.asarray(f.variables["xrsb_flux"][:], dtype=np.float64)
        background = np.asarray(f.variables["background_flux"][:], dtype=np.float64)
        classes = [_text(c) for c in f.variables["flare_class"][:]]
        counter = np.asarray(f.variables["flare_counter"][:], dtype=np.int64)
    rows: dict[int, dict[str, Any]] = {}
    for t, st, fx, bg, cls, n in zip(times, status, flux, background, classes, counter):
        row = rows.setdefault(int(n), {"counter": int(n)})
        if st == "EVENT_START":
            row["begin_time"] = float(t)
            row["background_flux"] = float(bg) if bg > 0 else None
        elif st == "EVENT_PEAK":
            row["peak_time"], row["peak_flux"] = float(t), float(fx)
            row["flare_class"] = cls or None
        elif st == "EVENT_END":
            row["end_time"] = float(t)
    return [ReferenceEvent(r.get("begin_time"), r.get("peak_time"), r.get("end_time"),
                           r.get("flare_class"), r.get("peak_flux"), r.get("background_flux"),
                           r["counter"]) for r in sorted(rows.values(), key=lambda r: r["counter"])]

