"""Direct RICE_1 decoding of row-tiled integer images (the layout of AIA level-1 files).

Why: astropy decodes a tile-compressed HDU tile by tile through a generic
Python loop (tile iteration, codec objects, per-tile arrays, endianness
fixes). AIA level-1 files hold 4096 tiles of one row each, so for a 4096 px
image that machinery costs about as much again as the RICE arithmetic
itself (profiled: ~35 % of the decode). This module reads the tile table
itself and calls astropy's own RICE kernel once per tile into one output
buffer: the same C code, bit-identical pixels, without the per-tile overhead.

It handles exactly one layout and declines everything else (the caller then
uses astropy's public reader): ``ZCMPTYPE = RICE_1``, integer ``ZBITPIX`` 16
or 32, tiles of whole rows (``ZTILE1 = ZNAXIS1``), a table whose only column
is ``COMPRESSED_DATA`` with a ``P`` or ``Q`` array descriptor, ``BLOCKSIZE``
and ``BYTEPIX`` stated in the header. The kernel lives in a private astropy
module; if a future astropy moves it, :data:`KERNEL_AVAILABLE` is False and
every file takes the public path. ``tests/ingest/test_ingest_rice.py`` checks
the two paths agree pixel for pixel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

try:  # astropy's RICE kernel (C); private, hence the fallback
    from astropy.io.fits.hdu.compressed._compression import decompress_rice_1_c as _kernel
except ImportError:  # pragma: no cover - depends on the astropy version
    _kernel = None

__all__ = ["KERNEL_AVAILABLE", "RiceLayout", "decode_rice", "rice_layout"]

KERNEL_AVAILABLE: bool = _kernel is not None

_DESCRIPTOR = re.compile(r"1?([PQ])B(\(\d+\))?")
_DTYPES = {16: np.dtype("int16"), 32: np.dtype("int32")}


@dataclass(frozen=True)
class RiceLayout:
    """Where a row-tiled RICE image's tiles are and how to decode them."""

    width: int
    height: int
    tile_rows: int  # image rows per tile (ZTILE2)
    zbitpix: int
    blocksize: int
    bytepix: int
    table_offset: int  # file offset of the tile table (the HDU's data)
    n_tiles: int
    descriptor: str  # "P" (two int32) or "Q" (two int64) per tile: (length, heap offset)
    heap_offset: int  # file offset of the heap
    heap_size: int


def _compression_parameters(cards: dict[str, str]) -> dict[str, int]:
    """``ZNAMEn``/``ZVALn`` pairs (BLOCKSIZE, BYTEPIX) as integers."""
    out: dict[str, int] = {}
    for i in range(1, 10):
        name = cards.get(f"ZNAME{i}")
        value = cards.get(f"ZVAL{i}")
        if name is None or value is None:
            break
        try:
            out[name.strip().upper()] = int(value)
        except ValueError:
            return {}
    return out


def rice_layout(cards: dict[str, str], data_offset: int, width: int,
                height: int) -> RiceLayout | None:
    """The layout when the fast path can decode this HDU, else None.

    ``cards`` are the HDU's header values as raw strings (quotes stripped),
    ``data_offset`` the file offset of its table; the structural checks
    (sizes, tile count, truncation) have already passed.
    """
    if _kernel is None:
        return None
    try:
        zbitpix = int(cards["ZBITPIX"])
        tile1 = int(cards.get("ZTILE1", width))
        tile2 = int(cards.get("ZTILE2", 1))
        n_fields = int(cards["TFIELDS"])
        row_bytes, n_tiles = int(cards["NAXIS1"]), int(cards["NAXIS2"])
        pcount = int(cards.get("PCOUNT", 0))
        theap = int(cards.get("THEAP", row_bytes * n_tiles))
    except (KeyError, ValueError):
        return None
    compression = (cards.get("ZCMPTYPE") or "").strip().upper()
    match = _DESCRIPTOR.fullmatch((cards.get("TFORM1") or "").strip().upper())
    params = _compression_parameters(cards)
    if (compression not in ("RICE_1", "RICE_ONE") or zbitpix not in _DTYPES
            or tile1 != width or tile2 < 1 or n_fields != 1 or match is None
            or (cards.get("TTYPE1") or "").strip().upper() != "COMPRESSED_DATA"
            or "BLOCKSIZE" not in params or params.get("BYTEPIX") != zbitpix // 8
            or n_tiles != -(-height // tile2) or theap < row_bytes * n_tiles
            or pcount < theap - row_bytes * n_tiles):
        return None
    descriptor = match.group(1)
    if row_bytes != (8 if descriptor == "P" else 16):
        return None
    return RiceLayout(width=width, height=height, tile_rows=tile2, zbitpix=zbitpix,
                      blocksize=params["BLOCKSIZE"], bytepix=params["BYTEPIX"],
                      table_offset=data_offset, n_tiles=n_tiles, descriptor=descriptor,
                      heap_offset=data_offset + theap,
                      heap_size=pcount - (theap - row_bytes * n_tiles))


def decode_rice(buf: bytes, layout: RiceLayout) -> np.ndarray:
    """Decode every tile into one ``(height, width)`` native-endian integer array.

    Raises
    ------
    ValueError
        A tile points outside the heap, or the kernel rejects its bytes.
    """
    assert _kernel is not None, "check rice_layout() first"
    dtype = ">i4" if layout.descriptor == "P" else ">i8"
    table = np.frombuffer(buf, dtype=dtype, count=2 * layout.n_tiles,
                          offset=layout.table_offset).reshape(layout.n_tiles, 2)
    lengths, offsets = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    if (lengths < 0).any() or (offsets < 0).any() or \
            (offsets + lengths > layout.heap_size).any():
        raise ValueError("a tile descriptor points outside the heap")
    heap = memoryview(buf)[layout.heap_offset:layout.heap_offset + layout.heap_size]
    out = np.empty((layout.height, layout.width), dtype=_DTYPES[layout.zbitpix])
    flat = out.reshape(-1)
    tile = layout.width * layout.tile_rows
    for i, (start, length) in enumerate(zip(offsets.tolist(), lengths.tolist())):
        first = i * tile
        size = min(tile, flat.size - first)
        decoded = _kernel(heap[start:start + length].tobytes(), layout.blocksize,
                          layout.bytepix, size)
        flat[first:first + size] = np.frombuffer(decoded, dtype=out.dtype, count=size)
    return out
