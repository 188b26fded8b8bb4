"""Active-region and flare models: plasma (``plasma``) placed in space (``structures``).

An :class:`ActiveRegionModel` is a bipole: two polarity centres ``size_arcmin``
apart along an axis tilted by ``tilt_deg`` from the east-west line (Joy's
law tilts are ~5-10 deg), warm loops joining them, a sheared hot core over
the neutral line and moss at the footpoints. A :class:`FlareModel` sits on
its region's neutral line: an arcade of hot loops across it, a hot loop-top
source and two footpoint kernels whose separation grows with the class
(8 arcsec at C1, 20 arcsec at X1). The region's longitude advances with
differential rotation, carrying its flares along.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.synth.geometry import ImageGeometry, Observer
from monitor.synth.plasma import (
    ActiveRegionPlasma,
    FlarePlasma,
    FlareState,
    synodic_rate_deg_per_day,
)
from monitor.synth.scenario import ActiveRegionSpec, FlareSpec
from monitor.synth.structures import (
    MM_PER_RSUN,
    Patch,
    PointCloud,
    arcade,
    gaussian_cloud,
    project,
    splat,
    width_px,
)
from monitor.synth.worlds import World, default_world

__all__ = ["ActiveRegionModel", "Component", "FlareModel", "KernelGeometry"]

#: Solar radii per arcmin of arc seen from 1 AU (43.5 Mm).
_RSUN_PER_ARCMIN: float = 43.5 / MM_PER_RSUN
_RSUN_PER_ARCSEC: float = _RSUN_PER_ARCMIN / 60.0


@dataclass(frozen=True)
class Component:
    """One emitting structure in one frame.

    Parameters
    ----------
    name : str
        E.g. ``"AR1/core"`` or ``"flare0/loop_top"``.
    dem : numpy.ndarray
        Volume emission measure per LOG_T bin (cm^-3), the whole structure.
    patch : Patch
        Where its emission falls; sums to the visible share of ``dem``.
    """

    name: str
    dem: np.ndarray
    patch: Patch

    @property
    def visible_dem(self) -> np.ndarray:
        """The part of the DEM in front of the disk and inside the image."""
        return self.dem * self.patch.total


def _rotated(vec: tuple[float, float], angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([vec[0] * math.cos(a) - vec[1] * math.sin(a),
                     vec[0] * math.sin(a) + vec[1] * math.cos(a)])


class ActiveRegionModel:
    """An active region's structure and plasma, built once per run.

    Parameters
    ----------
    spec : ActiveRegionSpec
        Position at the scenario start, size, tilt and strength.
    rng : numpy.random.Generator
        Draws the loops (so a seed fixes the region's look).
    step_mm : float
        Sampling step along loops; half a pixel of the finest image is enough.
    world : World, optional
        Whose plasma (default: ``DEFAULT_WORLD``); the region's flares share it.
    """

    def __init__(self, spec: ActiveRegionSpec, rng: np.random.Generator,
                 step_mm: float = 0.25, world: World | None = None) -> None:
        self.spec = spec
        self.world = world or default_world()
        self.plasma = ActiveRegionPlasma(spec.strength, self.world)
        d = spec.size_arcmin * _RSUN_PER_ARCMIN
        self.axis = _rotated((1.0, 0.0), spec.tilt_deg)
        self.neutral_line = np.array([-self.axis[1], self.axis[0]])
        plus, minus = self.axis * d / 2, -self.axis * d / 2
        self.clouds: dict[str, PointCloud] = {
            "loops": arcade(rng, 60, plus, minus, d / 4, d / 4, (0.6, 1.1), brightness_sigma=0.35,
                            width_mm=1.8,
                            step_mm=step_mm),
            "core": arcade(rng, 30, self.axis * d * 0.12, -self.axis * d * 0.12, d / 14, d / 14,
                           (0.5, 0.8), along=self.neutral_line, along_spread=d / 6,
                           brightness_sigma=0.4, width_mm=1.5, step_mm=step_mm),
            "moss": PointCloud.merge(
                [gaussian_cloud(rng, np.array([*plus, 0.002]), np.array([d / 7, d / 7, 0.001])),
                 gaussian_cloud(rng, np.array([*minus, 0.002]), np.array([d / 7, d / 7, 0.001]))],
                [1.0, 1.0], width_mm=2.5),
        }

    def position(self, t_s: float) -> tuple[float, float]:
        """Stonyhurst (lon, lat) in degrees at ``t_s`` seconds from the scenario start."""
        lon = self.spec.lon_deg + synodic_rate_deg_per_day(self.spec.lat_deg) * t_s / 86400.0
        return lon, self.spec.lat_deg

    def components(self, t_s: float, observer: Observer, geometry: ImageGeometry
                   ) -> list[Component]:
        """The region's emitting parts as seen in this frame."""
        lon, lat = self.position(t_s)
        out = []
        for part, cloud in self.clouds.items():
            x, y, w = project(cloud, lon, lat, observer, geometry)
            patch = splat(x, y, w, width_px(cloud.width_mm, observer, geometry), geometry.size)
            out.append(Component(f"{self.spec.name}/{part}", getattr(self.plasma, part), patch))
        return out


@dataclass(frozen=True)
class KernelGeometry:
    """A flare kernel in the region's local frame."""

    kind: str
    centre: np.ndarray
    sigma_rsun: float


class FlareModel:
    """A flare on its region's neutral line.

    Parameters
    ----------
    spec : FlareSpec
        Region, intrinsic class and timing.
    region : ActiveRegionModel
        The host region (for position and orientation).
    rng : numpy.random.Generator
        Draws the arcade's loops.
    step_mm : float
        Sampling step along loops.
    """

    def __init__(self, spec: FlareSpec, region: ActiveRegionModel,
                 rng: np.random.Generator, step_mm: float = 0.25) -> None:
        self.spec = spec
        self.region = region
        self.plasma = FlarePlasma(spec.peak_class, spec.start_s, spec.rise_s, spec.decay_s,
                                  region.world)
        sep_arcsec = 8.0 * (self.plasma.peak_flux / 1e-6) ** 0.2
        sep = sep_arcsec * _RSUN_PER_ARCSEC
        axis, line = region.axis, region.neutral_line
        # Off the region's centre along the neutral line, so flares are not all alike.
        site = line * rng.uniform(-0.15, 0.15) * region.spec.size_arcmin * _RSUN_PER_ARCMIN
        top = np.array([*site, 0.5 * sep])
        self.kernels = (
            KernelGeometry("loop_top", top, 0.3 * sep),
            KernelGeometry("footpoint", np.array([*(site + axis * sep / 2), 0.0]),
                           1.5 * _RSUN_PER_ARCSEC + 0.08 * sep),
            KernelGeometry("footpoint", np.array([*(site - axis * sep / 2), 0.0]),
                           1.5 * _RSUN_PER_ARCSEC + 0.08 * sep),
        )
        axes = np.array([[*axis, 0.0], [*line, 0.0], [0.0, 0.0, 1.0]])
        loops = arcade(rng, 9, site + axis * sep / 2, site - axis * sep / 2, sep / 12, sep / 12,
                       (0.7, 0.9), along=line, along_spread=sep / 3, brightness_sigma=0.3,
                       width_mm=1.2, step_mm=step_mm)
        blob = gaussian_cloud(rng, top, np.array([0.3 * sep, 0.45 * sep, 0.2 * sep]),
                              axes=axes, width_mm=1.0)
        self.hot = PointCloud.merge([loops, blob], [0.45, 0.55], width_mm=1.0)
        self.footpoints = tuple(
            gaussian_cloud(rng, k.centre, np.array([k.sigma_rsun, 2.5 * k.sigma_rsun, 0.0005]),
                           axes=axes, width_mm=1.0) for k in self.kernels[1:])

    @property
    def name(self) -> str:
        """The flare's label (``"<region>:<class>@<start_s>"``)."""
        return f"{self.spec.region}:{self.spec.peak_class}@{self.spec.start_s:g}"

    def state(self, t_s: float) -> FlareState:
        """The flare's plasma at ``t_s``."""
        return self.plasma.state(t_s)

    def components(self, state: FlareState, t_s: float, observer: Observer,
                   geometry: ImageGeometry) -> list[Component]:
        """Hot arcade with loop top and the two footpoints, in the order of ``kernels``.

        Empty when the flare is not active.
        """
        if not state.active:
            return []
        lon, lat = self.region.position(t_s)
        half = state.footpoint_dem * 0.5
        parts = (("loop_top", self.hot, state.hot_dem),
                 ("footpoint_a", self.footpoints[0], half),
                 ("footpoint_b", self.footpoints[1], half))
        out = []
        for part, cloud, dem in parts:
            x, y, w = project(cloud, lon, lat, observer, geometry)
            patch = splat(x, y, w, width_px(cloud.width_mm, observer, geometry), geometry.size)
            out.append(Component(f"{self.name}/{part}", dem, patch))
        return out
