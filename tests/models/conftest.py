"""Shared fixtures for model tests: one small perturbed package per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.models.package import ModelPackage
from monitor.models.testing import make_random_package


@pytest.fixture(scope="session")
def small_package(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    """A verified 64 px package with the tiny test network (read-only: copy to tamper)."""
    return make_random_package(tmp_path_factory.mktemp("pkg") / "small", size=64, seed=3)


@pytest.fixture()
def package_copy(small_package: ModelPackage, tmp_path: Path) -> Path:
    """A private copy of the small package, safe to tamper with."""
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(small_package.path, dst)
    return dst
