"""The direct RICE decoder (monitor.ingest.rice) against astropy's reader, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from monitor.ingest import IngestSettings, RejectReason, read_observation
from monitor.ingest.fitsread import decode_fits, parse_header, scan_fits
from monitor.ingest.rice import KERNEL_AVAILABLE, decode_rice
from monitor.ingest.samples import SyntheticSpec, header_for, real_sample_paths

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
