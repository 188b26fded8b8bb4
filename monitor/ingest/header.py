"""Header validation shared by FITS and JPEG 2000: from keywords to typed facts.

Works on any mapping of upper-case keyword -> value (an astropy ``Header`` or
the dict parsed from a Helioviewer XML box, whose values are all strings), so
both formats are judged by the same rules in the same order:

1. instrument (a LASCO or HMI file is "not ours" before it is "incomplete"),
2. required keywords present,
3. wavelength, level, image type,
4. numbers parse and are finite, exposure plausible,
5. WCS usable (units, projection, non-singular matrix, plausible radius),
6. observation time parses,
7. QUALITY against the policy.

The first failed rule refuses the file with its reason code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.ingest.quality import QualityVerdict, evaluate_quality
from monitor.ingest.reasons import RejectReason
from monitor.ingest.records import Geometry
from monitor.ingest.settings import IngestSettings

__all__ = ["HeaderFacts", "IngestRejected", "parse_obs_time", "validate_header"]

# TAI - UTC since 2017-01-01; older TAI stamps get the historical value below.
_TAI_UTC_STEPS: tuple[tuple[datetime, int], ...] = (
    (datetime(2017, 1, 1, tzinfo=UTC), 37),
    (datetime(2015, 7, 1, tzinfo=UTC), 36),
    (datetime(2012, 7, 1, tzinfo=UTC), 35),
    (datetime(2009, 1, 1, tzinfo=UTC), 34),
)
_TIME_RE = re.compile(
    r"^\s*(\d{4})[-.](\d{2})[-.](\d{2})[T _](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"\s*(Z|_UTC|_UT|_TAI|UTC|TAI)?\s*$")


class IngestRejected(Exception):
    """Internal control flow: a rule refused the file (caught by the reader)."""

    def __init__(self, reason: RejectReason, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class HeaderFacts:
    """Everything the header says that the rest of the pipeline needs."""

    telescope: str
    instrument: str
    wavelength: int
    t_obs: datetime
    exposure_s: float
    quality: QualityVerdict
    level: float
    geometry: Geometry
    fsn: int | None
    img_type: str | None
    flags: tuple[str, ...]


def parse_obs_time(value: Any) -> datetime:
    """Parse an AIA time stamp into an aware UTC datetime.

    Accepts ISO 8601 with or without ``Z`` and with any number of fractional
    digits (``2011-02-15T00:00:01.34Z``), a space instead of ``T``, and the JSOC
    form ``2011.02.15_00:00:01.34_TAI`` / ``_UTC``. A leap second (``:60``) is
    clamped to the end of the preceding second.

    Raises
    ------
    ValueError
        When the value is not such a string.
    """
    if not isinstance(value, str):
        # ValueError, not TypeError: callers treat every unusable stamp alike.
        raise ValueError(f"not a time string: {value!r}")  # noqa: TRY004
    match = _TIME_RE.match(value)
    if match is None:
        raise ValueError(f"unrecognised time format: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac = (match.group(7) or "0")[:6].ljust(6, "0")
    microsecond = int(frac)
    if second == 60:  # leap second: keep ordering, lose < 1 s
        second, microsecond = 59, 999_999
    stamp = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)
    if (match.group(8) or "").endswith("TAI"):
        offset = next((s for start, s in _TAI_UTC_STEPS if stamp >= start), 34)
        stamp -= timedelta(seconds=offset)
    return stamp


def _raw(header: Mapping[str, Any], key: str) -> Any:
    try:
        return header.get(key)
    except Exception as exc:  # astropy raises on unparsable card values
        # JSOC writes missing floats as a bare ``nan``, which astropy refuses
        # to parse; hand the raw value text on so numbers like that are judged
        # by the numeric rules (NONFINITE_KEYWORD) rather than as garbage.
        text = _card_text(header, key)
        if text is not None:
            return text
        raise IngestRejected(RejectReason.INVALID_KEYWORD,
                             f"{key} cannot be parsed: {exc}", {"keyword": key}) from exc


def _card_text(header: Mapping[str, Any], key: str) -> str | None:
    try:
        image = header.cards[key].image  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - astropy raises assorted types for broken cards
        return None
    if image[8:10] != "= ":
        return None
    text = image[10:].split("/", 1)[0].strip().strip("'").strip()
    return text or None


def _present(header: Mapping[str, Any], key: str) -> bool:
    try:
        if key not in header:
            return False
        value = header.get(key)
    except Exception:  # noqa: BLE001 - present but unparsable: the value check reports it
        return True
    return value is not None and not (isinstance(value, str) and not value.strip())


def _number(header: Mapping[str, Any], key: str, *, required: bool = True) -> float | None:
    """A numeric keyword as float; None when optional and absent or not finite."""
    if not _present(header, key):
        if required:
            raise IngestRejected(RejectReason.MISSING_KEYWORD, f"{key} is missing",
                                 {"keyword": key})
        return None
    value = _raw(header, key)
    if isinstance(value, bool):
        number = math.nan
        bad = True
    elif isinstance(value, (int, float)):
        number, bad = float(value), False
    else:
        try:
            number, bad = float(str(value).strip()), False
        except ValueError:
            number, bad = math.nan, True
    if bad:
        if not required:
            return None
        raise IngestRejected(RejectReason.INVALID_KEYWORD,
                             f"{key} is not a number: {value!r}", {"keyword": key})
    if not math.isfinite(number):
        if not required:
            return None
        raise IngestRejected(RejectReason.NONFINITE_KEYWORD, f"{key} is {number}",
                             {"keyword": key, "value": str(number)})
    return number


def _text(header: Mapping[str, Any], key: str) -> str | None:
    if not _present(header, key):
        return None
    return str(_raw(header, key)).strip()


def _check_instrument(header: Mapping[str, Any]) -> tuple[str, str]:
    telescope = _text(header, "TELESCOP")
    instrument = _text(header, "INSTRUME") or ""
    if telescope is None:
        raise IngestRejected(RejectReason.MISSING_KEYWORD, "TELESCOP is missing",
                             {"keyword": "TELESCOP"})
    tel = telescope.upper()
    ins = instrument.upper()
    if tel == "SDO/AIA" or (tel == "SDO" and ins.startswith("AIA")):
        return "SDO/AIA", instrument or "AIA"
    raise IngestRejected(RejectReason.UNSUPPORTED_INSTRUMENT,
                         f"not an SDO/AIA file: TELESCOP={telescope!r} INSTRUME={instrument!r}",
                         {"telescop": telescope, "instrume": instrument})


def _check_required(header: Mapping[str, Any], settings: IngestSettings) -> list[str]:
    flags: list[str] = []
    missing = []
    for key in settings.required_keywords:
        if _present(header, key):
            continue
        if key == "T_OBS" and settings.allow_date_obs and _present(header, "DATE-OBS"):
            flags.append("t_obs_from_date_obs")
            continue
        missing.append(key)
    if missing:
        raise IngestRejected(RejectReason.MISSING_KEYWORD,
                             f"required keyword(s) missing: {', '.join(missing)}",
                             {"keyword": missing[0], "missing": ",".join(missing)})
    return flags


def _check_units(header: Mapping[str, Any]) -> tuple[float, float]:
    """Arcsec per unit of CDELT/CRVAL on each axis; refuses non-helioprojective WCS."""
    factors = []
    for axis, prefix in ((1, "HPLN"), (2, "HPLT")):
        ctype = _text(header, f"CTYPE{axis}")
        if ctype is not None and not ctype.upper().startswith(prefix):
            raise IngestRejected(RejectReason.INVALID_KEYWORD,
                                 f"CTYPE{axis}={ctype!r} is not helioprojective ({prefix}-*)",
                                 {"keyword": f"CTYPE{axis}"})
        unit = (_text(header, f"CUNIT{axis}") or "arcsec").lower()
        factor = {"arcsec": 1.0, "deg": 3600.0, "arcmin": 60.0}.get(unit)
        if factor is None:
            raise IngestRejected(RejectReason.INVALID_KEYWORD,
                                 f"CUNIT{axis}={unit!r} is not an angle unit",
                                 {"keyword": f"CUNIT{axis}"})
        factors.append(factor)
    return factors[0], factors[1]


def _geometry(header: Mapping[str, Any], settings: IngestSettings,
              naxis1: int, naxis2: int) -> Geometry:
    unit1, unit2 = _check_units(header)
    crpix1 = _number(header, "CRPIX1")
    crpix2 = _number(header, "CRPIX2")
    cdelt1 = _number(header, "CDELT1") * unit1  # type: ignore[operator]
    cdelt2 = _number(header, "CDELT2") * unit2  # type: ignore[operator]
    crval1 = (_number(header, "CRVAL1", required=False) or 0.0) * unit1
    crval2 = (_number(header, "CRVAL2", required=False) or 0.0) * unit2
    if cdelt1 == 0.0 or cdelt2 == 0.0:
        raise IngestRejected(RejectReason.INVALID_KEYWORD, "CDELT1/CDELT2 is zero",
                             {"keyword": "CDELT1" if cdelt1 == 0.0 else "CDELT2"})
    pc_keys = ("PC1_1", "PC1_2", "PC2_1", "PC2_2")
    if any(_present(header, k) for k in pc_keys):
        # Absent PC elements default to the identity (FITS WCS paper I).
        pc11, pc12, pc21, pc22 = (
            _number(header, k) if _present(header, k) else float(k[2] == k[4])
            for k in pc_keys)
        crota2 = math.degrees(math.atan2(pc21 * cdelt2 / cdelt1, pc11))  # type: ignore[operator]
    else:
        crota2 = _number(header, "CROTA2", required=False)
        if crota2 is None and _present(header, "CROTA2"):
            _number(header, "CROTA2")  # raises with the precise reason
        crota2 = crota2 or 0.0
        # sunpy's convention for CROTA2 with unequal scales (lam = cdelt2 / cdelt1).
        lam = cdelt2 / cdelt1
        rad = math.radians(crota2)
        pc11, pc12 = math.cos(rad), -lam * math.sin(rad)
        pc21, pc22 = math.sin(rad) / lam, math.cos(rad)
    det = pc11 * pc22 - pc12 * pc21  # type: ignore[operator]
    if not math.isfinite(det) or abs(det) < 1e-6:
        raise IngestRejected(RejectReason.INVALID_KEYWORD, f"PC matrix is singular (det={det})",
                             {"keyword": "PC1_1"})
    rsun = _number(header, "RSUN_OBS")
    low, high = settings.rsun_obs_range_arcsec
    if not low <= rsun <= high:  # type: ignore[operator]
        raise IngestRejected(RejectReason.INVALID_KEYWORD,
                             f"RSUN_OBS={rsun} arcsec outside plausible [{low}, {high}]",
                             {"keyword": "RSUN_OBS", "value": rsun})
    return Geometry(
        naxis1=naxis1, naxis2=naxis2, crpix1=crpix1, crpix2=crpix2,  # type: ignore[arg-type]
        crval1=crval1, crval2=crval2, cdelt1=cdelt1, cdelt2=cdelt2,
        pc=((pc11, pc12), (pc21, pc22)), crota2=crota2,  # type: ignore[arg-type]
        rsun_obs=rsun,  # type: ignore[arg-type]
        dsun_obs=_number(header, "DSUN_OBS", required=False),
        hgln_obs=_number(header, "HGLN_OBS", required=False),
        hglt_obs=_number(header, "HGLT_OBS", required=False))


def _integer(header: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    number = _number(header, key, required=required)
    if number is None:
        return None
    if number != int(number):
        raise IngestRejected(RejectReason.INVALID_KEYWORD, f"{key}={number} is not an integer",
                             {"keyword": key})
    return int(number)


def validate_header(header: Mapping[str, Any], settings: IngestSettings,
                    naxis1: int, naxis2: int) -> HeaderFacts:
    """Apply the header rules (module docstring) and return the typed facts.

    Raises
    ------
    IngestRejected
        With the reason code of the first rule that failed.
    """
    telescope, instrument = _check_instrument(header)
    flags = _check_required(header, settings)

    wavelength = _integer(header, "WAVELNTH", required=True)
    if wavelength not in settings.accepted_wavelengths:
        raise IngestRejected(RejectReason.UNSUPPORTED_WAVELENGTH,
                             f"WAVELNTH={wavelength} is not an accepted channel",
                             {"keyword": "WAVELNTH", "value": wavelength})
    level = _number(header, "LVL_NUM", required=False)
    if level is None:
        if _present(header, "LVL_NUM"):
            _number(header, "LVL_NUM")  # raises with the precise reason
        level = 1.0
    if not any(abs(level - ok) < 1e-6 for ok in settings.accepted_levels):
        raise IngestRejected(RejectReason.UNSUPPORTED_LEVEL, f"LVL_NUM={level} not accepted",
                             {"keyword": "LVL_NUM", "value": level})
    img_type = _text(header, "IMG_TYPE")
    if img_type is not None and img_type.upper() != "LIGHT":
        raise IngestRejected(RejectReason.NOT_LIGHT_FRAME, f"IMG_TYPE={img_type!r}",
                             {"keyword": "IMG_TYPE", "value": img_type})

    exposure = _number(header, "EXPTIME")
    if exposure <= 0.0 or exposure > settings.max_exposure_s:  # type: ignore[operator]
        raise IngestRejected(RejectReason.BAD_EXPOSURE,
                             f"EXPTIME={exposure} s outside (0, {settings.max_exposure_s}]",
                             {"keyword": "EXPTIME", "value": exposure})
    geometry = _geometry(header, settings, naxis1, naxis2)

    if "t_obs_from_date_obs" in flags:
        start = _parse_time_keyword(header, "DATE-OBS")
        t_obs = start + timedelta(seconds=exposure / 2.0)  # type: ignore[operator]
    else:
        t_obs = _parse_time_keyword(header, "T_OBS")

    quality_value = _integer(header, "QUALITY", required="QUALITY" in settings.required_keywords)
    verdict = evaluate_quality(quality_value or 0, settings.quality)
    if not verdict.ok:
        raise IngestRejected(RejectReason.QUALITY_REJECTED,
                             f"QUALITY=0x{verdict.value:08x} has fatal bits: "
                             f"{', '.join(verdict.rejected)}",
                             {"keyword": "QUALITY", "value": verdict.value,
                              "bits": ",".join(verdict.rejected)})
    fsn = _integer(header, "FSN", required=False) if _present(header, "FSN") else None
    return HeaderFacts(
        telescope=telescope, instrument=instrument, wavelength=wavelength,  # type: ignore[arg-type]
        t_obs=t_obs, exposure_s=exposure, quality=verdict, level=level,  # type: ignore[arg-type]
        geometry=geometry, fsn=fsn, img_type=img_type, flags=tuple(flags))


def _parse_time_keyword(header: Mapping[str, Any], key: str) -> datetime:
    value = _raw(header, key)
    try:
        return parse_obs_time(value)
    except ValueError as exc:
        raise IngestRejected(RejectReason.INVALID_KEYWORD, f"{key}: {exc}",
                             {"keyword": key}) from exc
