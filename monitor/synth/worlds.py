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

from dataclasses import dataclass, field
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

    Footpoints (impulsive chromospheric phase): the DEM ``footpoint`` (each
    term's ``total`` a fraction of the peak hot EM) times the rise's
    impulsive profile (Neupert effect) plus ``footpoint_gradual`` of the EM
    shape.

    Gradual warm phase: the DEM ``warm`` (fractions of the peak hot EM)
    rising like the hot EM but over ``1 + warm_lag_rise`` rise times, so it
    peaks later -- the arcade's loops cooling through 2-3 MK after the peak
    while new loops keep being heated.
    """

    t_base_mk: float = 10.0
    t_per_decade_mk: float = 4.5
    hot_sigma: float = 0.08
    floor_mk: float = 2.0
    t_peak_fraction: float = 0.7
    cooling: float = 0.8
    footpoint: tuple[DemTerm, ...] = (DemTerm(3e-3, 5.0, 0.35),)
    footpoint_gradual: float = 0.15
    warm: tuple[DemTerm, ...] = ()
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

V2 = World(
    name="v2",
    description="recalibrated against 2010-2012 EVE flares, AIA flaring regions and SDOML v2 "
                "(docs/reality.md)",
    # Full-disk means of 171/193/211 were 2.6x SDOML v2's and the cool Fe lines
    # 2-3x EVE's: a third of v1's 1-2 MK corona, a little more 0.3 MK plasma
    # (131's Fe VIII was 15 % low).
    quiet_column=(DemTerm(1.03e26, 6.15, 0.13), DemTerm(8.25e24, 5.95, 0.10),
                  DemTerm(3.12e26, 5.50, 0.15), DemTerm(6.0e26, 4.75, 0.22),
                  DemTerm(6.0e24, 6.45, 0.10)),
    region_core=(DemTerm(3.6e46, 6.48, 0.10), DemTerm(4.8e46, 6.68, 0.08)),
    region_loops=(DemTerm(1.52e46, 6.02, 0.08),),
    region_moss=(DemTerm(6.0e45, 5.85, 0.12), DemTerm(4.0e45, 4.8, 0.2)),
    # Multi-thermal arcade (0.15 dex) that stays above 6 MK while its EM drains
    # (EVE's Fe XII-XIV hardly move in real flares); chromospheric footpoints
    # (He II, with a weak 0.8 MK part for Fe IX-XI) peaking about a minute
    # before Fe XX; a 3.8 MK gradual component for Fe XV/XVI, minutes later.
    flare=FlareLaw(hot_sigma=0.15, cooling=2.5, floor_mk=6.0,
                   footpoint=(DemTerm(0.015, 4.6, 0.2), DemTerm(5e-4, 5.9, 0.2)),
                   footpoint_gradual=3.0, warm=(DemTerm(0.0052, 6.58, 0.04),),
                   warm_lag_rise=1.0),
    # Quiet levels: the median pre-flare EVE levels of 2010-2012 (the dataset's
    # Suns average the reference Sun); hot parts of Fe XVIII and Fe XX set by
    # their real rise per unit GOES flux.
    eve_lines=(
        EveLine("Fe XVIII", 9.39, 6.85, 0.12, 7.0e-6, hot_amplitude=0.8e-54, blend_log_t=6.05),
        EveLine("Fe VIII", 13.12, 5.65, 0.13, 3.0e-6),
        EveLine("Fe XX", 13.29, 7.00, 0.12, 1.0e-6, hot_amplitude=0.5e-54, blend_log_t=5.65),
        EveLine("Fe IX", 17.11, 5.85, 0.12, 6.1e-5),
        EveLine("Fe X", 17.72, 6.05, 0.12, 4.4e-5),
        EveLine("Fe XI", 18.04, 6.15, 0.12, 6.6e-5),
        EveLine("Fe XII", 19.51, 6.20, 0.12, 5.5e-5),
        EveLine("Fe XIII", 20.20, 6.25, 0.12, 5.0e-5),
        EveLine("Fe XIV", 21.13, 6.30, 0.12, 3.6e-5),
        EveLine("He II", 25.63, 4.90, 0.15, 4.2e-5),
        EveLine("Fe XV", 28.42, 6.35, 0.12, 7.9e-5),
        EveLine("He II", 30.38, 4.75, 0.15, 5.6e-4),
        EveLine("Fe XVI", 33.54, 6.45, 0.12, 4.5e-5),
        EveLine("Mg IX", 36.81, 5.95, 0.12, 3.5e-5),
    ),
    # Hot responses per unit GOES flux of the three real flaring regions: 131's
    # Fe XXI and 193's Fe XXIV were 3x and 15x too strong; 94's Fe X part
    # doubled (the quiet corona above lost two thirds of its 1 MK plasma).
    responses=tuple((wl, {
        94: (_p(6.85, 0.11, 8.0e-27), _p(6.05, 0.10, 8.4e-27)),
        131: (_p(7.05, 0.10, 6.8e-27), _p(5.60, 0.12, 2.4e-26), _p(7.25, 0.12, 1.6e-27)),
        193: (_p(6.20, 0.12, 1.8e-24), _p(7.25, 0.10, 1.05e-26), _p(5.60, 0.12, 5.0e-26)),
    }.get(wl, peaks)) for wl, peaks in V1.responses),
)

#: Every world by name.
WORLDS: dict[str, World] = {w.name: w for w in (V1, V2)}
#: The world of the generator's API defaults: the one the shipped default model
#: was trained on, so its tests and the demo see the Sun it knows.
DEFAULT_WORLD: str = "v2"


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
