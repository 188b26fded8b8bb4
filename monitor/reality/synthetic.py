"""The synthetic Sun sampled the way the real data were taken.

Every function draws its Suns from ``SyntheticDataset.scene`` (the training
data's own random regions, positions and strengths) and evaluates the
generator's physics of one :class:`~monitor.synth.worlds.World`:

* :func:`quiet_levels` -- EVE lines of flare-free Suns (the dataset's
  activity levels: 0-6 regions);
* :func:`flare_records` -- EVE records around flares of given peak fluxes on
  such Suns, at 20 s cadence, starting where the real records start (the
  flare fully visible, as the real flares were within 45 deg of disk centre);
* :func:`region_curves` -- AIA counts summed over a flaring region (DN/s over
  its 0.6 arcsec pixels, as the real region light curves) with the Sun's GOES;
* :func:`disk_images` -- flare-free Suns rendered in the SDOML v2 geometry
  (512 px, radius 203.3 px, off-disk included), for full-frame means and the
  shape of the disk.

Sample counts are arguments, so a test runs small and a report runs full.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.synth.dataset import SyntheticDataset
from monitor.synth.disk import quiet_sun_volume_dem
from monitor.synth.eve import contribution_matrix
from monitor.synth.geometry import ImageGeometry
from monitor.synth.goes import goes_class, xrsb_response
from monitor.synth.plasma import ActiveRegionPlasma, FlarePlasma
from monitor.synth.render import Renderer
from monitor.synth.responses import LOG_T
from monitor.synth.sun import compose_scene
from monitor.synth.worlds import World

__all__ = ["SDOML_RADIUS_PX", "RegionCurves", "disk_images", "flare_records", "quiet_levels",
           "region_curves"]

#: Solar radius of SDOML v2 frames (976 arcsec at 4.8 arcsec per px).
SDOML_RADIUS_PX: float = 976.0 / 4.8
#: Area of a 0.6 arcsec AIA pixel on the Sun seen from 1 AU, cm^2.
_AIA_PIXEL_CM2: float = ((1.496e13 - 6.957e10) * 0.6 / 206264.8) ** 2
_DATASET_SEED_OFFSET: int = 9_000


def _dataset(world: World, seed: int, size: int = 64) -> SyntheticDataset:
    return SyntheticDataset(size=size, seed=_DATASET_SEED_OFFSET + seed, length=1 << 30,
                            class_mix=(1.0, 0.0, 0.0, 0.0), noise=False, world=world)


def _background_dem(dataset: SyntheticDataset, index: int) -> np.ndarray:
    """Visible volume DEM of sample ``index``'s quiet Sun and regions, without flares."""
    draw = dataset.scene(index)
    geometry = ImageGeometry.model_grid(dataset.grid, draw.observer.rsun_obs_arcsec)
    scene = compose_scene(draw.regions, [], 0.0, draw.observer, geometry)
    visible = sum((c.visible_dem for c in scene.components), np.zeros_like(LOG_T))
    return quiet_sun_volume_dem(dataset.world) + visible


def quiet_levels(world: World, count: int, seed: int = 0) -> np.ndarray:
    """EVE lines (count, 14) of ``count`` flare-free synthetic Suns, W m^-2."""
    dataset = _dataset(world, seed)
    table = contribution_matrix(world)
    return np.stack([table @ _background_dem(dataset, i) for i in range(count)])


def flare_records(world: World, peak_fluxes: Sequence[float], start_minutes: Sequence[float],
                  seed: int = 0, length_min: float = 120.0, cadence_s: float = 20.0
                  ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """EVE records ``(t_s, irradiance (N, 14), goes_peak)`` around synthetic flares.

    Flare ``i`` has intrinsic peak flux ``peak_fluxes[i]`` and starts
    ``start_minutes[i]`` after its record starts, on background Sun ``i`` of
    the dataset; ``goes_peak`` is the whole Sun's XRS-B maximum.
    """
    dataset = _dataset(world, seed + 1)
    table = contribution_matrix(world)
    response = xrsb_response(LOG_T)
    t = np.arange(0.0, length_min * 60.0, cadence_s)
    out = []
    for i, (flux, start) in enumerate(zip(peak_fluxes, start_minutes)):
        background = _background_dem(dataset, i)
        plasma = FlarePlasma(goes_class(float(flux), decimals=3), float(start) * 60.0,
                             world=world)
        volumes = np.empty((len(t), len(LOG_T)))
        for j, tj in enumerate(t):
            state = plasma.state(float(tj))
            volumes[j] = background + state.hot_dem + state.footpoint_dem
        out.append((t, volumes @ table.T, float((volumes @ response).max())))
    return out


@dataclass(frozen=True)
class RegionCurves:
    """A synthetic flaring region: 1-minute grid, summed counts per channel, Sun's GOES."""

    t_min: np.ndarray
    channels: dict[int, np.ndarray]
    goes: np.ndarray
    peak_min: float


def region_curves(world: World, peak_class: str, channels: Sequence[int],
                  strength: float = 1.0, length_min: int = 240, start_min: float = 90.0
                  ) -> RegionCurves:
    """AIA counts summed over a region hosting a ``peak_class`` flare, with GOES.

    The region (``strength``) and the flare are fully visible; the Sun around
    them is the quiet Sun, whose GOES flux is part of the background.
    """
    t = np.arange(float(length_min))
    region = ActiveRegionPlasma(strength, world).total
    quiet = quiet_sun_volume_dem(world)
    plasma = FlarePlasma(peak_class, start_min * 60.0, world=world)
    resp = world.response_matrix(tuple(channels))
    response = xrsb_response(LOG_T)
    counts = np.empty((len(t), len(channels)))
    goes = np.empty(len(t))
    for j, minute in enumerate(t):
        state = plasma.state(minute * 60.0 + 30.0)
        local = region + state.hot_dem + state.footpoint_dem
        counts[j] = resp @ local / _AIA_PIXEL_CM2
        goes[j] = float((quiet + local) @ response)
    peak = float(t[int(np.argmax(goes))])
    return RegionCurves(t, {c: counts[:, k] for k, c in enumerate(channels)}, goes, peak)


def disk_images(world: World, channels: Sequence[int], count: int, seed: int = 0
                ) -> Iterator[np.ndarray]:
    """Noise-free images (channels, 512, 512) of flare-free Suns in the SDOML v2 geometry.

    The Sun's centre is the image centre, pixel ((512 - 1) / 2, (512 - 1) / 2),
    its radius :data:`SDOML_RADIUS_PX`.
    """
    size = 512
    dataset = _dataset(world, seed + 2, size=size)
    for i in range(count):
        draw = dataset.scene(i)
        geometry = ImageGeometry(size=size,
                                 cdelt_arcsec=draw.observer.rsun_obs_arcsec / SDOML_RADIUS_PX,
                                 crpix1=(size + 1) / 2, crpix2=(size + 1) / 2)
        renderer = Renderer(geometry, draw.observer, tuple(channels),
                            np.random.default_rng([seed, i]), world=world)
        scene = compose_scene(draw.regions, [], 0.0, draw.observer, geometry)
        yield renderer.render(scene.components)

