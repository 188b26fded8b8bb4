"""Helpers of the GOES tests (imported by them; not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

#: ../shared/data/goes relative to the project root (read-only real data).
SHARED_GOES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "goes"


def sunpy_test_file(name: str) -> Path:
    """A file of ``sunpy.data.test``."""
    import sunpy.data.test

    return Path(sunpy.data.test.rootdir) / name


def at(day: str, hhmm: str) -> float:
    """Unix time of ``YYYY-MM-DD`` ``HH:MM`` UTC."""
    return datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()
