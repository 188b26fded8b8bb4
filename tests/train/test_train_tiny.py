"""A tiny end-to-end run learns something measurable and writes a verified package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from train_tiny import TINY_YAML, tiny_config

from monitor.models import load_package
from monitor.train.data import cached_split
from monitor.train.pipeline import evaluate_package, run_training
from monitor.train.sources import synthetic_builders


def test_tiny_run_learns_and_packages(tmp_path: Path, tiny_cache: Path) -> None:
    config = tiny_config(tmp_path, tiny_cache)
    metrics = run_training(config, TINY_YAML)
    assert metrics is not None
    history = metrics["training"]["history"]
    assert len(history) == 4
    # The loss goes down, and the classifier beats chance on the easy split.
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    test = metrics["test"]
    # TSS is 0 for any constant or random forecast; here flares are told from quiet Suns
    # (the tiny network is not asked to tell M from X: it has seen no M).
    assert test["classification"]["thresholds"][">=M"]["tss"] > 0.4
    # The localisation term puts the saliency peak on the flare (a random peak would hit
    # a 3 sigma + 8 px disc on a 64 px grid a few percent of the time).
    assert test["pointing_game"]["frames"] >= 10
    assert test["pointing_game"]["share"] > 0.5
    assert history[-1]["train_irradiance_loss"] < history[0]["train_irradiance_loss"]
    assert set(test["irradiance"]["model"]["per_line"]) == set(
        test["irradiance"]["linear_baseline"]["per_line"])
    # The package is complete, verified on load, and carries the report.
    package = load_package(config.package_path)
    assert package.manifest.input.size == 64
    # what it was trained on, declared by the trainer (not the undeclared reading)
    assert package.manifest.provenance is not None and package.provenance.synthetic_only
    recorded = json.loads((config.package_path / "metrics.json").read_text())
    assert recorded["test"]["samples"] == 64 and recorded["status"] == "evaluated"
    for name in ("TRAINING_REPORT.md", "train_curve.png", "train_reliability.png"):
        assert (config.package_path / name).stat().st_size > 100
    card = (config.package_path / "MODEL_CARD.md").read_text()
    assert "synthetic data only" in card and "retrained on real SDO" in card
    # Input scaling comes from the training split, not the placeholders.
    scaling = package.manifest.input.scaling
    assert all(s.transform == "log10" and s.clip_min == 0.0 for s in scaling)
    assert len({round(s.mean, 6) for s in scaling}) == 7
    # `train --evaluate`: an untouched seed afterwards, merged into the package's metrics
    # and card, the weights untouched.
    from safetensors.numpy import load_file

    weights = load_file(config.package_path / "weights.safetensors")
    reality = {"world": "v2", "summary": "0 of 1 targets met", "settings": {"seed": 0},
               "rows": [{"section": "a", "quantity": "model: quiet Fe XX 13.29", "real": 1e-6,
                         "synthetic": 7.7e-3, "target": "±25 %", "met": False,
                         "unit": "W m^-2"}]}
    again = evaluate_package(config, config.package_path, TINY_YAML, fresh_seed=99,
                             fresh_samples=24, reality=reality)
    assert again["fresh_test"]["seed"] == 99 and again["fresh_test"]["samples"] == 24
    assert again["reality"] == reality
    card = (config.package_path / "MODEL_CARD.md").read_text()
    assert "## Against real data (world v2)" in card
    assert "| a. model: quiet Fe XX 13.29 [W m^-2] | 1e-06 | 0.0077 | ±25 % | NO |" in card
    assert again["test"] == json.loads(json.dumps(test))  # the training run's test stands
    after = load_file(config.package_path / "weights.safetensors")
    assert after.keys() == weights.keys()
    assert all(np.array_equal(after[k], weights[k]) for k in weights)
    assert "seed 99" in (config.package_path / "TRAINING_REPORT.md").read_text()
    assert load_package(config.package_path).verified  # hashes rewritten consistently


def test_runs_are_deterministic(tmp_path: Path, tiny_cache: Path) -> None:
    import dataclasses

    from monitor.train.settings import TrainingSettings

    base = tiny_config(tmp_path, tiny_cache)
    short = dataclasses.replace(base, training=TrainingSettings(
        epochs=1, batch_size=16, lr=0.004, progress=False))
    a = run_training(dataclasses.replace(short, out_dir=tmp_path / "a"), "")
    b = run_training(dataclasses.replace(short, out_dir=tmp_path / "b"), "")
    assert a is not None and b is not None
    assert a["training"]["history"][0]["train_loss"] == pytest.approx(
        b["training"]["history"][0]["train_loss"], rel=1e-6)
    from safetensors.numpy import load_file

    wa = load_file(str(tmp_path / "a" / "checkpoint.safetensors"))
    wb = load_file(str(tmp_path / "b" / "checkpoint.safetensors"))
    assert all(np.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6) for k in wa)


def test_cache_is_reused_and_keyed_by_settings(tmp_path: Path, tiny_cache: Path) -> None:
    import dataclasses

    config = tiny_config(tmp_path, tiny_cache)
    builders = synthetic_builders(config)
    entries = sorted(p.name for p in tiny_cache.iterdir())
    split = cached_split(builders["val"], tiny_cache)
    assert sorted(p.name for p in tiny_cache.iterdir()) == entries    # nothing redrawn
    assert len(split) == 48 and split.images.shape == (48, 7, 64, 64)
    other = dataclasses.replace(config, data=dataclasses.replace(config.data, val_seed=99))
    assert synthetic_builders(other)["val"].digest != builders["val"].digest
