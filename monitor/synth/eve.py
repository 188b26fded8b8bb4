"""EVE MEGS-A line irradiances from the synthetic Sun's emission measure.

Physics
-------
An optically thin line's irradiance at 1 AU is the volume DEM weighted by the
line's contribution function ``G(T)`` (emissivity per unit emission measure,
mostly the ion's fractional abundance): ``E = sum_T EM(T) G(T)``. Each line
here has a Gaussian ``G`` in log T at its ion's formation temperature (width
0.10-0.15 dex, about the width of ionisation equilibrium curves).

Amplitudes: for the lines of the 0.1-3 MK corona and of He II the amplitude
is set so that a reference Sun (the quiet Sun plus three typical active
regions) has the irradiances EVE measured in moderately active times
(He II 30.4 nm ~5e-4, Fe IX 17.1 nm ~2e-4, Fe XVI 33.5 nm ~4e-5 W m^-2).
The flare lines Fe XVIII 9.39 and Fe XX 13.29 have an absolute amplitude per
emission measure (1e-54 W m^-2 cm^3 at their peaks), so a 1e49 cm^-3 flare
adds ~1e-5 W m^-2, and a cooler blend (Fe X at 9.4 nm, Fe VIII at 13.1 nm,
as in EVE's spectral windows) that carries the quiet-time values (6e-6 and
1e-6). So each line follows the plasma at its own temperature: Fe XX jumps
in flares, Fe IX barely moves, He II follows the impulsive footpoints.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from monitor.synth.lines import EVE_LINES, EveLine
from monitor.synth.responses import LOG_T

if TYPE_CHECKING:
    from monitor.synth.worlds import World

__all__ = ["EVE_LINES", "EveLine", "contribution_matrix", "line_irradiance", "line_names"]


def line_names() -> tuple[str, ...]:
    """Display names of :data:`EVE_LINES` in order (the same in every world)."""
    return tuple(line.name for line in EVE_LINES)


def _gauss(log_t: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((LOG_T - log_t) / sigma) ** 2)


def reference_dem(world: World) -> np.ndarray:
    """Volume DEM of the calibration Sun: quiet Sun plus three strength-1 regions."""
    from monitor.synth.disk import quiet_sun_volume_dem
    from monitor.synth.plasma import ActiveRegionPlasma

    return quiet_sun_volume_dem(world) + 3.0 * ActiveRegionPlasma(1.0, world).total


@lru_cache(maxsize=8)
def contribution_matrix(world: World) -> np.ndarray:
    """``G`` of every line of ``world`` on LOG_T, shape (14, len(LOG_T)), W m^-2 cm^3."""
    ref = reference_dem(world)
    rows = []
    for line in world.eve_lines:
        if line.hot_amplitude:
            main = line.hot_amplitude * _gauss(line.log_t, line.sigma)
            blend_shape = _gauss(line.blend_log_t, 0.12)
            remaining = max(line.reference - float(ref @ main), 0.0)
            rows.append(main + remaining * blend_shape / float(ref @ blend_shape))
        else:
            shape = _gauss(line.log_t, line.sigma)
            rows.append(line.reference * shape / float(ref @ shape))
    table = np.stack(rows)
    table.setflags(write=False)
    return table


def line_irradiance(volume_dem: np.ndarray, world: World | None = None) -> np.ndarray:
    """Irradiance at 1 AU (W m^-2) of every line in ``world`` (default: DEFAULT_WORLD).

    Parameters
    ----------
    volume_dem : numpy.ndarray
        Visible volume emission measure per LOG_T bin (cm^-3).
    world : World, optional
        Whose contribution functions; the default world's when omitted.
    """
    from monitor.synth.worlds import DEFAULT_WORLD, get_world

    table = contribution_matrix(world or get_world(DEFAULT_WORLD))
    return table @ np.asarray(volume_dem, dtype=np.float64)
