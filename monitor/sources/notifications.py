"""The "file available" notification: message format and key contract.

Value: a UTF-8 JSON object with exactly one of

- ``"path"``: absolute path of a complete file on storage the daemon can read
  (it must lie under one of the feed's ``path_roots``), or
- ``"url"``: an ``http(s)`` URL (it must lie in one of ``url_prefixes``, compared
  after normalisation, see :mod:`monitor.sources.urlpolicy`);
  the daemon downloads it like the HTTP feed does,

and optionally ``"t_obs"`` (ISO 8601, UTC, e.g. ``"2026-06-24T20:03:00.12Z"``),
``"wavelength"`` (int, Angstrom) and ``"key"`` (the frame key, see below).

Key: the frame key, ``YYYY-MM-DDTHH:MM:SSZ`` of the observation slot
(:func:`notification_key`). Kafka's default partitioner hashes the key, so
every channel of one frame lands on one partition and therefore on one
daemon instance of the consumer group, which can assemble the frame alone.
Producers must key every channel of a frame with the same slot: for JSOC
synoptic data the file name's time is the slot already; for level-1 data use
the time of the first image of the 12 s sequence (or its T_REC slot) for all
channels, not each channel's own T_OBS, which may straddle a slot boundary.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.sources.names import frame_key

__all__ = ["MAX_NOTIFICATION_BYTES", "NOTIFICATION_REASONS", "InvalidNotification", "Notification", "make_notification",
           "notification_key", "parse_notification", "parse_time"]

#: Every reason a notification is refused with (here and by the Kafka source).
NOTIFICATION_REASONS: tuple[str, ...] = (
    "not_json", "oversize", "not_object", "no_target", "bad_field", "path_not_allowed",
    "missing_file", "unsafe_name")

#: Largest notification read at all (a real one is ~200 bytes).
MAX_NOTIFICATION_BYTES = 64 * 1024
#: Longest path or URL in a notification (Linux's PATH_MAX).
MAX_TARGET_CHARS = 4096
#: A frame key is ``YYYY-MM-DDTHH:MM:SSZ``; other printable keys up to this length pass.
_KEY = re.compile(r"[\x21-\x7e]{1,64}")


class InvalidNotification(ValueError):
    """A message that is not a usable notification; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Notification:
    """A parsed notification."""

    path: str | None
    url: str | None
    t_obs: float | None
    wavelength: int | None
    key: str | None


def parse_time(value: str | float | datetime) -> float:
    """Unix seconds from an ISO 8601 string (naive means UTC), a datetime or a number."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"not a finite time: {value}")
        return float(value)
    elif isinstance(value, str):
        when = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a time: {value!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def notification_key(t_obs: str | float | datetime, cadence_s: float = 12.0) -> bytes:
    """Kafka key of a notification: the observation slot, ``YYYY-MM-DDTHH:MM:SSZ``.

    Parameters
    ----------
    t_obs : str, float or datetime
        Time of the frame (ISO 8601 UTC, Unix seconds or datetime).
    cadence_s : float
        Frame cadence: 12 for AIA level-1 EUV, 180 for JSOC synoptic NRT.
    """
    return frame_key(parse_time(t_obs), cadence_s).encode()


def make_notification(*, path: str | None = None, url: str | None = None,
                      t_obs: str | float | datetime | None = None,
                      wavelength: int | None = None,
                      cadence_s: float = 12.0) -> tuple[bytes | None, bytes]:
    """Key and value of a notification, for producers and tests.

    Returns
    -------
    key : bytes or None
        :func:`notification_key` of ``t_obs`` (None without a time).
    value : bytes
        The JSON message.
    """
    if (path is None) == (url is None):
        raise ValueError("give exactly one of path or url")
    message: dict[str, object] = {"path": path} if path is not None else {"url": url}
    key = None
    if t_obs is not None:
        seconds = parse_time(t_obs)
        message["t_obs"] = datetime.fromtimestamp(seconds, tz=UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        key = frame_key(seconds, cadence_s).encode()
        message["key"] = key.decode()
    if wavelength is not None:
        message["wavelength"] = int(wavelength)
    return key, json.dumps(message, separators=(",", ":")).encode()


def parse_notification(value: bytes | None, key: bytes | None = None) -> Notification:
    """Validate a notification message.

    Raises
    ------
    InvalidNotification
        With ``reason`` one of ``not_json``, ``oversize``, ``not_object``,
        ``no_target``, ``bad_field``.
    """
    if value is None:
        raise InvalidNotification("not_json", "empty message (tombstone)")
    if len(value) > MAX_NOTIFICATION_BYTES:
        raise InvalidNotification("oversize", f"{len(value)} bytes, more than "
                                              f"{MAX_NOTIFICATION_BYTES}")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification("not_json", str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidNotification("not_object", f"expected an object, got {type(data).__name__}")
    path, url = data.get("path"), data.get("url")
    if (path is None) == (url is None):
        raise InvalidNotification("no_target", "need exactly one of 'path' or 'url'")
    target = path if path is not None else url
    if not isinstance(target, str):
        raise InvalidNotification("bad_field", "'path'/'url' must be a string")
    if not target or len(target) > MAX_TARGET_CHARS:
        raise InvalidNotification("bad_field", f"'path'/'url' must have 1-{MAX_TARGET_CHARS} "
                                               f"characters, got {len(target)}")
    if not target.isprintable():
        raise InvalidNotification("bad_field", "'path'/'url' holds control characters "
                                               "(NUL, newline, ...)")
    t_obs = None
    if data.get("t_obs") is not None:
        try:
            t_obs = parse_time(data["t_obs"])
        except (ValueError, TypeError) as exc:
            raise InvalidNotification("bad_field", f"t_obs: {exc}") from None
    wavelength = data.get("wavelength")
    if wavelength is not None and (not isinstance(wavelength, int) or isinstance(wavelength, bool)):
        raise InvalidNotification("bad_field", f"wavelength must be an integer, got {wavelength!r}")
    frame = data.get("key")
    if frame is not None and not (isinstance(frame, str) and _KEY.fullmatch(frame)):
        raise InvalidNotification("bad_field", "key must be 1-64 visible ASCII characters "
                                               "(a frame key YYYY-MM-DDTHH:MM:SSZ)")
    if frame is None and key and _KEY.fullmatch(key.decode("utf-8", "replace")):
        frame = key.decode()  # a longer or binary Kafka key only partitions
    return Notification(path, url, t_obs, wavelength, frame)
