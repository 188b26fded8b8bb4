"""FITS files: structural scan before anything is decompressed, then decoding.

The scan walks the 2880-byte header blocks itself and reads only the structural
keywords (BITPIX, NAXISn, PCOUNT, GCOUNT, XTENSION, ZIMAGE, ZNAXISn, ZTILEn,
ZCMPTYPE). From them it knows, without trusting astropy with a hostile file,
how big the image would be once decompressed (the decompression-bomb guard),
whether the bytes the header declares are really in the file (truncation,
"header lies about size"), and whether the tile table is consistent with the
image it claims to hold. Only then is the one HDU selected decoded: row-tiled
RICE images (AIA level 1) by :mod:`monitor.ingest.rice` (astropy's kernel
without its per-tile overhead), anything else by astropy.

AIA level-1 files are a RICE tile-compressed image in HDU 1 behind an empty
primary HDU; uncompressed images in the primary HDU (sunpy's test file, old
synoptic files) are read straight from the buffer.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from monitor.ingest.header import IngestRejected
from monitor.ingest.reasons import RejectReason
from monitor.ingest.records import ImageData
from monitor.ingest.rice import RiceDecode, RiceLayout, decode_rice, rice_layout, start_rice
from monitor.ingest.settings import IngestSettings

__all__ = ["FitsImageHdu", "decode_fits", "parse_header", "scan_fits", "start_decode"]

BLOCK = 2880
CARD = 80
_BITPIX = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
# Tile compressions astropy decodes; NOCOMPRESS is a legal "compressed" HDU.
_COMPRESSIONS = {"RICE_1", "RICE_ONE", "GZIP_1", "GZIP_2", "PLIO_1", "HCOMPRESS_1", "NOCOMPRESS"}


@dataclass(frozen=True)
class FitsImageHdu:
    """The image HDU chosen by the scan, with its header bytes and layout."""

    index: int
    header_bytes: bytes
    data_offset: int
    data_size: int
    compressed: bool
    compression: str | None
    bitpix: int
    naxis1: int
    naxis2: int
    rice: RiceLayout | None = None  # set when the direct RICE decoder can read it


def _card_value(card: str) -> str | None:
    """Raw value text of a ``KEY     = value / comment`` card (strings unquoted)."""
    if card[8:10] != "= ":
        return None
    text = card[10:].strip()
    if text.startswith("'"):
        end = 1
        chars = []
        while end < len(text):
            if text[end] == "'":
                if end + 1 < len(text) and text[end + 1] == "'":
                    chars.append("'")
                    end += 2
                    continue
                return "".join(chars).rstrip()
            chars.append(text[end])
            end += 1
        return None  # unterminated string
    return text.split("/", 1)[0].strip()


def _int_card(cards: dict[str, str], key: str, default: int | None = None) -> int:
    raw = cards.get(key)
    if raw is None:
        if default is not None:
            return default
        raise IngestRejected(RejectReason.MALFORMED_HEADER, f"structural keyword {key} missing",
                             {"keyword": key})
    try:
        return int(raw)
    except ValueError:
        raise IngestRejected(RejectReason.MALFORMED_HEADER,
                             f"structural keyword {key}={raw!r} is not an integer",
                             {"keyword": key}) from None


def _read_header(buf: memoryview, start: int, settings: IngestSettings
                 ) -> tuple[dict[str, str], int]:
    """Structural cards of the header starting at ``start`` and the data offset."""
    cards: dict[str, str] = {}
    pos = start
    limit = start + settings.max_header_bytes
    while True:
        if pos + BLOCK > len(buf):
            raise IngestRejected(RejectReason.TRUNCATED,
                                 f"file ends inside a header at byte {len(buf)}",
                                 {"offset": pos})
        if pos >= limit:
            raise IngestRejected(RejectReason.MALFORMED_HEADER,
                                 f"no END card within {settings.max_header_bytes} header bytes",
                                 {"offset": start})
        block = bytes(buf[pos:pos + BLOCK])
        try:
            text = block.decode("ascii")
        except UnicodeDecodeError:
            raise IngestRejected(RejectReason.MALFORMED_HEADER,
                                 "non-ASCII bytes in a FITS header", {"offset": pos}) from None
        pos += BLOCK
        for i in range(0, BLOCK, CARD):
            card = text[i:i + CARD]
            key = card[:8].rstrip()
            if key == "END":
                return cards, pos
            value = _card_value(card)
            if value is not None and key not in cards:
                cards[key] = value


def scan_fits(buf: bytes, settings: IngestSettings) -> FitsImageHdu:
    """Find the 2-D image HDU and prove it is decodable within the limits.

    Raises
    ------
    IngestRejected
        UNKNOWN_FORMAT, MALFORMED_HEADER, TRUNCATED, BAD_NAXIS, IMAGE_TOO_LARGE,
        UNSUPPORTED_COMPRESSION or UNSUPPORTED_DATA_TYPE.
    """
    view = memoryview(buf)
    pos = 0
    for index in range(settings.max_hdus):
        if pos >= len(buf):
            break
        cards, data_offset = _read_header(view, pos, settings)
        if index == 0 and cards.get("SIMPLE") != "T":
            raise IngestRejected(RejectReason.UNKNOWN_FORMAT, "SIMPLE is not T")
        bitpix = _int_card(cards, "BITPIX")
        if bitpix not in _BITPIX:
            raise IngestRejected(RejectReason.UNSUPPORTED_DATA_TYPE, f"BITPIX={bitpix}",
                                 {"keyword": "BITPIX"})
        naxis = _int_card(cards, "NAXIS")
        if not 0 <= naxis <= 999:
            raise IngestRejected(RejectReason.MALFORMED_HEADER, f"NAXIS={naxis}",
                                 {"keyword": "NAXIS"})
        dims = [_int_card(cards, f"NAXIS{i}") for i in range(1, naxis + 1)]
        if any(d < 0 for d in dims):
            raise IngestRejected(RejectReason.MALFORMED_HEADER, f"negative NAXISn {dims}")
        pcount = _int_card(cards, "PCOUNT", 0)
        gcount = _int_card(cards, "GCOUNT", 1)
        if pcount < 0 or gcount < 0:
            raise IngestRejected(RejectReason.MALFORMED_HEADER, "negative PCOUNT/GCOUNT")
        data_size = (abs(bitpix) // 8) * gcount * (pcount + math.prod(dims)) if dims else 0
        xtension = cards.get("XTENSION", "").strip().upper() if index else "PRIMARY"
        header_bytes = bytes(view[pos:data_offset])

        if xtension == "BINTABLE" and cards.get("ZIMAGE") == "T":
            hdu = _compressed_hdu(cards, index, header_bytes, data_offset, data_size, dims,
                                  settings)
        elif xtension in ("PRIMARY", "IMAGE") and naxis > 0 and data_size > 0:
            if naxis != 2:
                raise IngestRejected(RejectReason.BAD_NAXIS,
                                     f"image HDU {index} has NAXIS={naxis}, need 2",
                                     {"hdu": index, "naxis": naxis})
            _guard_size(dims[0], dims[1], settings)
            hdu = FitsImageHdu(index, header_bytes, data_offset, data_size, False, None,
                               bitpix, dims[0], dims[1])
        else:
            pos = data_offset + -(-data_size // BLOCK) * BLOCK
            continue
        if hdu.data_offset + hdu.data_size > len(buf):
            raise IngestRejected(RejectReason.TRUNCATED,
                                 f"header declares {hdu.data_size} data bytes at offset "
                                 f"{hdu.data_offset}, file has {len(buf)}",
                                 {"declared": hdu.data_offset + hdu.data_size,
                                  "actual": len(buf)})
        return hdu
    raise IngestRejected(RejectReason.BAD_NAXIS,
                         f"no 2-D image among the first {settings.max_hdus} HDUs")


def _guard_size(width: int, height: int, settings: IngestSettings) -> None:
    if (width > settings.max_image_side or height > settings.max_image_side
            or width * height > settings.max_image_pixels):
        raise IngestRejected(RejectReason.IMAGE_TOO_LARGE,
                             f"image {width}x{height} exceeds limits "
                             f"({settings.max_image_side} px/side, "
                             f"{settings.max_image_pixels} px)",
                             {"naxis1": width, "naxis2": height})
    if width == 0 or height == 0:
        raise IngestRejected(RejectReason.BAD_NAXIS, f"empty image {width}x{height}")


def _compressed_hdu(cards: dict[str, str], index: int, header_bytes: bytes, data_offset: int,
                    data_size: int, dims: list[int], settings: IngestSettings) -> FitsImageHdu:
    znaxis = _int_card(cards, "ZNAXIS")
    if znaxis != 2:
        raise IngestRejected(RejectReason.BAD_NAXIS, f"compressed image has ZNAXIS={znaxis}",
                             {"hdu": index, "naxis": znaxis})
    width, height = _int_card(cards, "ZNAXIS1"), _int_card(cards, "ZNAXIS2")
    _guard_size(width, height, settings)
    zbitpix = _int_card(cards, "ZBITPIX")
    if zbitpix not in _BITPIX:
        raise IngestRejected(RejectReason.UNSUPPORTED_DATA_TYPE, f"ZBITPIX={zbitpix}",
                             {"keyword": "ZBITPIX"})
    compression = (cards.get("ZCMPTYPE") or "").strip().upper()
    if compression not in _COMPRESSIONS:
        raise IngestRejected(RejectReason.UNSUPPORTED_COMPRESSION,
                             f"ZCMPTYPE={compression!r}", {"keyword": "ZCMPTYPE"})
    tile1 = _int_card(cards, "ZTILE1", width)
    tile2 = _int_card(cards, "ZTILE2", 1)
    if tile1 <= 0 or tile2 <= 0:
        raise IngestRejected(RejectReason.MALFORMED_HEADER, f"ZTILE {tile1}x{tile2}")
    rows = dims[1] if len(dims) == 2 else -1
    expected_rows = -(-width // tile1) * -(-height // tile2)
    if rows != expected_rows:
        raise IngestRejected(RejectReason.MALFORMED_HEADER,
                             f"tile table has {rows} rows, a {width}x{height} image in "
                             f"{tile1}x{tile2} tiles needs {expected_rows}",
                             {"rows": rows, "expected": expected_rows})
    return FitsImageHdu(index, header_bytes, data_offset, data_size, True, compression,
                        zbitpix, width, height, rice_layout(cards, data_offset, width, height))


def parse_header(hdu: FitsImageHdu) -> fits.Header:
    """Full astropy header of the selected HDU (values parsed lazily by astropy)."""
    try:
        return fits.Header.fromstring(hdu.header_bytes.decode("ascii"))
    except Exception as exc:
        raise IngestRejected(RejectReason.MALFORMED_HEADER, f"header does not parse: {exc}") \
            from exc


def _scaling(header: fits.Header, bitpix: int) -> tuple[float, float, int | None]:
    def number(key: str, default: float) -> float:
        try:
            value = header.get(key, default)
            value = float(value)
        except (TypeError, ValueError):
            raise IngestRejected(RejectReason.INVALID_KEYWORD, f"{key} is not a number",
                                 {"keyword": key}) from None
        if not math.isfinite(value):
            raise IngestRejected(RejectReason.NONFINITE_KEYWORD, f"{key} is {value}",
                                 {"keyword": key})
        return value

    bscale, bzero = number("BSCALE", 1.0), number("BZERO", 0.0)
    if bscale == 0.0:
        raise IngestRejected(RejectReason.INVALID_KEYWORD, "BSCALE is 0", {"keyword": "BSCALE"})
    blank = None
    if bitpix > 0 and "BLANK" in header:
        raw = number("BLANK", 0.0)
        if raw != int(raw):
            raise IngestRejected(RejectReason.INVALID_KEYWORD, f"BLANK={raw} is not an integer",
                                 {"keyword": "BLANK"})
        blank = int(raw)
    return bscale, bzero, blank


def start_decode(buf: bytes, hdu: FitsImageHdu, threads: int) -> RiceDecode | None:
    """Start the direct RICE decode on ``threads`` helper threads, to overlap other work.

    None when there is nothing to start (one thread, or not the direct
    decoder's layout, or a tile table it refuses): :func:`decode_fits` then
    decodes on the calling thread as usual.
    """
    if threads < 2 or hdu.rice is None:
        return None
    try:
        return start_rice(buf, hdu.rice, threads)
    except Exception:  # noqa: BLE001 - decode_fits takes it the usual way
        return None


def _decode_rice_or_none(buf: bytes, layout: RiceLayout,
                         started: RiceDecode | None) -> np.ndarray | None:
    """The direct decoder's pixels; None sends the file to astropy, whose verdict (and
    rejection message) on damaged tiles is the reference."""
    try:
        return started.result() if started is not None else decode_rice(buf, layout)
    except Exception:  # noqa: BLE001 - any failure: let astropy decide
        return None


def decode_fits(buf: bytes, hdu: FitsImageHdu, header: fits.Header,
                started: RiceDecode | None = None) -> ImageData:
    """Decode the pixels of the scanned HDU without applying BSCALE/BZERO/BLANK.

    ``started`` is the decode :func:`start_decode` began for this HDU, if any
    (the caller cancels it when it refuses the file before calling this).

    Raises
    ------
    IngestRejected
        CORRUPT_DATA when decoding fails or yields the wrong shape.
    """
    try:
        bscale, bzero, blank = _scaling(header, hdu.bitpix)
    except IngestRejected:
        if started is not None:
            started.cancel()
        raise
    shape = (hdu.naxis2, hdu.naxis1)
    pixels = _decode_rice_or_none(buf, hdu.rice, started) if hdu.rice is not None else None
    if pixels is None and hdu.compressed:
        try:
            with fits.open(io.BytesIO(buf), memmap=False, do_not_scale_image_data=True,
                           lazy_load_hdus=True) as hdul:
                data = hdul[hdu.index].data
                pixels = np.asarray(data) if data is not None else None
        except Exception as exc:
            raise IngestRejected(RejectReason.CORRUPT_DATA,
                                 f"tile decompression failed: {type(exc).__name__}: {exc}") \
                from exc
    elif pixels is None:
        dtype = np.dtype(">" + _BITPIX[hdu.bitpix])
        count = hdu.naxis1 * hdu.naxis2
        raw = np.frombuffer(buf, dtype=dtype, count=count, offset=hdu.data_offset)
        pixels = raw.reshape(shape).astype(dtype.newbyteorder("="))
    if pixels is None or pixels.shape != shape:
        got = None if pixels is None else pixels.shape
        raise IngestRejected(RejectReason.CORRUPT_DATA, f"decoded shape {got}, header says {shape}")
    return ImageData(pixels=pixels, bscale=bscale, bzero=bzero, blank=blank)
