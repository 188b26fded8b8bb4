"""Detector model: Poisson statistics, binning, exposure control, int16 conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.synth.noise import _noisy_chunk, aec_exposure, expose
from monitor.synth.render import to_int16
from monitor.synth.responses import SATURATION_DN, channel_spec


@pytest.mark.parametrize("photons", [0.2, 2.0, 12.0, 19.9, 20.1, 300.0])
def test_photon_noise_has_poisson_mean_and_variance(photons: float) -> None:
    spec = channel_spec(94)
    rate = np.full((600, 600), photons * spec.dn_per_photon / 2.0, dtype=np.float32)
    dn = expose(np.random.default_rng(1), rate, spec, 2.0)
    counts = dn / spec.dn_per_photon
    read_var = (spec.read_noise_dn / spec.dn_per_photon) ** 2
    n = counts.size
    assert counts.mean() == pytest.approx(photons, abs=4 * np.sqrt((photons + read_var) / n))
    assert counts.var() == pytest.approx(photons + read_var, rel=0.03)


@pytest.mark.parametrize("mean", [0.7, 5.0, 16.3])
def test_small_means_follow_the_poisson_distribution(mean: float) -> None:
    # Photon counts alone (no read noise): whole numbers with Poisson probabilities.
    n = 400_000
    words = np.random.default_rng(4).bit_generator.random_raw(n).view(np.uint32)
    photons = _noisy_chunk(words, np.full(n, mean, dtype=np.float32), np.float32(1.0),
                           np.float32(0.0))
    assert np.array_equal(photons, np.rint(photons))
    k = np.arange(0, int(mean + 6 * np.sqrt(mean)) + 3)
    pmf = np.exp(k * np.log(mean) - mean - np.array([math.lgamma(v + 1) for v in k]))
    observed = np.bincount(photons.astype(int), minlength=k.size)[:k.size] / n
    assert np.max(np.abs(observed - pmf)) < 0.004


def test_binned_pixels_average_the_noise() -> None:
    spec = channel_spec(193)
    rate = np.full((400, 400), 50.0, dtype=np.float32)
    single = expose(np.random.default_rng(3), rate, spec, 2.0, pixels_averaged=1)
    binned = expose(np.random.default_rng(3), rate, spec, 2.0, pixels_averaged=16)
    assert binned.mean() == pytest.approx(single.mean(), rel=0.01)
    assert binned.var() == pytest.approx(single.var() / 16, rel=0.05)


def test_noise_is_a_function_of_the_seed() -> None:
    spec = channel_spec(211)
    rate = np.full((64, 64), 10.0, dtype=np.float32)
    a = expose(np.random.default_rng(7), rate, spec, 2.9)
    b = expose(np.random.default_rng(7), rate, spec, 2.9)
    c = expose(np.random.default_rng(8), rate, spec, 2.9)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_aec_shortens_exposure_only_when_needed() -> None:
    spec = channel_spec(131)
    assert aec_exposure(spec, 100.0) == spec.exposure_s
    short = aec_exposure(spec, 1e5)
    assert spec.min_exposure_s <= short < spec.exposure_s
    assert short * 1e5 <= 0.85 * SATURATION_DN * 1.001
    assert aec_exposure(spec, 1e9) == spec.min_exposure_s


def test_int16_conversion_clips_and_counts_saturation() -> None:
    dn = np.array([[-3.4, 0.5, 16382.6, 40000.0]], dtype=np.float32)
    data, saturated = to_int16(dn)
    assert data.dtype == np.int16
    assert data.tolist() == [[-3, 0, 16383, 16383]]
    assert saturated == 2
