"""SDOML EVE MEGS-A lines: ``sdomlv2_eve.zarr/MEGS-A/<ion>`` and ``Time``, and the v1 npy files.

The v2 store has 39 line arrays and a ``Time`` array of ``'YYYY-MM-DD
HH:MM:SS.fff'`` strings (UTC), all of one length, 1-minute cadence, MEGS-A
until 2014-05-26. Invalid values are negative (``-1``); a value <= 0 is
missing for *that line only*. The network predicts the 14 MEGS-A lines of
:data:`monitor.models.defaults.EVE_LINES`; in the store those are
:data:`MODEL_KEYS` (duplicate ions carry ``_2``/``_3`` suffixes).

SDOML v2a keeps the same arrays at the root of ``EVE_legacy.zarr`` (no
``MEGS-A`` group); :func:`read_eve` accepts both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.models.defaults import EVE_LINES
from monitor.sdoml.align import nearest_within
from monitor.sdoml.store import Store, StoreError
from monitor.sdoml.values import parse_times

__all__ = ["ALL_LINES", "MODEL_KEYS", "EveLines", "read_eve", "read_eve_v1"]

#: The 39 SDOML EVE arrays in the column order of v1's ``irradiance.npy``, with
#: the EVL line wavelengths in nm.
ALL_LINES: tuple[tuple[str, float], ...] = (
    ("Fe XVIII", 9.3926), ("Fe VIII", 13.124), ("Fe XX", 13.285), ("Fe IX", 17.107),
    ("Fe X", 17.7243), ("Fe XI", 18.0407), ("Fe XII", 19.512), ("Fe XIII", 20.2044),
    ("Fe XIV", 21.1331), ("He II", 25.6317), ("Fe XV", 28.415), ("He II_2", 30.3783),
    ("Fe XVI", 33.541), ("Fe XVI_2", 36.0758), ("Mg IX", 36.8076), ("S XIV", 44.57),
    ("Ne VII", 46.5221), ("Si XII", 49.9406), ("Si XII_2", 52.1), ("O III", 52.5795),
    ("He I", 53.7), ("O IV", 55.437), ("Fe XX_2", 56.787), ("He I_2", 58.4334),
    ("Fe XIX", 59.224), ("O III_2", 59.9598), ("Mg X", 60.98), ("Mg X_2", 62.4943),
    ("O V", 62.973), ("O II", 71.8535), ("Fe XX_3", 72.156), ("Ne VIII", 77.0409),
    ("O IV_2", 79.0199), ("O II_2", 83.55), ("H I", 94.97), ("H I_2", 97.2537),
    ("C III", 97.703), ("H I_3", 102.572), ("O VI", 103.19))


def _model_keys() -> tuple[str, ...]:
    keys = []
    for _, wl in EVE_LINES:
        key = min(ALL_LINES, key=lambda line: abs(line[1] - wl))
        keys.append(key[0])
    return tuple(keys)


#: Store keys of the network's 14 lines, in its output order (9.39 ... 36.81 nm).
MODEL_KEYS: tuple[str, ...] = _model_keys()
_NM = re.compile(r"^\s*([0-9.]+)\s*nm")


@dataclass(frozen=True)
class EveLines:
    """Line irradiances (W m^-2) on their time axis; NaN where missing.

    Attributes
    ----------
    times : numpy.ndarray
        ``(m,)`` POSIX seconds, ascending.
    values : numpy.ndarray
        ``(m, L)`` float32, NaN for values <= 0 or not finite.
    keys : tuple of str
    """

    times: np.ndarray
    values: np.ndarray
    keys: tuple[str, ...]

    def match(self, targets: np.ndarray, tolerance_s: float) -> np.ndarray:
        """``(n, L)`` per line, the nearest *valid* value within ``tolerance_s`` (else NaN)."""
        q = np.asarray(targets, dtype=np.float64)
        out = np.full((q.size, len(self.keys)), np.nan, np.float64)
        for line in range(len(self.keys)):
            valid = np.flatnonzero(np.isfinite(self.values[:, line]))
            pos, ok = nearest_within(self.times[valid], q, tolerance_s)
            out[ok, line] = self.values[valid[pos[ok]], line]
        return out


def _clean(times: np.ndarray, values: np.ndarray, keys: tuple[str, ...]) -> EveLines:
    values = np.asarray(values, dtype=np.float32)
    values = np.where(np.isfinite(values) & (values > 0), values, np.float32(np.nan))
    keep = np.isfinite(times)
    order = np.argsort(times[keep], kind="stable")
    return EveLines(times[keep][order], values[keep][order], keys)


def read_eve(store: Store, keys: tuple[str, ...] = MODEL_KEYS) -> EveLines:
    """Read ``keys`` and ``Time`` from a v2 (``MEGS-A/``) or v2a (root) EVE store."""
    group = "MEGS-A" if store.has("MEGS-A/.zgroup") else ""
    if group:
        store.group_meta(group)
    prefix = f"{group}/" if group else ""
    if not store.has(f"{prefix}Time/.zarray"):
        raise StoreError(store.url, f"{prefix}Time", "missing (expected MEGS-A/Time)")
    time_array = store.array(f"{prefix}Time")
    if time_array.dtype.kind not in "US" or len(time_array.shape) != 1:
        raise StoreError(store.url, f"{prefix}Time/.zarray",
                         f"dtype {time_array.dtype} shape {time_array.shape}, expected 1-D text")
    times = parse_times(time_array.all())
    wavelengths = dict(ALL_LINES)
    columns = []
    for key in keys:
        path = f"{prefix}{key}"
        if not store.has(f"{path}/.zarray"):
            raise StoreError(store.url, path, "line array missing")
        array = store.array(path)
        if array.shape != time_array.shape:
            raise StoreError(store.url, f"{path}/.zarray",
                             f"shape {array.shape} differs from Time {time_array.shape}")
        match = _NM.match(str(array.attrs.get("wavelength", "")))
        if match and key in wavelengths and abs(float(match.group(1)) - wavelengths[key]) > 0.05:
            raise StoreError(store.url, f"{path}/.zattrs", f"wavelength {match.group(0)!r} is "
                                                            f"not {key}'s {wavelengths[key]} nm")
        columns.append(array.all())
    return _clean(times, np.stack(columns, axis=1), keys)


def read_eve_v1(directory: Path, keys: tuple[str, ...] = MODEL_KEYS) -> EveLines:
    """SDOML v1 ``EVE/irradiance.npy`` (rows = time, 39 columns, -1 invalid) and ``jd.npy``."""
    directory = Path(directory)
    names = [name for name, _ in ALL_LINES]
    try:
        irradiance = np.load(directory / "irradiance.npy", allow_pickle=False)
        jd = np.load(directory / "jd.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(str(directory), "irradiance.npy/jd.npy", f"unreadable: {exc}") from None
    if irradiance.ndim != 2 or irradiance.shape[1] != len(names) or jd.shape != (
            irradiance.shape[0],):
        raise StoreError(str(directory), "irradiance.npy", (
            f"shape {irradiance.shape} with jd {jd.shape}, expected (M, 39) and (M,)"))
    times = (np.asarray(jd, dtype=np.float64) - 2440587.5) * 86400.0
    columns = [names.index(k) for k in keys]
    return _clean(times, irradiance[:, columns], keys)
