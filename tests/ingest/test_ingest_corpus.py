"""The malformed-input corpus: every case is refused with its expected reason code.

Each case is built in ``tmp_path`` from a small valid synthetic file (or from
the real sunpy JP2) by one deliberate defect, so the expected reason is
unambiguous. The test asserts the reason, that no exception escapes, and that
the rejection carries a human message.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from monitor.ingest import IngestSettings, RejectReason, read_observation
from monitor.ingest.reasons import REASON_MEANINGS
from monitor.ingest.samples import (
    SyntheticSpec,
    header_for,
    real_sample_paths,
    write_synthetic_fits,
)

R = RejectReason
CARD = 80


def _base(tmp_path: Path, compress: bool = True, **changes: object) -> bytes:
    path = tmp_path / f"base_{compress}_{abs(hash(tuple(sorted(changes.items()))))}.fits"
    write_synthetic_fits(path, SyntheticSpec(size=128, **changes), compress=compress)
    return path.read_bytes()


def _patch(raw: bytes, key: str, value: str) -> bytes:
    """Replace the value of card ``key`` in the first header that has it (byte level)."""
    target = key.ljust(8).encode("ascii") + b"= "
    for pos in range(0, len(raw), CARD):
        if raw[pos:pos + 10] == target:
            card = (key.ljust(8) + "= " + value.rjust(20)).ljust(CARD).encode("ascii")
            return raw[:pos] + card + raw[pos + CARD:]
    raise KeyError(key)


def _drop(raw: bytes, key: str) -> bytes:
    """Turn card ``key`` into a COMMENT (removes it without moving any bytes)."""
    target = key.ljust(8).encode("ascii")
    for pos in range(0, len(raw), CARD):
        if raw[pos:pos + 8] == target and raw[pos + 8:pos + 10] == b"= ":
            card = ("COMMENT removed " + key).ljust(CARD).encode("ascii")
            return raw[:pos] + card + raw[pos + CARD:]
    raise KeyError(key)


def _header_file(tmp_path: Path, mutate: Callable[[fits.Header], None],
                 data: np.ndarray | None = None) -> bytes:
    spec = SyntheticSpec(size=128)
    header = header_for(spec)
    mutate(header)
    if data is None:
        data = np.full((128, 128), 500, dtype=np.int16)
    path = tmp_path / "hdr.fits"
    fits.HDUList([fits.PrimaryHDU(),
                  fits.CompImageHDU(data, header=header, compression_type="RICE_1")]
                 ).writeto(path, overwrite=True)
    return path.read_bytes()


def _jp2_with_header(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    glymur = pytest.importorskip("glymur")
    src = real_sample_paths()["aia_193_jp2"]
    if src is None:
        pytest.skip("sunpy's AIA 193 JP2 sample is not installed")
    jp2 = glymur.Jp2k(str(src))
    xml_box = next(b for b in jp2.box if b.box_id == "xml ")
    from lxml import etree
    text = edit(etree.tostring(xml_box.xml.getroot(), encoding="unicode"))
    new_box = glymur.jp2box.XMLBox(xml=etree.ElementTree(etree.fromstring(text)))
    tmp = tmp_path / "plain.jp2"
    glymur.Jp2k(str(tmp), data=jp2[:])
    boxes = glymur.Jp2k(str(tmp)).box
    boxes.insert(len(boxes) - 1, new_box)
    out = tmp_path / "edited.jp2"
    glymur.Jp2k(str(tmp)).wrap(str(out), boxes=boxes)
    return out


# Each case: (id, builder(tmp_path) -> path, expected reason, settings or None)
Case = tuple[str, Callable[[Path], Path], RejectReason, IngestSettings | None]


def _write(tmp_path: Path, raw: bytes, name: str = "case.fits") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.fits"
    os.mkfifo(path)
    return path


def _socket(tmp_path: Path) -> Path:
    path = tmp_path / "sock.fits"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


def _device(tmp_path: Path) -> Path:
    path = tmp_path / "null.fits"
    path.symlink_to("/dev/null")
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.fits"
    path.mkdir()
    return path


def _too_many_header_blocks(tmp_path: Path) -> Path:
    cards = ["SIMPLE  =                    T", "BITPIX  =                   16",
             "NAXIS   =                    0"] + [f"COMMENT filler {i}" for i in range(200 * 36)]
    text = "".join(c.ljust(CARD) for c in cards)
    return _write(tmp_path, text.encode("ascii"))


def _cube(tmp_path: Path) -> Path:
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((3, 16, 16), dtype=np.int16)).writeto(path)
    return path


def _no_image(tmp_path: Path) -> Path:
    path = tmp_path / "noimage.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="a", format="E", array=np.zeros(3))])]).writeto(path)
    return path


def _bad_heap(tmp_path: Path) -> Path:
    raw = _base(tmp_path)
    cut = len(raw) // 2
    return _write(tmp_path, raw[:cut] + bytes(len(raw) - cut))


def _saturated(tmp_path: Path) -> Path:
    data = np.full((128, 128), 500, dtype=np.int16)
    data[:, :40] = 16000
    return _write(tmp_path, _header_file(tmp_path, lambda h: None, data))


def _missing(tmp_path: Path) -> Path:
    return _write(tmp_path, _base(tmp_path, blank_fraction=0.2))


def _all_blank(tmp_path: Path) -> Path:
    data = np.full((128, 128), -32768, dtype=np.int16)
    return _write(tmp_path, _header_file(tmp_path, lambda h: None, data))


def _all_nan_float(tmp_path: Path) -> Path:
    path = tmp_path / "nan.fits"
    fits.PrimaryHDU(np.full((128, 128), np.nan, dtype=np.float32),
                    header=header_for(SyntheticSpec(size=128))).writeto(path)
    return path


def _set(key: str, value: object) -> Callable[[fits.Header], None]:
    def mutate(header: fits.Header) -> None:
        header[key] = value
    return mutate


def _delete(*keys: str) -> Callable[[fits.Header], None]:
    def mutate(header: fits.Header) -> None:
        for key in keys:
            del header[key]
    return mutate


def _singular_pc(header: fits.Header) -> None:
    for key, value in (("PC1_1", 1.0), ("PC1_2", 1.0), ("PC2_1", 1.0), ("PC2_2", 1.0)):
        header[key] = value


def _hdr(mutate: Callable[[fits.Header], None]) -> Callable[[Path], Path]:
    return lambda tmp: _write(tmp, _header_file(tmp, mutate))


def _raw(transform: Callable[[bytes], bytes], compress: bool = True) -> Callable[[Path], Path]:
    return lambda tmp: _write(tmp, transform(_base(tmp, compress=compress)))


def _jp2_unknown_scaling(tmp_path: Path) -> Path:
    return _jp2_with_header(tmp_path, lambda t: t.replace("hvs_version5.pro", "hvs_future.pro"))


def _jp2_no_xml(tmp_path: Path) -> Path:
    glymur = pytest.importorskip("glymur")
    src = real_sample_paths()["aia_193_jp2"]
    if src is None:
        pytest.skip("sunpy's AIA 193 JP2 sample is not installed")
    path = tmp_path / "noxml.jp2"
    glymur.Jp2k(str(path), data=glymur.Jp2k(str(src))[:])
    return path


def _jp2_truncated(tmp_path: Path) -> Path:
    src = real_sample_paths()["aia_193_jp2"]
    if src is None:
        pytest.skip("sunpy's AIA 193 JP2 sample is not installed")
    return _write(tmp_path, src.read_bytes()[:400], "trunc.jp2")


def _real_jp2(name: str) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        src = real_sample_paths()[name]
        if src is None:
            pytest.skip(f"sample {name} is not installed")
        return Path(shutil.copy(src, tmp_path / "real.jp2"))
    return build


CASES: list[Case] = [
    # --- the path itself
    ("missing_path", lambda t: t / "nope.fits", R.NOT_FOUND, None),
    ("directory", _directory, R.NOT_A_REGULAR_FILE, None),
    ("fifo", _fifo, R.NOT_A_REGULAR_FILE, None),
    ("socket", _socket, R.NOT_A_REGULAR_FILE, None),
    ("char_device", _device, R.NOT_A_REGULAR_FILE, None),
    ("empty_file", lambda t: _write(t, b""), R.EMPTY_FILE, None),
    ("over_size_limit", _raw(lambda b: b), R.FILE_TOO_LARGE, IngestSettings(max_file_bytes=1000)),
    # --- container
    ("text_named_fits", lambda t: _write(t, b"hello, this is not FITS\n" * 200),
     R.UNKNOWN_FORMAT, None),
    ("png_named_fits", lambda t: _write(t, b"\x89PNG\r\n\x1a\n" + bytes(3000)),
     R.UNKNOWN_FORMAT, None),
    ("gzipped_fits", _raw(gzip.compress), R.UNKNOWN_FORMAT, None),
    ("raw_j2k_codestream", lambda t: _write(t, b"\xff\x4f\xff\x51" + bytes(500), "x.jp2"),
     R.UNKNOWN_FORMAT, None),
    ("simple_false", _raw(lambda b: _patch(b, "SIMPLE", "F")), R.UNKNOWN_FORMAT, None),
    ("truncated_in_header", _raw(lambda b: b[:1000]), R.TRUNCATED, None),
    ("truncated_in_data_rice", _raw(lambda b: b[:len(b) - 9000]), R.TRUNCATED, None),
    ("truncated_in_data_plain", _raw(lambda b: b[:len(b) - 9000], compress=False),
     R.TRUNCATED, None),
    ("header_lies_naxis_plain", _raw(lambda b: _patch(b, "NAXIS1", "256"), compress=False),
     R.TRUNCATED, None),
    ("header_lies_tile_rows", _raw(lambda b: _patch(b, "ZNAXIS2", "1000")),
     R.MALFORMED_HEADER, None),
    ("no_end_card", _too_many_header_blocks, R.MALFORMED_HEADER, None),
    ("non_ascii_header", _raw(lambda b: b[:200] + b"\xff\xfe" + b[202:]),
     R.MALFORMED_HEADER, None),
    ("naxis1_not_integer", _raw(lambda b: _patch(b, "NAXIS1", "'abc'"), compress=False),
     R.MALFORMED_HEADER, None),
    ("cube_naxis3", _cube, R.BAD_NAXIS, None),
    ("no_image_hdu", _no_image, R.BAD_NAXIS, None),
    ("huge_naxis_plain", _raw(lambda b: _patch(_patch(b, "NAXIS1", "100000"), "NAXIS2",
                                               "100000"), compress=False),
     R.IMAGE_TOO_LARGE, None),
    ("decompression_bomb", _raw(lambda b: _patch(_patch(b, "ZNAXIS1", "65536"), "ZNAXIS2",
                                                 "65536")),
     R.IMAGE_TOO_LARGE, None),
    ("bitpix_12", _raw(lambda b: _patch(b, "BITPIX", "12"), compress=False),
     R.UNSUPPORTED_DATA_TYPE, None),
    ("unknown_compression", _raw(lambda b: _patch(b, "ZCMPTYPE", "'FANCY_1 '")),
     R.UNSUPPORTED_COMPRESSION, None),
    ("corrupt_tiles", _bad_heap, R.CORRUPT_DATA, None),
    # --- header content
    ("missing_exptime", _raw(lambda b: _drop(b, "EXPTIME")), R.MISSING_KEYWORD, None),
    ("missing_wavelnth", _raw(lambda b: _drop(b, "WAVELNTH")), R.MISSING_KEYWORD, None),
    ("missing_t_obs_and_date_obs", _hdr(_delete("T_OBS", "DATE-OBS")), R.MISSING_KEYWORD, None),
    ("missing_telescop", _hdr(_delete("TELESCOP")), R.MISSING_KEYWORD, None),
    ("missing_rsun_obs", _hdr(_delete("RSUN_OBS")), R.MISSING_KEYWORD, None),
    ("exptime_zero", _hdr(_set("EXPTIME", 0.0)), R.BAD_EXPOSURE, None),
    ("exptime_negative", _hdr(_set("EXPTIME", -2.0)), R.BAD_EXPOSURE, None),
    ("exptime_absurd", _hdr(_set("EXPTIME", 3600.0)), R.BAD_EXPOSURE, None),
    ("exptime_nan_unquoted", _raw(lambda b: _patch(b, "EXPTIME", "NaN")),
     R.NONFINITE_KEYWORD, None),
    ("exptime_nan_string", _hdr(_set("EXPTIME", "NaN")), R.NONFINITE_KEYWORD, None),
    ("crpix1_inf_string", _hdr(_set("CRPIX1", "inf")), R.NONFINITE_KEYWORD, None),
    ("exptime_text", _hdr(_set("EXPTIME", "two seconds")), R.INVALID_KEYWORD, None),
    ("t_obs_garbage", _hdr(_set("T_OBS", "yesterday")), R.INVALID_KEYWORD, None),
    ("rsun_implausible", _hdr(_set("RSUN_OBS", 5.0)), R.INVALID_KEYWORD, None),
    ("cdelt_zero", _hdr(_set("CDELT1", 0.0)), R.INVALID_KEYWORD, None),
    ("ctype_not_helioprojective", _hdr(_set("CTYPE1", "RA---TAN")), R.INVALID_KEYWORD, None),
    ("pc_singular", _hdr(_singular_pc), R.INVALID_KEYWORD, None),
    ("wavelength_195", _hdr(_set("WAVELNTH", 195)), R.UNSUPPORTED_WAVELENGTH, None),
    ("telescope_eit", _hdr(_set("TELESCOP", "SOHO/EIT")), R.UNSUPPORTED_INSTRUMENT, None),
    ("level_0", _hdr(_set("LVL_NUM", 0.0)), R.UNSUPPORTED_LEVEL, None),
    ("dark_img_type", _hdr(_set("IMG_TYPE", "DARK")), R.NOT_LIGHT_FRAME, None),
    ("quality_eclipse_bit", _hdr(_set("QUALITY", 1 << 13)), R.QUALITY_REJECTED, None),
    ("quality_image_missing", _hdr(_set("QUALITY", -2147483648)), R.QUALITY_REJECTED, None),
    ("quality_text", _hdr(_set("QUALITY", "good")), R.INVALID_KEYWORD, None),
    # --- pixels
    ("all_blank", _all_blank, R.NO_VALID_PIXELS, None),
    ("all_nan_float", _all_nan_float, R.NO_VALID_PIXELS, None),
    ("many_blank_packets", _missing, R.TOO_MANY_MISSING_PIXELS, None),
    ("saturated_third", _saturated, R.TOO_MANY_SATURATED_PIXELS, None),
    ("eclipse_dark_frame", lambda t: _write(t, _base(t, dark=True)), R.DARK_FRAME, None),
    # --- JPEG 2000
    ("jp2_signature_only", lambda t: _write(t, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "s.jp2"),
     R.MALFORMED_HEADER, None),
    ("jp2_truncated", _jp2_truncated, R.MALFORMED_HEADER, None),
    ("jp2_without_xml", _jp2_no_xml, R.MALFORMED_HEADER, None),
    ("jp2_unknown_hv_scaling", _jp2_unknown_scaling, R.UNSUPPORTED_ENCODING, None),
    ("jp2_lasco", _real_jp2("lasco_c3_jp2"), R.UNSUPPORTED_INSTRUMENT, None),
    ("jp2_hmi", _real_jp2("hmi_continuum_jp2"), R.UNSUPPORTED_INSTRUMENT, None),
    ("jp2_eui", _real_jp2("eui_fsi_jp2"), R.UNSUPPORTED_INSTRUMENT, None),
    ("jp2_disabled", _real_jp2("aia_193_jp2"), R.UNKNOWN_FORMAT,
     IngestSettings(accept_jp2=False)),
]


def test_ingest_corpus_is_large_and_covers_many_reasons() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)
    assert len({c[2] for c in CASES}) >= 25


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("builder", "expected", "settings"),
                         [pytest.param(c[1], c[2], c[3], id=c[0]) for c in CASES])
def test_ingest_malformed_input_is_rejected_with_reason(
        tmp_path: Path, builder: Callable[[Path], Path], expected: RejectReason,
        settings: IngestSettings | None) -> None:
    path = builder(tmp_path)
    result = read_observation(path, settings)  # must not raise
    assert not result.ok
    assert result.observation is None and result.image is None
    assert result.rejection is not None
    assert result.rejection.reason is expected, result.rejection.message
    assert result.rejection.message
    assert result.rejection.path == str(path)
    assert result.rejection.meaning == REASON_MEANINGS[expected]


def test_ingest_unreadable_file_is_rejected(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Running as root defeats chmod 000, so make the OS refuse the open instead.
    path = _write(tmp_path, _base(tmp_path))
    real_open = os.open

    def refuse(p: object, *args: object, **kwargs: object) -> int:
        if str(p) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(p, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    result = read_observation(path)
    assert result.rejection is not None
    assert result.rejection.reason is R.UNREADABLE


def test_ingest_internal_error_is_contained(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.ingest import reader

    path = _write(tmp_path, _base(tmp_path))

    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(reader, "check_pixels", boom)
    result = read_observation(path)
    assert result.rejection is not None
    assert result.rejection.reason is R.INTERNAL_ERROR
    assert "ZeroDivisionError" in result.rejection.message


def test_ingest_rejection_keeps_known_identity(tmp_path: Path) -> None:
    result = read_observation(_hdr(_set("QUALITY", 1 << 13))(tmp_path))
    rejection = result.rejection
    assert rejection is not None
    assert rejection.wavelength is None  # header refused before the facts were complete
    assert rejection.content_sha256 is not None and len(rejection.content_sha256) == 64
    assert rejection.size_bytes and rejection.size_bytes > 0
    dark = read_observation(_write(tmp_path, _base(tmp_path, dark=True), "dark.fits"))
    assert dark.rejection is not None
    assert dark.rejection.wavelength == 171
    assert dark.rejection.t_obs is not None
