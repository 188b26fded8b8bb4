"""Training on SDOML v2: the dry run, every data option, and a tiny model end to end via the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monitor.grid import ModelGrid
from monitor.sdoml.eve import MODEL_KEYS
from monitor.sdoml.testing import FLARE_HPC, Miniature
from monitor.train.command import load_config
from monitor.train.data import cached_split, dequantize
from monitor.train.loading import dry_run
from monitor.train.sdoml import cached_table, sdoml_builders
from monitor.train.settings import TrainConfig

EXE = Path(sys.executable).with_name("sdo-monitor")
ROOT = Path(__file__).resolve().parents[2]

YAML = """\
seed: 1
out_dir: {out}
workers: 1
data:
  kind: sdoml
  format: v2
  aia: {aia}
  eve: {eve}
  goes: [{goes}]
  hek: {hek}
  cadence_minutes: 12
  channel_tolerance_minutes: 3
  eve_tolerance_minutes: 1
  block_days: 0.041666666666666664   # one hour
  gap_hours: 0
  pattern: [train, train, val, test]
model:
  name: tiny-sdoml
  size: 64
  channels: [94, 171, 193, 211]
  widths: [8, 16, 32]
  blocks: [1, 1, 1]
  stem_stride: 2
  stage_strides: [1, 2, 2]
training:
  epochs: 2
  batch_size: 4
  patience: 5
  progress: false
  threads: 1
"""


def _config(mini: Miniature, tmp: Path) -> tuple[Path, TrainConfig]:
    path = tmp / "train-sdoml.yaml"
    path.write_text(YAML.format(out=tmp / "run", aia=mini.aia, eve=mini.eve, goes=mini.goes,
                                hek=mini.hek), encoding="utf-8")
    config, _ = load_config(path)
    return path, config  # type: ignore[return-value]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600,
                          check=False, cwd=ROOT, env=env)


def _ts(when: object) -> float:
    return when.timestamp()  # type: ignore[attr-defined]


def _with(config: TrainConfig, **data: object) -> TrainConfig:
    return dataclasses.replace(config, data=dataclasses.replace(config.data, **data))


def test_every_data_option_changes_what_is_aligned(mini: Miniature, tmp_path: Path) -> None:
    _, config = _config(mini, tmp_path)
    base = dry_run(config)
    # 24 slots less 22:00 (no 94 A), 23:00 (211 A geometry 'nan') and 01:36 (no GOES
    # minute); 00:00 (171 A in the 2010 group), 01:00 (a duplicate) and 01:24 (He II
    # 30.4 nm missing, the other 13 lines known) stay.
    assert base["aligned"] == 21 and base["channels"] == [94, 171, 193, 211]
    assert (base["first"], base["last"]) == ("2010-12-31T21:00:00Z", "2011-01-01T01:24:00Z")
    assert base["train"] + base["val"] + base["test"] == 21
    # 24-minute slots (21:12, 21:36, ... 01:36) skip 23:00 but hit 22:00 and 01:36.
    assert dry_run(_with(config, cadence_minutes=24, channel_tolerance_minutes=3))[
        "aligned"] == 10
    assert dry_run(_with(config, channel_tolerance_minutes=0.1))["aligned"] == 0
    # EVE samples sit 10.5 s after the minute: 6 s finds none, so no slot has a line.
    assert dry_run(_with(config, eve_tolerance_minutes=0.1))["aligned"] == 0
    assert dry_run(_with(config, years=(2011,)))["first"] == "2011-01-01T00:12:00Z"
    assert dry_run(_with(config, gap_hours=0.25))["train"] < base["train"]
    assert dry_run(_with(config, max_frames=8))["test"] == 0  # the first 8 h of blocks
    assert dry_run(_with(config, pattern=("train", "val", "test")))["val"] != base["val"]
    assert dry_run(_with(config, block_days=1.0))["val"] == 0


def test_samples_are_gridded_labelled_and_carry_the_flare_position(
        mini: Miniature, tmp_path: Path) -> None:
    _, config = _config(mini, tmp_path)
    builders = sdoml_builders(config)
    draw = builders["val"].draw  # 23:12 ... 23:48, the M flare's decay
    image, cls, flux, irradiance, kernels, _ = draw(0)
    assert image.shape == (4, 64, 64) and image.dtype == np.float32
    assert cls == 1 and 1e-6 < flux < 1e-5 and irradiance.shape == (14,)  # C: M1 decaying
    grid = ModelGrid(64)
    g = grid.arcsec_per_px(975.6)
    assert kernels[0, :2] == pytest.approx([grid.center + FLARE_HPC[0] / g,
                                            grid.center + FLARE_HPC[1] / g], abs=1e-3)
    # The kernel sits on the brightest 94 A grid pixel (the flare drawn in the frames).
    peak = np.unravel_index(np.argmax(image[0]), image[0].shape)
    assert abs(peak[1] - kernels[0, 0]) <= 1 and abs(peak[0] - kernels[0, 1]) <= 1
    quiet = sdoml_builders(_with(config, hek=""))["val"].draw(0)[4]
    assert quiet.shape[0] == 0
    # Missing EVE lines stay missing, per line: He II 30.4 nm at 01:24, Fe XX at 21:24 when
    # only the minute next to the slot counts.
    table, _ = cached_table(config.data, (94, 171, 193, 211), tmp_path / "t")
    he2 = table.irradiance[table.times == _ts(mini.no_eve_slot)][0]
    assert np.isnan(he2[MODEL_KEYS.index("He II_2")]) and np.isfinite(he2).sum() == 13
    tight, _ = cached_table(_with(config, eve_tolerance_minutes=0.2).data,
                            (94, 171, 193, 211), tmp_path / "t")
    fe20 = tight.irradiance[tight.times == _ts(mini.fe20_gap_slot)][0]
    assert np.isnan(fe20[MODEL_KEYS.index("Fe XX")]) and np.isfinite(fe20).sum() == 13
    split = cached_split(builders["test"], tmp_path / "cache")
    assert len(split) == builders["test"].count
    assert np.all(np.isfinite(dequantize(np.asarray(split.images))))


def test_a_tiny_model_trains_and_is_evaluated_through_the_cli(mini: Miniature,
                                                              tmp_path: Path) -> None:
    path, config = _config(mini, tmp_path)
    dry = _cli("train", "-c", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert list(summary) == ["aligned", "train", "val", "test", "channels", "first", "last"]
    assert summary["aligned"] == 21
    run = _cli("train", "-c", str(path), "--no-progress")
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["package"] == str(
        config.package_path)
    from monitor.models import load_package

    package = load_package(config.package_path)
    assert package.manifest.input.size == 64
    assert [c for c in package.manifest.input.channels] == [94, 171, 193, 211]
    metrics = json.loads((config.package_path / "metrics.json").read_text())
    assert metrics["data"]["source"] == "sdoml"
    assert metrics["test"]["samples"] == summary["test"]
    assert metrics["training"]["epochs_run"] == 2
    # A training slot misses He II 30.4 nm: the masked loss and the scores stay finite.
    assert all(np.isfinite(h["train_irradiance_loss"]) for h in metrics["training"]["history"])
    assert np.isfinite(metrics["test"]["irradiance"]["model"]["median"])
    assert "SDOML v2" in (config.package_path / "MODEL_CARD.md").read_text()


def test_bad_stores_end_with_one_line_naming_store_and_key(mini: Miniature,
                                                           tmp_path: Path) -> None:
    path, _ = _config(mini, tmp_path)
    text = path.read_text().replace(str(mini.eve), str(mini.aia))
    path.write_text(text)
    result = _cli("train", "-c", str(path), "--dry-run")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{mini.aia}: MEGS-A/Time: missing" in result.stderr or \
        f"{mini.aia}: Time: missing" in result.stderr


def test_the_config_needs_goes_and_a_tolerance_inside_half_a_slot(tmp_path: Path) -> None:
    from monitor.typedyaml import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("data:\n  kind: sdoml\n  cadence_minutes: 4\n  channel_tolerance_minutes: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = err.value.render()
    assert "data.goes" in text and "data.channel_tolerance_minutes" in text
    shipped, _ = load_config(ROOT / "config" / "train-sdoml-v2.yaml")
    assert shipped.data.aia.startswith("s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/")  # type: ignore[attr-defined]
    assert shipped.data.eve.endswith("sdomlv2_eve.zarr")  # type: ignore[attr-defined]


def _write_v1(mini: Miniature, root: Path, channels: tuple[int, ...]) -> None:
    """The miniature as SDOML v1: npz per channel and minute (2 x 2 sums), EVE npy files."""
    from datetime import UTC, datetime

    from monitor.sdoml import open_store, read_channel_index, read_eve
    from monitor.sdoml.eve import ALL_LINES

    store = open_store(str(mini.aia))
    for channel in channels:
        index = read_channel_index(store, channel, [2010, 2011])
        for k in range(len(index)):
            when = datetime.fromtimestamp(round(index.times[k] / 60) * 60, UTC)
            frame = store.array(f"{index.years[k]}/{channel}A").frame(int(index.rows[k]))
            folder = root / f"{when:%Y}" / "AIA" / f"{channel:04d}" / f"{when:%m}" / f"{when:%d}"
            folder.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(folder / f"AIA{when:%Y%m%d_%H%M}_{channel:04d}.npz", x=frame * 4)
    eve = read_eve(open_store(str(mini.eve)), keys=tuple(name for name, _ in ALL_LINES))
    (root / "EVE").mkdir()
    np.save(root / "EVE" / "irradiance.npy", np.nan_to_num(eve.values, nan=-1.0))
    np.save(root / "EVE" / "jd.npy", eve.times / 86400.0 + 2440587.5)


def test_sdoml_v1_trains_from_the_same_frames(mini: Miniature, tmp_path: Path) -> None:
    _, config = _config(mini, tmp_path)
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, channels=(171, 193)))
    root = tmp_path / "v1"
    _write_v1(mini, root, (171, 193))
    v1 = _with(config, format="v1", aia=str(root), eve=str(root / "EVE"))
    got, want = dry_run(v1), dry_run(config)
    assert got == want and got["aligned"] == 23  # only 01:36 (no GOES) is missing here
    a = sdoml_builders(v1)["val"].draw(1)
    b = sdoml_builders(config)["val"].draw(1)
    assert a[5] == b[5] and a[1] == b[1]
    # v1 is summed (x 4, undone on reading) and has only the nominal geometry.
    assert np.allclose(a[0], b[0], rtol=1e-4, atol=0.01)
