"""Defaults for new model packages: AIA channels, GOES classes, EVE lines.

The channel list, class thresholds and the 14 EVE MEGS-A lines are the
project-wide conventions of ``DESIGN.md``. The normalisation numbers
(per-channel input scaling, per-line target mean/std) are *placeholders* that
only make an untrained package self-consistent: training replaces them with
statistics of its own training split, and the trained package's ``model.json``
is the only place a consumer should read them from.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_CLASSES",
    "DEFAULT_CLASS_THRESHOLDS_W_M2",
    "DEFAULT_SIZE",
    "EVE_LINES",
    "default_line_targets",
    "default_scaling",
]

#: AIA EUV wavelengths in Angstrom, in the channel order of the input tensor.
DEFAULT_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335)

#: Event classes from GOES XRS-B (0.1-0.8 nm) peak flux; "none" covers A and B.
DEFAULT_CLASSES: tuple[str, ...] = ("none", "C", "M", "X")

#: Lower XRS-B flux bound of each class in W m^-2 (NOAA flare classes).
DEFAULT_CLASS_THRESHOLDS_W_M2: tuple[float, ...] = (0.0, 1e-6, 1e-5, 1e-4)

#: Model grid size in pixels (512 is allowed too).
DEFAULT_SIZE: int = 256

#: The 14 EVE MEGS-A lines of Szenicer et al. 2019: (ion, wavelength in nm).
EVE_LINES: tuple[tuple[str, float], ...] = (
    ("Fe XVIII", 9.39),
    ("Fe VIII", 13.12),
    ("Fe XX", 13.29),
    ("Fe IX", 17.11),
    ("Fe X", 17.72),
    ("Fe XI", 18.04),
    ("Fe XII", 19.51),
    ("Fe XIII", 20.20),
    ("Fe XIV", 21.13),
    ("He II", 25.63),
    ("Fe XV", 28.42),
    ("He II", 30.38),
    ("Fe XVI", 33.54),
    ("Mg IX", 36.81),
)

# Rough quiet-Sun magnitudes (W m^-2) so an untrained package's inverse
# transform lands in the right decade; DESIGN.md gives He II 30.4 ~5e-4,
# Fe XVIII ~6e-6, Fe XX ~1e-6, the rest are order-of-magnitude guesses.
_TYPICAL_W_M2: dict[float, float] = {
    9.39: 6e-6, 13.12: 2e-5, 13.29: 1e-6, 17.11: 1.5e-4, 17.72: 8e-5, 18.04: 1e-4,
    19.51: 7e-5, 20.20: 5e-5, 21.13: 3e-5, 25.63: 1.2e-4, 28.42: 1e-4, 30.38: 5e-4,
    33.54: 5e-5, 36.81: 4e-5,
}

# Rough log10(1 + DN/s) image means per channel (whole grid, disk and corona).
_TYPICAL_LOG_MEAN: dict[int, float] = {
    94: 0.4, 131: 0.7, 171: 1.9, 193: 2.0, 211: 1.5, 304: 1.3, 335: 0.5,
    1600: 1.6, 1700: 2.4,
}


def default_scaling(wavelength: int) -> dict[str, Any]:
    """Placeholder input scaling for one AIA channel (the preprocessing dict shape).

    Parameters
    ----------
    wavelength : int
        AIA wavelength in Angstrom.

    Returns
    -------
    dict
        ``{"transform", "offset", "clip_min", "clip_max", "mean", "std"}`` as
        applied by ``monitor.scaling``:
        ``x = (clip(T(img + offset), clip_min, clip_max) - mean) / std``.
    """
    return {
        "transform": "log10",
        "offset": 1.0,
        "clip_min": 0.0,
        "clip_max": None,
        "mean": _TYPICAL_LOG_MEAN.get(int(wavelength), 1.0),
        "std": 1.0,
    }


def default_line_targets() -> list[dict[str, Any]]:
    """Placeholder irradiance line specs: log10 target, mean at the typical level.

    Returns
    -------
    list of dict
        One ``{"ion", "wavelength_nm", "unit", "transform", "mean", "std"}`` per line.
    """
    import math

    return [
        {
            "ion": ion,
            "wavelength_nm": wl,
            "unit": "W m^-2",
            "transform": "log10",
            "mean": round(math.log10(_TYPICAL_W_M2[wl]), 4),
            "std": 0.3,
        }
        for ion, wl in EVE_LINES
    ]
