"""The quiet Sun: disk, limb and off-limb corona from one column DEM.

Physics
-------
Each temperature bin of the quiet-Sun DEM is a spherically symmetric,
isothermal, hydrostatic shell: density ``n(r) ~ exp(-(1 - 1/r) / h)`` with
scale height ``h = k T / (mu m_p g_sun)`` (about 50 Mm per MK, i.e.
``0.072 T/MK`` solar radii), so the emissivity ``n^2`` falls twice as fast.
Cool transition-region bins get a floor of 4 Mm (the spicule forest lifts
them above the photosphere); hot bins are capped, since a hot isothermal
atmosphere does not converge.

A pixel whose line of sight passes the Sun's centre at impact parameter
``rho`` (solar radii) sees the emissivity integrated along the line of sight:
only the part in front of the photosphere on the disk (``rho < 1``), the full
chord off the limb. Normalised to the disk centre, these integrals ``P(rho; h)``
give each temperature the limb brightening of an optically thin corona (the
path grows towards the limb), the bright rim just outside the limb and the
fall-off with height -- hotter plasma extends further, so 211 and 335 reach
higher than 171. 304 (optically thick He II) gets an extra linear limb
darkening. The network is a multiplicative log-normal pattern on
supergranular scales (~30 Mm) with a per-channel contrast.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from monitor.synth.geometry import RSUN_REF_M
from monitor.synth.responses import LOG_T
from monitor.synth.worlds import World, default_world

__all__ = [
    "LOW_LYING_FRACTION",
    "RHO_MAX",
    "RHO_SAMPLES",
    "channel_profiles",
    "los_profiles",
    "network_texture",
    "quiet_sun_volume_dem",
    "scale_height_rsun",
    "streamer_texture",
]

#: Largest impact parameter tabulated (beyond the corners of a 4096 AIA image).
RHO_MAX: float = 2.0
#: Samples of the tabulated profiles over [0, RHO_MAX].
RHO_SAMPLES: int = 16384
#: Share of the emission in low-lying structures (network, moss, short loops)
#: that spicules hide near the limb: seen as a flat disk, no limb brightening.
LOW_LYING_FRACTION: float = 0.6
_RSUN_CM: float = RSUN_REF_M * 100.0


def scale_height_rsun(log_t: np.ndarray = LOG_T) -> np.ndarray:
    """Hydrostatic density scale height (solar radii) per temperature, floored and capped."""
    t_mk = 10.0 ** (np.asarray(log_t, dtype=np.float64) - 6.0)
    return np.clip(0.072 * t_mk, 0.006, 0.35)


def _los_integral(rho: np.ndarray, h: float, r_max: float = 3.5, nodes: int = 600
                  ) -> np.ndarray:
    """Line-of-sight integral of exp(-(2/h)(1 - 1/r)) at impact parameters ``rho``.

    Substituting ``r = rho + v^2`` removes the square-root singularity at
    the tangent point, so a plain trapezoid rule on ``v`` converges fast.
    """
    rho = np.asarray(rho, dtype=np.float64)[:, None]
    v0 = np.sqrt(np.clip(1.0 - rho, 0.0, None))
    v1 = np.sqrt(np.clip(r_max - rho, 1e-12, None))
    # Nodes crowd near v0 where the emissivity is largest.
    s = np.linspace(0.0, 1.0, nodes)[None, :] ** 2
    v = v0 + (v1 - v0) * s
    r = rho + v * v
    integrand = np.exp(-(2.0 / h) * (1.0 - 1.0 / r)) * 2.0 * r / np.sqrt(2.0 * rho + v * v)
    value = np.trapezoid(integrand, v, axis=1)
    return np.where(rho[:, 0] >= 1.0, 2.0 * value, value)


@lru_cache(maxsize=1)
def los_profiles() -> np.ndarray:
    """``P(rho; h(T))`` for every LOG_T bin, normalised to 1 at disk centre.

    Each profile mixes the low-lying part (a flat disk) with the hydrostatic
    shell in the proportion ``LOW_LYING_FRACTION``.

    Shape ``(len(LOG_T), RHO_SAMPLES)`` on ``numpy.linspace(0, RHO_MAX, RHO_SAMPLES)``.
    Computed once per process (about a second) on a coarse grid and interpolated.
    """
    coarse = np.concatenate([np.linspace(0.0, 0.9, 60), np.linspace(0.9, 1.0, 200)[1:],
                             np.linspace(1.0, 1.1, 200)[1:], np.linspace(1.1, RHO_MAX, 120)[1:]])
    fine = np.linspace(0.0, RHO_MAX, RHO_SAMPLES)
    heights = scale_height_rsun()
    disk = (fine < 1.0).astype(np.float64)
    table = np.empty((len(LOG_T), RHO_SAMPLES), dtype=np.float64)
    cache: dict[float, np.ndarray] = {}
    for i, h in enumerate(heights):
        key = round(float(h), 6)
        if key not in cache:
            values = _los_integral(coarse, key)
            cache[key] = np.interp(fine, coarse, values / values[0])
        table[i] = LOW_LYING_FRACTION * disk + (1.0 - LOW_LYING_FRACTION) * cache[key]
    table.setflags(write=False)
    return table


def _rho_grid() -> np.ndarray:
    return np.linspace(0.0, RHO_MAX, RHO_SAMPLES)


def channel_profiles(channels: tuple[int, ...], smooth_rsun: float = 0.0,
                     world: World | None = None) -> np.ndarray:
    """Quiet-Sun count rate (DN/s per 0.6 arcsec pixel) against impact parameter.

    The quiet Sun's column DEM (``World.quiet_column``: corona peaking near
    1.4 MK with a weak 3 MK tail, cool loops and upper transition region, and
    the chromosphere/transition region that makes He II 304) seen through the
    channel responses.

    Parameters
    ----------
    channels : tuple of int
        Wavelengths in Angstrom.
    smooth_rsun : float
        Gaussian sigma (solar radii) for the instrument's blur and the pixel
        footprint, so the limb is not aliased at any image size.
    world : World, optional
        Whose quiet Sun and responses (default: ``DEFAULT_WORLD``).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(channels), RHO_SAMPLES)``, float32, read-only (cached).
    """
    # The smoothing varies by ~1 % over a year at a given image size: rounding it
    # lets every sample of a size share one cached table.
    return _channel_profiles(tuple(int(c) for c in channels), float(f"{smooth_rsun:.2g}"),
                             world or default_world())


@lru_cache(maxsize=16)
def _channel_profiles(channels: tuple[int, ...], smooth_rsun: float, world: World
                      ) -> np.ndarray:
    from monitor.synth.responses import channel_spec

    resp = world.response_matrix(channels)  # (C, T)
    profiles = (resp * world.quiet_column_dem[None, :]) @ los_profiles()  # (C, rho)
    rho = _rho_grid()
    mu = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    for i, c in enumerate(channels):
        u = channel_spec(c).opacity_limb_darkening
        if u:
            profiles[i] *= np.where(rho < 1.0, 1.0 - u * (1.0 - mu), 1.0)
    if smooth_rsun > 0:
        sigma = smooth_rsun / (RHO_MAX / (RHO_SAMPLES - 1))
        profiles = cv2.GaussianBlur(profiles.astype(np.float32), (0, 0), sigmaX=sigma,
                                    sigmaY=1e-6, borderType=cv2.BORDER_REPLICATE)
    out = profiles.astype(np.float32)
    out.setflags(write=False)
    return out


def quiet_sun_volume_dem(world: World | None = None) -> np.ndarray:
    """Volume emission measure (cm^-3 per LOG_T bin) of the quiet Sun the observer sees.

    The column DEM of ``world`` (default: ``DEFAULT_WORLD``) times the area
    integral of its normalised profile over the disk and the off-limb corona
    (out to RHO_MAX).
    """
    rho = _rho_grid()
    area = np.trapezoid(los_profiles() * 2.0 * np.pi * rho[None, :], rho, axis=1)
    return (world or default_world()).quiet_column_dem * area * _RSUN_CM ** 2


def network_texture(rng: np.random.Generator, shape: tuple[int, int],
                    cell_px: float) -> np.ndarray:
    """Zero-mean, unit-variance network pattern with cells of ~``cell_px`` pixels.

    A smooth Gaussian random field made on a coarse grid (a few samples per
    cell) and resized bicubically, so it costs the same at 512 and 4096 px;
    taking ``-|field|`` turns its zero crossings into bright lanes around dark
    cell interiors, like the supergranular network.
    """
    ny, nx = shape
    coarse_n = int(np.clip(round(max(ny, nx) / max(cell_px, 1.0) * 3), 16, 512))
    field = rng.standard_normal((coarse_n, coarse_n)).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=1.2)
    field = cv2.resize(field, (nx, ny), interpolation=cv2.INTER_CUBIC)
    field = -np.abs(field)
    return _standardised(field)


def streamer_texture(rng: np.random.Generator, position_angle: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance pattern that varies with position angle only.

    Off the limb the corona is organised radially (streamers, plumes, fans):
    brightness changes around the limb on ~3 deg scales and little along a ray.
    """
    samples = 720
    ring = rng.standard_normal(samples + 16).astype(np.float32)
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / 3.0) ** 2).astype(np.float32)
    smooth = np.convolve(ring, kernel / kernel.sum(), mode="same")[8:8 + samples]
    smooth = np.append(smooth, smooth[0])
    index = (position_angle % (2 * np.pi)) * np.float32(samples / (2 * np.pi))
    return _standardised(np.interp(index, np.arange(samples + 1), smooth).astype(np.float32))


def _standardised(field: np.ndarray) -> np.ndarray:
    field = field - field.mean()
    std = float(field.std())
    return field / std if std > 0 else field
