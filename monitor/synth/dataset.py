"""Training samples without files: random Suns rendered straight onto the model grid.

Each sample is a random configuration of the same physics the feed uses:
a day of the year (B0 angle, solar distance), zero to ``max_regions`` active
regions with random positions, sizes, tilts and strengths, and -- with the
class mix of ``class_mix`` -- a flare on one of them, caught at a random
moment between early rise and late decay, with its intrinsic class chosen so
the Sun's XRS-B flux at that moment falls in the drawn class. It is rendered
on ``monitor.grid.ModelGrid(size)`` (north up, Sun centred, radius
1600/4096 of the grid) in exposure-normalised DN/s per full-resolution AIA
pixel, i.e. what area-averaging a full-resolution DN/s image onto the grid
gives, with photon and read noise of the AEC exposure averaged over the
binned pixels. No model scaling (log etc.) is applied.

Samples are a pure function of ``(seed, index)``, so DataLoader workers can
draw them in any order and a run is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitor.grid import ModelGrid
from monitor.synth.disk import quiet_sun_volume_dem
from monitor.synth.geometry import ImageGeometry, Observer, observer_fast
from monitor.synth.goes import EVENT_CLASSES, event_class_index, goes_class, xrsb_response
from monitor.synth.noise import aec_exposure, expose
from monitor.synth.plasma import FlarePlasma
from monitor.synth.regions import ActiveRegionModel, FlareModel
from monitor.synth.render import Renderer
from monitor.synth.responses import CHANNELS, LOG_T, channel_spec
from monitor.synth.scenario import ActiveRegionSpec, FlareSpec
from monitor.synth.sun import compose_scene, scene_truth
from monitor.synth.truth import FlareKernel
from monitor.synth.worlds import DEFAULT_WORLD, World, get_world

__all__ = ["Labels", "Sample", "SceneDraw", "SyntheticDataset"]

_CLASS_RANGES: dict[int, tuple[float, float]] = {
    0: (2e-8, 1e-6), 1: (1e-6, 1e-5), 2: (1e-5, 1e-4), 3: (1e-4, 1e-3)}


@dataclass(frozen=True)
class Labels:
    """What a model should predict for one sample.

    Parameters
    ----------
    goes_flux : float
        Whole-Sun XRS-B flux, W m^-2 (NOAA operational scale).
    class_index : int
        Index into :data:`~monitor.synth.goes.EVENT_CLASSES` ("none", "C", "M", "X").
    class_name : str
        The class as a name.
    irradiance : numpy.ndarray
        The 14 EVE line irradiances (W m^-2), order of
        :data:`~monitor.synth.eve.EVE_LINES`.
    kernels : tuple of FlareKernel
        The flare's kernels in model-grid pixels (empty without a flare).
    flare_class : str or None
        Intrinsic peak class of the flare in the sample, if any.
    """

    goes_flux: float
    class_index: int
    class_name: str
    irradiance: np.ndarray
    kernels: tuple[FlareKernel, ...]
    flare_class: str | None


@dataclass(frozen=True)
class Sample:
    """One training example: an image stack and its labels."""

    image: np.ndarray
    channels: tuple[int, ...]
    labels: Labels


def _random_regions(rng: np.random.Generator, count: int) -> list[ActiveRegionSpec]:
    specs = []
    for i in range(count):
        lat = float(rng.choice([-1.0, 1.0]) * rng.uniform(4.0, 35.0))
        specs.append(ActiveRegionSpec(
            name=f"AR{i + 1}", lat_deg=lat, lon_deg=float(rng.uniform(-100.0, 100.0)),
            size_arcmin=float(rng.uniform(1.5, 6.0)), tilt_deg=float(rng.normal(7.0, 8.0)),
            strength=float(np.exp(rng.normal(0.0, 0.45)))))
    return specs


def _flare_for_flux(rng: np.random.Generator, target_flux: float, region: str,
                    world: World) -> tuple[FlareSpec, float]:
    """A flare and a time at which its own XRS-B flux is ``target_flux``.

    The moment is drawn between early rise and two decay times after the peak
    (in units of the rise time, >1 is the decay); a big target late in the
    decay would need an implausible peak (> X20), so such draws move earlier.
    """
    response = xrsb_response(LOG_T)
    for attempt in range(6):
        phase = rng.uniform(0.35, 3.0 if attempt == 0 else 1.2)
        peak = target_flux
        for _ in range(4):
            plasma = FlarePlasma(goes_class(peak, decimals=3), 0.0, world=world)
            t = phase * plasma.rise if phase <= 1 else plasma.rise + (phase - 1) * plasma.decay
            now = float(plasma.state(t).hot_dem @ response)
            peak = peak * target_flux / max(now, 1e-30)
        if peak <= 2e-3:
            break
    peak = min(peak, 2e-3)
    plasma = FlarePlasma(goes_class(peak, decimals=3), 0.0, world=world)
    t = phase * plasma.rise if phase <= 1 else plasma.rise + (phase - 1) * plasma.decay
    return FlareSpec(region=region, peak_class=plasma.peak_class, start_s=0.0), t


@dataclass(frozen=True)
class SceneDraw:
    """The random content of one dataset sample, independent of any image grid.

    Attributes
    ----------
    seed, index : int
        The dataset sample.
    day_of_year : float
        Sets the observer (B0 angle, distance).
    observer : Observer
        The dataset's fast observer for that day.
    regions : list of ActiveRegionModel
    flares : list of FlareModel
    t_s : float
        Seconds after the flare start (0 without a flare).
    world : World
        The physics' calibration.
    """

    seed: int
    index: int
    day_of_year: float
    observer: Observer
    regions: list[ActiveRegionModel]
    flares: list[FlareModel]
    t_s: float
    world: World


class SyntheticDataset:
    """Random synthetic observations on the model grid, indexable like a torch Dataset.

    Parameters
    ----------
    size : int
        Model grid size (``ModelGrid(size)``).
    channels : sequence of int
        Wavelengths, in output order.
    seed : int
        Base seed; sample ``i`` depends only on ``(seed, i)``.
    length : int
        Nominal number of samples (``len()``); any index works.
    class_mix : tuple of float
        Probabilities of drawing the classes none, C, M, X.
    max_regions : int
        Most active regions on a sample's disk.
    noise : bool
        Add photon and read noise.
    world : str or World
        The physics' calibration (``monitor.synth.worlds``); the draws (regions,
        flare timing) are the same in every world, the light they give is not.
    """

    def __init__(self, size: int = 256, channels: Sequence[int] = CHANNELS, seed: int = 0,
                 length: int = 10_000, class_mix: tuple[float, float, float, float] = (
                     0.4, 0.25, 0.2, 0.15), max_regions: int = 6, noise: bool = True,
                 world: str | World = DEFAULT_WORLD) -> None:
        if len(class_mix) != 4 or min(class_mix) < 0 or sum(class_mix) <= 0:
            raise ValueError("class_mix needs four non-negative weights (none, C, M, X)")
        self.grid = ModelGrid(size)
        self.channels = tuple(channel_spec(c).wavelength for c in channels)
        self.seed = int(seed)
        self.length = int(length)
        self.class_mix = np.asarray(class_mix, dtype=np.float64) / sum(class_mix)
        self.max_regions = int(max_regions)
        self.noise = bool(noise)
        self.world = get_world(world)
        self._quiet_dem = quiet_sun_volume_dem(self.world)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        if index < 0:
            index += self.length
        return self.sample(index)

    def scene(self, index: int) -> SceneDraw:
        """The random content of sample ``index`` (observer, regions, flare), unrendered.

        What :mod:`monitor.train.twin` renders a second time as FITS files.
        """
        return self._draw(index)[0]

    def _draw(self, index: int) -> tuple[SceneDraw, np.random.Generator]:
        # The draw order is the dataset's identity (cached training splits
        # depend on it): scene first, then the same generator renders and adds noise.
        rng = np.random.default_rng([self.seed, 2, int(index)])
        day = float(rng.uniform(0.0, 365.25))
        observer = observer_fast(day)
        geometry = ImageGeometry.model_grid(self.grid, observer.rsun_obs_arcsec)
        mm_per_px = geometry.cdelt_arcsec * observer.dsun_m / 206264.8 / 1e6
        step_mm = 0.5 * mm_per_px
        wanted = int(rng.choice(4, p=self.class_mix))
        n_regions = int(rng.integers(1 if wanted else 0, self.max_regions + 1))
        specs = _random_regions(rng, n_regions)
        flaring = bool(wanted) or (n_regions > 0 and rng.random() < 0.5)
        host = int(rng.integers(0, n_regions)) if flaring else -1
        if flaring:
            # Flares on the far side would teach nothing: keep the host in view.
            specs[host] = dataclasses.replace(specs[host], lon_deg=float(rng.uniform(-85, 85)))
        regions = [ActiveRegionModel(spec, rng, step_mm, self.world) for spec in specs]
        flares = []
        t_s = 0.0
        if flaring:
            low, high = _CLASS_RANGES[wanted]
            target = math.exp(rng.uniform(math.log(low), math.log(high)))
            spec, t_s = _flare_for_flux(rng, target, specs[host].name, self.world)
            flares.append(FlareModel(spec, regions[host], rng, step_mm))
        return SceneDraw(self.seed, int(index), day, observer, regions, flares, t_s,
                         self.world), rng

    def sample(self, index: int) -> Sample:
        """Sample ``index`` (any non-negative integer)."""
        draw, rng = self._draw(index)
        observer, regions, flares, t_s = draw.observer, draw.regions, draw.flares, draw.t_s
        geometry = ImageGeometry.model_grid(self.grid, observer.rsun_obs_arcsec)
        renderer = Renderer(geometry, observer, self.channels, rng, world=self.world)
        scene = compose_scene(regions, flares, t_s, observer, geometry)
        image = renderer.render(scene.components)
        if self.noise:
            for k, wavelength in enumerate(self.channels):
                spec_c = channel_spec(wavelength)
                exposure = aec_exposure(spec_c, float(image[k].max()))
                dn = expose(rng, image[k], spec_c, exposure, geometry.full_res_pixels_per_pixel)
                image[k] = dn * np.float32(1.0 / exposure)
        flux, irradiance, flare_truth, _ = scene_truth(scene, self._quiet_dem, self.world)
        kernels = flare_truth[0].kernels if flare_truth else ()
        idx = event_class_index(flux)
        labels = Labels(goes_flux=flux, class_index=idx, class_name=EVENT_CLASSES[idx],
                        irradiance=np.asarray(irradiance), kernels=kernels,
                        flare_class=flares[0].spec.peak_class if flares else None)
        return Sample(image, self.channels, labels)

    def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, list[Labels]]:
        """Images stacked as (B, C, N, N) float32 and their labels."""
        samples = [self.sample(i) for i in indices]
        return np.stack([s.image for s in samples]), [s.labels for s in samples]

