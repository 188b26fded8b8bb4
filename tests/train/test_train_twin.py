"""The dataset API and the daemon's file path give the model the same observation.

For dataset samples of a held-out seed, :mod:`monitor.train.twin` rebuilds the
same scene (checked exactly against the dataset's labels), writes it as 1024 px
level-1 FITS files with a pointing offset and roll, and reads it back through
``monitor.ingest.read_observation`` and ``monitor.preprocess.preprocess``.
Tolerances (docs/training.md): away from flares the two paths agree in
whole-disk count rate per channel within 2 % (the random network textures
differ), in the mean of the log-scaled image within 0.03 dex, kernels land on the same grid pixel within 0.05 px.
The known difference is saturation: the files clip at 16383 DN, the dataset
never does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.synth import SyntheticDataset
from monitor.synth.disk import quiet_sun_volume_dem
from monitor.synth.geometry import ImageGeometry
from monitor.synth.sun import compose_scene, scene_truth
from monitor.train.twin import dataset_scene, read_frame, write_twin_files

SEED = 404      # the file-path test seed of config/train-default.yaml, never trained on


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return SyntheticDataset(size=256, seed=SEED)


def test_twin_scene_is_the_dataset_sample(dataset: SyntheticDataset) -> None:
    for index in range(6):
        labels = dataset.sample(index).labels
        draw = dataset_scene(dataset, index)
        geometry = ImageGeometry.model_grid(dataset.grid, draw.observer.rsun_obs_arcsec)
        scene = compose_scene(draw.regions, draw.flares, draw.t_s, draw.observer, geometry)
        flux, irradiance, flares, _ = scene_truth(scene, quiet_sun_volume_dem())
        assert flux == labels.goes_flux
        assert np.array_equal(irradiance, labels.irradiance)
        kernels = flares[0].kernels if flares else ()
        assert [(k.x_px, k.y_px) for k in kernels] == [(k.x_px, k.y_px) for k in labels.kernels]


def _log_mean(image: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(image, 0.0) + 1.0).mean(axis=(1, 2))


@pytest.mark.parametrize("index", [3, 7])    # a quiet Sun and a C-class flare below saturation
def test_file_path_matches_dataset_sample(dataset: SyntheticDataset, index: int,
                                          tmp_path: Path) -> None:
    sample = dataset.sample(index)
    draw = dataset_scene(dataset, index)
    frame = write_twin_files(draw, tmp_path, dataset.channels, size=1024,
                             offset_px=(9.0, -6.0), crota2_deg=0.3)
    image, geometry = read_frame(frame.paths, dataset.channels, 256)
    assert image.shape == sample.image.shape
    # Same truth (the file's own observer, from the ephemeris, vs the dataset's table).
    assert frame.truth.goes_flux == pytest.approx(sample.labels.goes_flux, rel=1e-3)
    assert np.allclose(frame.truth.irradiance, sample.labels.irradiance, rtol=1e-3)
    totals = image.reshape(7, -1).sum(axis=1) / sample.image.reshape(7, -1).sum(axis=1)
    # The network and streamer textures are independent random draws in the two renderings;
    # they move a channel's total by up to ~1 % (304 A, the strongest network).
    assert np.all(np.abs(totals - 1.0) < 0.02), totals
    assert np.all(np.abs(_log_mean(image) - _log_mean(sample.image)) < 0.03)
    # The limb lands on the same pixels: compare the radial profile of the brightest channel.
    yy, xx = np.mgrid[0:256, 0:256]
    radius = np.hypot(xx - 127.5, yy - 127.5) / 100.0
    for lo, hi in ((0.0, 0.5), (0.5, 0.9), (0.9, 0.98), (1.02, 1.1)):
        ring = (radius >= lo) & (radius < hi)
        ratio = np.median(image[3][ring]) / np.median(sample.image[3][ring])
        assert abs(ratio - 1.0) < 0.05, (lo, hi, ratio)
    for truth_kernel, label_kernel in zip(frame.truth.flares[0].kernels if
                                          frame.truth.flares else (), sample.labels.kernels):
        x, y = geometry.world_to_pixel(truth_kernel.tx_arcsec, truth_kernel.ty_arcsec)
        assert abs(float(x) - label_kernel.x_px) < 0.05
        assert abs(float(y) - label_kernel.y_px) < 0.05


def test_saturation_is_where_the_paths_differ(tmp_path: Path) -> None:
    """An X flare: files clip at the ADC full scale, dataset samples do not.

    On world v1, whose flares overfill 193 A (its Fe XXIV response was 15 times the
    real one): the clipping is the same in every world, v1 shows it largest. (In v2 the
    same X flare also reaches full scale in 193, with 1.5 times more in the sample.)
    """
    dataset = SyntheticDataset(size=256, seed=SEED, world="v1")
    index = 2
    sample = dataset.sample(index)
    assert sample.labels.class_name == "X"
    draw = dataset_scene(dataset, index)
    frame = write_twin_files(draw, tmp_path, dataset.channels, size=1024)
    image, _ = read_frame(frame.paths, dataset.channels, 256)
    k193 = dataset.channels.index(193)
    exposure = frame.truth.exposure_s[193]
    # The brightest 1024-px pixel is at most full scale, so its 4x4 grid average is too.
    assert image[k193].max() <= 16383.0 / exposure * 1.0001
    assert sample.image[k193].max() > 2.0 * image[k193].max()
    total = image[k193].sum() / sample.image[k193].sum()
    assert total < 0.9          # the clipped flare core is missing from the whole-Sun count
