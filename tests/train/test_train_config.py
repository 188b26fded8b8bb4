"""Training configs: the shipped one loads, errors name their YAML path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.train.command import load_config
from monitor.train.settings import FrameDirSourceSettings, SyntheticSourceSettings, TrainConfig
from monitor.typedyaml import ConfigError, build, parse_yaml

REPO = Path(__file__).resolve().parents[2]


def _build(text: str) -> TrainConfig:
    data, marks = parse_yaml(text, "train.yaml")
    return build(TrainConfig, data, "train.yaml", marks)


def test_shipped_default_config_loads() -> None:
    config, text = load_config(REPO / "config" / "train-default.yaml")
    assert isinstance(config, TrainConfig)
    assert isinstance(config.data, SyntheticSourceSettings)
    assert config.model.size == 256 and len(config.model.channels) == 7
    assert "train_seed" in text


def test_errors_name_the_yaml_path_and_line() -> None:
    text = ("training:\n"
            "  lr: 0\n"
            "  class_weighting: inverse\n"
            "augment:\n"
            "  rotation_deg: 45\n"
            "model:\n"
            "  stage_strides: [2, 2, 2, 3]\n"
            "data:\n"
            "  kind: synthetic\n"
            "  test_seed: 101\n")
    with pytest.raises(ConfigError) as info:
        _build(text)
    rendered = info.value.render()
    paths = {issue.path for issue in info.value.issues}
    assert {"training.lr", "training.class_weighting", "augment.rotation_deg",
            "model.stage_strides", "data.test_seed"} <= paths
    assert "train.yaml:2: training.lr" in rendered
    assert "must differ from train_seed" in rendered


def test_unknown_keys_and_data_kinds_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        _build("training:\n  epoch: 3\ndata:\n  kind: hdf5\n")
    paths = {issue.path for issue in info.value.issues}
    assert "training.epoch" in paths
    assert any(p.startswith("data") for p in paths)


def test_frames_source_is_chosen_by_kind() -> None:
    config = _build("data:\n  kind: frames\n  root: /data/frames\n  block_days: 14\n")
    assert isinstance(config.data, FrameDirSourceSettings)
    assert config.data.root == Path("/data/frames") and config.data.block_days == 14
    with pytest.raises(ConfigError) as info:
        _build("data:\n  kind: frames\n  pattern: [train, train, test]\n")
    assert "data.pattern" in info.value.render()


def test_load_config_reports_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  batch_size: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:2: training.batch_size" in info.value.render()


def test_dry_run_of_a_synthetic_config_counts_the_splits_it_would_draw() -> None:
    from monitor.train.loading import dry_run

    config = _build("data:\n  kind: synthetic\n  train_samples: 40\n  val_samples: 8\n"
                    "  test_samples: 12\n")
    assert dry_run(config) == {"aligned": 60, "train": 40, "val": 8, "test": 12,
                               "channels": [94, 131, 171, 193, 211, 304, 335],
                               "first": None, "last": None}


def test_synthetic_world_selects_the_physics_and_the_shipped_config_is_v2() -> None:
    from monitor.train.sources import synthetic_builders

    shipped, _ = load_config(REPO / "config" / "train-default.yaml")
    assert isinstance(shipped.data, SyntheticSourceSettings) and shipped.data.world == "v2"
    new = _build("data:\n  kind: synthetic\n")
    assert isinstance(new.data, SyntheticSourceSettings) and new.data.world == "v2"
    images = {}
    for world in ("v1", "v2"):
        config = _build(f"data:\n  kind: synthetic\n  world: {world}\n  noise: false\n"
                        "model:\n  size: 64\n")
        builder = synthetic_builders(config)["train"]
        assert builder.key["world"] == world      # cached splits of one world never serve another
        images[world] = builder.draw(0)[0]
    assert images["v1"].shape == images["v2"].shape
    assert not np.allclose(images["v1"], images["v2"])
    with pytest.raises(ConfigError) as info:
        _build("data:\n  kind: synthetic\n  world: v9\n")
    assert "data.world" in {issue.path for issue in info.value.issues}
