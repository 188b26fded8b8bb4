"""The closed set of reasons a file can be refused for, and the rejection record.

Every refusal anywhere in ingest or preprocessing carries exactly one
:class:`RejectReason`. The set is closed on purpose: the ``reason`` label of the
rejection counter and the ``input.rejected`` messages may only take these
values, so dashboards and consumers can enumerate them. Adding a code is an
interface change (update ``docs/ingest.md`` and the message schema with it).

The meanings in :data:`REASON_MEANINGS` are the documentation; the docs table is
generated from the same text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["REASON_MEANINGS", "RejectReason", "Rejection"]


class RejectReason(enum.StrEnum):
    """Why a file was not turned into an observation (value = the wire code)."""

    # --- the path itself -------------------------------------------------------
    NOT_FOUND = "not_found"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    UNREADABLE = "unreadable"
    EMPTY_FILE = "empty_file"
    FILE_TOO_LARGE = "file_too_large"
    # --- container format --------------------------------------------------------
    UNKNOWN_FORMAT = "unknown_format"
    TRUNCATED = "truncated"
    MALFORMED_HEADER = "malformed_header"
    BAD_NAXIS = "bad_naxis"
    IMAGE_TOO_LARGE = "image_too_large"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"
    UNSUPPORTED_DATA_TYPE = "unsupported_data_type"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    # --- header content ------------------------------------------------------------
    MISSING_KEYWORD = "missing_keyword"
    INVALID_KEYWORD = "invalid_keyword"
    NONFINITE_KEYWORD = "nonfinite_keyword"
    BAD_EXPOSURE = "bad_exposure"
    UNSUPPORTED_INSTRUMENT = "unsupported_instrument"
    UNSUPPORTED_WAVELENGTH = "unsupported_wavelength"
    UNSUPPORTED_LEVEL = "unsupported_level"
    NOT_LIGHT_FRAME = "not_light_frame"
    QUALITY_REJECTED = "quality_rejected"
    # --- pixels ------------------------------------------------------------------------
    CORRUPT_DATA = "corrupt_data"
    NO_VALID_PIXELS = "no_valid_pixels"
    TOO_MANY_MISSING_PIXELS = "too_many_missing_pixels"
    TOO_MANY_SATURATED_PIXELS = "too_many_saturated_pixels"
    DARK_FRAME = "dark_frame"
    # --- bookkeeping -------------------------------------------------------------------
    # --- preprocessing -----------------------------------------------------------------
    NO_GRID_OVERLAP = "no_grid_overlap"
    CALIBRATION_UNAVAILABLE = "calibration_unavailable"
    # --- guard -------------------------------------------------------------------------
    INTERNAL_ERROR = "internal_error"


#: One sentence per code: what it means and what an operator can do about it.
REASON_MEANINGS: dict[RejectReason, str] = {
    RejectReason.NOT_FOUND:
        "The path does not exist (it vanished between notification and read).",
    RejectReason.NOT_A_REGULAR_FILE:
        "The path is a directory, FIFO, socket or device; it is never opened.",
    RejectReason.UNREADABLE:
        "The operating system refused to open or read the file (permissions, I/O error).",
    RejectReason.EMPTY_FILE:
        "The file has zero bytes (typically a writer that has not finished).",
    RejectReason.FILE_TOO_LARGE:
        "The file is larger than ingest.max_file_bytes; it is not read.",
    RejectReason.UNKNOWN_FORMAT:
        "The first bytes are neither a FITS primary header nor a JPEG 2000 signature.",
    RejectReason.TRUNCATED:
        "The file ends before the header blocks or the data its header declares.",
    RejectReason.MALFORMED_HEADER:
        "A FITS header (or JPEG 2000 box / XML metadata) cannot be parsed, or its "
        "structural keywords contradict each other.",
    RejectReason.BAD_NAXIS:
        "No two-dimensional image was found (NAXIS is not 2, or no image HDU).",
    RejectReason.IMAGE_TOO_LARGE:
        "The declared image dimensions exceed ingest.max_image_side or "
        "ingest.max_image_pixels (decompression-bomb guard); nothing was decompressed.",
    RejectReason.UNSUPPORTED_COMPRESSION:
        "The tile compression algorithm (ZCMPTYPE) is not one astropy can decode safely.",
    RejectReason.UNSUPPORTED_DATA_TYPE:
        "The pixel type (BITPIX/ZBITPIX, JPEG 2000 bit depth or component count) is not supported.",
    RejectReason.UNSUPPORTED_ENCODING:
        "A JPEG 2000 file whose Helioviewer byte scaling is unknown, so DN cannot be recovered.",
    RejectReason.MISSING_KEYWORD:
        "A required keyword (see ingest.required_keywords) is absent.",
    RejectReason.INVALID_KEYWORD:
        "A keyword is present but cannot be interpreted (wrong type, unparsable time, "
        "impossible value such as CDELT <= 0 or a singular PC matrix).",
    RejectReason.NONFINITE_KEYWORD:
        "A required numeric keyword is NaN or infinite.",
    RejectReason.BAD_EXPOSURE:
        "EXPTIME is zero, negative or outside ingest.max_exposure_s.",
    RejectReason.UNSUPPORTED_INSTRUMENT:
        "TELESCOP/INSTRUME do not name SDO/AIA (e.g. HMI, LASCO, EUI files).",
    RejectReason.UNSUPPORTED_WAVELENGTH:
        "WAVELNTH is not one of ingest.accepted_wavelengths.",
    RejectReason.UNSUPPORTED_LEVEL:
        "LVL_NUM is not one of ingest.accepted_levels (level 0 or unknown products).",
    RejectReason.NOT_LIGHT_FRAME:
        "IMG_TYPE says the frame is not a science exposure (e.g. DARK).",
    RejectReason.QUALITY_REJECTED:
        "The QUALITY keyword has a bit that ingest.quality.reject_bits marks as fatal.",
    RejectReason.CORRUPT_DATA:
        "The pixel data could not be decoded (bad tile, broken codestream) or decoded "
        "to a shape that contradicts the header.",
    RejectReason.NO_VALID_PIXELS:
        "Every pixel is BLANK or non-finite.",
    RejectReason.TOO_MANY_MISSING_PIXELS:
        "The fraction of BLANK/non-finite pixels exceeds ingest.pixels.max_missing_fraction.",
    RejectReason.TOO_MANY_SATURATED_PIXELS:
        "The fraction of pixels at or above ingest.pixels.saturation_dn exceeds "
        "ingest.pixels.max_saturated_fraction.",
    RejectReason.DARK_FRAME:
        "The solar disk is dark (mean DN/s below the channel's dark threshold): an "
        "eclipse or a shutter/camera problem.",
    RejectReason.NO_GRID_OVERLAP:
        "Too little of the model grid is covered by the image (a cutout far from the "
        "disk, or nonsense pointing).",
    RejectReason.CALIBRATION_UNAVAILABLE:
        "A requested correction (degradation table) has no entry for this channel and time.",
    RejectReason.INTERNAL_ERROR:
        "An unexpected exception inside the reader; a bug. The file is refused and the "
        "traceback logged, the daemon carries on.",
}


@dataclass(frozen=True)
class Rejection:
    """A file that was refused, with the reason and whatever was known about it.

    Parameters
    ----------
    path : str
        The path as given to the reader.
    reason : RejectReason
        The closed-set reason code.
    message : str
        One human sentence with the specifics (keyword, value, threshold).
    details : dict
        Structured specifics for logs and the rejects topic (small, JSON-safe).
    wavelength, t_obs, content_sha256, size_bytes
        Identity known at the time of refusal, ``None`` when not read yet.
    """

    path: str
    reason: RejectReason
    message: str
    details: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    wavelength: int | None = None
    t_obs: datetime | None = None
    content_sha256: str | None = None
    size_bytes: int | None = None

    @property
    def meaning(self) -> str:
        """The documented meaning of :attr:`reason`."""
        return REASON_MEANINGS[self.reason]
