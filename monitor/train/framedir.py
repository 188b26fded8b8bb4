"""Reader for a directory of AIA frames already on the model grid, with GOES and EVE labels.

Layout (documented in ``docs/training.md``; :func:`write_framedir_example` writes one)::

    <root>/labels.csv
    <root>/<any sub-path>/<frame>.npz

``labels.csv`` has one row per observation time, columns

* ``time`` -- ISO 8601 UTC (``2011-02-15T01:48:00Z``);
* ``file`` -- the frame's ``.npz``, relative to ``<root>``;
* ``goes_flux`` -- GOES XRS-B 0.1-0.8 nm flux, W m^-2 (the class follows NOAA:
  C >= 1e-6, M >= 1e-5, X >= 1e-4);
* one column per EVE line named by its wavelength in nm with two decimals
  (``9.39``, ``13.12``, ... ``36.81``), W m^-2;
* optional ``flare_x_px``, ``flare_y_px`` -- the flare's position on the model
  grid when known (e.g. from a flare catalogue), for the pointing game.

Each ``.npz`` holds one float32 array per AIA channel, named by its
wavelength (``"94"``, ``"131"``, ...), in exposure-normalised DN/s on the
model grid (north up, Sun centred at ``(N-1)/2``, radius ``1600/4096 N``:
what ``monitor.preprocess`` produces, and what SDOML's registered,
exposure-corrected 512 px arrays become after that geometry step). Arrays
may be ``k`` times the training size; they are block-averaged by ``k``.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from monitor.train.data import KERNEL_FIELDS, SampleTuple, SplitBuilder
from monitor.train.settings import FrameDirSourceSettings, TrainConfig
from monitor.train.splits import time_block_split

__all__ = [
    "EVE_COLUMNS",
    "FrameDirDraw",
    "FrameDirError",
    "framedir_builders",
    "read_labels",
    "write_framedir_example",
]

#: EVE columns of ``labels.csv``, in the output order of the network.
EVE_COLUMNS: tuple[str, ...] = ("9.39", "13.12", "13.29", "17.11", "17.72", "18.04", "19.51",
                                "20.20", "21.13", "25.63", "28.42", "30.38", "33.54", "36.81")
_THRESHOLDS = (1e-6, 1e-5, 1e-4)


class FrameDirError(ValueError):
    """The directory does not follow the layout; the message names file, row and column."""


@dataclass(frozen=True)
class LabelTable:
    """``labels.csv`` parsed and sorted by time."""

    times: np.ndarray
    files: tuple[str, ...]
    goes_flux: np.ndarray
    irradiance: np.ndarray
    flare_xy: np.ndarray

    def __len__(self) -> int:
        return len(self.files)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FrameDirError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise FrameDirError(f"{where}: not finite: {text!r}")
    return value


def read_labels(root: Path, name: str = "labels.csv") -> LabelTable:
    """Parse and validate the label table (rows sorted by time)."""
    path = Path(root) / name
    if not path.is_file():
        raise FrameDirError(f"{path}: missing (see docs/training.md for the layout)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in ("time", "file", "goes_flux", *EVE_COLUMNS) if c not in columns]
        if missing:
            raise FrameDirError(f"{path}: missing columns {missing}")
        has_xy = "flare_x_px" in columns and "flare_y_px" in columns
        rows = []
        for i, row in enumerate(reader, start=2):
            where = f"{path}:{i}"
            try:
                when = datetime.fromisoformat(row["time"])
            except ValueError:
                raise FrameDirError(f"{where}: time: not ISO 8601: {row['time']!r}") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            flux = _number(row["goes_flux"], f"{where}: goes_flux")
            lines = [_number(row[c], f"{where}: {c}") for c in EVE_COLUMNS]
            if flux <= 0 or min(lines) <= 0:
                raise FrameDirError(f"{where}: fluxes must be > 0 W m^-2")
            xy = (np.nan, np.nan)
            if has_xy and row["flare_x_px"].strip() and row["flare_y_px"].strip():
                xy = (_number(row["flare_x_px"], f"{where}: flare_x_px"),
                      _number(row["flare_y_px"], f"{where}: flare_y_px"))
            rows.append((when.timestamp(), row["file"], flux, lines, xy))
    if not rows:
        raise FrameDirError(f"{path}: no rows")
    rows.sort(key=lambda r: r[0])
    return LabelTable(times=np.array([r[0] for r in rows]), files=tuple(r[1] for r in rows),
                      goes_flux=np.array([r[2] for r in rows]),
                      irradiance=np.array([r[3] for r in rows], dtype=np.float64),
                      flare_xy=np.array([r[4] for r in rows], dtype=np.float64))


def _class_index(flux: float) -> int:
    return int(sum(flux >= t for t in _THRESHOLDS))


@dataclass(frozen=True)
class FrameDirDraw:
    """``draw(i)``: frame ``rows[i]`` of the table, binned onto the training grid."""

    root: Path
    table: LabelTable
    rows: tuple[int, ...]
    channels: tuple[int, ...]
    size: int

    def __call__(self, index: int) -> SampleTuple:
        row = self.rows[int(index)]
        path = self.root / self.table.files[row]
        try:
            with np.load(path, allow_pickle=False) as z:
                planes = [np.asarray(z[str(c)], dtype=np.float32) for c in self.channels]
        except KeyError as exc:
            raise FrameDirError(f"{path}: no array for channel {exc}") from None
        except (OSError, ValueError) as exc:
            raise FrameDirError(f"{path}: unreadable: {exc}") from None
        image = np.stack([_bin(p, self.size, path) for p in planes])
        flux = float(self.table.goes_flux[row])
        x, y = self.table.flare_xy[row]
        kernels = np.zeros((0, len(KERNEL_FIELDS)), np.float32)
        if np.isfinite(x):
            kernels = np.array([[x, y, 0.0, 1.0, 1.0]], np.float32)
        return (image, _class_index(flux), flux, self.table.irradiance[row], kernels,
                float(self.table.times[row]))


def _bin(plane: np.ndarray, size: int, path: Path) -> np.ndarray:
    n = plane.shape[0]
    if plane.ndim != 2 or plane.shape[0] != plane.shape[1] or n % size:
        raise FrameDirError(f"{path}: arrays must be square with a side that is a multiple of "
                         f"{size}, got {plane.shape}")
    k = n // size
    return plane.reshape(size, k, size, k).mean(axis=(1, 3)) if k > 1 else plane


def framedir_builders(config: TrainConfig) -> dict[str, SplitBuilder]:
    """Train, validation and test builders: time blocks, guard gaps, optional frame cap."""
    source = config.data
    assert isinstance(source, FrameDirSourceSettings)
    root = Path(source.root)
    table = read_labels(root, source.labels)
    times = table.times
    if source.max_frames:
        times = times[:source.max_frames]
    parts = time_block_split(times, source.block_days * 86400.0, source.pattern,
                             source.gap_hours * 3600.0)
    digest = hashlib.sha256((root / source.labels).read_bytes()).hexdigest()[:16]
    out = {}
    for name in ("train", "val", "test"):
        rows = tuple(int(r) for r in parts[name])
        if not rows:
            raise FrameDirError(f"{root}: the time split left no {name} frames (block_days "
                             f"{source.block_days}, gap_hours {source.gap_hours})")
        draw = FrameDirDraw(root, table, rows, tuple(config.model.channels), config.model.size)
        key: dict[str, Any] = {"source": "frames", "root": str(root.resolve()),
                               "labels_sha256": digest, "rows": list(rows),
                               "channels": list(config.model.channels),
                               "size": config.model.size}
        out[name] = SplitBuilder(name, len(rows), key, draw, config.model.input_offset)
    return out


def write_framedir_example(root: Path, count: int, *, size: int = 64, seed: int = 7,
                        cadence_h: float = 6.0, channels: tuple[int, ...] = (
                            94, 131, 171, 193, 211, 304, 335),
                        start: datetime = datetime(2011, 2, 1, tzinfo=UTC)) -> Path:
    """Write a small frame directory from the synthetic Sun (tests, format example).

    Frames are ``2 size`` px (so reading bins them), ``cadence_h`` apart.
    """
    from monitor.synth import SyntheticDataset

    root = Path(root)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    ds = SyntheticDataset(size=2 * size, channels=channels, seed=seed)
    header = ["time", "file", "goes_flux", *EVE_COLUMNS, "flare_x_px", "flare_y_px"]
    with (root / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(count):
            sample = ds.sample(i)
            when = start + timedelta(hours=cadence_h * i)
            name = f"frames/{when:%Y%m%dT%H%M%S}.npz"
            np.savez_compressed(root / name, **{str(c): sample.image[k]
                                                for k, c in enumerate(channels)})
            labels = sample.labels
            visible = [k for k in labels.kernels if k.visible]
            # Grid pixel i averages fine pixels 2i and 2i+1, centred on 2i + 0.5.
            xy = ((f"{(visible[0].x_px - 0.5) / 2:.3f}", f"{(visible[0].y_px - 0.5) / 2:.3f}")
                  if visible and labels.class_index else ("", ""))
            writer.writerow([when.strftime("%Y-%m-%dT%H:%M:%SZ"), name,
                             f"{labels.goes_flux:.6e}",
                             *(f"{v:.6e}" for v in labels.irradiance), *xy])
    return root
