"""The tiny training configuration of the train tests (YAML text and the same as objects)."""

from __future__ import annotations

from pathlib import Path

from monitor.train.settings import (
    AugmentSettings,
    EvaluationSettings,
    ModelSettings,
    SyntheticSourceSettings,
    TrainConfig,
    TrainingSettings,
)

__all__ = ["TINY_YAML", "tiny_config"]

TINY_YAML = """\
seed: 3
workers: 2
data:
  kind: synthetic
  train_seed: 11
  train_samples: 192
  val_seed: 12
  val_samples: 48
  test_seed: 13
  test_samples: 64
  file_test_samples: 0
  class_mix: [1, 0, 0, 1]     # an easy split: quiet Suns against X flares
  max_regions: 3
model:
  name: tiny-test
  size: 64
  widths: [8, 16, 32]
  blocks: [1, 1, 1]
  stem_stride: 2
  stage_strides: [1, 2, 2]
training:
  epochs: 4
  batch_size: 16
  lr: 0.004
  patience: 10
  progress: false
augment:
  rotation_deg: 2.0
evaluation:
  pointing_tolerance_px: 8
"""


def tiny_config(tmp: Path, cache: Path) -> TrainConfig:
    """The TINY_YAML settings as objects, writing under ``tmp``."""
    return TrainConfig(
        seed=3, out_dir=tmp / "run", cache_dir=cache, workers=2,
        data=SyntheticSourceSettings(train_seed=11, train_samples=192, val_seed=12,
                                     val_samples=48, test_seed=13, test_samples=64,
                                     file_test_samples=0, class_mix=(1, 0, 0, 1),
                                     max_regions=3),
        model=ModelSettings(name="tiny-test", size=64, widths=(8, 16, 32), blocks=(1, 1, 1),
                            stem_stride=2, stage_strides=(1, 2, 2)),
        training=TrainingSettings(epochs=4, batch_size=16, lr=0.004, patience=10,
                                  progress=False),
        augment=AugmentSettings(rotation_deg=2.0),
        evaluation=EvaluationSettings(pointing_tolerance_px=8))
