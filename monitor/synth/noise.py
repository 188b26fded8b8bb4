"""Exposure control and detector noise.

Photon noise is Poisson in the number of detected photons; read noise is
Gaussian (1.15 DN). Drawing them with ``Generator.poisson`` and
``standard_normal`` costs about a second per 4096^2 image, too slow for a
seven-channel observation in a few seconds, so both are drawn by inverse-CDF
lookup from one 64-bit random word per pixel (two 32-bit halves):

* 10 bits pick one of 1024 probability levels of the photon count: for means
  below 20 photons from a table of exact Poisson quantiles on a 0.05-photon
  grid of means (the other 22 bits of that half dither the mean between grid points, so the
  expectation is exact); for larger means from the normal approximation
  ``lambda + sqrt(lambda) z``, whose skewness error is below 0.25 sigma there;
* 10 bits of the other half pick the read-noise quantile.

The quantisation to 1024 levels truncates the tails at 1/2048 probability,
invisible against the 0.5 DN rounding of the data.

Binned images (and the dataset API) average ``n`` full-resolution pixels, so
the photons of the whole block are drawn (mean ``n lambda``) and divided by
``n``; read noise shrinks by ``sqrt(n)`` the same way.

AEC: AIA's automatic exposure control shortens the exposure when the brightest
pixel would pass ~85 % of the 16383 DN full scale, down to the channel's
shortest exposure; above that the image saturates (clipped, counted in
``NSATPIX``).
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import numpy as np

from monitor.synth.responses import SATURATION_DN, ChannelSpec

__all__ = ["aec_exposure", "expose"]

_SMALL: float = 20.0
_STEP: float = 0.05
_LEVELS: int = 1024
_CHUNK: int = 1 << 20


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Poisson quantiles (mean grid x 1024 levels, flattened) and normal quantiles."""
    means = np.arange(0.0, _SMALL + 2 * _STEP, _STEP)
    ks = np.arange(80)
    log_pmf = ks[None, :] * np.log(np.maximum(means, 1e-300))[:, None] - means[:, None] \
        - np.cumsum(np.log(np.maximum(ks, 1)))[None, :]
    cdf = np.cumsum(np.exp(log_pmf), axis=1)
    cdf[0] = 1.0  # a zero mean always gives zero photons
    probs = (np.arange(_LEVELS) + 0.5) / _LEVELS
    poisson = np.stack([np.searchsorted(row, probs) for row in cdf]).astype(np.float32)
    normal = np.array([NormalDist().inv_cdf(p) for p in probs], dtype=np.float32)
    poisson.setflags(write=False)
    normal.setflags(write=False)
    return poisson.ravel(), normal


def aec_exposure(spec: ChannelSpec, peak_dn_per_s: float) -> float:
    """Exposure time (s) the AEC would command for a brightest pixel of ``peak_dn_per_s``."""
    nominal = spec.exposure_s
    limit = 0.85 * SATURATION_DN
    if peak_dn_per_s * nominal <= limit:
        return nominal
    return round(max(spec.min_exposure_s, limit / peak_dn_per_s), 4)


def _noisy_chunk(words: np.ndarray, photons_mean: np.ndarray, dn_per_photon: np.float32,
                 read_sigma: np.float32) -> np.ndarray:
    """Noisy DN of one chunk; ``words`` holds two random uint32 per pixel."""
    poisson, normal = _tables()
    n = photons_mean.size
    first, second = words[:n], words[n:]
    j_photon = (first & np.uint32(_LEVELS - 1)).astype(np.int32)
    dither = (first >> np.uint32(10)).astype(np.float32)
    dither *= np.float32(1.0 / (1 << 22))
    mean = np.maximum(photons_mean, np.float32(0.0))
    grid = np.minimum(mean, np.float32(_SMALL))
    grid *= np.float32(1.0 / _STEP)
    level = grid.astype(np.int32)
    level += dither < grid - level
    level *= _LEVELS
    level += j_photon
    photons = np.sqrt(mean)
    photons *= normal[j_photon]
    photons += mean
    small = mean < np.float32(_SMALL)
    photons[small] = poisson[level[small]]
    photons *= dn_per_photon
    j_read = (second & np.uint32(_LEVELS - 1)).astype(np.int32)
    photons += normal[j_read] * read_sigma
    return photons


def expose(rng: np.random.Generator, rate_dn_per_s: np.ndarray, spec: ChannelSpec,
           exposure_s: float, pixels_averaged: float = 1.0) -> np.ndarray:
    """A noisy exposure in DN (float32, not yet rounded or clipped).

    Parameters
    ----------
    rng : numpy.random.Generator
        Noise source (its bit generator's raw 64-bit words are used).
    rate_dn_per_s : numpy.ndarray
        Noise-free count rate per full-resolution pixel.
    spec : ChannelSpec
        The channel (photon energy, read noise).
    exposure_s : float
        Exposure time.
    pixels_averaged : float
        Full-resolution pixels averaged into one pixel of this image.
    """
    n = max(float(pixels_averaged), 1.0)
    gain = spec.dn_per_photon
    flat = np.ascontiguousarray(rate_dn_per_s, dtype=np.float32).ravel()
    out = np.empty_like(flat)
    scale = np.float32(exposure_s * n / gain)
    per_photon = np.float32(gain / n)
    read_sigma = np.float32(spec.read_noise_dn / np.sqrt(n))
    for start in range(0, flat.size, _CHUNK):
        stop = min(start + _CHUNK, flat.size)
        words = rng.bit_generator.random_raw(stop - start).view(np.uint32)
        out[start:stop] = _noisy_chunk(words, flat[start:stop] * scale, per_photon, read_sigma)
    return out.reshape(np.shape(rate_dn_per_s))
