"""GOES X-ray classes, NOAA radio-blackout levels and the flux scales they apply to.

Class letters are thresholds on the 1-minute XRS-B (0.1-0.8 nm) flux:
A >= 1e-8, B >= 1e-7, C >= 1e-6, M >= 1e-5, X >= 1e-4 W m^-2; the number is
the flux in units of the letter's base, truncated to one decimal as NOAA
does (4.55e-5 is M4.5). NOAA's radio-blackout scale: R1 M1, R2 M5, R3 X1,
R4 X10, R5 X20.

Which flux? The thresholds were set on SWPC's operational fluxes. For
GOES-8 to 15 those carried a scale factor (XRS-B divided by 0.7 gives the
true flux); NCEI's science-quality GOES-13/14/15 reprocessing removed it, so
an L2 science value must be multiplied by 0.7 before a class is assigned
(:data:`SCIENCE_TO_OPERATIONAL`). GOES-16 and later are unscaled and NOAA
assigns their classes directly. Everything in this package past the readers
works on class-scale fluxes.
"""

from __future__ import annotations

import math

__all__ = [
    "CLASS_BASES",
    "R_LEVELS",
    "SCIENCE_TO_OPERATIONAL",
    "class_flux",
    "class_level",
    "flux_scale_for",
    "goes_class",
    "noaa_r_level",
    "threshold_flux",
]

#: Flux (W m^-2) at which each letter starts.
CLASS_BASES: dict[str, float] = {"A": 1e-8, "B": 1e-7, "C": 1e-6, "M": 1e-5, "X": 1e-4}

#: NOAA radio-blackout levels and their XRS-B thresholds (W m^-2).
R_LEVELS: tuple[tuple[str, float], ...] = (
    ("R1", 1e-5), ("R2", 5e-5), ("R3", 1e-4), ("R4", 1e-3), ("R5", 2e-3))

#: Multiply a GOES-13/14/15 science-quality XRS-B flux by this to get the
#: operational flux the historical class letters were assigned from.
SCIENCE_TO_OPERATIONAL = 0.7

_LEVEL_OF = {"none": 0, "A": 0, "B": 0, "C": 1, "M": 2, "X": 3}


def goes_class(flux_w_m2: float, decimals: int = 1) -> str | None:
    """Class string such as ``"M2.5"`` for a class-scale flux; None if not positive.

    The number is truncated, not rounded (NOAA's convention); X goes past 9.9
    (``"X12.0"``) and fluxes below A1 keep the letter A.
    """
    if not math.isfinite(flux_w_m2) or flux_w_m2 <= 0:
        return None
    scale = 10 ** decimals
    for letter in ("X", "M", "C", "B", "A"):
        base = CLASS_BASES[letter]
        if flux_w_m2 >= base or letter == "A":
            value = math.floor(flux_w_m2 / base * scale + 1e-9) / scale
            return f"{letter}{value:.{decimals}f}"
    raise AssertionError("unreachable")


def class_flux(name: str) -> float:
    """Flux (W m^-2) of a class string such as ``"X1.4"`` or a bare letter ``"M"``.

    Raises
    ------
    ValueError
        If ``name`` is not A/B/C/M/X followed by an optional positive number.
    """
    text = str(name).strip().upper()
    if not text or text[0] not in CLASS_BASES:
        raise ValueError(f"not a GOES class: {name!r} (expected e.g. 'C3.2', 'M', 'X1.4')")
    try:
        value = float(text[1:]) if text[1:] else 1.0
    except ValueError:
        raise ValueError(f"not a GOES class: {name!r}") from None
    if not value > 0:
        raise ValueError(f"not a GOES class: {name!r} (the number must be positive)")
    return CLASS_BASES[text[0]] * value


def threshold_flux(letter: str) -> float:
    """The flux at which a verification threshold (``"C"``, ``"M"``, ``"X"``) starts."""
    return CLASS_BASES[letter]


def class_level(name: str) -> int | None:
    """Ordinal of a classifier class: none/A/B 0, C 1, M 2, X 3; None if unknown.

    Accepts class strings with a number (``"M2.5"`` is 2) so a magnitude
    estimate can be used as a predicted class.
    """
    text = str(name).strip()
    if text in _LEVEL_OF:
        return _LEVEL_OF[text]
    head = text[:1].upper()
    if head in _LEVEL_OF and (len(text) == 1 or _is_number(text[1:])):
        return _LEVEL_OF[head]
    if text.lower() in ("none", "quiet", "no_flare"):
        return 0
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def noaa_r_level(flux_w_m2: float) -> str | None:
    """NOAA radio-blackout level (``"R1"``..``"R5"``) of a class-scale flux, or None."""
    level = None
    for name, threshold in R_LEVELS:
        if flux_w_m2 >= threshold:
            level = name
    return level


def flux_scale_for(satellite: int | None, science_quality: bool) -> float:
    """Factor from a file's XRS-B flux to class scale.

    0.7 for GOES-13/14/15 science-quality (NCEI L2) data, which omit SWPC's
    factor; 1.0 for operational data (already scaled) and for GOES-16 and later
    (NOAA classes their unscaled fluxes directly). Older science data (GOES
    1-12, also reprocessed without the factor) get 0.7 too.
    """
    if science_quality and (satellite is None or satellite <= 15):
        return SCIENCE_TO_OPERATIONAL
    return 1.0
