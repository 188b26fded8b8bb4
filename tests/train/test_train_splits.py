"""Time-block splits without leakage, and class balancing."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.train.splits import (
    class_weights,
    epoch_order,
    nearest_other_split_s,
    time_block_split,
)

DAY = 86400.0


def test_time_split_has_no_neighbours_across_splits() -> None:
    rng = np.random.default_rng(0)
    # Two years of irregular cadence (minutes to hours), like a real archive with gaps.
    times = np.cumsum(rng.exponential(3600.0, 20_000))
    pattern = ("train",) * 7 + ("val",) + ("test",) * 2
    parts = time_block_split(times, 7 * DAY, pattern, gap_s=12 * 3600.0)
    assert set(parts) == {"train", "val", "test"}
    used = np.concatenate(list(parts.values()))
    assert len(np.unique(used)) == len(used)                      # disjoint
    code = np.full(times.size, -1)
    for i, name in enumerate(parts):
        code[parts[name]] = i
    kept = code >= 0
    gaps = nearest_other_split_s(times[kept], code[kept])
    assert gaps.min() >= 12 * 3600.0                               # no leakage
    # Blocks are contiguous in time: every split spans many separate blocks.
    for idx in parts.values():
        block = np.unique(np.floor((times[idx] - times.min()) / (7 * DAY)))
        assert len(block) > 5
    share = {k: len(v) / kept.sum() for k, v in parts.items()}
    assert share["train"] == pytest.approx(0.7, abs=0.08)
    # The guard gap costs little: most frames survive.
    assert kept.mean() > 0.85


def test_without_gap_neighbouring_frames_do_leak() -> None:
    times = np.arange(0, 30 * DAY, 600.0)
    parts = time_block_split(times, DAY, ("train", "test"), gap_s=0.0)
    code = np.zeros(times.size, int)
    code[parts["test"]] = 1
    assert nearest_other_split_s(times, code).min() == pytest.approx(600.0)
    guarded = time_block_split(times, DAY, ("train", "test"), gap_s=3600.0)
    code = np.full(times.size, -1)
    code[guarded["train"]] = 0
    code[guarded["test"]] = 1
    kept = code >= 0
    assert nearest_other_split_s(times[kept], code[kept]).min() >= 3600.0


def test_class_weights_normalised_and_inverse() -> None:
    counts = np.array([900, 80, 15, 5])
    w = class_weights(counts, "balanced")
    assert (w * counts).sum() == pytest.approx(counts.sum())
    assert w[3] / w[0] == pytest.approx(900 / 5)
    s = class_weights(counts, "sqrt")
    assert s[3] / s[0] == pytest.approx(np.sqrt(900 / 5))
    assert np.all(class_weights(counts, "none") == 1)
    assert class_weights(np.array([10, 0, 5, 5]), "balanced")[1] == 0


def test_balanced_sampler_draws_rare_classes_as_often_as_common_ones() -> None:
    labels = np.array([0] * 900 + [1] * 80 + [2] * 15 + [3] * 5)
    order = epoch_order(labels, "balanced", np.random.default_rng(1))
    assert len(order) == len(labels)
    share = np.bincount(labels[order], minlength=4) / len(order)
    assert np.allclose(share, 0.25, atol=0.05)
    natural = epoch_order(labels, "natural", np.random.default_rng(1))
    assert sorted(natural.tolist()) == list(range(len(labels)))    # a permutation


def test_epoch_order_is_deterministic_per_seed() -> None:
    labels = np.arange(100) % 4
    a = epoch_order(labels, "balanced", np.random.default_rng([3, 11, 2]))
    b = epoch_order(labels, "balanced", np.random.default_rng([3, 11, 2]))
    assert np.array_equal(a, b)
