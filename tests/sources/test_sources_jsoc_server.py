"""The JSOC-like server itself: layout, index files, validators, faults, FITS content."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from astropy.io import fits
from fakes.jsoc_server import Faults, JsocArchive, JsocServer
from fakes.synoptic_fits import write_synoptic_fits

from monitor.sources.index import parse_latest, parse_listing
from monitor.sources.names import parse_aia_name

T0 = datetime(2026, 6, 24, 20, 0, tzinfo=UTC)


def run(coro):
    return asyncio.run(coro)


def test_archive_layout_index_and_out_of_order_publication(tmp_path: Path) -> None:
    archive = JsocArchive(tmp_path, "http://jsoc.example/data/aia/synoptic/nrt/")
    path = archive.publish(T0 + timedelta(seconds=200), 171)  # inside the 20:03 slot
    assert path == tmp_path / "2026/06/24/H2000/AIA20260624_200300_0171.fits"
    archive.publish(T0, 94)  # older slot published later: "last" stays
    assert archive.latest() == T0 + timedelta(minutes=3)
    index = json.loads((tmp_path / "image_times.json").read_text())
    assert index == {"first": "20260624_200300", "last": "20260624_200300"}
    text = (tmp_path / "image_times").read_text().splitlines()
    assert text[0].split()[1] == "20260624_200300"
    assert text[1].split()[1] == ("http://jsoc.example/data/aia/synoptic/nrt/"
                                  "2026/06/24/H2000/AIA20260624_200300")
    assert parse_latest((tmp_path / "image_times").read_bytes()) == archive.latest().timestamp()
    published = archive.publish_slot(T0 + timedelta(minutes=6), missing=(1700, 4500))
    assert len(published) == 8  # a gap of two channels, never filled
    assert all(parse_aia_name(p.name) is not None for p in published)


@pytest.mark.parametrize("compressed", [False, True])
def test_synoptic_files_read_as_level_1_5_aia_maps(tmp_path: Path, compressed: bool) -> None:
    import sunpy.map

    path = write_synoptic_fits(tmp_path / "AIA20260624_200300_0193.fits",
                               T0 + timedelta(minutes=3), 193, size=128, compressed=compressed)
    with fits.open(path, do_not_scale_image_data=True) as hdus:  # the on-disk form
        assert len(hdus) == (2 if compressed else 1)
        header = hdus[-1].header
        raw = np.array(hdus[-1].data)
    assert raw.dtype.kind == "i" and raw.dtype.itemsize == 2  # int16 on disk, as JSOC
    assert header["LVL_NUM"] == 1.5 and header["T_REC"] == "2026-06-24T20:03:00Z"
    assert header["CDELT1"] == pytest.approx(0.6 * 4096 / 128)
    assert header["CRPIX1"] == 64.5 and header["BSCALE"] == 0.0625
    amap = sunpy.map.Map(path)
    assert np.allclose(amap.data, raw * 0.0625) and amap.data.max() > 100
    assert type(amap).__name__ == "AIAMap"
    assert amap.wavelength.value == 193
    assert amap.date.isot.startswith("2026-06-24T20:03")
    assert not list(tmp_path.glob(".*"))  # written to a temporary name, renamed


def test_server_listing_validators_redirect_and_faults(tmp_path: Path) -> None:
    faults = Faults()

    async def scenario() -> None:
        async with JsocServer(tmp_path, faults=faults) as server:
            archive = server.archive()
            archive.publish_slot(T0, channels=(171, 193))
            (archive.root / "2026/06/24/H2000/.AIA20260624_200300_0171.fits.tmp").write_bytes(
                b"in progress")
            async with aiohttp.ClientSession() as session:
                url = server.base_url + "2026/06/24/H2000/"
                async with session.get(url) as response:
                    assert response.status == 200
                    body = await response.read()
                    etag = response.headers["ETag"]
                    modified = response.headers["Last-Modified"]
                assert b"Index of /data/aia/synoptic/nrt/2026/06/24/H2000" in body
                assert [e.name for e in parse_listing(body, url)] == [
                    "AIA20260624_200000_0171.fits", "AIA20260624_200000_0193.fits"]
                async with session.get(url, headers={"If-None-Match": etag}) as response:
                    assert response.status == 304
                async with session.get(url, headers={"If-Modified-Since": modified}) as response:
                    assert response.status == 304
                async with session.get(url.rstrip("/"), allow_redirects=False) as response:
                    assert response.status == 301
                    assert response.headers["Location"].endswith("/H2000/")
                file_url = url + "AIA20260624_200000_0171.fits"
                async with session.get(file_url) as response:
                    original = await response.read()
                    assert response.headers["Content-Type"] == "application/fits"
                hidden = "2026/06/24/H2000/.AIA20260624_200300_0171.fits.tmp"
                for bad in ("../../../etc/passwd", hidden, "2026/06/24/H2000/missing.fits"):
                    async with session.get(server.base_url + bad) as response:
                        assert response.status == 404, bad
                faults.add("status", "*_0171.fits", times=1, status=503)
                async with session.get(file_url) as response:
                    assert response.status == 503
                faults.add("truncate", "*_0171.fits", times=1, fraction=0.25)
                with pytest.raises(aiohttp.ClientPayloadError):
                    async with session.get(file_url) as response:
                        await response.read()
                faults.add("chunked", "*_0171.fits", times=1)
                async with session.get(file_url) as response:
                    assert response.content_length is None
                    assert await response.read() == original
                async with session.get(file_url) as response:  # faults used up
                    assert await response.read() == original
            assert faults.hits == {"status": 1, "truncate": 1, "chunked": 1}
            assert server.count(304) == 2

    run(scenario())
