"""Augmentation that respects solar geometry, applied to batches in log space.

Batches arrive as ``T = log10(img + offset)`` (``img`` in DN/s on the model
grid). Each augmented sample gets, in this order:

* **extra photon noise** -- as if the exposure had been cut to a random
  fraction ``f`` in ``[noise_exposure_min, 1]`` of the nominal one (AIA's
  automatic exposure control does this during flares): Gaussian noise of
  variance ``img * (dn_per_photon / (exposure * n_px)) * (1/f - 1)`` is added
  in linear space, ``n_px`` being the full-resolution pixels per grid pixel.
  The mean is unchanged, so the labels stay true.
* **gain jitter** -- one lognormal factor per channel and sample, for the
  residuals of the degradation correction: the daemon divides real data by a
  table that is itself an estimate and, past its last day, an extrapolation
  (RMS error of log(factor) 0.02-0.11 at 180 days for the EUV channels,
  ``benchmarks/results/degradation_extrapolation.json``). The default 0.03
  teaches the model that a channel's overall level is uncertain by a few %.
  It moves the image without moving the labels, so it caps the irradiance
  accuracy at about its own size.
* **a small roll about the disk centre** (``|angle| <= rotation_deg``) --
  residual roll (CROTA2) and P-angle errors of the registration. Whole-Sun
  labels (GOES flux, EVE lines) do not depend on the roll; north stays up to
  within the angle.

Deliberately *not* done: north-south flips (they would swap the hemispheres'
B0 tilt and Joy's-law tilts, and put north down, which no registered AIA
image ever shows), east-west flips (they reverse the direction of solar
rotation and the leading/following order of active regions), large
rotations, crops, shifts and zooms (the model grid fixes the Sun's centre and
radius exactly; preprocessing guarantees it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from monitor.train.settings import AugmentSettings

__all__ = ["Augmenter", "noise_coefficients", "rotate_about_centre", "rotate_points"]


def noise_coefficients(channels: Sequence[int], size: int) -> list[float]:
    """``dn_per_photon / (nominal exposure * n_px)`` per channel (0 where unknown).

    The variance of the photon noise of a grid pixel of rate ``r`` DN/s is
    ``r`` times this; AIA constants from ``monitor.synth.responses`` (the real
    instrument's gains and nominal exposures).
    """
    from monitor.grid import RADIUS_FRACTION
    from monitor.synth.responses import channel_spec

    # Full-resolution (0.6") pixels per grid pixel: 1600 px of radius at 4096.
    n_px = (1600.0 / (RADIUS_FRACTION * size)) ** 2
    out = []
    for wavelength in channels:
        try:
            spec = channel_spec(int(wavelength))
        except (KeyError, ValueError):
            out.append(0.0)
            continue
        out.append(spec.dn_per_photon / (spec.exposure_s * n_px))
    return out


class Augmenter:
    """Augment ``(B, C, N, N)`` log-space batches (see the module docstring).

    Parameters
    ----------
    settings : AugmentSettings
    channels : sequence of int
        Wavelengths of the channels, for the photon-noise coefficients.
    size : int
        Grid size.
    offset : float
        The DN/s offset inside the log.
    seed : int
        Seed of the noise bank.

    Notes
    -----
    Cost matters on a CPU budget (a training step is ~30 ms per sample): the
    extra noise is added to ``T`` to first order, ``dT = sigma / ((img + offset)
    ln 10)``, which needs one power and no logarithm, and its standard normals
    come from a fixed bank of fields, randomly picked and rolled per sample.
    """

    _BANK = 4

    def __init__(self, settings: AugmentSettings, channels: Sequence[int], size: int,
                 offset: float, seed: int = 0) -> None:
        self.settings = settings
        self.offset = float(offset)
        self.size = int(size)
        self.kappa = torch.tensor(noise_coefficients(channels, size), dtype=torch.float32)
        self._bank: torch.Tensor | None = None
        self._seed = seed
        self._channels = len(tuple(channels))

    def _normals(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self._bank is None:
            g = torch.Generator().manual_seed(self._seed + 7919)
            self._bank = torch.randn(self._BANK, self._channels, self.size, self.size,
                                     generator=g)
        which = torch.randint(0, self._BANK, (n,), generator=generator)
        shifts = torch.randint(0, self.size, (n, 2), generator=generator)
        return torch.stack([torch.roll(self._bank[int(w)], (int(dy), int(dx)), dims=(1, 2))
                            for w, (dy, dx) in zip(which, shifts)])

    def __call__(self, t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented copy of the log-space batch ``t`` (float32, CPU)."""
        return self.with_angles(t, generator)[0]

    def with_angles(self, t: torch.Tensor, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented batch and each sample's roll in radians (0 where not rotated).

        The angles let the caller turn known positions (flare kernels) with the image:
        see :func:`rotate_points`.
        """
        s = self.settings
        b, c = t.shape[:2]
        angles = torch.zeros(b)
        if not s.enabled or s.probability <= 0:
            return t, angles
        chosen = torch.rand(b, generator=generator) < s.probability
        if not bool(chosen.any()):
            return t, angles
        rows = torch.nonzero(chosen).flatten()
        sub = t[rows]
        n = sub.shape[0]
        if s.noise_exposure_min < 1:
            f = s.noise_exposure_min + (1 - s.noise_exposure_min) * torch.rand(
                n, 1, 1, 1, generator=generator)
            extra = (1.0 / f - 1.0) * self.kappa.view(1, c, 1, 1)
            total = torch.pow(10.0, sub)  # img + offset
            sigma = torch.sqrt((total - self.offset).clamp_min(0.0) * extra)
            sub = sub + sigma / (total * math.log(10.0)) * self._normals(n, generator)
        if s.brightness_sigma > 0:
            gain = torch.exp(s.brightness_sigma * torch.randn(n, c, 1, 1, generator=generator))
            img = torch.pow(10.0, sub) - self.offset
            sub = torch.log10((img * gain + self.offset).clamp_min(1e-2))
        if s.rotation_deg > 0:
            angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(s.rotation_deg)
            sub = rotate_about_centre(sub, angle)
            angles[rows] = angle
        out = t.clone()
        out[rows] = sub
        return out, angles


def rotate_points(x: np.ndarray, y: np.ndarray, angle_rad: np.ndarray, size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Grid positions after :func:`rotate_about_centre` by ``angle_rad`` (same convention)."""
    c = (size - 1) / 2.0
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    dx, dy = np.asarray(x) - c, np.asarray(y) - c
    return c + cos * dx - sin * dy, c + sin * dx + cos * dy


def rotate_about_centre(images: torch.Tensor, angle_rad: torch.Tensor) -> torch.Tensor:
    """Rotate ``(B, C, N, N)`` images counter-clockwise (as displayed north up) about the centre.

    The centre is pixel ``((N-1)/2, (N-1)/2)``, the Sun's centre on the model
    grid; bilinear interpolation, edges extended (the corners hold faint
    corona, never the disk).
    """
    cos, sin = torch.cos(angle_rad), torch.sin(angle_rad)
    # Output pixel (x, y) samples the input at R(-angle)(x, y): a rotation by +angle.
    theta = torch.stack([torch.stack([cos, sin, torch.zeros_like(cos)], -1),
                         torch.stack([-sin, cos, torch.zeros_like(cos)], -1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)
