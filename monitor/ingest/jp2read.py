"""Helioviewer JPEG 2000 files: XML header, size guard, decoding, and back to DN.

Helioviewer's JP2 files carry the full FITS header as XML (one element per
keyword) but not DN: JP2Gen turned each image into bytes as

    B = bytscl(T(clip(DN * dataExptime / EXPTIME, dataMin, dataMax)))

with ``T`` = log10 or sqrt per channel and IDL's ``bytscl`` stretching the
result to 0..255. Inverting with the parameters of the setup file named in
``HV_HVS_DETAILS_FILENAME`` (bin centres) gives DN back to within the 8-bit
step (about 2 % for log10 channels) plus JPEG 2000's lossy error, and only
between dataMin and dataMax. Such observations are flagged ``jp2_8bit``.

Reduced-resolution JP2 files keep the header of the 4096-pixel original; when
the decoded size differs from NAXIS1/NAXIS2, CDELT and CRPIX are rescaled to
the decoded array and the observation is flagged ``jp2_rescaled_wcs``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from monitor.ingest.header import IngestRejected
from monitor.ingest.reasons import RejectReason
from monitor.ingest.settings import IngestSettings

__all__ = ["HELIOVIEWER_SCALINGS", "JP2_SIGNATURE", "HelioviewerScaling", "Jp2File",
           "decode_jp2_dn", "open_jp2"]

log = logging.getLogger(__name__)

JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


@dataclass(frozen=True)
class HelioviewerScaling:
    """One channel's byte scaling in a JP2Gen setup file."""

    data_min: float
    data_max: float
    transform: Literal["log10", "sqrt", "linear"]
    data_exptime: float = 1.0

    def to_value(self, byte: np.ndarray) -> np.ndarray:
        """Bin-centre value (exposure-normalised DN) of each byte."""
        forward = {"log10": np.log10, "sqrt": np.sqrt, "linear": lambda v: v}[self.transform]
        lo = float(forward(self.data_min))
        hi = float(forward(self.data_max))
        lut_t = lo + (np.arange(256, dtype=np.float64) + 0.5) / 256.0 * (hi - lo)
        lut = {"log10": lambda t: 10.0 ** t, "sqrt": lambda t: t * t,
               "linear": lambda t: t}[self.transform](lut_t)
        return lut.astype(np.float32)[byte]


def _table(overrides: dict[int, HelioviewerScaling]) -> dict[int, HelioviewerScaling]:
    base = {
        94: HelioviewerScaling(0.1, 30.0, "log10"),
        131: HelioviewerScaling(0.7, 500.0, "log10"),
        171: HelioviewerScaling(200.0, 14000.0, "sqrt"),
        193: HelioviewerScaling(20.0, 2500.0, "log10"),
        211: HelioviewerScaling(7.0, 1500.0, "log10"),
        304: HelioviewerScaling(0.8, 250.0, "log10"),
        335: HelioviewerScaling(0.4, 80.0, "log10"),
        1600: HelioviewerScaling(10.0, 400.0, "log10"),
        1700: HelioviewerScaling(220.0, 5000.0, "sqrt"),
        4500: HelioviewerScaling(4000.0, 20000.0, "log10"),
    }
    base.update(overrides)
    return base


#: Setup-file name as written in HV_HVS_DETAILS_FILENAME -> channel -> scaling.
#: Values from the JP2Gen setup files of the Helioviewer project (sdo/aia/
#: hvs_version6_aia.pro writes the name "hvs_version5.pro"; hvs_version5_aia.pro
#: writes "hvs_version3.pro"). Checked on sunpy's AIA 193 sample: the inverted
#: median agrees with the header's DATAMEDN / EXPTIME to 1 %.
HELIOVIEWER_SCALINGS: dict[str, dict[int, HelioviewerScaling]] = {
    "hvs_version5.pro": _table({}),
    "hvs_version3.pro": _table({
        171: HelioviewerScaling(200.0, 14000.0, "sqrt", data_exptime=4.99803),
        1600: HelioviewerScaling(20.0, 400.0, "log10"),
    }),
}


@dataclass(frozen=True)
class Jp2File:
    """A parsed (not yet decoded) JP2 file."""

    header: dict[str, str]
    width: int
    height: int
    flags: tuple[str, ...]


def _glymur():  # imported lazily: it probes for the OpenJPEG library on import
    try:
        import glymur
    except Exception as exc:  # pragma: no cover - depends on the host
        raise IngestRejected(RejectReason.UNSUPPORTED_ENCODING,
                             f"JPEG 2000 support unavailable: {exc}") from exc
    if str(glymur.version.openjpeg_version).startswith("0"):
        raise IngestRejected(RejectReason.UNSUPPORTED_ENCODING,
                             "JPEG 2000 support unavailable: OpenJPEG library not found "
                             "(install libopenjp2-7)")
    return glymur


def _flatten_xml(root) -> dict[str, str]:
    header: dict[str, str] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or len(node) or node.text is None:
            continue
        text = node.text.strip()
        if text:
            header[node.tag.upper()] = text
    return header


def open_jp2(path: str, settings: IngestSettings) -> Jp2File:
    """Parse the JP2 boxes, the XML header and the codestream size; decode nothing.

    Raises
    ------
    IngestRejected
        MALFORMED_HEADER, IMAGE_TOO_LARGE, UNSUPPORTED_DATA_TYPE, TRUNCATED.
    """
    glymur = _glymur()
    try:
        jp2 = glymur.Jp2k(path)
        xml_boxes = [b for b in jp2.box if isinstance(b, glymur.jp2box.XMLBox)]
        codestream = jp2.get_codestream(header_only=True)
        siz = codestream.segment[1]
    except IngestRejected:
        raise
    except Exception as exc:
        raise IngestRejected(RejectReason.MALFORMED_HEADER,
                             f"JPEG 2000 structure unreadable: {type(exc).__name__}: {exc}") \
            from exc
    if not xml_boxes or xml_boxes[0].xml is None:
        raise IngestRejected(RejectReason.MALFORMED_HEADER,
                             "JPEG 2000 file has no (parsable) XML metadata box")
    if xml_boxes[0].length > settings.max_header_bytes:
        raise IngestRejected(RejectReason.MALFORMED_HEADER, "XML metadata box too large")
    width = int(siz.xsiz) - int(siz.xosiz)
    height = int(siz.ysiz) - int(siz.yosiz)
    if width <= 0 or height <= 0:
        raise IngestRejected(RejectReason.BAD_NAXIS, f"codestream size {width}x{height}")
    if (width > settings.max_image_side or height > settings.max_image_side
            or width * height > settings.max_image_pixels):
        raise IngestRejected(RejectReason.IMAGE_TOO_LARGE,
                             f"codestream {width}x{height} exceeds limits",
                             {"naxis1": width, "naxis2": height})
    if len(siz.bitdepth) != 1 or siz.bitdepth[0] > 16 or siz.signed[0]:
        raise IngestRejected(RejectReason.UNSUPPORTED_DATA_TYPE,
                             f"JPEG 2000 with {len(siz.bitdepth)} component(s), "
                             f"bit depth {siz.bitdepth}, signed {siz.signed}")
    header = _flatten_xml(xml_boxes[0].xml.getroot())
    flags = ["jp2_8bit"]
    header, rescaled = _fix_wcs_for_size(header, width, height)
    if rescaled:
        flags.append("jp2_rescaled_wcs")
    return Jp2File(header=header, width=width, height=height, flags=tuple(flags))


def _fix_wcs_for_size(header: dict[str, str], width: int, height: int
                      ) -> tuple[dict[str, str], bool]:
    """Rescale CDELT/CRPIX when the codestream is smaller than the header's NAXIS."""
    try:
        naxis1 = float(header.get("NAXIS1", width))
        naxis2 = float(header.get("NAXIS2", height))
    except ValueError:
        return header, False
    if (naxis1, naxis2) == (width, height) or not (naxis1 > 0 and naxis2 > 0):
        return header, False
    fixed = dict(header)
    for axis, full, size in ((1, naxis1, width), (2, naxis2, height)):
        factor = full / size
        try:
            cdelt = float(header[f"CDELT{axis}"])
            crpix = float(header[f"CRPIX{axis}"])
        except (KeyError, ValueError):
            return header, False  # validation reports the missing/bad keyword
        # Pixel edges scale about the image origin (edge 0.5 in FITS terms).
        fixed[f"CDELT{axis}"] = repr(cdelt * factor)
        fixed[f"CRPIX{axis}"] = repr((crpix - 0.5) / factor + 0.5)
        fixed[f"NAXIS{axis}"] = str(size)
    return fixed, True


def decode_jp2_dn(path: str, jp2: Jp2File, wavelength: int, exposure_s: float) -> np.ndarray:
    """Decode the codestream and invert the Helioviewer scaling to level-1 DN.

    Returns
    -------
    numpy.ndarray
        float32 DN, FITS row order (south row first).

    Raises
    ------
    IngestRejected
        UNSUPPORTED_ENCODING for an unknown setup file, CORRUPT_DATA when the
        codestream does not decode.
    """
    setup = jp2.header.get("HV_HVS_DETAILS_FILENAME", "").strip()
    scaling = HELIOVIEWER_SCALINGS.get(setup, {}).get(wavelength)
    if scaling is None:
        raise IngestRejected(RejectReason.UNSUPPORTED_ENCODING,
                             f"unknown Helioviewer scaling {setup!r} for {wavelength} A; "
                             f"known: {sorted(HELIOVIEWER_SCALINGS)}",
                             {"hv_hvs_details_filename": setup})
    glymur = _glymur()
    try:
        data = glymur.Jp2k(path)[:]
    except Exception as exc:
        raise IngestRejected(RejectReason.CORRUPT_DATA,
                             f"JPEG 2000 codestream does not decode: {type(exc).__name__}: {exc}"
                             ) from exc
    if data.ndim != 2 or data.shape != (jp2.height, jp2.width):
        raise IngestRejected(RejectReason.CORRUPT_DATA,
                             f"decoded shape {data.shape}, codestream says "
                             f"{(jp2.height, jp2.width)}")
    if data.dtype != np.uint8:
        raise IngestRejected(RejectReason.UNSUPPORTED_ENCODING,
                             f"Helioviewer scaling expects 8-bit data, got {data.dtype}")
    # JP2 stores the top row first; FITS (and the model grid) the bottom row.
    value = scaling.to_value(data[::-1])
    dn = value * np.float32(exposure_s / scaling.data_exptime)
    if not math.isfinite(float(dn.max(initial=0.0))):
        raise IngestRejected(RejectReason.CORRUPT_DATA, "non-finite DN after inversion")
    return np.ascontiguousarray(dn, dtype=np.float32)
