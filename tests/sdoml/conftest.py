"""The SDOML v2 miniature, written once per session by test code (never downloaded)."""

from __future__ import annotations

import pytest

from monitor.sdoml.testing import Miniature, write_miniature


@pytest.fixture(scope="session")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Miniature:
    """Two AIA year groups, the EVE store, a GOES JSON file and a HEK CSV."""
    return write_miniature(tmp_path_factory.mktemp("sdoml"))
