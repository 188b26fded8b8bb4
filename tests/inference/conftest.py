"""Shared fixtures for inference tests: a small verified package and loaded CPU backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.models.package import ModelPackage
from monitor.models.testing import make_random_package


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    """A verified 64 px package with the tiny test network."""
    return make_random_package(tmp_path_factory.mktemp("inference") / "pkg", size=64, seed=11)


@pytest.fixture()
def torch_backend(package: ModelPackage) -> Iterator[TorchCPUBackend]:
    """torch CPU backend, 1 thread (the CI box has 2 shared cores), max batch 4."""
    backend = TorchCPUBackend(threads=1, warmup_iterations=1)
    backend.load(package, "cpu", "fp32", max_batch=4)
    yield backend
    backend.close()


@pytest.fixture()
def ort_backend(package: ModelPackage) -> Iterator[OnnxRuntimeBackend]:
    """ONNX Runtime CPU backend, 1 thread, max batch 4."""
    backend = OnnxRuntimeBackend(threads=1, warmup_iterations=1)
    backend.load(package, "cpu", "fp32", max_batch=4)
    yield backend
    backend.close()

