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

Tile-parallel. The tiles are independent byte streams and the kernel releases
the GIL while it decodes one, so :func:`start_rice` splits the tiles into
contiguous runs decoded by helper threads into the same output buffer (each
run writes its own rows: the pixels are those of the serial loop, bit for
bit). The daemon asks for it only when pool workers are idle, which is when a
frame's last file is what everyone waits for; a busy pool decodes serially.
"""

from __future__ import annotations

import itertools
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from monitor.ingest.helpers import helper_pool

try:  # astropy's RICE kernel (C); private, hence the fallback
    from astropy.io.fits.hdu.compressed._compression import decompress_rice_1_c as _kernel
except ImportError:  # pragma: no cover - depends on the astropy version
    _kernel = None

__all__ = ["KERNEL_AVAILABLE", "RiceDecode", "RiceLayout", "decode_rice", "rice_layout",
           "start_rice"]

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


class _Tiles:
    """A checked tile table over a file's bytes, and the buffer the tiles decode into."""

    def __init__(self, buf: bytes, layout: RiceLayout) -> None:
        assert _kernel is not None, "check rice_layout() first"
        dtype = ">i4" if layout.descriptor == "P" else ">i8"
        table = np.frombuffer(buf, dtype=dtype, count=2 * layout.n_tiles,
                              offset=layout.table_offset).reshape(layout.n_tiles, 2)
        lengths, offsets = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
        if (lengths < 0).any() or (offsets < 0).any() or \
                (offsets + lengths > layout.heap_size).any():
            raise ValueError("a tile descriptor points outside the heap")
        self.layout = layout
        self.starts, self.lengths = offsets.tolist(), lengths.tolist()
        self.heap = memoryview(buf)[layout.heap_offset:layout.heap_offset + layout.heap_size]
        self.out = np.empty((layout.height, layout.width), dtype=_DTYPES[layout.zbitpix])

    def decode(self, first_tile: int, end_tile: int,
               stop: threading.Event | None = None) -> None:
        """Decode tiles ``[first_tile, end_tile)`` into their rows of :attr:`out`."""
        layout, heap, flat = self.layout, self.heap, self.out.reshape(-1)
        tile = layout.width * layout.tile_rows
        for i in range(first_tile, end_tile):
            if stop is not None and i % 256 == 0 and stop.is_set():
                return
            start, length = self.starts[i], self.lengths[i]
            first = i * tile
            size = min(tile, flat.size - first)
            decoded = _kernel(heap[start:start + length].tobytes(), layout.blocksize,
                              layout.bytepix, size)
            flat[first:first + size] = np.frombuffer(decoded, dtype=flat.dtype, count=size)


def decode_rice(buf: bytes, layout: RiceLayout) -> np.ndarray:
    """Decode every tile, in order on this thread, into one ``(height, width)`` array.

    The pixels are native-endian integers.

    Raises
    ------
    ValueError
        A tile points outside the heap, or the kernel rejects its bytes.
    """
    tiles = _Tiles(buf, layout)
    tiles.decode(0, layout.n_tiles)
    return tiles.out


class RiceDecode:
    """A decode running on helper threads while the caller does other work.

    :meth:`result` waits for every run and returns the image (or raises what
    a run raised, as :func:`decode_rice` would); :meth:`cancel` stops the
    runs at their next check and waits for them, for a caller that no longer
    needs the pixels (the file was refused on its header meanwhile).
    """

    def __init__(self, tiles: _Tiles, runs: int) -> None:
        self._tiles = tiles
        self._stop = threading.Event()
        n = tiles.layout.n_tiles
        bounds = [n * k // runs for k in range(runs + 1)]
        pool = helper_pool()
        self._runs: list[Future[None]] = [
            pool.submit(tiles.decode, lo, hi, self._stop)
            for lo, hi in itertools.pairwise(bounds) if hi > lo]

    def result(self) -> np.ndarray:
        try:
            for run in self._runs:
                run.result()
        except BaseException:
            self.cancel()  # the other runs' pixels are of no use now
            raise
        return self._tiles.out

    def cancel(self) -> None:
        self._stop.set()
        for run in self._runs:
            try:
                run.result()
            except Exception:  # noqa: BLE001, S110 - nobody wants these pixels any more
                pass


def start_rice(buf: bytes, layout: RiceLayout, threads: int) -> RiceDecode:
    """Start decoding the tiles in ``threads`` contiguous runs on helper threads.

    Raises
    ------
    ValueError
        A tile points outside the heap (checked before any thread starts).
    """
    return RiceDecode(_Tiles(buf, layout), max(1, min(threads, layout.n_tiles)))
