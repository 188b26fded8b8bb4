"""SDOML v2 AIA stores: a time index per channel, and frames onto the model grid.

Layout (``docs/training.md``, after the SDOML v2 writer): ``<store>/<year>/<wl>A``
arrays of ``(N, 512, 512)`` float32, one per year group and channel, each with
its own ``N``; ``.zattrs`` holds every FITS header key as a list of ``N``
values, element ``i`` describing image ``i``. Axis 0 is in the order the files
were found, not in time order, so the index is built from ``T_OBS``.

Frames come from the writer already exposure-normalised and degradation-
corrected (DN/s): nothing here calibrates them again.

Geometry: the writer rescaled each 1024 px synoptic image about the point
(512, 512) so the Sun has 976 arcsec of radius, then averaged ``d x d`` pixel
blocks (``d = 1024 / 512``), and stored ``CRPIX = CRPIX_synoptic / d``. That
value ignores the rescale about the image centre and the half-pixel of the
block average: the true reference pixel is derived here from the writer's
steps (inferred from its code, about 0.24 px at 512 px). ``CDELT`` was
rewritten consistently, so ``RSUN_OBS / CDELT`` = 976 / 4.8 = 203.3 px.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.grid import ModelGrid
from monitor.ingest.records import Geometry
from monitor.logs import get_logger
from monitor.preprocess.geometry import grid_mapping
from monitor.preprocess.resample import area_resample
from monitor.preprocess.settings import PreprocessSettings
from monitor.sdoml.store import Store, StoreError
from monitor.sdoml.values import parse_numbers, parse_times

__all__ = ["AIA_CHANNELS", "GEOMETRY_KEYS", "ChannelIndex", "channel_key", "read_channel_index",
           "sdoml_geometry", "store_years", "to_model_grid"]

log = get_logger(__name__)

#: The nine channels SDOML v2 stores (no 4500 A array is written).
AIA_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335, 1600, 1700)
#: Per-frame geometry columns kept in the index.
GEOMETRY_KEYS: tuple[str, ...] = ("CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2",
                                  "CROTA2", "RSUN_OBS")
_OPTIONAL_ZERO = ("CRVAL1", "CRVAL2", "CROTA2")
#: Synoptic input size and the writer's target solar radius.
SYNOPTIC_PX = 1024
TARGET_RSUN_ARCSEC = 976.0


def channel_key(channel: int) -> str:
    """Array name of a channel (``171`` -> ``"171A"``)."""
    return f"{int(channel)}A"


def store_years(store: Store) -> list[int]:
    """Year groups of an AIA store (four-digit names holding a ``.zgroup``)."""
    years = [int(n) for n in store.children("") if len(n) == 4 and n.isdigit()]
    if not years:
        raise StoreError(store.url, "<root>", "no year groups (expected e.g. 2010/, 2011/)")
    return years


@dataclass(frozen=True)
class ChannelIndex:
    """Every usable frame of one channel across year groups, sorted by ``T_OBS``.

    Attributes
    ----------
    channel : int
    times : numpy.ndarray
        ``(n,)`` POSIX seconds of ``T_OBS``, ascending.
    years, rows : numpy.ndarray
        Year group and row of each frame in that year's array.
    geometry : numpy.ndarray
        ``(n, len(GEOMETRY_KEYS))`` header values as stored.
    size : int
        Image side in pixels.
    skipped : dict
        Frames left out, by reason (``bad_t_obs``, ``quality``, ``bad_geometry``,
        ``missing_array``).
    """

    channel: int
    times: np.ndarray
    years: np.ndarray
    rows: np.ndarray
    geometry: np.ndarray
    size: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.times.size)


def _attr_list(store: Store, key: str, attrs: dict, name: str, n: int,
               required: bool) -> list | None:
    values = attrs.get(name)
    if values is None:
        if required:
            raise StoreError(store.url, key, f"no {name} list in the attributes")
        return None
    if not isinstance(values, list):
        values = [values] * n  # a scalar attribute applies to every image
    if len(values) != n:
        raise StoreError(store.url, key, f"{name} has {len(values)} values for {n} images")
    return values


def read_channel_index(store: Store, channel: int, years: Sequence[int]) -> ChannelIndex:
    """Index one channel over ``years`` (frames with QUALITY != 0 or no usable T_OBS dropped)."""
    times, yrs, rows, geoms = [], [], [], []
    skipped: Counter[str] = Counter()
    size = 0
    for year in years:
        path = f"{year}/{channel_key(channel)}"
        if not store.has(f"{path}/.zarray"):
            skipped["missing_array"] += 1
            log.warning("channel missing in a year group", store=store.url, array=path)
            continue
        array = store.array(path)
        if len(array.shape) != 3 or array.shape[1] != array.shape[2]:
            raise StoreError(store.url, f"{path}/.zarray",
                             f"shape {array.shape}, expected (N, S, S) images")
        if size and array.shape[1] != size:
            raise StoreError(store.url, f"{path}/.zarray",
                             f"image size {array.shape[1]} differs from {size} in other years")
        size = array.shape[1]
        n = array.shape[0]
        key = f"{path}/.zattrs"
        attrs = array.attrs
        t = parse_times(_attr_list(store, key, attrs, "T_OBS", n, True))  # type: ignore[arg-type]
        keep = np.isfinite(t)
        skipped["bad_t_obs"] += int(np.count_nonzero(~keep))
        quality = _attr_list(store, key, attrs, "QUALITY", n, False)
        if quality is not None:
            bad = parse_numbers(quality) != 0  # NaN counts as bad too
            skipped["quality"] += int(np.count_nonzero(bad & keep))
            keep &= ~bad
        cols = []
        for name in GEOMETRY_KEYS:
            values = _attr_list(store, key, attrs, name, n, name not in _OPTIONAL_ZERO)
            cols.append(np.zeros(n) if values is None else parse_numbers(values))
        geom = np.stack(cols, axis=1)
        good_geom = np.all(np.isfinite(geom), axis=1) & (geom[:, 4] != 0) & (geom[:, 5] != 0)
        good_geom &= geom[:, 7] > 0
        skipped["bad_geometry"] += int(np.count_nonzero(~good_geom & keep))
        keep &= good_geom
        idx = np.flatnonzero(keep)
        times.append(t[idx])
        yrs.append(np.full(idx.size, year, np.int32))
        rows.append(idx.astype(np.int64))
        geoms.append(geom[idx])
    if not times:
        raise StoreError(store.url, channel_key(channel),
                         f"channel absent from every year group {list(years)}")
    t_all = np.concatenate(times)
    order = np.argsort(t_all, kind="stable")
    return ChannelIndex(int(channel), t_all[order], np.concatenate(yrs)[order],
                        np.concatenate(rows)[order], np.concatenate(geoms)[order], size,
                        {k: v for k, v in skipped.items() if v})


def sdoml_geometry(values: np.ndarray, size: int) -> Geometry:
    """The WCS of one stored frame (``values`` in :data:`GEOMETRY_KEYS` order).

    The reference pixel is re-derived from the writer's resampling (module
    docstring); the plate scale and the rest are as stored.
    """
    crpix1, crpix2, crval1, crval2, cdelt1, cdelt2, crota2, rsun = (float(v) for v in values)
    d = SYNOPTIC_PX / size
    s = TARGET_RSUN_ARCSEC / rsun
    half = SYNOPTIC_PX / 2.0

    def true_crpix(stored: float) -> float:
        p0 = stored * d - 1.0                  # 0-based synoptic reference pixel
        q = half + s * (p0 - half)             # after the rescale about (512, 512)
        return (q - (d - 1.0) / 2.0) / d + 1.0  # after the d x d mean, 1-based

    lam = cdelt2 / cdelt1
    rad = math.radians(crota2)
    pc = ((math.cos(rad), -lam * math.sin(rad)), (math.sin(rad) / lam, math.cos(rad)))
    return Geometry(naxis1=size, naxis2=size, crpix1=true_crpix(crpix1),
                    crpix2=true_crpix(crpix2), crval1=crval1, crval2=crval2, cdelt1=cdelt1,
                    cdelt2=cdelt2, pc=pc, crota2=crota2, rsun_obs=rsun)


def to_model_grid(image: np.ndarray, geometry: Geometry, grid: ModelGrid,
                  settings: PreprocessSettings | None = None) -> np.ndarray:
    """One SDOML frame (DN/s) onto the model grid with the daemon's geometry and resampling.

    The same :func:`~monitor.preprocess.geometry.grid_mapping` and
    :func:`~monitor.preprocess.resample.area_resample` as the daemon's
    preprocessing, and its fill rule for poorly covered grid pixels; no
    exposure or degradation step (SDOML did both).
    """
    settings = settings or PreprocessSettings()
    pixels = np.asarray(image, dtype=np.float32)
    invalid = ~np.isfinite(pixels)
    resampled = area_resample(pixels, grid_mapping(geometry, grid),
                              invalid=invalid if invalid.any() else None)
    out = resampled.mean.astype(np.float32)
    if not resampled.complete:
        out[~(resampled.coverage >= settings.min_pixel_coverage)] = settings.fill_value
    return out
