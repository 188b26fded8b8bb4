"""Shared fixture of the train tests: the tiny configuration's sample cache, drawn once."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_tiny import tiny_config


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample cache of the tiny config, drawn once per session."""
    from monitor.train.data import cached_split
    from monitor.train.sources import synthetic_builders

    cache = tmp_path_factory.mktemp("train_cache")
    config = tiny_config(cache.parent, cache)
    for builder in synthetic_builders(config).values():
        cached_split(builder, cache, workers=2)
    return cache
