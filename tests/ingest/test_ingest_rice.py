"""The direct RICE decoder (monitor.ingest.rice) against astropy's reader, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from monitor.ingest import IngestSettings, Rejection, RejectReason, read_observation
from monitor.ingest.fitsread import decode_fits, parse_header, scan_fits
from monitor.ingest.rice import KERNEL_AVAILABLE, decode_rice, start_rice
from monitor.ingest.samples import (
    SyntheticSpec,
    header_for,
    real_sample_paths,
    write_synthetic_fits,
)

pytestmark = pytest.mark.skipif(not KERNEL_AVAILABLE,
                                reason="this astropy has no RICE kernel at the expected "
                                       "place: every file takes astropy's reader")


def _astropy_pixels(path: Path) -> np.ndarray:
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        return np.asarray(hdul[1].data)


def _write(path: Path, data: np.ndarray, **kwargs: object) -> Path:
    fits.HDUList([fits.PrimaryHDU(),
                  fits.CompImageHDU(data, header=header_for(SyntheticSpec(size=data.shape[1])),
                                    **kwargs)]).writeto(path, overwrite=True)
    return path


def _decode(path: Path):  # type: ignore[no-untyped-def]
    buf = path.read_bytes()
    hdu = scan_fits(buf, IngestSettings())
    return hdu, decode_fits(buf, hdu, parse_header(hdu)).pixels


@pytest.mark.parametrize(("dtype", "tile_rows", "shape"), [
    (np.int16, 1, (96, 128)),     # AIA's layout: one row per tile
    (np.int16, 5, (97, 128)),     # several rows per tile, a short last tile
    (np.int32, 1, (64, 80)),      # 32-bit integers (BYTEPIX 4)
])
def test_direct_decoder_matches_astropy(tmp_path: Path, dtype: type, tile_rows: int,
                                        shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(-200, 16000, shape).astype(dtype)
    data[10:20, :] = 16383  # saturated rows, long runs: the kernel's other code paths
    data[30, :] = 0
    path = _write(tmp_path / "img.fits", data, compression_type="RICE_1",
                  tile_shape=(tile_rows, shape[1]))
    hdu, pixels = _decode(path)
    assert hdu.rice is not None  # the fast path took it
    reference = _astropy_pixels(path)
    assert pixels.dtype == reference.dtype.newbyteorder("=")
    np.testing.assert_array_equal(pixels, reference)
    np.testing.assert_array_equal(pixels, data)


def test_real_aia_cutout_decodes_identically() -> None:
    path = real_sample_paths()["aia_171_cutout"]
    if path is None:
        pytest.skip("sunkit-image's RICE-compressed AIA cutout is not installed")
    hdu, pixels = _decode(Path(path))
    assert hdu.rice is not None
    np.testing.assert_array_equal(pixels, _astropy_pixels(Path(path)))


@pytest.mark.parametrize("kwargs", [
    {"compression_type": "GZIP_1"},                      # another codec
    {"compression_type": "RICE_1", "tile_shape": (32, 32)},  # tiles that are not rows
])
def test_other_layouts_take_astropys_reader(tmp_path: Path, kwargs: dict[str, object]) -> None:
    data = np.arange(64 * 64, dtype=np.int16).reshape(64, 64)
    path = _write(tmp_path / "img.fits", data, **kwargs)
    hdu, pixels = _decode(path)
    assert hdu.rice is None
    np.testing.assert_array_equal(pixels, data)


def test_descriptor_outside_the_heap_is_refused(tmp_path: Path) -> None:
    data = np.full((16, 32), 500, dtype=np.int16)
    path = _write(tmp_path / "img.fits", data, compression_type="RICE_1", tile_shape=(1, 32))
    buf = bytearray(path.read_bytes())
    hdu = scan_fits(bytes(buf), IngestSettings())
    assert hdu.rice is not None
    # tile 3's heap offset (second int32 of its descriptor) far beyond the heap
    at = hdu.rice.table_offset + 3 * 8 + 4
    buf[at:at + 4] = (10**8).to_bytes(4, "big")
    with pytest.raises(ValueError, match="outside the heap"):
        decode_rice(bytes(buf), hdu.rice)
    (tmp_path / "bad.fits").write_bytes(bytes(buf))
    result = read_observation(tmp_path / "bad.fits")  # astropy's verdict, a reason, no raise
    assert not result.ok and result.rejection is not None
    assert result.rejection.reason in (RejectReason.CORRUPT_DATA, RejectReason.TRUNCATED,
                                       RejectReason.MALFORMED_HEADER)


# -- tile-parallel decoding --------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "tile_rows", "shape"), [
    (np.int16, 1, (96, 128)),
    (np.int16, 5, (97, 128)),     # the last run ends in a short tile
    (np.int32, 1, (64, 80)),
])
@pytest.mark.parametrize("threads", [2, 3, 7, 500])  # 500: more threads than tiles
def test_tile_parallel_decode_is_bit_identical(tmp_path: Path, dtype: type, tile_rows: int,
                                               shape: tuple[int, int], threads: int) -> None:
    rng = np.random.default_rng(11)
    data = rng.integers(-200, 16000, shape).astype(dtype)
    data[5:9, :] = 16383
    path = _write(tmp_path / "img.fits", data, compression_type="RICE_1",
                  tile_shape=(tile_rows, shape[1]))
    buf = path.read_bytes()
    hdu = scan_fits(buf, IngestSettings())
    assert hdu.rice is not None
    serial = decode_rice(buf, hdu.rice)
    parallel = start_rice(buf, hdu.rice, threads).result()
    assert parallel.dtype == serial.dtype and parallel.shape == serial.shape
    assert parallel.tobytes() == serial.tobytes()
    np.testing.assert_array_equal(parallel, _astropy_pixels(path))


def _same_result(path: Path, threads: int) -> tuple[object, object]:
    serial = read_observation(path)
    parallel = read_observation(path, decode_threads=threads)
    assert serial.ok == parallel.ok
    if serial.ok:
        assert parallel.image is not None and serial.image is not None
        assert parallel.image.pixels.tobytes() == serial.image.pixels.tobytes()
        assert parallel.image.pixels.dtype == serial.image.pixels.dtype
        assert parallel.observation == serial.observation  # hash, counts, flags alike
        return serial.observation, parallel.observation
    return serial.rejection, parallel.rejection


def test_full_resolution_file_reads_identically_on_spare_cores(tmp_path: Path) -> None:
    """A real-like 4096 px level-1 file (the synthetic writer's RICE layout, 4096 one-row
    tiles): the whole read, with its hash and pixel statistics, is the serial read."""
    path = tmp_path / "aia_4096.fits"
    write_synthetic_fits(path, SyntheticSpec(size=4096))
    hdu = scan_fits(path.read_bytes(), IngestSettings())
    assert hdu.rice is not None and hdu.rice.n_tiles == 4096
    serial, parallel = _same_result(path, threads=2)
    assert serial == parallel
    _same_result(path, threads=5)


def test_real_aia_cutout_reads_identically_on_spare_cores() -> None:
    path = real_sample_paths()["aia_171_cutout"]
    if path is None:
        pytest.skip("sunkit-image's RICE-compressed AIA cutout is not installed")
    serial, parallel = _same_result(Path(path), threads=2)
    assert serial == parallel


def test_refusals_on_spare_cores_are_the_serial_ones(tmp_path: Path) -> None:
    """A header refused while the tiles decode, and a damaged tile table: the same reason,
    message and hash as the serial read (the decode is cancelled, not reported)."""
    data = np.full((64, 64), 700, dtype=np.int16)
    header = header_for(SyntheticSpec(size=64))
    header["WAVELNTH"] = 999
    bad_header = tmp_path / "wavelength_999.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=header,
                                                       compression_type="RICE_1")]
                 ).writeto(bad_header)
    serial, parallel = _same_result(bad_header, threads=2)
    assert isinstance(serial, Rejection) and serial == parallel
    assert serial.reason is RejectReason.UNSUPPORTED_WAVELENGTH and serial.content_sha256

    good = _write(tmp_path / "img.fits", data, compression_type="RICE_1", tile_shape=(1, 64))
    buf = bytearray(good.read_bytes())
    hdu = scan_fits(bytes(buf), IngestSettings())
    assert hdu.rice is not None
    at = hdu.rice.table_offset + 3 * 8 + 4
    buf[at:at + 4] = (10**8).to_bytes(4, "big")
    (tmp_path / "bad_tiles.fits").write_bytes(bytes(buf))
    serial, parallel = _same_result(tmp_path / "bad_tiles.fits", threads=2)
    assert isinstance(serial, Rejection) and serial == parallel
