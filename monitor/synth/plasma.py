"""Plasma of active regions and flares: emission measure against temperature and time.

Physics
-------
Every emitting structure carries a volume differential emission measure
(cm^-3 per bin of ``LOG_T``); its image in a channel is that DEM weighted by
the channel response (``monitor.synth.responses``), and the GOES and EVE
ground truth are the same DEM weighted by their own responses -- one plasma,
consistent observables.

Active regions (bipolar, a few arcmin across) have three parts: a hot core of
short sheared loops over the polarity inversion line (~3 MK with a ~5 MK
part, bright in 335, 211 and 94), warm 1 MK loops joining the two polarities
(171, 193) and moss/plage at the footpoints (transition-region plasma, 304
and 131's Fe VIII). Their emission measures scale with ``strength``.

Flares follow the standard picture: chromospheric evaporation fills a loop
arcade with 10-25 MK plasma whose emission measure ``EM(t)`` rises over the
rise time and decays exponentially, while the temperature peaks earlier (at
70 % of the rise) and decays faster, so late in the decay the loops cool
through 335, 211 and 193. The peak temperature grows with the class
(``T = 10 MK + 4.5 MK * log10(F / 1e-6)``, close to the observed
GOES temperature-flux relation, e.g. Feldman et al. 1996) and ``EM(t)`` is
scaled so the peak XRS-B flux is exactly the requested class. Footpoint
kernels (transition-region plasma) brighten with the derivative of ``EM`` --
the Neupert effect -- so they are impulsive.

Active regions rotate with the Sun's differential rotation (Snodgrass &
Ulrich 1990: 14.713 - 2.396 sin^2(lat) - 1.787 sin^4(lat) deg/day sidereal,
minus 0.9856 deg/day for the Earth's motion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from monitor.synth.goes import flux_from_class, xrsb_response
from monitor.synth.responses import LOG_T
from monitor.synth.worlds import World, default_world, dem_of

__all__ = [
    "ActiveRegionPlasma",
    "FlarePlasma",
    "FlareState",
    "gaussian_dem",
    "synodic_rate_deg_per_day",
]


def gaussian_dem(total_em: float, log_t: float, sigma: float) -> np.ndarray:
    """Emission measure per LOG_T bin of a Gaussian DEM with ``total_em`` in total."""
    shape = np.exp(-0.5 * ((LOG_T - log_t) / sigma) ** 2)
    total = shape.sum()
    return total_em * shape / total if total > 0 else np.zeros_like(LOG_T)


def _em_shape(t: float, rise: float, decay: float) -> float:
    """Half-cosine rise over ``rise`` seconds, then exponential decay; 0 before ``t = 0``."""
    if t < 0:
        return 0.0
    if t <= rise:
        return 0.5 * (1.0 - math.cos(math.pi * t / rise))
    return math.exp(-(t - rise) / decay)


def synodic_rate_deg_per_day(lat_deg: float) -> float:
    """Differential rotation rate seen from the Earth, degrees per day."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    return 14.713 - 2.396 * s2 - 1.787 * s2 * s2 - 0.9856


@dataclass(frozen=True)
class ActiveRegionPlasma:
    """Volume emission measures of an active region's parts.

    Parameters
    ----------
    strength : float
        Scale factor; 1 is a typical mature region.
    world : World
        Whose emission measures per unit strength.
    """

    strength: float = 1.0
    world: World = field(default_factory=default_world)

    @cached_property
    def core(self) -> np.ndarray:
        """Hot core loops, cm^-3 per bin."""
        return dem_of(self.world.region_core, self.strength)

    @cached_property
    def loops(self) -> np.ndarray:
        """Warm (1 MK) loops joining the polarities, cm^-3 per bin."""
        return dem_of(self.world.region_loops, self.strength)

    @cached_property
    def moss(self) -> np.ndarray:
        """Footpoint moss and plage (transition region), cm^-3 per bin."""
        return dem_of(self.world.region_moss, self.strength)

    @property
    def total(self) -> np.ndarray:
        """Sum of all parts."""
        return self.core + self.loops + self.moss


@dataclass(frozen=True)
class FlareState:
    """A flare's plasma at one instant.

    Parameters
    ----------
    hot_dem : numpy.ndarray
        Loop-arcade emission measure per LOG_T bin, cm^-3.
    footpoint_dem : numpy.ndarray
        Footpoint (transition-region) emission measure per bin, cm^-3.
    temperature_k : float
        Temperature of the hot plasma.
    em_cm3 : float
        Total hot emission measure.
    phase : str
        ``"preflare"``, ``"rise"``, ``"decay"`` or ``"over"``.
    """

    hot_dem: np.ndarray
    footpoint_dem: np.ndarray
    temperature_k: float
    em_cm3: float
    phase: str

    @property
    def active(self) -> bool:
        """Whether the flare emits at all now."""
        return self.phase in ("rise", "decay")


@dataclass(frozen=True)
class FlarePlasma:
    """Time evolution of one flare's plasma, scaled to a peak GOES class.

    Parameters
    ----------
    peak_class : str
        Intrinsic peak class of the flare's own XRS-B flux, e.g. ``"M2.5"``.
    start_s : float
        Start time in seconds from the scenario start.
    rise_s, decay_s : float or None
        Rise and e-folding decay times; defaults grow slowly with the class.
    world : World
        Whose flare law (temperatures, footpoints, warm phase).
    """

    peak_class: str
    start_s: float
    rise_s: float | None = None
    decay_s: float | None = None
    world: World = field(default_factory=default_world)

    @cached_property
    def peak_flux(self) -> float:
        """Intrinsic peak XRS-B flux, W m^-2."""
        return flux_from_class(self.peak_class)

    @cached_property
    def peak_temperature_mk(self) -> float:
        """Peak temperature of the hot plasma, MK."""
        law = self.world.flare
        return float(np.clip(law.t_base_mk + law.t_per_decade_mk
                             * math.log10(self.peak_flux / 1e-6), 8.0, 30.0))

    @property
    def rise(self) -> float:
        """Rise time, s."""
        return self.rise_s if self.rise_s else 240.0 * (self.peak_flux / 1e-6) ** 0.1

    @property
    def decay(self) -> float:
        """Decay e-folding time, s."""
        return self.decay_s if self.decay_s else 2.5 * self.rise

    @property
    def end_s(self) -> float:
        """When the flare's emission has fallen to ~1 % (start + rise + 4.6 decay)."""
        return self.start_s + self.rise + 4.6 * self.decay

    def _shape(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised EM and temperature (MK) at times since the start."""
        t = np.asarray(t, dtype=np.float64)
        rise, decay = self.rise, self.decay
        em = np.where(t < 0, 0.0, np.where(
            t <= rise, 0.5 * (1.0 - np.cos(np.pi * np.clip(t, 0, rise) / rise)),
            np.exp(-(t - rise) / decay)))
        law = self.world.flare
        t_peak = law.t_peak_fraction * rise
        heat = np.where(t <= t_peak, np.sin(0.5 * np.pi * np.clip(t, 0, t_peak) / t_peak),
                        np.exp(-(t - t_peak) / (law.cooling * decay)))
        temp = law.floor_mk + (self.peak_temperature_mk - law.floor_mk) * heat
        return em, temp

    def _flux_per_em(self, temp_mk: np.ndarray) -> np.ndarray:
        weights = np.exp(-0.5 * ((LOG_T[None, :] - np.log10(temp_mk[:, None] * 1e6))
                                 / self.world.flare.hot_sigma) ** 2)
        weights /= weights.sum(axis=1, keepdims=True)
        return weights @ xrsb_response(LOG_T)

    @cached_property
    def peak_em(self) -> float:
        """Hot emission measure at the EM maximum (cm^-3), set so the peak flux is exact."""
        t = np.linspace(0.0, self.rise + 3 * self.decay, 600)
        em, temp = self._shape(t)
        return self.peak_flux / float(np.max(em * self._flux_per_em(temp)))

    def state(self, t_s: float) -> FlareState:
        """Plasma at ``t_s`` seconds from the scenario start."""
        dt = t_s - self.start_s
        if dt < 0:
            phase = "preflare"
        elif dt <= self.rise:
            phase = "rise"
        elif t_s <= self.end_s:
            phase = "decay"
        else:
            phase = "over"
        law = self.world.flare
        active = phase in ("rise", "decay")
        em_n, temp = self._shape(np.array([dt]))
        em = float(em_n[0]) * self.peak_em if active else 0.0
        temp_k = float(temp[0]) * 1e6
        impulsive = math.sin(math.pi * dt / self.rise) if phase == "rise" else 0.0
        fp_scale = self.peak_em * (impulsive + law.footpoint_gradual * float(em_n[0])) \
            if active else 0.0
        hot = gaussian_dem(em, math.log10(max(temp_k, 1e5)), law.hot_sigma)
        if law.warm and active:
            warm = _em_shape(dt, (1.0 + law.warm_lag_rise) * self.rise, self.decay)
            hot = hot + dem_of(law.warm, self.peak_em * warm)
        return FlareState(hot_dem=hot, footpoint_dem=dem_of(law.footpoint, fp_scale),
                          temperature_k=temp_k, em_cm3=em, phase=phase)
