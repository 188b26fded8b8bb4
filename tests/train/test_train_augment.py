"""Augmentation keeps solar geometry: north stays up, nothing is mirrored, labels stay true."""

from __future__ import annotations

import math

import numpy as np
import torch

from monitor.grid import ModelGrid
from monitor.train.augment import Augmenter, noise_coefficients, rotate_about_centre
from monitor.train.settings import AugmentSettings

SIZE = 64
CHANNELS = (94, 131, 171, 193, 211, 304, 335)


def _blob(x: float, y: float) -> torch.Tensor:
    """A log-space image: faint disk level 1 plus a bright blob at grid (x, y)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img = 1.0 + 3.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0)
    return torch.tensor(np.broadcast_to(img, (1, len(CHANNELS), SIZE, SIZE)).copy(),
                        dtype=torch.float32)


def _peak(t: torch.Tensor) -> tuple[float, float]:
    plane = t[0, 0].numpy()
    w = np.clip(plane - 2.0, 0, None)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())


def test_north_stays_up_under_full_augmentation() -> None:
    grid = ModelGrid(SIZE)
    c, r = grid.center, grid.radius_px
    # A source near the north pole (row index grows to the north) and one on the east limb.
    settings = AugmentSettings(probability=1.0, rotation_deg=3.0, noise_exposure_min=0.3)
    aug = Augmenter(settings, CHANNELS, SIZE, offset=1.0)
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        out = aug(_blob(c, c + 0.8 * r), gen)
        x, y = _peak(out)
        angle_from_north = math.degrees(math.atan2(x - c, y - c))
        assert y > c + 0.7 * r, trial                       # still north, never flipped south
        assert abs(angle_from_north) <= 3.0 + 1.0, trial   # roll within the configured limit


def test_no_east_west_mirror_and_rotation_is_counter_clockwise() -> None:
    grid = ModelGrid(SIZE)
    c, r = grid.center, grid.radius_px
    east = _blob(c - 0.8 * r, c)                  # x grows to the west: this is the east limb
    turned = rotate_about_centre(east, torch.tensor([math.radians(10.0)]))
    x, y = _peak(turned)
    # Counter-clockwise (as displayed north up) moves the east limb point south.
    assert x < c and y < c - 0.05 * r
    assert 7.0 <= math.degrees(math.atan2(c - y, c - x)) <= 13.0


def test_noise_keeps_the_mean_and_scales_with_the_exposure_cut() -> None:
    base = torch.full((1, len(CHANNELS), SIZE, SIZE), math.log10(1.0 + 200.0))
    gen = torch.Generator().manual_seed(1)
    weak = Augmenter(AugmentSettings(probability=1.0, rotation_deg=0.0, noise_exposure_min=0.9,
                                     brightness_sigma=0.0), CHANNELS, SIZE, 1.0)(base, gen)
    strong = Augmenter(AugmentSettings(probability=1.0, rotation_deg=0.0, brightness_sigma=0.0,
                                       noise_exposure_min=0.05), CHANNELS, SIZE, 1.0)(base, gen)
    lin_w = 10 ** weak.double() - 1
    lin_s = 10 ** strong.double() - 1
    assert abs(float(lin_s.mean()) / 200.0 - 1) < 0.01         # unbiased
    assert float(lin_s.std()) > 2 * float(lin_w.std()) > 0    # more noise for shorter exposures
    kappa = noise_coefficients(CHANNELS, SIZE)
    # The noise level is the photon noise of a 200 DN/s pixel: never more than 1/f - 1 = 19x.
    assert float(lin_s[0, 0].std()) < math.sqrt(200.0 * kappa[0] * 19.0) * 1.2


def test_disabled_or_zero_probability_is_the_identity() -> None:
    t = _blob(30, 40)
    gen = torch.Generator().manual_seed(2)
    assert Augmenter(AugmentSettings(enabled=False), CHANNELS, SIZE, 1.0)(t, gen) is t
    assert Augmenter(AugmentSettings(probability=0.0), CHANNELS, SIZE, 1.0)(t, gen) is t


def test_augmentation_is_deterministic_per_generator_seed() -> None:
    t = _blob(20, 44).repeat(4, 1, 1, 1)
    aug = Augmenter(AugmentSettings(probability=0.5, brightness_sigma=0.02), CHANNELS, SIZE, 1.0)
    a = aug(t, torch.Generator().manual_seed(5))
    b = aug(t, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, t)


def test_rotate_points_follows_the_rotated_image() -> None:
    from monitor.train.augment import rotate_points

    x0, y0 = 44.0, 20.0
    angle = math.radians(8.0)
    turned = rotate_about_centre(_blob(x0, y0), torch.tensor([angle]))
    x, y = _peak(turned)
    xp, yp = rotate_points(np.array([x0]), np.array([y0]), np.array([angle]), SIZE)
    assert abs(x - float(xp[0])) < 0.3 and abs(y - float(yp[0])) < 0.3
    aug = Augmenter(AugmentSettings(probability=1.0, rotation_deg=5.0, noise_exposure_min=1.0),
                    CHANNELS, SIZE, 1.0)
    out, angles = aug.with_angles(_blob(x0, y0), torch.Generator().manual_seed(9))
    xa, ya = _peak(out)
    xr, yr = rotate_points(np.array([x0]), np.array([y0]), angles.numpy(), SIZE)
    assert abs(xa - float(xr[0])) < 0.3 and abs(ya - float(yr[0])) < 0.3


def test_gain_jitter_is_one_factor_per_channel_and_sample() -> None:
    """Degradation-table residuals: each channel of each sample scaled by one lognormal gain."""
    sigma = 0.03
    assert AugmentSettings().brightness_sigma == sigma  # on by default for training
    t = _blob(20, 44).repeat(64, 1, 1, 1)
    aug = Augmenter(AugmentSettings(probability=1.0, rotation_deg=0.0, noise_exposure_min=1.0,
                                    brightness_sigma=sigma), CHANNELS, SIZE, 1.0)
    out = aug(t, torch.Generator().manual_seed(3))
    img_in = torch.pow(10.0, t) - 1.0
    ratio = (torch.pow(10.0, out) - 1.0) / img_in
    per_plane = ratio.flatten(2)
    # one gain per (sample, channel): the same at every pixel of the plane
    assert float((per_plane.max(-1).values - per_plane.min(-1).values).max()) < 1e-3
    gains = per_plane.mean(-1)
    assert len(set(np.round(gains[0].numpy(), 6))) == len(CHANNELS)  # channels differ
    log_gain = torch.log(gains)
    assert abs(float(log_gain.std()) - sigma) < 0.3 * sigma
    assert abs(float(log_gain.mean())) < 0.01
