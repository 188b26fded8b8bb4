"""A format-faithful SDOML v2 miniature, written from scratch (tests, benchmark).

:func:`write_miniature` writes, in the exact v2 layout (``.zgroup``/``.zarray``
/``.zattrs`` documents and ``blosc`` zstd level 5 bit-shuffled chunks, as the
SDOML writer's ``create_dataset`` calls produce):

* ``sdomlv2.zarr/2010`` and ``/2011`` with all nine AIA arrays, each with its
  own ``N``, 512 px float32 frames every 12 minutes from 2010-12-31 21:00 to
  2011-01-01 01:36, stored out of time order, attribute lists of 40-odd FITS
  keys (``'nan'`` strings included, as sunpy leaves them);
* the awkward cases a reader must survive: the 171 A frame of the 2011-01-01
  00:00 slot stored in the 2010 group (T_OBS 23:59:58), no 94 A frame at
  22:00, a second 193 A frame at 01:01:50 (a duplicate after rounding, three
  times brighter so using it shows), a 335 A frame with QUALITY != 0 (00:48), a 211 A
  frame (23:00) whose RSUN_OBS is ``'nan'``, 1600 A of 2011 with 120-frame chunks and
  an explicit ``dimension_separator``, and last chunks padded;
* ``sdomlv2_eve.zarr/MEGS-A`` with all 39 lines and ``Time`` (1-minute steps,
  ``'YYYY-MM-DD HH:MM:SS.fff'``), ``-1`` in the MEGS-B lines, one ``-1`` in
  Fe XX next to a slot (a neighbour minute is valid) and He II 30.4 nm missing
  for seven minutes around 01:24 (that slot has no EVE);
* ``goes/xrays.json`` (SWPC format) with an M1 flare peaking at 23:00 and a
  C2 at 01:12, the minute 01:36 missing; ``hek.csv`` with the M flare's position.

The frames follow the writer's geometry: a 1024 px synoptic Sun (centre 511.5,
``RSUN_OBS / 2.4`` px) rescaled about (512, 512) to 976 arcsec and averaged
2 x 2, so a reader that gets the reference pixel wrong misses the centre.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from monitor.sdoml.aia import AIA_CHANNELS, channel_key
from monitor.sdoml.eve import ALL_LINES, MODEL_KEYS

__all__ = ["Miniature", "write_miniature"]

START = datetime(2010, 12, 31, 21, 0, tzinfo=UTC)
SLOTS = 24
CADENCE = timedelta(minutes=12)
RSUN_OBS = 975.6
_COMPRESSOR = {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 2, "blocksize": 0}
_OFFSET_S = {94: 9.57, 131: 11.07, 171: 1.34, 193: 6.84, 211: 0.63, 304: 7.13, 335: 2.62,
             1600: 3.12, 1700: 5.43}
_DISK_DN_S = {94: 1.2, 131: 6.0, 171: 180.0, 193: 260.0, 211: 90.0, 304: 45.0, 335: 4.0,
              1600: 450.0, 1700: 900.0}
_EXPTIME = {94: 2.9, 131: 2.9, 171: 2.0, 193: 2.0, 211: 2.9, 304: 2.9, 335: 2.9, 1600: 1.0,
            1700: 1.0}
FLARE_HPC = (500.0, -250.0)
_NAN_KEYS = ("GCIEC_X", "GCIEC_Y", "OSCNMEAN", "OSCNRMS", "RSUN_LF", "X0_LF", "Y0_LF")


@dataclass(frozen=True)
class Miniature:
    """Where the parts went, and the facts a test checks against."""

    aia: Path
    eve: Path
    goes: Path
    hek: Path
    slots: tuple[datetime, ...]
    missing: dict[int, datetime]
    year_crossing: datetime
    duplicate_slot: datetime
    quality_slot: datetime
    nan_geometry_slot: datetime
    no_eve_slot: datetime
    no_goes_slot: datetime
    fe20_gap_slot: datetime


def _json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=4, sort_keys=True), encoding="utf-8")


def _write_array(path: Path, data: np.ndarray, chunks: tuple[int, ...],
                 attrs: dict[str, Any] | None = None, separator: str | None = None) -> None:
    """One Zarr v2 array the way zarr-python 2 writes it (padded edge chunks)."""
    from numcodecs import Blosc

    codec = Blosc(cname="zstd", clevel=5, shuffle=Blosc.BITSHUFFLE)
    meta = {"chunks": list(chunks), "compressor": _COMPRESSOR, "dtype": data.dtype.str,
            "fill_value": "" if data.dtype.kind == "U" else 0.0, "filters": None,
            "order": "C", "shape": list(data.shape), "zarr_format": 2}
    if separator is not None:
        meta["dimension_separator"] = separator
    _json(path / ".zarray", meta)
    if attrs is not None:
        _json(path / ".zattrs", attrs)
    sep = separator or "."
    grid = [range((s + c - 1) // c) for s, c in zip(data.shape, chunks)]
    for index in np.ndindex(*[len(g) for g in grid]):
        block = np.zeros(chunks, dtype=data.dtype)
        src = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks,
                                                                          data.shape))
        block[tuple(slice(0, s.stop - s.start) for s in src)] = data[src]
        (path / sep.join(str(i) for i in index)).write_bytes(codec.encode(block))


@functools.lru_cache(maxsize=1)
def _unit_disk() -> np.ndarray:
    """The writer's steps on a synthetic synoptic Sun: rescale about (512, 512), 2 x 2 mean."""
    from scipy.ndimage import affine_transform

    n = 1024
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    r = np.hypot(x - 511.5, y - 511.5) / (RSUN_OBS / 2.4)
    disk = np.where(r <= 1.0, 1.0 - 0.3 * (1.0 - np.sqrt(np.clip(1 - r * r, 0, 1))),
                    0.25 * np.exp(-(r - 1.0) * 12.0))
    s = 976.0 / RSUN_OBS
    t = n / 2.0 - s * n / 2.0
    warped = affine_transform(disk, np.array([1 / s, 1 / s]), offset=-t / s, order=1,
                              mode="nearest")
    return warped.reshape(512, 2, 512, 2).mean(axis=(1, 3)).astype(np.float32)


def _blob(hpc: tuple[float, float], sigma_px: float) -> np.ndarray:
    cdelt = 4.8 * RSUN_OBS / 976.0  # the stored CDELT
    cx, cy = 255.5 + hpc[0] / cdelt, 255.5 + hpc[1] / cdelt
    y, x = np.mgrid[0:512, 0:512]
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma_px ** 2)).astype(np.float32)


def _goes_flux(t: datetime) -> float:
    minutes = (t - START).total_seconds() / 60.0
    flare_m = 1.2e-5 * np.exp(-(((minutes - 120.0) / 18.0) ** 2))
    flare_c = 2.0e-6 * np.exp(-(((minutes - 252.0) / 10.0) ** 2))
    return float(3e-7 + flare_m + flare_c)


def _frame_attrs(times: list[datetime], channel: int, quality: list[int],
                 rsun: list[Any]) -> dict[str, Any]:
    n = len(times)
    cdelt = 2.4 * 2 * RSUN_OBS / 976.0
    attrs: dict[str, Any] = {
        "T_OBS": [t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 10000:02d}Z"
                  for t in times],
        "T_REC": [t.strftime("%Y-%m-%dT%H:%M:00Z") for t in times],
        "DATE-OBS": [(t - timedelta(seconds=_EXPTIME[channel] / 2)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-4] for t in times],
        "EXPTIME": [_EXPTIME[channel]] * n, "WAVELNTH": [channel] * n,
        "DEG_COR": [0.95] * n, "QUALITY": quality, "PIXLUNIT": ["DN/s"] * n,
        "LVL_NUM": [1.5] * n, "NAXIS": [2] * n, "NAXIS1": [512.0] * n, "NAXIS2": [512.0] * n,
        "CDELT1": [cdelt] * n, "CDELT2": [cdelt] * n, "CRPIX1": [256.25] * n,
        "CRPIX2": [256.25] * n, "CRVAL1": [0.0] * n, "CRVAL2": [0.0] * n, "CROTA2": [0.0] * n,
        "CTYPE1": ["HPLN-TAN"] * n, "CTYPE2": ["HPLT-TAN"] * n, "CUNIT1": ["arcsec"] * n,
        "CUNIT2": ["arcsec"] * n, "RSUN_OBS": rsun, "R_SUN": [976.0 / 4.8] * n,
        "RSUN_REF": [696000000.0] * n, "DSUN_OBS": [1.4710e11] * n, "CRLN_OBS": [12.3] * n,
        "CRLT_OBS": [-3.0] * n, "TELESCOP": ["SDO/AIA"] * n, "INSTRUME": ["AIA_3"] * n,
        "WAVEUNIT": ["angstrom"] * n, "WAVE_STR": [f"{channel}_THIN"] * n,
        "X0_MP": [255.96] * n, "Y0_MP": [255.3] * n, "COMMENT": [""] * n, "HISTORY": [""] * n,
    }
    for key in _NAN_KEYS:
        attrs[key] = ["nan"] * n
    return attrs


def _aia(root: Path, rng: np.random.Generator) -> dict[str, Any]:
    slots = [START + i * CADENCE for i in range(SLOTS)]
    facts = {"slots": tuple(slots), "missing": {94: START + timedelta(hours=1)},
             "year_crossing": datetime(2011, 1, 1, tzinfo=UTC),
             "duplicate_slot": datetime(2011, 1, 1, 1, 0, tzinfo=UTC),
             "quality_slot": datetime(2011, 1, 1, 0, 48, tzinfo=UTC),
             "nan_geometry_slot": datetime(2010, 12, 31, 23, 0, tzinfo=UTC)}
    _json(root / ".zgroup", {"zarr_format": 2})
    for channel in AIA_CHANNELS:
        base = _unit_disk() * np.float32(_DISK_DN_S[channel])
        region = _blob((-300.0, 200.0), 12.0) * _DISK_DN_S[channel] * 2.0
        kernel = _blob(FLARE_HPC, 4.0) * _DISK_DN_S[channel] * 40.0
        frames: dict[int, list[tuple[datetime, np.ndarray, int, Any]]] = {2010: [], 2011: []}
        for slot in slots:
            if facts["missing"].get(channel) == slot:
                continue
            t = slot + timedelta(seconds=_OFFSET_S[channel])
            if channel == 171 and slot == facts["year_crossing"]:
                t = slot - timedelta(seconds=1.66)
            image = base * (1.0 + 0.01 * rng.standard_normal()) + region + kernel * (
                _goes_flux(slot) / 1e-5)
            # Steps of 1/64 DN/s leave the low mantissa bits zero: the bit-shuffled
            # chunks compress fast (the values stay float32 in the writer's layout).
            image = np.round(image * 64.0) / 64.0
            quality = 1024 if channel == 335 and slot == facts["quality_slot"] else 0
            rsun: Any = "nan" if channel == 211 and slot == facts["nan_geometry_slot"] \
                else RSUN_OBS
            frames[t.year].append((t, image.astype(np.float32), quality, rsun))
            if channel == 193 and slot == facts["duplicate_slot"]:
                frames[t.year].append((slot + timedelta(seconds=110), image * 3, 0, RSUN_OBS))
        for year, items in frames.items():
            (root / str(year)).mkdir(parents=True, exist_ok=True)
            _json(root / str(year) / ".zgroup", {"zarr_format": 2})
            items = [items[i] for i in rng.permutation(len(items))]  # not in time order
            data = np.stack([it[1] for it in items])
            attrs = _frame_attrs([it[0] for it in items], channel, [it[2] for it in items],
                                 [it[3] for it in items])
            wide = channel == 1600 and year == 2011
            _write_array(root / str(year) / channel_key(channel), data,
                         (120 if wide else 15, 512, 512), attrs, "." if wide else None)
    return facts


def _eve(root: Path, rng: np.random.Generator) -> dict[str, Any]:
    first = START - timedelta(minutes=60) + timedelta(seconds=10.484)
    count = 6 * 60
    times = [first + timedelta(minutes=i) for i in range(count)]
    group = root / "MEGS-A"
    _json(root / ".zgroup", {"zarr_format": 2})
    _json(group / ".zgroup", {"zarr_format": 2})
    _json(group / ".zattrs", {})
    text = np.array([t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] for t in times], dtype="<U23")
    _write_array(group / "Time", text, (count,), {})
    fe20_gap = START + timedelta(minutes=24)
    no_eve = datetime(2011, 1, 1, 1, 24, tzinfo=UTC)
    flux = np.array([_goes_flux(t) for t in times])
    for column, (name, wavelength) in enumerate(ALL_LINES):
        base = 2e-5 * (1.0 + 0.02 * rng.standard_normal(count))
        values = (base * (1.0 + 3.0 * flux / 1e-5) if name in MODEL_KEYS[:3] else base)
        if column >= 15:
            values[:] = -1.0  # MEGS-B lines: rarely observed
        values = values.astype(np.float32)
        if name == "Fe XX":
            values[round((fe20_gap - first).total_seconds() / 60.0)] = -1.0
        if name == "He II_2":
            mid = round((no_eve - first).total_seconds() / 60.0)
            values[mid - 3:mid + 4] = -1.0
        ion = name.split("_")[0]
        _write_array(group / name, values, (count,), {
            "ion": ion, "logT": f"{5.0 + 0.05 * column:.2f} MK", "wavelength": f"{wavelength} nm"})
    return {"no_eve_slot": no_eve, "fe20_gap_slot": fe20_gap}


def write_miniature(directory: Path, seed: int = 3) -> Miniature:
    """Write the miniature under ``directory`` (module docstring); returns its facts."""
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    facts = _aia(directory / "sdomlv2.zarr", rng)
    facts.update(_eve(directory / "sdomlv2_eve.zarr", rng))
    no_goes = datetime(2011, 1, 1, 1, 36, tzinfo=UTC)
    records = []
    for i in range(-60, SLOTS * 12 + 60):
        t = START + timedelta(minutes=i)
        if t == no_goes:
            continue
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        records.append({"time_tag": stamp, "satellite": 15, "flux": _goes_flux(t) * 0.3,
                        "energy": "0.05-0.4nm"})
        records.append({"time_tag": stamp, "satellite": 15, "flux": _goes_flux(t),
                        "energy": "0.1-0.8nm"})
    _json(directory / "goes" / "xrays.json", records)
    hek = directory / "hek.csv"
    hek.write_text(
        "event_starttime,event_peaktime,event_endtime,hpc_coord,hv_hpc_x_final,"
        "hv_hpc_y_final,frm_name,fl_goescls\n"
        "2010-12-31T22:30:00,2010-12-31T23:00:00,2010-12-31T23:40:00,"
        f"POINT({FLARE_HPC[0]} {FLARE_HPC[1]}),{FLARE_HPC[0]},{FLARE_HPC[1]},SWPC,M1.2\n",
        encoding="utf-8")
    return Miniature(aia=directory / "sdomlv2.zarr", eve=directory / "sdomlv2_eve.zarr",
                     goes=directory / "goes", hek=hek, no_goes_slot=no_goes, **facts)
