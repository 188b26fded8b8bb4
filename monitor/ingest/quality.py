"""The AIA QUALITY keyword: bit names and the reject/flag decision.

Bit meanings are those written by the JSOC level-1 pipeline (``build_lev1``,
``lev0/apps/quallev1.h`` in the JSOC source tree). Bit 0 is the least
significant. Level-1.5 products (JSOC synoptic, Helioviewer) copy the level-1
value.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.ingest.settings import QualityPolicy

__all__ = ["QUALITY_BITS", "QualityVerdict", "bit_names", "evaluate_quality"]

#: Bit number -> short name (used as flag names and in messages).
QUALITY_BITS: dict[int, str] = {
    0: "no_flatfield",            # FLAT_REC missing
    1: "no_orbit",                # ORB_REC missing
    2: "no_ancillary",            # ASD_REC missing
    3: "no_master_pointing",      # MPO_REC missing
    4: "no_limb_fit",             # limb fit error (HMI)
    5: "instrument_anomaly",      # entered by hand
    6: "instrument_misconfigured",
    7: "camera_anomaly",
    8: "missing_pixels",          # MISSVALS > 0
    9: "missing_pixels_1pct",     # MISSVALS > 1 % of TOTVALS
    10: "missing_pixels_5pct",    # > 5 %
    11: "missing_pixels_25pct",   # > 25 %
    12: "not_science_pointing",   # ACS_MODE != SCIENCE
    13: "spacecraft_eclipse",     # ACS_ECLP == YES
    14: "no_sun_presence",        # ACS_SUNP == NO
    15: "spacecraft_safemode",    # ACS_SAFE == YES
    16: "dark_image",             # IMG_TYPE == DARK
    17: "iss_loop_open",          # image stabilisation loop open
    18: "calibration_image",
    19: "hmi_calibration_mode",
    20: "focus_out_of_range",
    21: "register_flag",          # AIAGP6 != 0
    22: "hmi_thermal_recovery",
    23: "hmi_lunar_transit",
    30: "near_real_time",         # NRT product (formerly "quicklook")
    31: "image_not_available",
}


def bit_names(value: int) -> tuple[str, ...]:
    """Names of the bits set in ``value`` (unknown bits as ``bit<N>``), low bit first."""
    return tuple(QUALITY_BITS.get(bit, f"bit{bit}") for bit in range(32) if value >> bit & 1)


@dataclass(frozen=True)
class QualityVerdict:
    """What the policy made of one QUALITY value."""

    value: int
    rejected: tuple[str, ...]
    flagged: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.rejected


def evaluate_quality(value: int, policy: QualityPolicy) -> QualityVerdict:
    """Split the set bits of ``value`` into fatal and flag-only ones.

    Parameters
    ----------
    value : int
        The QUALITY keyword (negative values from signed 32-bit storage are
        taken modulo 2**32, so bit 31 reads as set).
    policy : QualityPolicy
        Which bits reject and which only flag.
    """
    value &= 0xFFFFFFFF
    rejected: list[str] = []
    flagged: list[str] = []
    reject = set(policy.reject_bits)
    flag = set(policy.flag_bits)
    for bit in range(32):
        if not value >> bit & 1:
            continue
        name = QUALITY_BITS.get(bit, f"bit{bit}")
        if bit in reject or (bit not in flag and policy.unknown_bits == "reject"):
            rejected.append(name)
        else:
            flagged.append(name)
    return QualityVerdict(value=value, rejected=tuple(rejected), flagged=tuple(flagged))
