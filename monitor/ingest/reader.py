"""The ingest entry point: a path in, an observation with its image or a rejection out.

:func:`read_observation` is a plain function so the daemon can run it in a
thread or process pool. It never raises for bad input: every refusal is a
:class:`~monitor.ingest.reasons.Rejection` with a reason code, and an
unexpected exception (a bug) becomes ``INTERNAL_ERROR`` with the traceback
logged, so one poisoned file cannot stop the feed.

Order of work, cheapest refusal first:

1. ``stat``: exists, regular file (a FIFO is never opened), size within limits;
2. read the bytes once (bounded) and hash them (SHA-256, ~7 ms for 12 MB);
3. magic bytes: FITS or JPEG 2000;
4. structure and header (no decompression yet): dimensions, truncation, keywords,
   QUALITY;
5. decode, then pixel checks.

Given spare cores (``decode_threads`` > 1: the daemon passes the idle pool's
share), a row-tiled RICE image is decoded on that many helper threads, started
right after the structural scan, while this thread parses and validates the
header and another thread hashes the bytes. The order of refusals and the
pixels are those of the serial path: a header refusal cancels the decode and
waits for it, and the hash is joined before any result is made.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from concurrent.futures import Future
from dataclasses import replace

from monitor.ingest.fitsread import decode_fits, parse_header, scan_fits, start_decode
from monitor.ingest.header import HeaderFacts, IngestRejected, validate_header
from monitor.ingest.helpers import helper_pool
from monitor.ingest.jp2read import JP2_SIGNATURE, decode_jp2_dn, open_jp2
from monitor.ingest.pixels import check_pixels
from monitor.ingest.reasons import Rejection, RejectReason
from monitor.ingest.records import ImageData, IngestResult, Observation
from monitor.ingest.settings import IngestSettings
from monitor.logs import get_logger

__all__ = ["read_observation"]

log = get_logger(__name__)

_FITS_MAGIC = b"SIMPLE  ="


def _stat_and_read(path: str, settings: IngestSettings) -> bytes:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise IngestRejected(RejectReason.NOT_FOUND, "no such file") from None
    except OSError as exc:
        raise IngestRejected(RejectReason.UNREADABLE, f"stat failed: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("directory" if stat.S_ISDIR(st.st_mode) else
                "FIFO" if stat.S_ISFIFO(st.st_mode) else
                "socket" if stat.S_ISSOCK(st.st_mode) else "device or special file")
        raise IngestRejected(RejectReason.NOT_A_REGULAR_FILE, f"path is a {kind}",
                             {"kind": kind})
    if st.st_size == 0:
        raise IngestRejected(RejectReason.EMPTY_FILE, "file has 0 bytes")
    if st.st_size > settings.max_file_bytes:
        raise IngestRejected(RejectReason.FILE_TOO_LARGE,
                             f"{st.st_size} bytes > limit {settings.max_file_bytes}",
                             {"size_bytes": st.st_size})
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO after stat, open must not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise IngestRejected(RejectReason.NOT_FOUND, "vanished before open") from None
    except OSError as exc:
        raise IngestRejected(RejectReason.UNREADABLE, f"open failed: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IngestRejected(RejectReason.NOT_A_REGULAR_FILE, "path changed type during open")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(settings.max_file_bytes + 1)
    except OSError as exc:
        code = RejectReason.UNREADABLE
        if exc.errno == errno.EISDIR:
            code = RejectReason.NOT_A_REGULAR_FILE
        raise IngestRejected(code, f"read failed: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > settings.max_file_bytes:
        raise IngestRejected(RejectReason.FILE_TOO_LARGE, "file grew beyond the limit while read")
    if not data:
        raise IngestRejected(RejectReason.EMPTY_FILE, "file had 0 bytes when read")
    return data


def _sniff(data: bytes) -> str:
    if data.startswith(_FITS_MAGIC):
        return "fits"
    if data.startswith(JP2_SIGNATURE):
        return "jp2"
    hint = ""
    if data.startswith(b"\x1f\x8b"):
        hint = " (gzip: whole-file compression is not supported, use tile compression)"
    elif data.startswith(b"\xff\x4f\xff\x51"):
        hint = " (raw JPEG 2000 codestream without the JP2 container and its XML header)"
    elif data[:80].lstrip().upper().startswith(b"SIMPLE"):
        hint = " (SIMPLE card not in FITS fixed format)"
    raise IngestRejected(RejectReason.UNKNOWN_FORMAT, f"unrecognised magic bytes{hint}",
                         {"magic": data[:8].hex()})


class _Partial:
    """What is known about a file so far, for rejections made later on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.size: int | None = None
        self.facts: HeaderFacts | None = None
        self._sha256: str | Future[str] | None = None

    def hash(self, data: bytes, background: bool) -> None:
        """SHA-256 of the bytes, on a helper thread when ``background``."""
        self.size = len(data)
        if background:
            self._sha256 = helper_pool().submit(lambda: hashlib.sha256(data).hexdigest())
        else:
            self._sha256 = hashlib.sha256(data).hexdigest()

    @property
    def sha256(self) -> str | None:
        if isinstance(self._sha256, Future):
            self._sha256 = self._sha256.result()
        return self._sha256

    def rejection(self, reason: RejectReason, message: str,
                  details: dict[str, object] | None = None) -> Rejection:
        return Rejection(
            path=self.path, reason=reason, message=message,
            details={k: v for k, v in (details or {}).items()
                     if isinstance(v, (str, int, float, bool)) or v is None},
            wavelength=self.facts.wavelength if self.facts else None,
            t_obs=self.facts.t_obs if self.facts else None,
            content_sha256=self.sha256, size_bytes=self.size)


def read_observation(path: str | os.PathLike[str], settings: IngestSettings | None = None,
                     *, decode_threads: int = 1) -> IngestResult:
    """Read, validate and decode one AIA file.

    Parameters
    ----------
    path : str or path-like
        FITS (level 1 or 1.5, RICE tile-compressed or not) or Helioviewer JP2.
    settings : IngestSettings, optional
        Limits and policies; defaults to ``IngestSettings()``.
    decode_threads : int
        Threads that may decode a row-tiled RICE image (cores otherwise idle);
        1 decodes on the calling thread. The result is the same either way.

    Returns
    -------
    IngestResult
        ``ok`` with observation and image, or a rejection. Never raises for
        bad input.
    """
    settings = settings or IngestSettings()
    partial = _Partial(os.fspath(path))
    timings: dict[str, float] = {}
    try:
        return _read(partial, settings, timings, decode_threads)
    except IngestRejected as rejected:
        return IngestResult(rejection=partial.rejection(rejected.reason, rejected.message,
                                                        rejected.details), timings_s=timings)
    except MemoryError:
        log.error("ingest ran out of memory", path=partial.path)
        return IngestResult(rejection=partial.rejection(
            RejectReason.INTERNAL_ERROR, "out of memory while reading"), timings_s=timings)
    except Exception as exc:  # the daemon must survive a bug triggered by one file
        log.exception("unexpected error in ingest", path=partial.path)
        return IngestResult(rejection=partial.rejection(
            RejectReason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"), timings_s=timings)


def _read(partial: _Partial, settings: IngestSettings, timings: dict[str, float],
          decode_threads: int) -> IngestResult:
    t0 = time.perf_counter()
    data = _stat_and_read(partial.path, settings)
    partial.hash(data, background=decode_threads > 1)
    t1 = time.perf_counter()
    timings["read"] = t1 - t0
    kind = _sniff(data)

    started = None
    if kind == "fits":
        hdu = scan_fits(data, settings)
        started = start_decode(data, hdu, decode_threads)
        try:
            header = parse_header(hdu)
            facts = validate_header(header, settings, hdu.naxis1, hdu.naxis2)
        except BaseException:
            if started is not None:
                started.cancel()
            raise
        compression: str | None = hdu.compressed and hdu.compression or None
        extra_flags: tuple[str, ...] = ()
    else:
        if not settings.accept_jp2:
            raise IngestRejected(RejectReason.UNKNOWN_FORMAT, "JPEG 2000 input is disabled")
        jp2 = open_jp2(partial.path, settings)
        facts = validate_header(jp2.header, settings, jp2.width, jp2.height)
        compression = "jpeg2000"
        extra_flags = jp2.flags
    partial.facts = facts
    t2 = time.perf_counter()
    timings["header"] = t2 - t1

    if kind == "fits":
        image = decode_fits(data, hdu, header, started)
    else:
        image = ImageData(pixels=decode_jp2_dn(partial.path, jp2, facts.wavelength,
                                               facts.exposure_s))
    del data
    t3 = time.perf_counter()
    timings["decode"] = t3 - t2
    stats = check_pixels(image, settings.pixels, wavelength=facts.wavelength,
                         exposure_s=facts.exposure_s, geometry=facts.geometry,
                         count_saturation=kind == "fits")
    timings["pixels"] = time.perf_counter() - t3
    image = replace(image, n_invalid=stats.n_missing, invalid_index=stats.invalid_index)
    observation = Observation(
        telescope=facts.telescope, instrument=facts.instrument, wavelength=facts.wavelength,
        t_obs=facts.t_obs, exposure_s=facts.exposure_s, quality=facts.quality.value,
        quality_flags=facts.quality.flagged, flags=facts.flags + extra_flags,
        level=facts.level, geometry=facts.geometry, path=partial.path, file_format=kind,
        size_bytes=partial.size, content_sha256=partial.sha256, compression=compression,
        fsn=facts.fsn, img_type=facts.img_type, n_pixels=stats.n_pixels,
        n_missing=stats.n_missing, n_saturated=stats.n_saturated,
        disk_mean_dn_per_s=stats.disk_mean_dn_per_s)
    log.debug("ingested", path=partial.path, wavelength=facts.wavelength,
              t_obs=observation.key.t_obs, flags=",".join(observation.flags))
    return IngestResult(observation=observation, image=image, timings_s=timings)
