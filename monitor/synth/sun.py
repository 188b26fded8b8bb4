"""The synthetic Sun of a scenario: one call per observation time gives images and truth.

:class:`SyntheticSun` builds the scenario's regions and flares once (a seed
fixes their look, the pointing and all noise), then :meth:`SyntheticSun.observe`
evaluates the plasma at an observation time, renders every channel, applies
eclipse, exposure control, photon and read noise, telemetry dropouts and
QUALITY flags, and computes the ground truth from the same emission measure.
Noise streams are keyed by (seed, observation, channel), so a frame does not
depend on which frames were made before it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from monitor.synth.disk import quiet_sun_volume_dem
from monitor.synth.eve import line_irradiance
from monitor.synth.geometry import (
    ImageGeometry,
    Observer,
    heliocentric_to_hpc,
    noaa_location,
    observer_at,
)
from monitor.synth.goes import EVENT_CLASSES, event_class_index, goes_class, goes_xrsb_flux
from monitor.synth.noise import aec_exposure, expose
from monitor.synth.plasma import FlareState
from monitor.synth.regions import ActiveRegionModel, Component, FlareModel
from monitor.synth.render import BLANK, Renderer, eclipse_transmission, to_int16
from monitor.synth.responses import CHANNELS, LOG_T, channel_spec
from monitor.synth.scenario import QUALITY_BITS, Scenario
from monitor.synth.structures import local_to_heliocentric, local_to_heliographic
from monitor.synth.truth import FlareKernel, FlareTruth, RegionTruth, Truth
from monitor.synth.worlds import DEFAULT_WORLD, World, get_world

__all__ = ["ChannelImage", "Observation", "Scene", "SyntheticSun", "compose_scene",
           "scene_truth"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ChannelImage:
    """One channel of one observation, as it goes into a FITS file."""

    wavelength: int
    data: np.ndarray
    t_obs: datetime
    exposure_s: float
    quality: int
    missing: int
    saturated: int
    eclipse: bool
    fsn: int


@dataclass(frozen=True)
class Observation:
    """All channels of one observation time, and the truth."""

    index: int
    t_rec: datetime
    observer: Observer
    geometry: ImageGeometry
    images: dict[int, ChannelImage]
    truth: Truth


@dataclass(frozen=True)
class Scene:
    """Everything that emits at one instant, placed on one image grid."""

    t_s: float
    observer: Observer
    geometry: ImageGeometry
    components: list[Component]
    regions: list[ActiveRegionModel]
    flares: list[tuple[FlareModel, FlareState, list[Component]]]


def compose_scene(regions: Sequence[ActiveRegionModel], flares: Sequence[FlareModel], t_s: float,
                  observer: Observer, geometry: ImageGeometry) -> Scene:
    """Evaluate every region and flare at ``t_s`` on ``geometry``."""
    components: list[Component] = []
    for region in regions:
        components.extend(region.components(t_s, observer, geometry))
    flare_parts = []
    for flare in flares:
        state = flare.state(t_s)
        parts = flare.components(state, t_s, observer, geometry)
        components.extend(parts)
        flare_parts.append((flare, state, parts))
    return Scene(t_s, observer, geometry, components, list(regions), flare_parts)


def _flare_truth(flare: FlareModel, state: FlareState, parts: list[Component],
                 scene: Scene) -> FlareTruth:
    lon, lat = flare.region.position(scene.t_s)
    centres = np.stack([k.centre for k in flare.kernels])
    helio = local_to_heliocentric(centres, lon, lat, scene.observer)
    hidden = (helio[:, 2] < 0) & (helio[:, 0] ** 2 + helio[:, 1] ** 2 < 1.0)
    tx, ty = heliocentric_to_hpc(helio, scene.observer)
    x, y = scene.geometry.hpc_to_pixel(tx, ty)
    size = scene.geometry.size
    on_image = (x > -0.5) & (x < size - 0.5) & (y > -0.5) & (y < size - 0.5)
    foot_lon, foot_lat = local_to_heliographic(centres, lon, lat)
    response_sum = flare.region.world.response_matrix(CHANNELS).sum(axis=0)
    counts = np.array([float(p.visible_dem @ response_sum) for p in parts])
    shares = counts / counts.sum() if counts.sum() > 0 else np.zeros(len(parts))
    arcsec_per_rsun = scene.observer.rsun_obs_arcsec
    kernels = tuple(
        FlareKernel(kind=k.kind, x_px=float(x[i]), y_px=float(y[i]),
                    tx_arcsec=float(tx[i]), ty_arcsec=float(ty[i]),
                    lon_deg=float(foot_lon[i]), lat_deg=float(foot_lat[i]),
                    sigma_px=k.sigma_rsun * arcsec_per_rsun / scene.geometry.cdelt_arcsec,
                    sigma_arcsec=k.sigma_rsun * arcsec_per_rsun,
                    visible=bool(on_image[i] and not hidden[i]), flux_share=float(shares[i]))
        for i, k in enumerate(flare.kernels))
    visible = sum((p.visible_dem for p in parts), np.zeros_like(LOG_T))
    return FlareTruth(name=flare.name, region=flare.spec.region, peak_class=flare.spec.peak_class,
                      phase=state.phase, temperature_k=state.temperature_k, em_cm3=state.em_cm3,
                      goes_flux=goes_xrsb_flux(visible, LOG_T),
                      location=noaa_location(float(foot_lat[0]), float(foot_lon[0])),
                      kernels=kernels)


def scene_truth(scene: Scene, quiet_dem: np.ndarray, world: World | None = None
                ) -> tuple[float, np.ndarray, tuple[FlareTruth, ...], tuple[RegionTruth, ...]]:
    """GOES flux, EVE irradiances (``world``'s lines), flare and region truth of a scene.

    Returns
    -------
    tuple
        ``(goes_flux, irradiance, flares, regions)``; only active flares are listed.
    """
    volume = quiet_dem + sum((c.visible_dem for c in scene.components), np.zeros_like(LOG_T))
    flux = goes_xrsb_flux(volume, LOG_T)
    irradiance = line_irradiance(volume, world)
    flares = tuple(_flare_truth(f, s, parts, scene) for f, s, parts in scene.flares if s.active)
    regions = []
    for region in scene.regions:
        lon, lat = region.position(scene.t_s)
        helio = local_to_heliocentric(np.zeros((1, 3)), lon, lat, scene.observer)
        tx, ty = heliocentric_to_hpc(helio, scene.observer)
        x, y = scene.geometry.hpc_to_pixel(tx, ty)
        regions.append(RegionTruth(region.spec.name, lon, lat, float(x[0]), float(y[0]),
                                   bool(helio[0, 2] >= 0), noaa_location(lat, lon)))
    return flux, irradiance, flares, tuple(regions)


class SyntheticSun:
    """A scenario made observable.

    Parameters
    ----------
    scenario : Scenario
        What happens.
    size : int
        Image size: 4096 (0.6 arcsec/px), 1024 or 512 (binned).
    seed : int or None
        Fixes structure, pointing and noise; None draws one (see ``seed``).
    channels : sequence of int, optional
        Wavelengths to make; default the scenario's.
    offset_px : tuple of float, optional
        Sun-centre offset in full-resolution pixels; default the scenario's, else
        a small random one (a few px, as AIA's pointing wanders).
    crota2_deg : float, optional
        Roll; default the scenario's, else 0.01-0.04 deg.
    workers : int, optional
        Threads rendering channels in parallel (default: the CPU count, at most 4).
    world : str or World, optional
        The physics' calibration (``monitor.synth.worlds``; default ``DEFAULT_WORLD``).
    """

    def __init__(self, scenario: Scenario, size: int = 1024, seed: int | None = None,
                 channels: Sequence[int] | None = None,
                 offset_px: tuple[float, float] | None = None,
                 crota2_deg: float | None = None, workers: int | None = None,
                 world: str | World = DEFAULT_WORLD) -> None:
        if size < 64 or 4096 % size:
            raise ValueError(f"size must divide 4096 (e.g. 512, 1024, 4096), got {size}")
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.scenario = scenario
        self.world = get_world(world)
        self.seed = int(np.random.SeedSequence().entropy % (2 ** 31)) if seed is None else seed
        self.channels = tuple(channels or scenario.channels)
        rng = np.random.default_rng([self.seed, 0])
        # Drawn even when overridden, so a pointing override leaves the Sun unchanged.
        random_offset = tuple(float(v) for v in np.clip(rng.normal(0.0, 2.5, 2), -8.0, 8.0))
        random_crota = float(rng.uniform(0.01, 0.04))
        offset = offset_px or scenario.pointing.offset_px or random_offset
        crota = next(v for v in (crota2_deg, scenario.pointing.crota2_deg, random_crota)
                     if v is not None)
        self.geometry = ImageGeometry.aia(size, offset, crota)
        step_mm = 0.5 * 0.435 * 4096 / size
        self.regions = {spec.name: ActiveRegionModel(spec, rng, step_mm, self.world)
                        for spec in scenario.active_regions}
        self.flares = [FlareModel(spec, self.regions[spec.region], rng, step_mm)
                       for spec in scenario.flares]
        self.renderer = Renderer(self.geometry, observer_at(scenario.start), self.channels, rng,
                                 cache=True, world=self.world)
        self.eclipse_angle = float(rng.uniform(0.0, 360.0))
        self.quiet_dem = quiet_sun_volume_dem(self.world)
        self.fsn_base = 60_000_000 + (self.seed % 10_000) * 1_000
        self.workers = workers or min(os.cpu_count() or 1, 4)

    def __len__(self) -> int:
        return self.scenario.n_observations

    def t_rec(self, index: int) -> datetime:
        """Slot time of observation ``index``."""
        return self.scenario.start + timedelta(seconds=index * self.scenario.cadence_s)

    def scene(self, t_s: float, observer: Observer) -> Scene:
        """The scene at ``t_s`` seconds from the scenario start on this run's grid."""
        return compose_scene(list(self.regions.values()), self.flares, t_s, observer,
                             self.geometry)

    def observe(self, index: int) -> Observation:
        """Images (unless in a data gap) and truth of observation ``index``."""
        sc = self.scenario
        t_s = index * sc.cadence_s
        t_rec = self.t_rec(index)
        observer = observer_at(t_rec)
        scene = self.scene(t_s, observer)
        flux, irradiance, flares, regions = scene_truth(scene, self.quiet_dem, self.world)
        gap = any(w.contains(t_s) for w in sc.gaps)
        eclipse = max((e.occulted_fraction(t_s) for e in sc.eclipses), default=0.0)
        images = {} if gap else self._images(index, t_s, t_rec, scene, eclipse)
        truth = Truth(
            index=index, t_rec=t_rec, scenario=sc.name, seed=self.seed, world=self.world.name,
            goes_flux=flux,
            goes_class=goes_class(flux), event_class=EVENT_CLASSES[event_class_index(flux)],
            event_class_index=event_class_index(flux),
            irradiance=tuple(float(v) for v in irradiance), flares=flares, regions=regions,
            eclipse_fraction=eclipse, gap=gap,
            quality={w: im.quality for w, im in images.items()},
            exposure_s={w: im.exposure_s for w, im in images.items()},
            geometry={"size": self.geometry.size, "cdelt_arcsec": self.geometry.cdelt_arcsec,
                      "crpix1": self.geometry.crpix1, "crpix2": self.geometry.crpix2,
                      "crota2_deg": self.geometry.crota2_deg,
                      "sun_center_x_px": self.geometry.centre_px[0],
                      "sun_center_y_px": self.geometry.centre_px[1],
                      "rsun_obs_arcsec": observer.rsun_obs_arcsec,
                      "dsun_obs_m": observer.dsun_m, "hglt_obs_deg": observer.hglt_deg})
        return Observation(index, t_rec, observer, self.geometry, images, truth)

    def _images(self, index: int, t_s: float, t_rec: datetime, scene: Scene,
                eclipse: float) -> dict[int, ChannelImage]:
        transmission = eclipse_transmission(self.geometry.size, eclipse, self.eclipse_angle)
        jobs = [(k, w, index, t_s, t_rec, scene, eclipse, transmission)
                for k, w in enumerate(self.channels)]
        # Channels are independent (own noise stream), so threads give the same bytes
        # in any order; numpy and OpenCV release the GIL in the heavy loops.
        if self.workers > 1 and self.geometry.size >= 1024:
            with ThreadPoolExecutor(self.workers) as pool:
                done = list(pool.map(lambda job: self._channel_image(*job), jobs))
        else:
            done = [self._channel_image(*job) for job in jobs]
        return {image.wavelength: image for image in done}

    def _channel_image(self, k: int, wavelength: int, index: int, t_s: float, t_rec: datetime,
                       scene: Scene, eclipse: float,
                       transmission: np.ndarray | float) -> ChannelImage:
        sc = self.scenario
        size = self.geometry.size
        spec = channel_spec(wavelength)
        rate = self.renderer.channel(k, scene.components)
        if isinstance(transmission, np.ndarray):
            rate *= transmission
        elif transmission != 1.0:
            rate *= np.float32(transmission)
        exposure = aec_exposure(spec, float(rate.max()))
        rng = np.random.default_rng([self.seed, 1, index, wavelength])
        dn = expose(rng, rate, spec, exposure, self.geometry.full_res_pixels_per_pixel)
        data, saturated = to_int16(dn)
        missing = 0
        for block in sc.missing_blocks:
            if block.contains(t_s) and wavelength in block.channels:
                rows = max(1, round(block.fraction * size))
                first = int(rng.integers(0, size - rows + 1))
                data[first:first + rows] = BLANK
                missing = rows * size
        quality = 0
        for episode in sc.quality:
            if episode.contains(t_s) and wavelength in episode.channels:
                quality |= episode.bits
        if eclipse > 0:
            quality |= QUALITY_BITS["eclipse"]
        for bit, limit in ((0x100, 0.0), (0x200, 0.01), (0x400, 0.05), (0x800, 0.25)):
            if missing > limit * size * size:
                quality |= bit
        t_obs = t_rec + timedelta(seconds=spec.t_obs_offset_s)
        return ChannelImage(wavelength, data, t_obs, exposure, quality, missing, saturated,
                            eclipse > 0, self.fsn_base + index * 8 + k)
