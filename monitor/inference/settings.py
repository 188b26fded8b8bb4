"""Inference settings (the ``inference:`` section of the config).

Operations-center defaults: pick the fastest available backend (``auto``),
batch up to 8 frames or 20 ms, whichever comes first (at AIA's 12 s cadence
latency matters more than throughput, but backfill benefits from batches),
and cache TensorRT engines so a restart never rebuilds.

The backends' own options (``cpu``, ``torch_cuda``, ``tensorrt``) are defined
here with the section rather than in the backends' modules: every backend is
built from the whole section (``BackendPlugin.from_settings`` reads the
warm-up, device and precision besides its own part), so a backend module that
defined its part would import this module while this module imported it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "MAX_SHADOWS",
    "CpuSettings",
    "InferenceSettings",
    "TensorRTSettings",
    "TorchCudaSettings",
]

#: What ``inference.backend`` accepts: ``auto`` or a registered backend's name (spelled
#: out so the config schema and type checkers see the choices; a test keeps it equal to
#: the registry).
BackendName = Literal["auto", "tensorrt", "torch_cuda", "onnxruntime", "torch_cpu"]
Precision = Literal["auto", "fp32", "fp16", "bf16"]

#: Most shadow packages one daemon runs (metric label ``package`` stays small).
MAX_SHADOWS = 4


@dataclass(frozen=True)
class TensorRTSettings:
    """TensorRT engine building and caching."""

    engine_cache_dir: Path | None = field(
        default=None,
        metadata={"doc": "where engines and the timing cache live; None = "
                         "<service.cache_dir>/tensorrt"})
    build_in_background: bool = field(
        default=True,
        metadata={"doc": "serve from the next backend (degraded) while an engine builds"})
    workspace_mib: int = field(
        default=1024, metadata={"ge": 16, "doc": "builder workspace limit (MiB)"})
    optimization_level: int = field(
        default=3, metadata={"ge": 0, "le": 5, "doc": "builder optimisation level (TRT default 3)"})
    cuda_graphs: bool = field(
        default=True, metadata={"doc": "replay CUDA graphs per batch size (falls back if "
                                       "capture fails)"})
    max_cached_engines: int = field(
        default=8, metadata={"ge": 1, "doc": "engines kept per cache dir (oldest removed)"})


@dataclass(frozen=True)
class TorchCudaSettings:
    """torch CUDA backend options."""

    cuda_graphs: bool = field(
        default=True, metadata={"doc": "capture one CUDA graph per batch size bucket"})
    channels_last: bool = field(default=True, metadata={"doc": "NHWC memory format for convs"})


@dataclass(frozen=True)
class CpuSettings:
    """CPU backends (torch CPU, ONNX Runtime CPU)."""

    threads: int = field(
        default=0, metadata={"ge": 0, "doc": "intra-op threads; 0 = all cores the process "
                                             "may use"})


@dataclass(frozen=True)
class InferenceSettings:
    """How the model runs: backend choice, precision, batching, warm-up."""

    backend: BackendName = field(
        default="auto",
        metadata={"doc": "auto = first available of tensorrt, torch_cuda, onnxruntime, "
                         "torch_cpu; a name forces that backend (error if unavailable)"})
    precision: Precision = field(
        default="auto",
        metadata={"doc": "auto = fp16 on GPU backends, fp32 on CPU backends"})
    device: str = field(default="cuda:0", metadata={"doc": "CUDA device of the GPU backends"})
    onnxruntime_cuda: bool = field(
        default=False,
        metadata={"doc": "let the onnxruntime backend use its CUDA provider when installed"})
    max_batch: int = field(
        default=8, metadata={"ge": 1, "le": 256, "doc": "largest batch (frames) per inference"})
    max_wait_ms: float = field(
        default=20.0, metadata={"gt": 0, "le": 10_000,
                                "doc": "longest a frame waits for its batch to fill"})
    queue_size: int = field(
        default=64, metadata={"ge": 1, "doc": "requests waiting for the batcher before "
                                              "submit() blocks"})
    warmup_iterations: int = field(
        default=3, metadata={"ge": 0, "le": 100, "doc": "warm-up runs per batch size before "
                                                        "readiness"})
    model_package: Path | None = field(
        default=None, metadata={"doc": "model package directory (normally a symlink that "
                                       "'sdo-monitor promote' replaces); None = the shipped "
                                       "default"})
    verify_package: bool = field(
        default=True, metadata={"doc": "check sha256 and ONNX/torch parity at start and at "
                                       "every model switch"})
    package_watch_s: float = field(
        default=5.0, metadata={"ge": 0, "doc": "poll period of model_package's resolved "
                                               "target: a new target is switched to without "
                                               "a restart (0 = only on SIGHUP)"})
    shadow: tuple[Path, ...] = field(
        default=(),
        metadata={"doc": "candidate (\"shadow\") package directories: each runs on the "
                         "serving package's preprocessed frames, on the same backend "
                         "choice, when the pipeline has spare capacity; results go to "
                         "<prefix>.frames.shadow and are scored against GOES, never to "
                         "the alert rules. At most 4; same grid size as the serving "
                         "package, channels among its channels"})
    cpu: CpuSettings = field(default_factory=CpuSettings)
    torch_cuda: TorchCudaSettings = field(default_factory=TorchCudaSettings)
    tensorrt: TensorRTSettings = field(default_factory=TensorRTSettings)

    def check(self) -> list[tuple[str, str]]:
        """Cross-field rules."""
        problems: list[tuple[str, str]] = []
        if self.backend in ("onnxruntime", "torch_cpu") and self.precision in ("fp16", "bf16"):
            problems.append(("precision", (f"{self.backend} runs the fp32 graph; "
                                          f"{self.precision} needs tensorrt or torch_cuda")))
        if self.backend == "tensorrt" and self.precision == "bf16":
            problems.append(("precision", "the tensorrt backend builds fp32 or fp16 engines"))
        if not (self.device == "cuda" or self.device.startswith("cuda:")):
            problems.append(("device", "must be 'cuda' or 'cuda:<index>'"))
        if len(self.shadow) > MAX_SHADOWS:
            problems.append(("shadow", f"at most {MAX_SHADOWS} shadow packages "
                                       f"(each costs memory and spare capacity), "
                                       f"got {len(self.shadow)}"))
        resolved = [path.resolve() for path in self.shadow]
        for i, path in enumerate(resolved):
            if path in resolved[:i]:
                problems.append((f"shadow[{i}]", f"{self.shadow[i]} is listed twice"))
            elif self.model_package is not None and path == self.model_package.resolve():
                problems.append((f"shadow[{i}]", f"{self.shadow[i]} is the serving package "
                                                 "(inference.model_package)"))
        return problems
