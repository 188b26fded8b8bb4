"""ONNX Runtime: the fast CPU path (measured ~2x torch eager at 512 px), CUDA when installed.

Runs the package's ``model.onnx`` directly. The CPU provider is fp32; the CUDA
provider is used only when the onnxruntime-gpu build is installed and the
config allows it (``inference.onnxruntime_cuda``), also in fp32 (an fp16 ONNX
would be a separate graph, which only the TensorRT backend builds).

Named ``ort_backend`` so that ``import onnxruntime`` inside the package is
never shadowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.inference.base import (
    BackendPlugin,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    check_batch,
    warm_up_cpu,
)
from monitor.inference.settings import InferenceSettings
from monitor.inference.torch_cpu import available_cores
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = ["OnnxRuntimeBackend", "probe", "probe_cuda"]

log = get_logger(__name__)


def probe() -> tuple[bool, str]:
    """Available when onnxruntime imports and offers the CPU provider."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return False, f"onnxruntime not importable: {exc}"
    if "CPUExecutionProvider" not in ort.get_available_providers():
        return False, f"onnxruntime {ort.__version__} has no CPUExecutionProvider"
    return True, f"onnxruntime {ort.__version__}"


def probe_cuda() -> tuple[bool, str]:
    """Whether the CUDA execution provider is installed (onnxruntime-gpu)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return False, f"onnxruntime not importable: {exc}"
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return False, f"onnxruntime {ort.__version__} is the CPU build (providers {providers})"
    return True, f"onnxruntime {ort.__version__} with CUDAExecutionProvider"


class OnnxRuntimeBackend(BackendPlugin, name="onnxruntime", auto_rank=30, fp32_only=True):
    """ONNX Runtime InferenceSession over ``model.onnx``.

    Parameters
    ----------
    threads : int
        Intra-op threads on CPU; 0 = all available cores.
    warmup_iterations : int
        Runs per warm-up batch size.
    """

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return probe()

    @classmethod
    def from_settings(cls, settings: InferenceSettings, cache_dir: Path) -> OnnxRuntimeBackend:
        return cls(settings.cpu.threads, settings.warmup_iterations)

    @classmethod
    def device_for(cls, settings: InferenceSettings) -> str:
        """The CUDA provider when allowed and installed, else the CPU."""
        if settings.onnxruntime_cuda and probe_cuda()[0]:
            return settings.device
        return "cpu"

    def __init__(self, threads: int = 0, warmup_iterations: int = 3) -> None:
        self.threads = threads
        self.warmup_iterations = warmup_iterations
        self.session: Any = None
        self.shape: tuple[int, int, int] = (0, 0, 0)
        self.max_batch = 0
        self.input_name = "image"
        self.output_names: list[str] = []
        self.device = "cpu"

    def load(self, package: ModelPackage, device: str = "cpu", precision: Precision = "fp32",
             max_batch: int = 8) -> None:
        """Create the session on the CPU provider, or the CUDA provider for ``cuda[:i]``."""
        ok, reason = probe()
        if not ok:
            raise BackendUnavailableError(self.name, reason)
        if precision != "fp32":
            raise BackendUnavailableError(self.name, f"runs the fp32 ONNX graph, not {precision}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        providers: list[Any]
        if device == "cpu":
            options.intra_op_num_threads = self.threads or available_cores()
            # Inter-op parallelism buys nothing for a sequential CNN; keep one pool.
            options.inter_op_num_threads = 1
            providers = ["CPUExecutionProvider"]
        elif device.startswith("cuda"):
            ok, reason = probe_cuda()
            if not ok:
                raise BackendUnavailableError(self.name, reason)
            index = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            raise BackendUnavailableError(self.name, f"unknown device {device!r}")
        self.session = ort.InferenceSession(str(package.onnx_path), options, providers=providers)
        if device.startswith("cuda") and \
                self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendUnavailableError(self.name, "CUDA provider failed to initialise "
                                                     f"(got {self.session.get_providers()})")
        self.device = device
        self.shape = package.input_shape
        self.max_batch = max_batch
        self.input_name = package.manifest.input.name
        self.output_names = list(package.manifest.output_names)
        log.info("backend loaded", backend=self.name, providers=self.session.get_providers(),
                 threads=options.intra_op_num_threads)

    def warmup(self) -> None:
        """Run batch 1 and batch max a few times (memory arena and kernel selection)."""
        warm_up_cpu(self, self.shape, self.max_batch, self.warmup_iterations)

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one batch."""
        if self.session is None:
            raise RuntimeError("backend not loaded")
        x = check_batch(batch, self.shape, self.max_batch)
        logits, irradiance, features = self.session.run(self.output_names, {self.input_name: x})
        return InferenceOutput(logits, irradiance, features)

    def close(self) -> None:
        """Drop the session (frees its arena)."""
        self.session = None
