"""torch on CPU: the reference backend, always available.

fp32 only (the parity reference for every other backend), ``inference_mode``,
and the intra-op thread count from the config so inference does not fight the
preprocessing pool for cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from monitor.inference.base import (
    BackendPlugin,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    check_batch,
    warm_up_cpu,
)
from monitor.inference.settings import InferenceSettings
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.network import SolarResNet
    from monitor.models.package import ModelPackage

__all__ = ["TorchCPUBackend", "probe"]

log = get_logger(__name__)


def probe() -> tuple[bool, str]:
    """Always available: torch is a hard dependency."""
    return True, f"torch {torch.__version__}"


def available_cores() -> int:
    """Cores this process may run on (respects affinity / cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class TorchCPUBackend(BackendPlugin, name="torch_cpu", auto_rank=40, fp32_only=True):
    """torch eager on CPU, fp32.

    Parameters
    ----------
    threads : int
        Intra-op threads; 0 = all available cores.
    warmup_iterations : int
        Runs per warm-up batch size.
    """

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return probe()

    @classmethod
    def from_settings(cls, settings: InferenceSettings, cache_dir: Path) -> TorchCPUBackend:
        return cls(settings.cpu.threads, settings.warmup_iterations)

    def __init__(self, threads: int = 0, warmup_iterations: int = 3) -> None:
        self.threads = threads
        self.warmup_iterations = warmup_iterations
        self.model: SolarResNet | None = None
        self.shape: tuple[int, int, int] = (0, 0, 0)
        self.max_batch = 0

    def load(self, package: ModelPackage, device: str = "cpu", precision: Precision = "fp32",
             max_batch: int = 8) -> None:
        """Build the torch network from the package's safetensors weights."""
        if device != "cpu":
            raise BackendUnavailableError(self.name, f"runs on cpu only, not {device}")
        if precision != "fp32":
            raise BackendUnavailableError(self.name, f"runs fp32 only, not {precision}")
        threads = self.threads or available_cores()
        # Process-wide in torch: the CPU backends are the only torch compute users here.
        torch.set_num_threads(threads)
        self.model = package.build_torch_model("cpu")
        self.shape = package.input_shape
        self.max_batch = max_batch
        log.info("backend loaded", backend=self.name, threads=threads)

    def warmup(self) -> None:
        """Run batch 1 and batch max a few times (allocator and thread pool warm-up)."""
        warm_up_cpu(self, self.shape, self.max_batch, self.warmup_iterations)

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one batch."""
        if self.model is None:
            raise RuntimeError("backend not loaded")
        x = torch.from_numpy(check_batch(batch, self.shape, self.max_batch))
        with torch.inference_mode():
            logits, irradiance, features = self.model(x)
        return InferenceOutput(logits.numpy(), irradiance.numpy(), features.numpy())

    def close(self) -> None:
        """Drop the model."""
        self.model = None
