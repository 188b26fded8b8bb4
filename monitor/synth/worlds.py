"""Named, versioned parameter sets of the synthetic Sun's physics ("worlds").

A model learns the world it is trained on, so the generator's calibration is
data, not code: every number that sets how bright the plasma is and how
flares evolve lives in a :class:`World`, and the generator, the dataset, the
feed and the training configuration name the world they use (the truth
sidecar and the training report record it). Changing the physics means adding
a world, never editing one a shipped model was trained on.

* ``v1`` -- the first synthetic Sun, the world the shipped default model was
  trained on. Quiet corona and cool-line EVE levels 2-3x above the real Sun,
  flares that brighten only the hot lines.
* ``v2`` -- recalibrated against real observations (``sdo-monitor reality``,
  docs/reality.md): 2010-2012 EVE MEGS-A flares, AIA region light curves and
  SDOML v2 full-disk statistics. Less 1-2 MK plasma, multi-thermal flares
  with an impulsive chromospheric phase (He II) and a gradual warm phase
  (Fe XV/XVI), hot-line blends in the cool EVE windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from monitor.synth.lines import EVE_LINES, EveLine
from monitor.synth.responses import CHANNEL_SPECS, LOG_T, ResponsePeak

__all__ = ["DEFAULT_WORLD", "WORLDS", "DemTerm", "FlareLaw", "World", "default_world",
           "dem_of", "get_world", "world_names"]


@dataclass(frozen=True)
class DemTerm:
    """A Gaussian in log T holding ``total`` emission measure (cm^-3 or cm^-5)."""

    total: float
    log_t: float
    sigma: float

    def bins(self, scale: float = 1.0) -> np.ndarray:
        """Emission measure per ``LOG_T`` bin."""
        shape = np.exp(-0.5 * ((LOG_T - self.log_t) / self.sigma) ** 2)
        s = shape.sum()
        return self.total * scale * shape / s if s > 0 else np.zeros_like(LOG_T)


def dem_of(terms: tuple[DemTerm, ...], scale: float = 1.0) -> np.ndarray:
    """Sum of ``terms`` per ``LOG_T`` bin."""
    out = np.zeros_like(LOG_T)
    for term in terms:
        out = out + term.bins(scale)
    return out


@dataclass(frozen=True)
class FlareLaw:
    """How a flare's plasma evolves (see ``monitor.synth.plasma.FlarePlasma``).

    Hot arcade: emission measure rises (half cosine) over the rise time and
    decays exponentially; the temperature peaks at ``t_peak_fraction`` of the
    rise at ``t_base_mk + t_per_decade_mk * log10(F / 1e-6)`` and decays with
    an e-folding time of ``cooling * decay`` down to ``floor_mk``; its DEM is
    a Gaussian of width ``hot_sigma`` dex around the temperature.

    Footpoints (impulsive chromospheric phase): emission measure
    ``footpoint_fraction`` of the peak hot EM times the rise's impulsive
    profile (Neupert effect) plus ``footpoint_gradual`` of the EM shape, at
    ``footpoint_log_t``.

    Gradual warm phase: ``warm_fraction`` of the peak hot EM at
    ``warm_log_t`` following the hot EM's shape delayed by ``warm_lag_rise``
    rise times -- the arcade cooling through 2-3 MK after the peak.
    """

    t_base_mk: float = 10.0
    t_per_decade_mk: float = 4.5
    hot_sigma: float = 0.08
    floor_mk: float = 2.0
    t_peak_fraction: float = 0.7
    cooling: float = 0.8
    footpoint_fraction: float = 3e-3
    footpoint_gradual: float = 0.15
    footpoint_log_t: float = 5.0
    footpoint_sigma: float = 0.35
    warm_fraction: float = 0.0
    warm_log_t: float = 6.4
    warm_sigma: float = 0.1
    warm_lag_rise: float = 1.0


@dataclass(frozen=True)
class World:
    """One calibration of the synthetic Sun.

    Parameters
    ----------
    name : str
        Short identifier (``"v1"``), recorded in the truth and training reports.
    description : str
        One line for humans.
    quiet_column : tuple of DemTerm
        Quiet-Sun column DEM at disk centre (cm^-5).
    region_core, region_loops, region_moss : tuple of DemTerm
        Active-region parts per unit strength (cm^-3).
    flare : FlareLaw
        Flare evolution.
    eve_lines : tuple of EveLine
        The 14 EVE lines' contribution functions and calibration.
    responses : tuple of (int, tuple of ResponsePeak)
        AIA temperature responses (DN cm^5 s^-1 pix^-1) by wavelength.
    """

    name: str
    description: str
    quiet_column: tuple[DemTerm, ...]
    region_core: tuple[DemTerm, ...]
    region_loops: tuple[DemTerm, ...]
    region_moss: tuple[DemTerm, ...]
    flare: FlareLaw
    eve_lines: tuple[EveLine, ...]
    responses: tuple[tuple[int, tuple[ResponsePeak, ...]], ...] = field(repr=False)

    @cached_property
    def quiet_column_dem(self) -> np.ndarray:
        """Quiet-Sun column DEM per ``LOG_T`` bin (cm^-5), read-only."""
        out = dem_of(self.quiet_column)
        out.setflags(write=False)
        return out

    def response(self, wavelength: int) -> np.ndarray:
        """Temperature response of ``wavelength`` on ``LOG_T``."""
        peaks = dict(self.responses)[int(wavelength)]
        out = np.zeros_like(LOG_T)
        for p in peaks:
            out += p.amplitude * np.exp(-0.5 * ((LOG_T - p.log_t) / p.sigma) ** 2)
        return out

    def response_matrix(self, channels: tuple[int, ...]) -> np.ndarray:
        """Responses of ``channels`` stacked, shape (n_channels, len(LOG_T))."""
        return np.stack([self.response(c) for c in channels])

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, World) and other.name == self.name


def _p(log_t: float, sigma: float, amplitude: float) -> ResponsePeak:
    return ResponsePeak(log_t, sigma, amplitude)


V1 = World(
    name="v1",
    description="first synthetic Sun (the shipped default model's training world)",
    quiet_column=(DemTerm(2.7e26, 6.15, 0.13), DemTerm(0.55e26, 5.95, 0.10),
                  DemTerm(2.6e26, 5.50, 0.15), DemTerm(6.0e26, 4.75, 0.22),
                  DemTerm(1.0e25, 6.45, 0.10)),
    region_core=(DemTerm(6.0e46, 6.48, 0.10), DemTerm(8.0e46, 6.68, 0.08)),
    region_loops=(DemTerm(4.0e46, 6.02, 0.08),),
    region_moss=(DemTerm(1.5e46, 5.85, 0.12), DemTerm(4.0e45, 4.8, 0.2)),
    flare=FlareLaw(),
    eve_lines=EVE_LINES,
    responses=tuple((spec.wavelength, spec.peaks) for spec in CHANNEL_SPECS),
)

V2 = replace(V1, name="v2", description="provisional: equal to v1 until recalibrated against "
             "2010-2012 EVE, AIA and SDOML v2 (docs/reality.md)")

#: Every world by name.
WORLDS: dict[str, World] = {w.name: w for w in (V1, V2)}
#: The world of the generator's API defaults: the one the shipped default model
#: was trained on, so its tests and the demo see the Sun it knows.
DEFAULT_WORLD: str = "v1"


def default_world() -> World:
    """The :class:`World` named :data:`DEFAULT_WORLD`."""
    return WORLDS[DEFAULT_WORLD]


def world_names() -> tuple[str, ...]:
    """Names of the defined worlds."""
    return tuple(WORLDS)


def get_world(world: str | World) -> World:
    """The :class:`World` named ``world`` (a World passes through).

    Raises
    ------
    KeyError
        If no world has that name.
    """
    if isinstance(world, World):
        return world
    try:
        return WORLDS[str(world)]
    except KeyError:
        raise KeyError(f"no synthetic world {world!r}; choose from {world_names()}") from None
