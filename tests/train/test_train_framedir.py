"""The frame-directory reader: layout, binning, labels, time split, clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from monitor.synth import SyntheticDataset
from monitor.train.data import cached_split, dequantize
from monitor.train.framedir import (
    EVE_COLUMNS,
    FrameDirError,
    framedir_builders,
    read_labels,
    write_framedir_example,
)
from monitor.train.settings import (
    FrameDirSourceSettings,
    ModelSettings,
    SyntheticSourceSettings,
    TrainConfig,
)

CHANNELS = (94, 131, 171, 193, 211, 304, 335)


@pytest.fixture(scope="module")
def frame_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_framedir_example(tmp_path_factory.mktemp("sdoml"), 24, size=32, seed=5,
                               cadence_h=6.0)


def _config(root: Path, tmp: Path, **source: object) -> TrainConfig:
    return TrainConfig(out_dir=tmp / "run", data=FrameDirSourceSettings(root=root, **source),
                       model=ModelSettings(size=32))


def test_labels_table_round_trips_the_synthetic_truth(frame_dir: Path) -> None:
    table = read_labels(frame_dir)
    ds = SyntheticDataset(size=64, seed=5)
    assert len(table) == 24
    for i in (0, 7, 23):
        labels = ds.sample(i).labels
        assert table.goes_flux[i] == pytest.approx(labels.goes_flux, rel=1e-5)
        assert np.allclose(table.irradiance[i], labels.irradiance, rtol=1e-5)
    assert np.all(np.diff(table.times) == 6 * 3600)


def test_builders_split_by_time_and_bin_the_arrays(frame_dir: Path, tmp_path: Path) -> None:
    config = _config(frame_dir, tmp_path, block_days=1.0, gap_hours=0.0,
                     pattern=("train", "train", "val", "test"))
    builders = framedir_builders(config)
    counts = {k: b.count for k, b in builders.items()}
    # 4 frames a day for 6 days; days 0, 1, 4, 5 train, day 2 validation, day 3 test.
    assert counts == {"train": 16, "val": 4, "test": 4}
    split = cached_split(builders["test"], tmp_path / "cache")
    times = read_labels(frame_dir).times
    assert split.times.min() == times[12] and split.times.max() == times[15]
    ds = SyntheticDataset(size=64, seed=5)
    first = int(np.searchsorted(read_labels(frame_dir).times, split.times[0]))
    full = ds.sample(first).image
    binned = full.reshape(7, 32, 2, 32, 2).mean(axis=(2, 4))
    got = 10 ** dequantize(np.asarray(split.images[0])) - 1.0
    bright = binned > 5
    assert np.allclose(got[bright], binned[bright], rtol=2e-3)
    assert split.class_index[0] == ds.sample(first).labels.class_index


def test_gap_drops_frames_next_to_other_splits(frame_dir: Path, tmp_path: Path) -> None:
    config = _config(frame_dir, tmp_path, block_days=1.0, gap_hours=7.0,
                     pattern=("train", "train", "val", "test"))
    counts = {k: b.count for k, b in framedir_builders(config).items()}
    # Each block edge between splits costs the frame on either side (6 h cadence < 7 h gap).
    assert counts == {"train": 14, "val": 2, "test": 2}
    from monitor.train.loading import dry_run

    assert dry_run(config) == {"aligned": 24, "train": 14, "val": 2, "test": 2,
                               "channels": list(config.model.channels),
                               "first": "2011-02-01T00:00:00Z", "last": "2011-02-06T18:00:00Z"}


def test_missing_column_bad_value_and_bad_array_are_named(frame_dir: Path,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    text = (frame_dir / "labels.csv").read_text().splitlines()
    (bad / "labels.csv").write_text("\n".join(
        [text[0].replace(",9.39,", ",9.40,")] + text[1:]) + "\n")
    with pytest.raises(FrameDirError, match=r"missing columns \['9.39'\]"):
        read_labels(bad)
    rows = [line.split(",") for line in text]
    rows[3][2] = "lots"
    (bad / "labels.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(FrameDirError, match=r"labels.csv:4: goes_flux: not a number"):
        read_labels(bad)
    frames = bad / "frames"
    frames.mkdir()
    rows = [line.split(",") for line in text[:2]]
    (bad / "labels.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    np.savez(bad / rows[1][1], **{str(c): np.zeros((30, 30), np.float32) for c in CHANNELS})
    config = dataclasses.replace(_config(bad, tmp_path, pattern=("train", "val", "test")))
    with pytest.raises(FrameDirError):
        framedir_builders(config)       # one frame cannot fill three splits
    from monitor.train.framedir import FrameDirDraw
    draw = FrameDirDraw(bad, read_labels(bad), (0,), CHANNELS, 32)
    with pytest.raises(FrameDirError, match="multiple of 32"):
        draw(0)
    assert EVE_COLUMNS[0] == "9.39" and len(EVE_COLUMNS) == 14


def test_provenance_of_a_frame_directory_spans_its_label_times(frame_dir: Path,
                                                               tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from monitor.train.loading import training_provenance

    config = _config(frame_dir, tmp_path, block_days=1.0, gap_hours=0.0,
                     pattern=("train", "train", "val", "test"))
    splits = {name: cached_split(b, tmp_path / "cache")
              for name, b in framedir_builders(config).items()}
    times = read_labels(frame_dir).times
    provenance = training_provenance(config, splits)
    day = [datetime.fromtimestamp(float(t), UTC).date().isoformat()
           for t in (times.min(), times.max())]
    assert provenance == {"data": "real", "source": f"frame directory {frame_dir}",
                          "start": day[0], "end": day[1]}
    synthetic = training_provenance(dataclasses.replace(config, data=SyntheticSourceSettings()),
                                    splits)
    assert synthetic["data"] == "synthetic" and synthetic["start"] is None
