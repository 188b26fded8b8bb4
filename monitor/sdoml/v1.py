"""SDOML v1 (Galvez et al. 2019): one compressed npz per channel and time.

Layout: ``<root>/YYYY/AIA/WWWW/MM/DD/AIAYYYYMMDD_HHMM_WWWW.npz`` with the image
under the key ``x`` (512 x 512, float32 or float16). The pipeline is the v2
one except the last step: v1 *summed* 2 x 2 blocks where v2 averaged them, so
a v1 value is 4 times the v2 value of the same frame; :data:`V1_TO_V2` undoes
that. There is no header: times come from the file name (minute precision),
the geometry is the writer's nominal one (976 arcsec radius at 4.8 arcsec per
pixel, centred as a level-1.5 synoptic image rescaled about (512, 512)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.ingest.records import Geometry
from monitor.sdoml.aia import SYNOPTIC_PX, TARGET_RSUN_ARCSEC, ChannelIndex, sdoml_geometry
from monitor.sdoml.store import StoreError

__all__ = ["V1_TO_V2", "V1Frames", "index_v1", "nominal_geometry"]

#: v1 sums 2 x 2 blocks, v2 averages them.
V1_TO_V2: float = 0.25
_NAME = re.compile(r"^AIA(\d{4})(\d\d)(\d\d)_(\d\d)(\d\d)_(\d{4})\.npz$")
#: Level-1.5 synoptic reference pixel (1-based) and plate scale the v1 writer started from.
_SYNOPTIC_CRPIX = 512.5
_SYNOPTIC_CDELT = 2.4


@dataclass(frozen=True)
class V1Frames:
    """Frame files of one channel, in the order of its :class:`ChannelIndex`."""

    paths: tuple[str, ...]

    def read(self, position: int) -> np.ndarray:
        """The image of index position ``position`` in v2 units (DN/s, mean-binned)."""
        path = self.paths[position]
        try:
            with np.load(path, allow_pickle=False) as z:
                image = np.asarray(z["x"], dtype=np.float32)
        except KeyError:
            raise StoreError(path, "x", "no array 'x' in the npz") from None
        except (OSError, ValueError) as exc:
            raise StoreError(path, "x", f"unreadable: {exc}") from None
        if image.ndim != 2 or image.shape[0] != image.shape[1]:
            raise StoreError(path, "x", f"shape {image.shape}, expected a square image")
        return image * np.float32(V1_TO_V2)


def nominal_values(size: int) -> np.ndarray:
    """The header values a v2 store would hold for this frame (``GEOMETRY_KEYS`` order)."""
    d = SYNOPTIC_PX / size
    return np.array([_SYNOPTIC_CRPIX / d, _SYNOPTIC_CRPIX / d, 0.0, 0.0,
                     _SYNOPTIC_CDELT * d, _SYNOPTIC_CDELT * d, 0.0, TARGET_RSUN_ARCSEC])


def nominal_geometry(size: int) -> Geometry:
    """The v1 writer's geometry for a ``size`` px image (no header to read it from)."""
    return sdoml_geometry(nominal_values(size), size)


def index_v1(root: Path, channel: int, years: tuple[int, ...] = (),
             size: int = 512) -> tuple[ChannelIndex, V1Frames]:
    """Index one channel's npz files under ``root`` (file-name times, ascending)."""
    base = Path(root)
    folders = sorted(p for p in base.glob("[0-9][0-9][0-9][0-9]") if p.is_dir())
    if not folders:
        raise StoreError(str(base), "<root>", "no year folders (expected YYYY/AIA/WWWW/...)")
    entries = []
    for folder in folders:
        if years and int(folder.name) not in years:
            continue
        for path in (folder / "AIA" / f"{int(channel):04d}").glob("*/*/AIA*.npz"):
            match = _NAME.match(path.name)
            if match is None or int(match.group(6)) != int(channel):
                continue
            y, mo, d, h, mi = match.groups()[:5]
            stamp = np.datetime64(f"{y}-{mo}-{d}T{h}:{mi}", "s").astype(np.int64)
            entries.append((float(stamp), int(y), str(path)))
    if not entries:
        raise StoreError(str(base), f"YYYY/AIA/{int(channel):04d}", "no frame files")
    entries.sort()
    values = np.tile(nominal_values(size), (len(entries), 1))
    index = ChannelIndex(int(channel), np.array([e[0] for e in entries]),
                         np.array([e[1] for e in entries], np.int32),
                         np.arange(len(entries), dtype=np.int64), values, size)
    return index, V1Frames(tuple(e[2] for e in entries))
