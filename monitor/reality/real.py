"""Readers of the real observations ``sdo-monitor reality`` compares with.

The folder (``--real-data``) holds what its README describes: EVE MEGS-A
line irradiances around real flares (``eve_megsa_flares.npz`` / ``.csv``),
AIA intensities summed over three flaring regions
(``aia_region_lightcurves/``), SDOML v2 pixel statistics
(``sdomlv2_stats/``) and full-disk JPEG 2000 images (``aia_jp2/``, read by
``monitor.reality.jp2``); the GOES days of the region flares are a folder of
their own (by default ``../goes``). Each reader validates what it reads and
raises :class:`RealDataError` with a reason code; nothing is unpickled.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from monitor.synth.goes import flux_from_class

__all__ = [
    "REGION_FLARES",
    "EveFlares",
    "RealDataError",
    "RegionFlare",
    "read_eve_flares",
    "read_goes_minutes",
    "read_region_curves",
    "read_sdoml_means",
]

#: The three regions of the README with their GOES day and flare peak (UTC).
REGION_FLARES: tuple[tuple[int, str, str, str], ...] = (
    (211, "M2.9", "2010-10-16T19:12", "sci_xrsf-l2-avg1m_g15_d20101016_v1-0-0.nc"),
    (1834, "X1.4", "2012-07-12T16:52", "sci_xrsf-l2-avg1m_g15_d20120712_v1-0-0.nc"),
    (3535, "M9.9", "2014-01-01T18:52", "sci_xrsf-l2-avg1m_g15_d20140101_v1-0-0.nc"),
)


class RealDataError(Exception):
    """A real-data file is missing or malformed; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EveFlares:
    """EVE MEGS-A records around real flares.

    ``t_s`` (N,) Unix seconds, ``flare`` (N,) record row, ``irradiance``
    (N, 14) W m^-2 (NaN = missing), ``lines`` the 14 names, ``goes_class`` and
    ``goes_flux`` per flare (NOAA operational scale).
    """

    t_s: np.ndarray
    flare: np.ndarray
    irradiance: np.ndarray
    lines: tuple[str, ...]
    goes_class: tuple[str, ...]
    goes_flux: np.ndarray

    def record(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Times and irradiances of flare ``index``."""
        rows = self.flare == index
        return self.t_s[rows], self.irradiance[rows]


def _need(path: Path) -> Path:
    if not path.exists():
        raise RealDataError("missing", f"{path}: not found")
    return path


def read_eve_flares(root: Path) -> EveFlares:
    """``eve_megsa_flares.npz`` and its catalogue ``eve_megsa_flares.csv``."""
    npz = _need(root / "eve_megsa_flares.npz")
    try:
        with np.load(npz, allow_pickle=False) as data:
            t = np.asarray(data["unix_time_s"], dtype=np.float64)
            flare = np.asarray(data["flare"], dtype=np.int64)
            irr = np.asarray(data["irradiance_w_m2"], dtype=np.float64)
            lines = tuple(str(s) for s in data["lines"])
    except (KeyError, ValueError, OSError) as exc:
        raise RealDataError("bad_npz", f"{npz}: {exc}") from None
    if irr.ndim != 2 or irr.shape != (len(t), 14) or flare.shape != t.shape:
        raise RealDataError("bad_shape", f"{npz}: expected N x 14 irradiances, got {irr.shape}")
    irr[~(irr > 0)] = np.nan
    classes: dict[int, str] = {}
    with _need(root / "eve_megsa_flares.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                classes[int(row["flare"])] = row["goes_class"].strip()
            except (KeyError, ValueError):
                raise RealDataError("bad_csv", f"eve_megsa_flares.csv: bad row {row}") from None
    n = int(flare.max()) + 1 if len(flare) else 0
    names = tuple(classes.get(i, "") for i in range(n))
    fluxes = np.array([_flux(c) for c in names])
    return EveFlares(t, flare, irr, lines, names, fluxes)


def _flux(name: str) -> float:
    try:
        return flux_from_class(name)
    except ValueError:
        return float("nan")


@dataclass(frozen=True)
class RegionFlare:
    """One region's AIA light curves around its flare and the GOES day.

    ``t_min`` minutes from the GOES day's midnight on a 1-minute grid;
    ``channels`` wavelength -> summed DN/s (NaN = missing); ``goes`` XRS-B
    W m^-2 (operational scale); ``peak_min`` the listed flare peak.
    """

    sharp: int
    goes_class: str
    t_min: np.ndarray
    channels: dict[int, np.ndarray]
    goes: np.ndarray
    peak_min: float


def read_goes_minutes(path: Path, day: datetime) -> np.ndarray:
    """XRS-B per minute of ``day`` (1440 values, NaN where missing), operational scale."""
    from monitor.goes.files import read_goes_file

    try:
        goes_day = read_goes_file(_need(path))
    except (OSError, ValueError, KeyError) as exc:
        raise RealDataError("bad_goes", f"{path}: {exc}") from None
    out = np.full(1440, np.nan)
    start = day.timestamp()
    for sample in goes_day.samples:
        i = int((sample.time - start) // 60)
        if 0 <= i < 1440:
            out[i] = sample.flux
    return out


def read_region_curves(root: Path, goes_dir: Path) -> list[RegionFlare]:
    """The three regions of :data:`REGION_FLARES` on their flare days."""
    out = []
    for sharp, cls, peak, goes_name in REGION_FLARES:
        peak_t = datetime.fromisoformat(peak).replace(tzinfo=UTC)
        day = peak_t.replace(hour=0, minute=0)
        path = _need(root / "aia_region_lightcurves" / f"sharp_{sharp}_aia_sum_intensity.csv")
        channels: dict[int, np.ndarray] = {}
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    wl = int(row["channel_A"])
                    t = datetime.fromisoformat(row["time_utc"]).replace(tzinfo=UTC)
                    value = float(row["sum_intensity_dn_per_s_degradation_corrected"])
                except (KeyError, ValueError):
                    raise RealDataError("bad_csv", f"{path}: bad row {row}") from None
                i = int((t - day).total_seconds() // 60)
                if 0 <= i < 1440 and np.isfinite(value) and value > 0:
                    channels.setdefault(wl, np.full(1440, np.nan))[i] = value
        goes = read_goes_minutes(goes_dir / goes_name, day)
        out.append(RegionFlare(sharp, cls, np.arange(1440.0), channels, goes,
                               (peak_t - day).total_seconds() / 60.0))
    return out


def read_sdoml_means(root: Path) -> dict[int, float]:
    """SDOML v2 full-frame mean DN/s per AIA channel (off-disk included)."""
    path = _need(root / "sdomlv2_stats" / "normalizations_AIA_FULL_EVE_FULL_12min.json")
    try:
        stats = json.loads(path.read_text())["AIA"]
        return {int(k.rstrip("A")): float(v["mean"]) for k, v in stats.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise RealDataError("bad_json", f"{path}: {exc}") from None
