"""Ingest settings: what a file must look like to be accepted, with operations defaults.

Frozen, stdlib-only dataclasses; ``monitor.config`` validates the YAML section
``ingest:`` against them (field metadata holds the bounds and the doc strings)
and calls :meth:`check` for cross-field rules.

The defaults are those of a space-weather operations centre that watches the
JSOC near-real-time feed: every AIA channel accepted, level 1 and the level-1.5
synoptic copies accepted, near-real-time QUALITY bits only flagged, eclipse /
calibration / non-science frames refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["IngestSettings", "PixelChecks", "QualityPolicy"]

# Bits of the AIA level-1 QUALITY keyword (JSOC lev0/apps/quallev1.h); names in
# monitor.ingest.quality. These make a frame useless for monitoring: the Sun is
# not (fully) in view, the pointing is not the science pointing, or the frame is
# a dark/calibration frame or not there at all.
_DEFAULT_REJECT_BITS: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 17, 18, 31)
# These travel with the observation as flags: missing ancillary data, the
# near-real-time marker (every NRT file has it), small missing-pixel counts
# (our own pixel checks decide), focus/register warnings, anomaly markers.
_DEFAULT_FLAG_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 30)

# Mean on-disk count rate below which a frame is "dark" (DN/s per 0.6" pixel).
# Roughly a tenth of the quietest full-disk means seen over the mission so far
# (94/335 are the faintest channels, 304 has lost most of its sensitivity); an
# eclipse frame sits at 0 +- a few tenths.
_DEFAULT_DARK_THRESHOLDS: dict[str, float] = {
    "94": 0.1, "131": 0.3, "171": 5.0, "193": 5.0, "211": 2.0, "304": 0.5,
    "335": 0.1, "1600": 5.0, "1700": 50.0, "4500": 200.0,
}


@dataclass(frozen=True)
class QualityPolicy:
    """What the bits of the QUALITY keyword do to a frame."""

    reject_bits: tuple[int, ...] = field(
        default=_DEFAULT_REJECT_BITS,
        metadata={"ge": 0, "le": 31,
                  "doc": "QUALITY bit numbers (0 = least significant) that refuse a frame"})
    flag_bits: tuple[int, ...] = field(
        default=_DEFAULT_FLAG_BITS,
        metadata={"ge": 0, "le": 31,
                  "doc": "bits that only flag a frame; their names travel with the observation"})
    unknown_bits: Literal["flag", "reject"] = field(
        default="flag",
        metadata={"doc": "what a set bit listed in neither reject_bits nor flag_bits does"})

    def check(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        both = sorted(set(self.reject_bits) & set(self.flag_bits))
        if both:
            issues.append(("flag_bits", f"bits {both} are also in reject_bits"))
        return issues


@dataclass(frozen=True)
class PixelChecks:
    """Checks made on the decompressed pixels."""

    max_missing_fraction: float = field(
        default=0.05, metadata={"ge": 0, "le": 1,
                                "doc": "refuse when more BLANK/non-finite pixels than this"})
    saturation_dn: float = field(
        default=15000.0, metadata={"gt": 0,
                                   "doc": "level-1 DN at or above which a pixel counts as "
                                          "saturated (14-bit ADC limit 16383 raw DN)"})
    max_saturated_fraction: float = field(
        default=0.05, metadata={"ge": 0, "le": 1,
                                "doc": "refuse when more saturated pixels than this; flares "
                                       "saturate < 1 %, so keep it generous"})
    dark_threshold_dn_per_s: dict[str, float] = field(
        default_factory=lambda: dict(_DEFAULT_DARK_THRESHOLDS),
        metadata={"doc": "per channel (key: wavelength in angstrom): mean on-disk DN/s below "
                         "which the frame is dark"})
    dark_default_dn_per_s: float = field(
        default=0.1, metadata={"ge": 0, "doc": "dark threshold for channels not listed"})
    dark_box_half_width_rsun: float = field(
        default=0.6, metadata={"gt": 0, "le": 1,
                               "doc": "half width, in solar radii, of the central box whose "
                                      "mean decides darkness (0.6 keeps it inside the disk)"})

    def check(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        for key, value in self.dark_threshold_dn_per_s.items():
            if not key.isdigit():
                issues.append(("dark_threshold_dn_per_s", f"key {key!r} is not a wavelength"))
            elif value < 0:
                issues.append(("dark_threshold_dn_per_s", f"{key}: threshold must be >= 0"))
        return issues


@dataclass(frozen=True)
class IngestSettings:
    """Everything the reader enforces before and after decompression."""

    max_file_bytes: int = field(
        default=200_000_000,
        metadata={"gt": 0, "doc": "files larger than this are refused unread"})
    max_image_side: int = field(
        default=4096, metadata={"gt": 0, "doc": "largest accepted NAXIS1/NAXIS2 (bomb guard)"})
    max_image_pixels: int = field(
        default=4096 * 4096, metadata={"gt": 0, "doc": "largest accepted NAXIS1*NAXIS2"})
    max_header_bytes: int = field(
        default=2880 * 120,
        metadata={"ge": 2880, "doc": "largest FITS header (or JPEG 2000 XML box) parsed"})
    max_hdus: int = field(
        default=4, metadata={"ge": 1, "doc": "HDUs scanned for the image before giving up"})
    required_keywords: tuple[str, ...] = field(
        default=("T_OBS", "WAVELNTH", "EXPTIME", "QUALITY", "CRPIX1", "CRPIX2",
                 "CDELT1", "CDELT2", "RSUN_OBS", "TELESCOP"),
        metadata={"doc": "keywords whose absence refuses a file (T_OBS may be satisfied by "
                         "DATE-OBS when allow_date_obs is true)"})
    allow_date_obs: bool = field(
        default=True,
        metadata={"doc": "without T_OBS use DATE-OBS + EXPTIME/2 (flagged t_obs_from_date_obs)"})
    accepted_wavelengths: tuple[int, ...] = field(
        default=(94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500),
        metadata={"doc": "WAVELNTH values (angstrom) accepted"})
    accepted_levels: tuple[float, ...] = field(
        default=(1.0, 1.5),
        metadata={"doc": "LVL_NUM values accepted (1 = level 1; 1.5 = JSOC synoptic / "
                         "Helioviewer products); a file without LVL_NUM counts as 1"})
    max_exposure_s: float = field(
        default=30.0, metadata={"gt": 0, "doc": "EXPTIME above this is refused as implausible"})
    rsun_obs_range_arcsec: tuple[float, ...] = field(
        default=(850.0, 1100.0),
        metadata={"doc": "plausible [min, max] RSUN_OBS in arcsec (SDO sees 944-976)"})
    accept_jp2: bool = field(
        default=True, metadata={"doc": "accept Helioviewer JPEG 2000 files"})
    quality: QualityPolicy = field(default_factory=QualityPolicy)
    pixels: PixelChecks = field(default_factory=PixelChecks)

    def check(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        if self.max_image_pixels < self.max_image_side:
            issues.append(("max_image_pixels", "is smaller than one row of max_image_side"))
        if len(self.rsun_obs_range_arcsec) != 2 or not (
                0 < self.rsun_obs_range_arcsec[0] < self.rsun_obs_range_arcsec[1]):
            issues.append(("rsun_obs_range_arcsec", "must be [min, max] with 0 < min < max"))
        if not self.accepted_wavelengths:
            issues.append(("accepted_wavelengths", "must not be empty"))
        unknown = [k for k in self.required_keywords if not k or not k.replace("-", "_")
                   .replace("_", "").isalnum()]
        if unknown:
            issues.append(("required_keywords", f"not FITS keyword names: {unknown}"))
        # quality/pixels check themselves: the config builder calls check() on
        # every nested dataclass with its own YAML path.
        return issues
