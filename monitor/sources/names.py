"""File-name rules shared by the sources: temporary names, safe local names, AIA names.

Writers that follow the rename-into-place convention write to a temporary
name first; those names must never be picked up. Names that come from the
network (listings, notifications) must never be able to escape the spool.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["UnsafeName", "frame_key", "fsync_directory", "is_temporary", "parse_aia_name",
           "safe_local_path", "within"]

# rsync uses ".name.XXXXXX", wget/curl ".part", WinSCP ".filepart", editors "~",
# many tools ".tmp"; the daemon's own downloads are ".sdo-dl-*.part".
_TEMP_SUFFIXES = (".part", ".tmp", ".temp", ".filepart", ".partial", ".crdownload", "~",
                  ".swp")


class UnsafeName(ValueError):
    """A name from the network or a message that could escape its directory."""


def is_temporary(name: str) -> bool:
    """True for names that are work in progress (dotfiles, ``*.part``, ``*.tmp``...)."""
    lowered = name.lower()
    return name.startswith((".", "#")) or lowered.endswith(_TEMP_SUFFIXES)


def within(path: Path, root: Path) -> bool:
    """True when ``path`` (already resolved) lies inside ``root`` (already resolved)."""
    return path == root or root in path.parents


def safe_local_path(directory: Path, name: str) -> Path:
    """``directory / name`` for a single file name that came from outside.

    Rejects empty names, ``.``/``..``, separators, NUL, hidden or temporary
    names and names longer than the file system allows, and checks that the
    result lies in ``directory`` after resolving symlinks.

    Raises
    ------
    UnsafeName
        When the name is unusable.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafeName(f"unsafe file name {name!r}")
    if is_temporary(name):
        raise UnsafeName(f"temporary or hidden file name {name!r}")
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        raise UnsafeName("file name longer than 255 bytes")
    root = directory.resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise UnsafeName(f"file name {name!r} resolves outside {root}")
    return root / name


_NRT = re.compile(r"^AIA(\d{8})_(\d{4}|\d{6})_(\d{4})\.fits?$")
# aia.lev1.171A_2011-06-07T06-41-12.34Z.image_lev1.fits (JSOC export names; the
# synthetic feed writes the same shape), also aia.lev1_euv_12s.2011-06-07T064112Z.171.image
_LEV1 = re.compile(
    r"^aia\.lev1\.(\d{2,4})A_(\d{4}-\d{2}-\d{2})T(\d{2})[-:](\d{2})[-:](\d{2}(?:\.\d+)?)Z")
_LEV1_EXPORT = re.compile(
    r"^aia\.lev1(?:_\w+)?\.(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})Z\.(\d{2,4})\.image")


def parse_aia_name(name: str) -> tuple[float, int] | None:
    """Observation time (Unix seconds) and wavelength from a known AIA file name.

    Knows JSOC synoptic names (``AIA20260624_200300_0171.fits``, whose time is
    the slot), JSOC level-1 export names
    (``aia.lev1.171A_2011-06-07T06-41-12.34Z.image_lev1.fits``) and
    ``aia.lev1_euv_12s.2011-06-07T064112Z.171.image_lev1.fits``. Returns None
    for anything else; the header stays the authority.
    """
    try:
        if m := _NRT.match(name):
            day, hms, wave = m.groups()
            fmt = "%Y%m%d%H%M%S" if len(hms) == 6 else "%Y%m%d%H%M"
            when = datetime.strptime(day + hms, fmt)
            return when.replace(tzinfo=UTC).timestamp(), int(wave)
        if m := _LEV1.match(name):
            wave, day, hh, mm, ss = m.groups()
            when = datetime.strptime(f"{day}T{hh}:{mm}:00", "%Y-%m-%dT%H:%M:%S")
            return when.replace(tzinfo=UTC).timestamp() + float(ss), int(wave)
        if m := _LEV1_EXPORT.match(name):
            day, hh, mm, ss, wave = m.groups()
            when = datetime.strptime(f"{day}T{hh}{mm}{ss}", "%Y-%m-%dT%H%M%S")
            return when.replace(tzinfo=UTC).timestamp(), int(wave)
    except ValueError:
        return None
    return None


def frame_key(t_obs: float, cadence_s: float = 12.0) -> str:
    """The frame slot of an observation time, ``YYYY-MM-DDTHH:MM:SSZ``.

    All channels of one frame share it when their times fall in the same
    ``cadence_s`` slot (true for JSOC synoptic names, whose time is the slot;
    see docs/sources.md for level-1 data).
    """
    slot = (t_obs // cadence_s) * cadence_s
    return datetime.fromtimestamp(slot, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort on file systems without it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
