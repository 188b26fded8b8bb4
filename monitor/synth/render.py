"""From emission measure to count-rate images, one channel at a time.

A channel image (DN/s per 0.6 arcsec pixel) is the quiet-Sun radial profile
looked up by each pixel's impact parameter, times the network texture, plus
every structure's patch times its DEM weighted by the channel response and
divided by the pixel's area on the Sun (a patch holds emission measure, the
response wants column emission measure). The instrument's blur (~0.7 arcsec
sigma, ~1.6 arcsec FWHM like AIA's PSF) and the pixel footprint smooth the
limb so no image size aliases it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from monitor.synth.disk import (
    RHO_MAX,
    RHO_SAMPLES,
    channel_profiles,
    network_texture,
    streamer_texture,
)
from monitor.synth.geometry import (
    ARCSEC_PER_RAD,
    RSUN_REF_M,
    ImageGeometry,
    Observer,
    impact_parameter_map,
)
from monitor.synth.regions import Component
from monitor.synth.responses import SATURATION_DN, channel_spec
from monitor.synth.worlds import World, default_world

__all__ = ["BLANK", "Renderer", "eclipse_transmission", "to_int16"]

#: Fill value of missing pixels in level-1 files.
BLANK: int = -32768
_PSF_SIGMA_ARCSEC: float = 0.7
_NETWORK_CELL_MM: float = 30.0


class Renderer:
    """Renders count-rate images of one geometry; reuse it for every frame of a run.

    Parameters
    ----------
    geometry : ImageGeometry
        The image grid and pointing.
    observer : Observer
        Sets the Sun's apparent size (its slow change over a run is ignored
        for the images; headers stay exact).
    channels : sequence of int
        Wavelengths in the order of the output.
    rng : numpy.random.Generator
        Draws the network texture.
    cache : bool
        Keep each channel's quiet-Sun image after its first use (the quiet Sun
        does not change within a run): 4 bytes per pixel per channel, 450 MB
        for seven 4096 px channels, in exchange for ~0.15 s per channel image.
    world : World, optional
        Whose quiet Sun and channel responses (default: ``DEFAULT_WORLD``).
    """

    def __init__(self, geometry: ImageGeometry, observer: Observer, channels: Sequence[int],
                 rng: np.random.Generator, cache: bool = False,
                 world: World | None = None) -> None:
        world = world or default_world()
        self.geometry = geometry
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self.channels = tuple(channels)
        rho = impact_parameter_map(geometry, observer.distance_rsun)
        scale = (RHO_SAMPLES - 1) / RHO_MAX
        self.rho_index = np.minimum(rho * scale + 0.5, RHO_SAMPLES - 1).astype(np.uint16)
        rsun = observer.rsun_obs_arcsec
        smooth = math.hypot(_PSF_SIGMA_ARCSEC, geometry.cdelt_arcsec / 2.5) / rsun
        self.profiles = channel_profiles(self.channels, smooth_rsun=smooth, world=world)
        self.response = world.response_matrix(self.channels)
        cm_per_px = (observer.dsun_m - RSUN_REF_M) * geometry.cdelt_arcsec / ARCSEC_PER_RAD * 100
        self.pixel_area_cm2 = cm_per_px ** 2
        mm_per_px = cm_per_px / 1e8
        self.texture = self._texture(rng, rho, _NETWORK_CELL_MM / mm_per_px)
        self.contrast = np.array([channel_spec(c).network_contrast for c in self.channels],
                                 dtype=np.float32)

    def _texture(self, rng: np.random.Generator, rho: np.ndarray, cell_px: float) -> np.ndarray:
        """Network on the disk, radial streamers off the limb, blended over 0.05 R_sun."""
        n = self.geometry.size
        cx, cy = self.geometry.centre_px
        yy, xx = np.ogrid[:n, :n]
        angle = np.arctan2((yy - cy).astype(np.float32), (xx - cx).astype(np.float32))
        angle += np.float32(np.radians(self.geometry.crota2_deg))
        network = network_texture(rng, (n, n), cell_px)
        streamers = streamer_texture(rng, angle)
        weight = np.clip((rho - np.float32(1.0)) / np.float32(0.05), 0.0, 1.0)
        return network + weight * (streamers - network)

    def quiet_sun(self, k: int) -> np.ndarray:
        """Quiet-Sun count rate of channel index ``k`` with its network texture (a new array)."""
        if self._cache is not None:
            if k not in self._cache:
                self._cache[k] = self._quiet_sun(k)
            return self._cache[k].copy()
        return self._quiet_sun(k)

    def _quiet_sun(self, k: int) -> np.ndarray:
        base = np.take(self.profiles[k], self.rho_index)
        sigma = float(self.contrast[k])
        if sigma > 0:
            mod = cv2.exp(self.texture * np.float32(sigma) - np.float32(0.5 * sigma * sigma))
            base = cv2.multiply(base, mod)
        return base

    def channel(self, k: int, components: Sequence[Component]) -> np.ndarray:
        """Noise-free count rate (DN/s per 0.6 arcsec pixel) of channel index ``k``."""
        image = self.quiet_sun(k)
        for comp in components:
            rate = float(comp.dem @ self.response[k]) / self.pixel_area_cm2
            comp.patch.add_to(image, rate)
        return image

    def render(self, components: Sequence[Component]) -> np.ndarray:
        """All channels, shape (C, N, N), float32."""
        return np.stack([self.channel(k, components) for k in range(len(self.channels))])


def eclipse_transmission(size: int, fraction: float, angle_deg: float) -> np.ndarray | float:
    """Share of light let through when the Earth's limb covers ``fraction`` of the image.

    The Earth's limb is a straight edge at this scale, sweeping across the
    image along ``angle_deg``; the atmosphere softens it over ~3 % of the image.
    """
    if fraction <= 0:
        return 1.0
    if fraction >= 1:
        return 0.0
    a = math.radians(angle_deg)
    coords = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / size
    s = coords[None, :] * math.cos(a) + coords[:, None] * math.sin(a)  # -0.71 .. 0.71
    edge = -0.75 + 1.5 * fraction
    return np.clip((s - edge) / 0.03 + 0.5, 0.0, 1.0).astype(np.float32)


def to_int16(dn: np.ndarray) -> tuple[np.ndarray, int]:
    """Round to int16 DN and clip at the ADC full scale (in place on ``dn``).

    Returns the data and the number of pixels at full scale.
    """
    np.clip(dn, -32767.0, SATURATION_DN, out=dn)
    data = np.rint(dn, out=dn).astype(np.int16)
    return data, int(np.count_nonzero(data == int(SATURATION_DN)))
