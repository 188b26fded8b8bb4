"""Dataset API: arrays and labels on the model grid, reproducible, physically labelled."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.grid import RADIUS_FRACTION, ModelGrid
from monitor.synth import CHANNELS, EVE_LINES, EVENT_CLASSES, SyntheticDataset
from monitor.synth.goes import event_class_index


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return SyntheticDataset(size=256, seed=5)


def test_sample_shape_units_and_labels(dataset: SyntheticDataset) -> None:
    sample = dataset[0]
    assert sample.image.shape == (7, 256, 256) and sample.image.dtype == np.float32
    assert sample.channels == CHANNELS
    labels = sample.labels
    assert labels.irradiance.shape == (len(EVE_LINES),) == (14,)
    assert labels.class_name == EVENT_CLASSES[labels.class_index]
    assert labels.class_index == event_class_index(labels.goes_flux)
    # DN/s per 0.6 arcsec pixel: quiet disk centre in 171 is a few hundred.
    centre = sample.image[CHANNELS.index(171), 118:138, 118:138]
    assert 100 < float(np.median(centre)) < 1000


def test_samples_depend_only_on_seed_and_index(dataset: SyntheticDataset) -> None:
    a = dataset[7]
    b = SyntheticDataset(size=256, seed=5)[7]
    c = SyntheticDataset(size=256, seed=6)[7]
    assert np.array_equal(a.image, b.image)
    assert a.labels.goes_flux == b.labels.goes_flux
    assert not np.array_equal(a.image, c.image)


def test_disk_sits_on_the_model_grid() -> None:
    ds = SyntheticDataset(size=256, seed=1, noise=False, class_mix=(1, 0, 0, 0), max_regions=0)
    grid = ModelGrid(256)
    for index in range(3):
        image = ds[index].image[CHANNELS.index(304)]
        disk = image > 0.5 * np.median(image[118:138, 118:138])
        yy, xx = np.nonzero(disk)
        assert xx.mean() == pytest.approx(grid.center, abs=0.3)
        assert yy.mean() == pytest.approx(grid.center, abs=0.3)
        radius = np.sqrt(disk.sum() / np.pi)
        assert radius == pytest.approx(RADIUS_FRACTION * 256, abs=1.0)


def test_class_mix_is_respected_roughly() -> None:
    ds = SyntheticDataset(size=128, seed=2, class_mix=(0.25, 0.25, 0.25, 0.25))
    counts = np.bincount([ds[i].labels.class_index for i in range(60)], minlength=4)
    assert all(counts >= 6), counts


def test_flare_kernels_mark_the_hot_emission() -> None:
    ds = SyntheticDataset(size=256, seed=3, class_mix=(0, 0, 0.5, 0.5), noise=False)
    checked = 0
    for index in range(6):
        sample = ds[index]
        kernel = sample.labels.kernels[0]
        assert kernel.kind == "loop_top"
        if not kernel.visible:
            continue
        hot = sample.image[CHANNELS.index(131)]
        y, x = np.unravel_index(np.argmax(hot), hot.shape)
        assert np.hypot(x - kernel.x_px, y - kernel.y_px) < 3.0
        assert sample.labels.class_index >= 2
        assert sample.labels.flare_class is not None
        checked += 1
    assert checked >= 4


def test_noise_follows_binned_poisson_statistics() -> None:
    clean = SyntheticDataset(size=256, seed=9, noise=False, class_mix=(1, 0, 0, 0))[0].image
    noisy = SyntheticDataset(size=256, seed=9, noise=True, class_mix=(1, 0, 0, 0))[0].image
    k = CHANNELS.index(171)
    patch = np.s_[100:156, 100:156]
    ratio = noisy[k][patch] / clean[k][patch]
    assert abs(float(np.mean(ratio)) - 1.0) < 0.01
    # ~265 full-resolution pixels per grid pixel: relative noise ~ 1/sqrt(N photons) < 1 %.
    assert 0.0005 < float(np.std(ratio)) < 0.02


def test_batch_stacks_samples(dataset: SyntheticDataset) -> None:
    images, labels = dataset.batch([1, 2, 3])
    assert images.shape == (3, 7, 256, 256)
    assert [lab.goes_flux for lab in labels] == [dataset[i].labels.goes_flux for i in (1, 2, 3)]
