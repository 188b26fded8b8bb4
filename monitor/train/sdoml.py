"""Training samples from SDOML as published (``data: kind: sdoml``).

:func:`build_table` indexes the AIA channels by ``T_OBS``, joins them on
regular slots, attaches EVE lines, GOES flux and (optionally) HEK flare
positions, and keeps the slots that have every channel, a GOES flux and at
least one EVE line (a missing line is NaN: the trainer leaves it out). The table is cached in
the run's cache directory (indexing a full store reads every attribute list
once; the published stores do not change). :func:`sdoml_builders` splits the
table by time blocks with guard gaps; :class:`SdomlDraw` reads one slot's
frames and puts them on the model grid with the daemon's resampling.

SDOML frames are already exposure-normalised and degradation-corrected by
their writer: no calibration is applied here, ever.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor.grid import ModelGrid
from monitor.logs import get_logger
from monitor.models.defaults import DEFAULT_CLASS_THRESHOLDS_W_M2
from monitor.sdoml.aia import (
    ChannelIndex,
    read_channel_index,
    sdoml_geometry,
    store_years,
    to_model_grid,
)
from monitor.sdoml.align import join_channels
from monitor.sdoml.eve import read_eve, read_eve_v1
from monitor.sdoml.labels import goes_paths, read_goes_flux, read_hek
from monitor.sdoml.store import Store, StoreError, ZArray, open_store
from monitor.sdoml.v1 import V1Frames, index_v1
from monitor.train.data import KERNEL_FIELDS, SampleTuple, SplitBuilder
from monitor.train.settings import SdomlSourceSettings, TrainConfig
from monitor.train.splits import time_block_split

__all__ = ["SdomlDraw", "SdomlTable", "build_table", "cached_table", "dry_run_summary",
           "sdoml_builders"]

log = get_logger(__name__)
_TABLE_FORMAT = 1


@dataclass(frozen=True)
class SdomlTable:
    """Aligned slots with every label; ``(n, C)`` frame addresses per channel.

    ``years``/``rows`` address a v2 store's ``<year>/<wl>A`` array; for v1,
    ``rows`` index ``paths[c]``. ``flare_xy`` is helioprojective arcsec (NaN
    when no flare record covers the slot).
    """

    times: np.ndarray
    years: np.ndarray
    rows: np.ndarray
    geometry: np.ndarray
    size: int
    irradiance: np.ndarray
    goes_flux: np.ndarray
    flare_xy: np.ndarray
    paths: tuple[tuple[str, ...], ...] = ()
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.times.size)


def _indexes(source: SdomlSourceSettings, channels: tuple[int, ...]
             ) -> tuple[list[ChannelIndex], tuple[tuple[str, ...], ...]]:
    if source.format == "v1":
        pairs = [index_v1(Path(source.aia), c, tuple(source.years)) for c in channels]
        return [p[0] for p in pairs], tuple(p[1].paths for p in pairs)
    store = open_store(source.aia, source.anonymous)
    years = list(source.years) or store_years(store)
    out = []
    for channel in channels:
        out.append(read_channel_index(store, channel, years))
        log.info("SDOML channel indexed", channel=channel, frames=len(out[-1]),
                 skipped=out[-1].skipped)
    return out, ()


def build_table(source: SdomlSourceSettings, channels: tuple[int, ...]) -> SdomlTable:
    """Index, join and label (see the module docstring)."""
    indexes, paths = _indexes(source, channels)
    alignment = join_channels([i.times for i in indexes], channels,
                              source.cadence_minutes * 60.0,
                              source.channel_tolerance_minutes * 60.0)
    dropped: Counter[str] = Counter({f"missing_{c}A": n for c, n in alignment.missing.items()})
    for index in indexes:
        for reason, n in index.skipped.items():
            dropped[f"{reason}_{index.channel}A"] += n
    eve = (read_eve_v1(Path(source.eve)) if source.format == "v1"
           else read_eve(open_store(source.eve, source.anonymous)))
    irradiance = eve.match(alignment.times, source.eve_tolerance_minutes * 60.0)
    flux = read_goes_flux(list(source.goes)).at(alignment.times)
    # A line missing at a slot stays NaN (the loss and the scores leave it out); a slot
    # without any line has nothing for the irradiance head and is dropped.
    has_eve = np.any(np.isfinite(irradiance), axis=1)
    has_goes = np.isfinite(flux)
    dropped["no_eve"] += int(np.count_nonzero(~has_eve))
    dropped["no_goes"] += int(np.count_nonzero(has_eve & ~has_goes))
    keep = has_eve & has_goes
    dropped["eve_values_missing"] += int(np.count_nonzero(~np.isfinite(irradiance[keep])))
    sel = alignment.frames[keep]
    times = alignment.times[keep]
    flare_xy = (read_hek(source.hek).at(times) if source.hek
                else np.full((times.size, 2), np.nan))
    c_range = range(len(indexes))
    return SdomlTable(
        times=times,
        years=np.stack([indexes[c].years[sel[:, c]] for c in c_range], axis=1),
        rows=np.stack([indexes[c].rows[sel[:, c]] for c in c_range], axis=1),
        geometry=np.stack([indexes[c].geometry[sel[:, c]] for c in c_range], axis=1),
        size=indexes[0].size, irradiance=irradiance[keep], goes_flux=flux[keep],
        flare_xy=flare_xy, paths=paths, dropped={k: v for k, v in dropped.items() if v})


def _signature(source: SdomlSourceSettings, channels: tuple[int, ...]) -> str:
    goes = []
    for path in goes_paths(list(source.goes)):
        stat = path.stat()
        goes.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"format": _TABLE_FORMAT, "source": source.format, "aia": source.aia,
                       "eve": source.eve, "goes": goes, "hek": source.hek,
                       "years": list(source.years), "channels": list(channels),
                       "cadence": source.cadence_minutes,
                       "tol": source.channel_tolerance_minutes,
                       "eve_tol": source.eve_tolerance_minutes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_table(source: SdomlSourceSettings, channels: tuple[int, ...],
                 cache_dir: Path) -> tuple[SdomlTable, str]:
    """:func:`build_table`, reusing the copy in ``cache_dir`` when the settings match."""
    digest = _signature(source, channels)
    path = Path(cache_dir) / f"sdoml-table-{digest}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            paths = tuple(tuple(str(p) for p in z[f"paths_{c}"]) for c in range(len(channels))
                          ) if source.format == "v1" else ()
            table = SdomlTable(z["times"], z["years"], z["rows"], z["geometry"], int(z["size"]),
                               z["irradiance"], z["goes_flux"], z["flare_xy"], paths,
                               json.loads(str(z["dropped"])))
        return table, digest
    table = build_table(source, channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {f"paths_{c}": np.array(p, dtype=str) for c, p in enumerate(table.paths)}
    np.savez(tmp, times=table.times, years=table.years, rows=table.rows,
             geometry=table.geometry, size=table.size, irradiance=table.irradiance,
             goes_flux=table.goes_flux, flare_xy=table.flare_xy,
             dropped=json.dumps(table.dropped), **extra)
    tmp.rename(path)
    return table, digest


def _class_index(flux: float) -> int:
    return int(sum(flux >= t for t in DEFAULT_CLASS_THRESHOLDS_W_M2[1:]))


@dataclass
class SdomlDraw:
    """``draw(i)``: slot ``rows[i]`` of the table, every channel on the model grid."""

    source: SdomlSourceSettings
    table: SdomlTable
    rows: tuple[int, ...]
    channels: tuple[int, ...]
    size: int
    _store: Store | None = field(default=None, repr=False)
    _arrays: dict[str, ZArray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"], state["_arrays"] = None, {}
        return state

    def _frame(self, row: int, c: int) -> np.ndarray:
        if self.source.format == "v1":
            return V1Frames(self.table.paths[c]).read(int(self.table.rows[row, c]))
        if self._store is None:
            self._store = open_store(self.source.aia, self.source.anonymous)
        year, index = int(self.table.years[row, c]), int(self.table.rows[row, c])
        path = f"{year}/{self.channels[c]}A"
        array = self._arrays.get(path)
        if array is None:  # kept: its decoded-chunk cache serves the next slots
            array = self._arrays[path] = self._store.array(path)
        return array.frame(index)

    def grid_frame(self, row: int, c: int) -> np.ndarray:
        """One channel of one slot on the model grid, DN/s."""
        image = self._frame(row, c)
        if image.shape[0] != self.table.size:
            raise StoreError(self.source.aia, f"{self.channels[c]}A",
                             f"image of {image.shape[0]} px, index says {self.table.size}")
        geometry = sdoml_geometry(self.table.geometry[row, c], self.table.size)
        return to_model_grid(image, geometry, ModelGrid(self.size))

    def __call__(self, index: int) -> SampleTuple:
        row = self.rows[int(index)]
        image = np.stack([self.grid_frame(row, c) for c in range(len(self.channels))])
        flux = float(self.table.goes_flux[row])
        kernels = np.zeros((0, len(KERNEL_FIELDS)), np.float32)
        x, y = self.table.flare_xy[row]
        if np.isfinite(x):
            grid = ModelGrid(self.size)
            g = grid.arcsec_per_px(float(self.table.geometry[row, 0, 7]))
            kernels = np.array([[grid.center + x / g, grid.center + y / g, 0.0, 1.0, 1.0]],
                               np.float32)
        return (image, _class_index(flux), flux, self.table.irradiance[row].astype(np.float64),
                kernels, float(self.table.times[row]))


def _split_rows(config: TrainConfig, table: SdomlTable) -> dict[str, np.ndarray]:
    source = config.data
    assert isinstance(source, SdomlSourceSettings)
    times = table.times[:source.max_frames] if source.max_frames else table.times
    return time_block_split(times, source.block_days * 86400.0, source.pattern,
                            source.gap_hours * 3600.0)


def sdoml_builders(config: TrainConfig) -> dict[str, SplitBuilder]:
    """Train, validation and test builders over the aligned, labelled slots."""
    source = config.data
    assert isinstance(source, SdomlSourceSettings)
    channels = tuple(config.model.channels)
    table, digest = cached_table(source, channels, config.cache_path)
    out = {}
    for name, rows in _split_rows(config, table).items():
        if not rows.size:
            raise StoreError(source.aia, "-", f"the time split left no {name} frames of "
                                              f"{len(table)} aligned (block_days "
                                              f"{source.block_days}, gap_hours "
                                              f"{source.gap_hours})")
        draw = SdomlDraw(source, table, tuple(int(r) for r in rows), channels,
                         config.model.size)
        key = {"source": "sdoml", "table": digest, "rows": [int(r) for r in rows],
               "channels": list(channels), "size": config.model.size}
        out[name] = SplitBuilder(name, int(rows.size), key, draw, config.model.input_offset)
    return out


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dry_run_summary(config: TrainConfig) -> dict[str, Any]:
    """What ``train --dry-run`` prints: aligned slots, split sizes, channels, time span."""
    source = config.data
    assert isinstance(source, SdomlSourceSettings)
    channels = tuple(config.model.channels)
    table, _ = cached_table(source, channels, config.cache_path)
    parts = _split_rows(config, table)
    return {"aligned": len(table), **{k: int(v.size) for k, v in parts.items()},
            "channels": list(channels),
            "first": _iso(float(table.times[0])) if len(table) else None,
            "last": _iso(float(table.times[-1])) if len(table) else None}
