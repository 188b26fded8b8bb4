"""The SDOML v2 reader on the format-faithful miniature: layout, time index, join, EVE, geometry."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.grid import ModelGrid
from monitor.sdoml import (
    MODEL_KEYS,
    StoreError,
    join_channels,
    open_store,
    read_channel_index,
    read_eve,
    sdoml_geometry,
)
from monitor.sdoml.aia import store_years, to_model_grid
from monitor.sdoml.eve import ALL_LINES, read_eve_v1
from monitor.sdoml.labels import goes_paths, read_goes_flux, read_hek
from monitor.sdoml.store import storage_options
from monitor.sdoml.testing import Miniature
from monitor.sdoml.v1 import V1_TO_V2, V1Frames, index_v1, nominal_geometry

CHANNELS = (94, 171, 193, 211, 335)


def _ts(when: datetime) -> float:
    return when.timestamp()


def test_the_miniature_is_zarr_v2_as_the_writer_makes_it(mini: Miniature) -> None:
    meta = json.loads((mini.aia / "2010" / "171A" / ".zarray").read_text())
    assert meta["compressor"] == {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 2,
                                  "blocksize": 0}
    assert meta["chunks"] == [15, 512, 512] and meta["dtype"] == "<f4"
    assert meta["filters"] is None and meta["zarr_format"] == 2
    attrs = json.loads((mini.aia / "2010" / "171A" / ".zattrs").read_text())
    assert len(attrs["T_OBS"]) == meta["shape"][0] and attrs["GCIEC_X"][0] == "nan"
    assert attrs["T_OBS"] != sorted(attrs["T_OBS"])  # storage order is not time order
    # An independent reader agrees byte for byte (zarr-python reads v2 stores).
    zarr = pytest.importorskip("zarr", reason="zarr-python is only a cross-check here")
    group = zarr.open_group(str(mini.aia), mode="r")
    store = open_store(str(mini.aia))
    for path in ("2010/171A", "2011/1600A"):
        assert np.array_equal(np.asarray(group[path][:]), store.array(path).all())
    eve = zarr.open_group(str(mini.eve), mode="r")
    assert len([k for k in eve["MEGS-A"].array_keys() if k != "Time"]) == 39


def test_each_channel_is_indexed_by_t_obs_across_years(mini: Miniature) -> None:
    store = open_store(str(mini.aia))
    assert store_years(store) == [2010, 2011]
    index = {c: read_channel_index(store, c, [2010, 2011]) for c in CHANNELS}
    assert len(index[94]) == 23 and len(index[193]) == 25  # own N: one missing, one extra
    assert index[211].skipped == {"bad_geometry": 1} and index[335].skipped == {"quality": 1}
    for item in index.values():
        assert np.all(np.diff(item.times) > 0)
    # The 00:00 171 A frame lives in the 2010 group with a 2011 slot's time.
    crossing = _ts(mini.year_crossing)
    k = int(np.argmin(np.abs(index[171].times - crossing)))
    assert index[171].years[k] == 2010 and index[171].times[k] < crossing


def test_channels_join_within_the_tolerance_and_the_nearer_duplicate_wins(
        mini: Miniature) -> None:
    store = open_store(str(mini.aia))
    index = [read_channel_index(store, c, [2010, 2011]) for c in CHANNELS]
    aligned = join_channels([i.times for i in index], CHANNELS, 720.0, 180.0)
    expected = {_ts(s) for s in mini.slots} - {_ts(mini.missing[94]),
                                                _ts(mini.nan_geometry_slot),
                                                _ts(mini.quality_slot)}
    assert set(aligned.times.tolist()) == expected
    assert aligned.missing == {94: 1, 211: 1, 335: 1}
    row = int(np.flatnonzero(aligned.times == _ts(mini.duplicate_slot))[0])
    c193 = CHANNELS.index(193)
    used = index[c193].times[aligned.frames[row, c193]]
    assert abs(used - _ts(mini.duplicate_slot)) < 10  # not the 110 s frame
    # A tighter tolerance drops the channels whose T_OBS sits further from the slot.
    tight = join_channels([i.times for i in index], CHANNELS, 720.0, 5.0)
    assert len(tight) == 0  # 94 A is 9.6 s after every slot
    # Coarser slots keep every other one.
    assert 0 < len(join_channels([i.times for i in index], CHANNELS, 1440.0, 180.0)) <= 12


def test_eve_lines_are_matched_per_line_and_negative_is_missing(mini: Miniature) -> None:
    store = open_store(str(mini.eve))
    eve = read_eve(store)
    assert eve.keys == MODEL_KEYS and MODEL_KEYS[11] == "He II_2" and MODEL_KEYS[13] == "Mg IX"
    slots = np.array([_ts(mini.fe20_gap_slot), _ts(mini.no_eve_slot)])
    got = eve.match(slots, 60.0)
    fe20 = MODEL_KEYS.index("Fe XX")
    assert np.isfinite(got[0, fe20]) and np.all(np.isfinite(got[0]))  # the next minute
    assert np.isnan(got[1, MODEL_KEYS.index("He II_2")])
    assert np.isfinite(np.delete(got[1], MODEL_KEYS.index("He II_2"))).all()  # per line
    assert np.isnan(eve.match(slots, 20.0)[0, fe20])  # no valid value within 20 s
    megs_b = read_eve(store, keys=tuple(name for name, _ in ALL_LINES[15:]))
    assert np.isnan(megs_b.values).all()


def test_frames_land_on_the_model_grid_centred_with_the_right_radius(mini: Miniature) -> None:
    store = open_store(str(mini.aia))
    index = read_channel_index(store, 171, [2010])
    geometry = sdoml_geometry(index.geometry[0], index.size)
    # The stored CRPIX (256.25) ignores the writer's rescale about (512, 512).
    assert geometry.crpix1 == pytest.approx(256.4999, abs=1e-3)
    assert geometry.rsun_pixels() == pytest.approx(976.0 / 4.8, rel=1e-6)
    frame = store.array("2010/171A").frame(int(index.rows[0]))
    grid = ModelGrid(256)
    image = to_model_grid(frame, geometry, grid)
    y, x = np.mgrid[0:256, 0:256]
    disk = image > 0.6 * 180.0
    assert abs(x[disk].mean() - grid.center) < 0.05 and abs(y[disk].mean() - grid.center) < 0.05
    radius = np.sqrt(disk.sum() / np.pi)
    assert radius == pytest.approx(grid.radius_px, abs=0.5)


def test_layout_errors_name_the_store_and_key(mini: Miniature, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zarr"
    shutil.copytree(mini.aia / "2010" / "94A", bad / "2010" / "94A")
    (bad / ".zgroup").write_text('{"zarr_format": 2}')
    (bad / "2010" / ".zgroup").write_text('{"zarr_format": 2}')
    attrs = json.loads((bad / "2010" / "94A" / ".zattrs").read_text())
    attrs["T_OBS"] = attrs["T_OBS"][:-1]
    (bad / "2010" / "94A" / ".zattrs").write_text(json.dumps(attrs))
    store = open_store(str(bad))
    with pytest.raises(StoreError, match=r"bad\.zarr: 2010/94A/\.zattrs: T_OBS has \d+ values"):
        read_channel_index(store, 94, [2010])
    with pytest.raises(StoreError, match=r"171A: channel absent from every year group"):
        read_channel_index(store, 171, [2010])
    (bad / ".zgroup").write_text('{"zarr_format": 3}')
    with pytest.raises(StoreError, match=r"\.zgroup: zarr_format 3"):
        open_store(str(bad))
    with pytest.raises(StoreError, match=r"Time: missing"):
        read_eve(open_store(str(mini.aia)))
    with pytest.raises(StoreError, match="sdoml"):
        open_store("nosuchproto://bucket/sdomlv2.zarr")


def test_an_fsspec_url_reads_the_same_frames(mini: Miniature) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    for path in [mini.aia / ".zgroup", *sorted((mini.aia / "2011").rglob("*"))]:
        if path.is_file():
            fs.pipe(f"/mini/sdomlv2.zarr/{path.relative_to(mini.aia)}", path.read_bytes())
    remote = open_store("memory://mini/sdomlv2.zarr")
    local = open_store(str(mini.aia))
    assert remote.children("") == ["2011"]
    assert np.array_equal(remote.array("2011/193A").frame(3), local.array("2011/193A").frame(3))
    assert storage_options("s3://gov-nasa-hdrl-data1/x", True) == {"anon": True}
    assert storage_options("gs://fdl-sdoml-v2/x", True) == {"token": "anon"}
    assert storage_options("s3://bucket/x", False) == {} == storage_options("/data/x", True)


def test_sdoml_v1_npz_is_four_times_v2(mini: Miniature, tmp_path: Path) -> None:
    store = open_store(str(mini.aia))
    index = read_channel_index(store, 171, [2010])
    root = tmp_path / "v1"
    frames = []
    for k in range(3):
        when = datetime.fromtimestamp(round(index.times[k] / 60) * 60, UTC)
        frame = store.array("2010/171A").frame(int(index.rows[k]))
        folder = root / f"{when:%Y}" / "AIA" / "0171" / f"{when:%m}" / f"{when:%d}"
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / f"AIA{when:%Y%m%d_%H%M}_0171.npz", x=frame * 4)
        frames.append(frame)
    v1_index, files = index_v1(root, 171)
    assert len(v1_index) == 3 and np.all(np.diff(v1_index.times) > 0)
    assert np.array_equal(files.read(0), frames[0] * 4 * np.float32(V1_TO_V2))
    grid = ModelGrid(128)
    v2_grid = to_model_grid(frames[0], sdoml_geometry(index.geometry[0], 512), grid)
    v1_grid = to_model_grid(V1Frames(files.paths).read(0), nominal_geometry(512), grid)
    # The same frame; the v1 geometry is the nominal one (RSUN 976"), v2's the stored one.
    # Their centres differ by 1e-4 px (976/975.6 in the rescale), i.e. < 0.01 DN/s at the limb.
    assert np.allclose(v1_grid, v2_grid, rtol=1e-5, atol=0.01)
    eve = root / "EVE"
    eve.mkdir()
    values = np.full((5, 39), -1.0)
    values[:, 3] = 6e-5
    np.save(eve / "irradiance.npy", values)
    np.save(eve / "jd.npy", 2455562.5 + np.arange(5) / 1440.0)
    lines = read_eve_v1(eve)
    assert lines.values.shape == (5, 14) and np.isnan(lines.values[:, 0]).all()
    assert lines.values[0, MODEL_KEYS.index("Fe IX")] == pytest.approx(6e-5)
    assert lines.times[0] == pytest.approx(_ts(datetime(2011, 1, 1, tzinfo=UTC)), abs=1e-3)


def test_goes_labels_and_hek_positions(mini: Miniature, tmp_path: Path) -> None:
    (mini.goes.parent / "extra").mkdir(exist_ok=True)
    summary = mini.goes / "sci_xrsf-l2-flsum_g15_d20101231_v1-0-0.nc"
    summary.write_bytes(b"")
    try:
        assert goes_paths([mini.goes]) == [mini.goes / "xrays.json"]  # summaries skipped
    finally:
        summary.unlink()
    with pytest.raises(StoreError, match="no GOES XRS files"):
        goes_paths([mini.goes.parent / "extra"])
    flux = read_goes_flux([mini.goes])
    peak = datetime(2010, 12, 31, 23, 0, 40, tzinfo=UTC)
    got = flux.at(np.array([_ts(peak), _ts(mini.no_goes_slot)]))
    assert got[0] == pytest.approx(1.23e-5, rel=0.02) and np.isnan(got[1])
    positions = read_hek(mini.hek)
    xy = positions.at(np.array([_ts(peak), _ts(mini.no_goes_slot)]))
    assert xy[0].tolist() == [500.0, -250.0] and np.isnan(xy[1]).all()


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def test_names_match_the_real_stores_as_the_fdl_statistics_list_them() -> None:
    """The FDL statistics were computed from the real v2 stores: their keys are the stores'."""
    path = SHARED / "sdomlv2_stats" / "normalizations_AIA_FULL_EVE_FULL_12min.json"
    if not path.is_file():
        pytest.skip(f"real SDOML statistics not present at {path}")
    stats = json.loads(path.read_text())
    from monitor.sdoml.aia import AIA_CHANNELS, channel_key

    assert set(stats["AIA"]) == {channel_key(c) for c in AIA_CHANNELS}
    eve = set(stats["EVE"]) - {"eve_norm"}
    # FDL's 38 lines: every SDOML line but Fe XVI_2; the network's 14 are among them.
    assert eve == {name for name, _ in ALL_LINES} - {"Fe XVI_2"}
    assert set(MODEL_KEYS) <= eve


def test_a_v2a_eve_store_keeps_its_lines_at_the_root(mini: Miniature, tmp_path: Path) -> None:
    root = tmp_path / "EVE_legacy.zarr"
    shutil.copytree(mini.eve / "MEGS-A", root)
    (root / ".zgroup").write_text('{"zarr_format": 2}')
    v2a = read_eve(open_store(str(root)))
    v2 = read_eve(open_store(str(mini.eve)))
    assert np.array_equal(v2a.times, v2.times)
    assert np.array_equal(v2a.values, v2.values, equal_nan=True)


def test_real_noaa_goes_files_give_the_class_noaa_listed() -> None:
    """Labels from the real NCEI science files: the 0.7 scale makes NOAA's listed classes."""
    goes = SHARED.parent / "goes"
    if not any(goes.glob("sci_xrsf-l2-avg1m_*.nc")):
        pytest.skip(f"real GOES files not present in {goes}")
    flux = read_goes_flux([goes])  # a directory: the flare summary in it is skipped
    for peak, listed in ((datetime(2010, 10, 16, 19, 12, tzinfo=UTC), 2.9e-5),
                         (datetime(2012, 7, 12, 16, 52, tzinfo=UTC), 1.4e-4)):
        window = _ts(peak) + 60.0 * np.arange(-10, 11)
        assert np.nanmax(flux.at(window)) == pytest.approx(listed, rel=0.1)
