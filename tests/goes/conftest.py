"""Fixtures of the GOES tests: the real GOES days (sunpy's test files, the shared data folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from goes_support import SHARED_GOES, sunpy_test_file

from monitor.goes.files import GoesDay, read_goes_file


@pytest.fixture(scope="session")
def shared_goes() -> Path:
    if not (SHARED_GOES / "goes_catalog_with_noaa_ar2.csv").exists():
        pytest.skip(f"the shared GOES data folder is not here ({SHARED_GOES})")
    return SHARED_GOES


@pytest.fixture(scope="session")
def day_2011_06_07() -> GoesDay:
    """sunpy's GOES-15 day with the M2.5 flare (2-s operational data)."""
    return read_goes_file(sunpy_test_file("go1520110607.fits"))


@pytest.fixture(scope="session")
def day_2012_06_01() -> GoesDay:
    """sunpy's GOES-15 day whose largest event is about C3 (2-s operational data)."""
    return read_goes_file(sunpy_test_file("go1520120601.fits.gz"))


@pytest.fixture(scope="session")
def science_days(shared_goes: Path) -> dict[str, GoesDay]:
    """The five GOES-15 science-quality days, by date."""
    days = {}
    for path in sorted(shared_goes.glob("sci_xrsf-l2-avg1m_g15_d*_v1-0-0.nc")):
        stamp = path.name.split("_d")[1][:8]
        days[f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"] = read_goes_file(path)
    assert len(days) == 5, sorted(os.listdir(shared_goes))
    return days
