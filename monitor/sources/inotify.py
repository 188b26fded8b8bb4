"""A minimal Linux inotify watch through ctypes (no dependency), for the spool.

Only what the spool needs: one directory, the events that say a file became
visible under its final name (``IN_MOVED_TO``: renamed into place) or that a
writer closed it (``IN_CLOSE_WRITE``), and overflow. The file descriptor is
non-blocking so the event loop reads it with ``add_reader``; polling remains
the safety net for anything missed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IN_CLOSE_WRITE", "IN_MOVED_TO", "IN_Q_OVERFLOW", "InotifyEvent", "InotifyWatch"]

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


@dataclass(frozen=True)
class InotifyEvent:
    """One event: the mask bits and the file name (empty for the directory itself)."""

    mask: int
    name: str


class InotifyWatch:
    """Watch one directory for files renamed into place or closed after writing.

    Raises
    ------
    OSError
        When inotify is unavailable (not Linux, no libc, limits reached).
    """

    def __init__(self, directory: Path) -> None:
        libc_name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            self._libc = ctypes.CDLL(libc_name, use_errno=True)
            init1 = self._libc.inotify_init1
        except (OSError, AttributeError) as exc:
            raise OSError(f"inotify unavailable: {exc}") from None
        fd = init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        mask = (IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF
                | IN_ONLYDIR)
        wd = self._libc.inotify_add_watch(fd, os.fsencode(directory), mask)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch({directory}): {os.strerror(err)}")

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[InotifyEvent]:
        """Events queued so far (non-blocking; empty when none)."""
        events: list[InotifyEvent] = []
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return events
            if not data:
                return events
            offset = 0
            while offset + _HEADER.size <= len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                raw = data[offset:offset + length].split(b"\x00", 1)[0]
                offset += length
                events.append(InotifyEvent(mask, os.fsdecode(raw)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
