"""GOES XRS-B (0.1-0.8 nm) flux of a multi-thermal plasma, and flare classes.

Physics
-------
Above ~5 MK the 0.1-0.8 nm band is dominated by thermal bremsstrahlung, whose
spectrum per unit photon energy ``E`` is ``EM T^-1/2 exp(-E/kT)``. Integrated
over the band (E1 = 1.55 keV at 0.8 nm to E2 = 12.4 keV at 0.1 nm) that gives
a flux at Earth of::

    F = C * (EM / 1e49 cm^-3) * sqrt(T / 1 MK) * (exp(-E1/kT) - exp(-E2/kT))

with ``C`` fixed so that an isothermal 15 MK plasma of 1e49 cm^-3 gives
1e-5 W m^-2 (an M1 flare; the usual GOES temperature/EM analysis of M flares
gives such values). The same formula then gives ~4.5e-6 per 1e49 cm^-3 at
10 MK and ~5e-7 at 5 MK, within about 30 % of the full CHIANTI responses
(White, Thomas & Schwartz 2005, Solar Physics 227, 231) -- line emission
raises the true response at low T, which only affects the A/B background.

Flux convention: the values are what NOAA's class thresholds apply to
directly (C >= 1e-6, M >= 1e-5, X >= 1e-4 W m^-2), i.e. operational-scale
fluxes, not the 1/0.7-larger GOES-15 science fluxes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "EVENT_CLASSES",
    "event_class_index",
    "flux_from_class",
    "goes_class",
    "goes_xrsb_flux",
    "xrsb_response",
]

#: The monitor's event classes; "none" covers A and B.
EVENT_CLASSES: tuple[str, ...] = ("none", "C", "M", "X")

_K_KEV_PER_MK: float = 0.08617
_E1_KEV: float = 1.5498  # 0.8 nm
_E2_KEV: float = 12.398  # 0.1 nm


def _band(t_mk: np.ndarray | float) -> np.ndarray:
    kt = _K_KEV_PER_MK * np.asarray(t_mk, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore"):
        return np.sqrt(np.asarray(t_mk, dtype=np.float64)) * (
            np.exp(-_E1_KEV / kt) - np.exp(-_E2_KEV / kt))


_C_PER_1E49: float = 1e-5 / float(_band(15.0))


def xrsb_response(log_t: np.ndarray) -> np.ndarray:
    """XRS-B flux at 1 AU per cm^-3 of emission measure (W m^-2 cm^3) at ``log_t``."""
    t_mk = 10.0 ** (np.asarray(log_t, dtype=np.float64) - 6.0)
    return _C_PER_1E49 * _band(t_mk) / 1e49


def goes_xrsb_flux(em_per_bin: np.ndarray, log_t: np.ndarray) -> float:
    """XRS-B flux (W m^-2) of a volume emission-measure distribution.

    Parameters
    ----------
    em_per_bin : numpy.ndarray
        Volume emission measure in each temperature bin, cm^-3.
    log_t : numpy.ndarray
        Bin temperatures, log10 K.
    """
    return float(np.sum(np.asarray(em_per_bin) * xrsb_response(log_t)))


def goes_class(flux: float, decimals: int = 1) -> str:
    """GOES class string such as ``"M2.5"`` for a flux in W m^-2.

    The number is truncated (not rounded) to ``decimals``, as NOAA does. Fluxes
    below A1 keep the letter A (``"A0.3"``); X goes beyond 9.9 (``"X12.0"``).
    """
    scale = 10 ** decimals
    if not math.isfinite(flux) or flux <= 0:
        return f"A{0:.{decimals}f}"
    for letter, base in (("X", 1e-4), ("M", 1e-5), ("C", 1e-6), ("B", 1e-7)):
        if flux >= base:
            return f"{letter}{math.floor(flux / base * scale + 1e-9) / scale:.{decimals}f}"
    return f"A{math.floor(flux / 1e-8 * scale + 1e-9) / scale:.{decimals}f}"


def flux_from_class(name: str) -> float:
    """Flux (W m^-2) of a class string such as ``"X1.4"``.

    Raises
    ------
    ValueError
        If ``name`` is not a letter A/B/C/M/X followed by a positive number.
    """
    text = str(name).strip().upper()
    bases = {"A": 1e-8, "B": 1e-7, "C": 1e-6, "M": 1e-5, "X": 1e-4}
    try:
        base = bases[text[0]]
        value = float(text[1:])
    except (IndexError, KeyError, ValueError):
        raise ValueError(f"not a GOES class: {name!r} (expected e.g. 'C3.2', 'M1', 'X1.4')") \
            from None
    if not value > 0:
        raise ValueError(f"not a GOES class: {name!r} (the number must be positive)")
    return base * value


def event_class_index(flux: float) -> int:
    """Index into :data:`EVENT_CLASSES` for a flux in W m^-2."""
    if flux >= 1e-4:
        return 3
    if flux >= 1e-5:
        return 2
    if flux >= 1e-6:
        return 1
    return 0
