"""The backend protocol and the data that crosses it.

Every backend (TensorRT, torch CUDA, ONNX Runtime, torch CPU) runs the same
model package and returns the same three float32 arrays, so the pipeline,
saliency and publishing never know which one served a frame. A backend is
used by ONE thread (the batcher's worker owns the device): implementations
need not be thread-safe, but ``close()`` must be safe to call twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np

from monitor.inference.settings import InferenceSettings
from monitor.plugins import Registry

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendPlugin",
    "BackendUnavailableError",
    "InferenceOutput",
    "Precision",
    "Runner",
    "auto_order",
    "check_batch",
    "resolve_precision",
    "warm_up_cpu",
]

Precision = Literal["fp32", "fp16", "bf16"]


class BackendUnavailableError(RuntimeError):
    """A backend cannot run here (missing library, no GPU, unsupported precision).

    Parameters
    ----------
    backend : str
        Backend name.
    reason : str
        Why, in words an operator can act on.
    """

    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend
        self.reason = reason
        super().__init__(f"backend {backend!r} is unavailable: {reason}")


class BackendError(RuntimeError):
    """A loaded backend failed to run a batch."""


@dataclass(frozen=True)
class InferenceOutput:
    """Outputs of one batch, float32 numpy arrays with the batch as first axis.

    Attributes
    ----------
    logits : numpy.ndarray
        ``(B, K)`` class scores.
    irradiance : numpy.ndarray
        ``(B, L)`` irradiance in the package's target space
        (``ModelPackage.manifest.irradiance_w_m2`` converts to W m^-2).
    features : numpy.ndarray
        ``(B, F, h, w)`` last feature maps (for CAM saliency).
    """

    logits: np.ndarray
    irradiance: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    def slice(self, start: int, stop: int) -> InferenceOutput:
        """Rows ``start:stop`` as their own (copied) output, so callers never share memory."""
        return InferenceOutput(
            logits=self.logits[start:stop].copy(),
            irradiance=self.irradiance[start:stop].copy(),
            features=self.features[start:stop].copy(),
        )

    @classmethod
    def concat(cls, parts: list[InferenceOutput]) -> InferenceOutput:
        """Stack outputs along the batch axis."""
        return cls(
            logits=np.concatenate([p.logits for p in parts]),
            irradiance=np.concatenate([p.irradiance for p in parts]),
            features=np.concatenate([p.features for p in parts]),
        )


@runtime_checkable
class Runner(Protocol):
    """What the batcher needs: something loaded that runs batches."""

    name: str

    def warmup(self) -> None:
        """Run representative batches so the first real frame sees steady-state latency."""

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one ``(B, C, N, N)`` float32 batch, ``1 <= B <= max_batch``."""

    def close(self) -> None:
        """Release device memory and handles; idempotent."""


@runtime_checkable
class Backend(Runner, Protocol):
    """An inference backend.

    Lifecycle: construct (cheap, no device work) -> :meth:`load` -> :meth:`warmup`
    -> :meth:`infer` any number of times -> :meth:`close`.
    """

    def load(self, package: ModelPackage, device: str, precision: Precision,
             max_batch: int) -> None:
        """Prepare the package on ``device`` in ``precision`` for batches up to ``max_batch``.

        Raises
        ------
        BackendUnavailableError
            When this backend cannot serve the request here.
        """


class BackendPlugin:
    """How a backend registers: ``class X(BackendPlugin, name="torch_cpu", auto_rank=40)``.

    Parameters (class keywords)
    ---------------------------
    name : str
        ``inference.backend`` value that forces it.
    auto_rank : int
        Its place in ``auto`` mode (lowest tried first).
    gpu : bool
        It runs on ``inference.device``; otherwise on the CPU.
    fp32_only : bool
        It runs the fp32 graph whatever precision is asked for in ``auto`` mode.
    """

    name: ClassVar[str] = ""
    auto_rank: ClassVar[int] = 0
    gpu: ClassVar[bool] = False
    fp32_only: ClassVar[bool] = False

    def __init_subclass__(cls, name: str | None = None, auto_rank: int = 100,
                          gpu: bool = False, fp32_only: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name, cls.auto_rank, cls.gpu, cls.fp32_only = name, auto_rank, gpu, fp32_only
            BACKENDS.add(name, cls)

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        """Whether it can run here and why not (cheap: imports and device queries)."""
        raise NotImplementedError(f"{cls.__name__} does not say whether it can run")

    @classmethod
    def from_settings(cls, settings: InferenceSettings, cache_dir: Path) -> Self:
        """Construct (not load) it from the ``inference`` settings."""
        raise NotImplementedError(f"{cls.__name__} does not say how to build it")

    # the Backend protocol, implemented by each backend
    def load(self, package: ModelPackage, device: str, precision: Precision,
             max_batch: int) -> None:
        raise NotImplementedError

    def warmup(self) -> None:
        raise NotImplementedError

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @classmethod
    def device_for(cls, settings: InferenceSettings) -> str:
        """The device it loads on."""
        return settings.device if cls.gpu else "cpu"

    @classmethod
    def precision_for(cls, settings: InferenceSettings, device: str) -> Precision:
        """The precision it runs in."""
        return "fp32" if cls.fp32_only else resolve_precision(settings.precision,
                                                              gpu=device != "cpu")


#: Every inference backend, found by name in this package's modules.
BACKENDS: Registry[BackendPlugin] = Registry("monitor.inference", "inference backend")


def auto_order() -> tuple[str, ...]:
    """Backend names in the order ``auto`` tries them."""
    return tuple(c.name for c in sorted(BACKENDS.classes(), key=lambda c: c.auto_rank))


def warm_up_cpu(backend: Runner, shape: tuple[int, int, int], max_batch: int,
                iterations: int) -> None:
    """Run batch 1 and batch ``max_batch`` ``iterations`` times each: the CPU backends'
    warm-up (allocators, thread pools, kernel selection)."""
    for b in sorted({1, max_batch}):
        x = np.zeros((b, *shape), dtype=np.float32)
        for _ in range(iterations):
            backend.infer(x)


def resolve_precision(requested: str, gpu: bool) -> Precision:
    """``auto`` -> fp16 on GPU backends, fp32 on CPU backends; others pass through."""
    if requested == "auto":
        return "fp16" if gpu else "fp32"
    if requested not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"unknown precision {requested!r}")
    return requested  # type: ignore[return-value]


def check_batch(batch: np.ndarray, shape: tuple[int, int, int], max_batch: int) -> np.ndarray:
    """Validate a batch and return it as C-contiguous float32.

    Parameters
    ----------
    batch : numpy.ndarray
        ``(B, C, N, N)`` input.
    shape : tuple of int
        Expected ``(C, N, N)``.
    max_batch : int
        Largest allowed ``B``.

    Raises
    ------
    ValueError
        On a wrong shape, an empty or too large batch.
    """
    if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(shape):
        raise ValueError(f"batch shape {tuple(batch.shape)} does not match (B, {shape[0]}, "
                         f"{shape[1]}, {shape[2]})")
    if not 1 <= batch.shape[0] <= max_batch:
        raise ValueError(f"batch size {batch.shape[0]} outside 1..{max_batch}")
    return np.ascontiguousarray(batch, dtype=np.float32)
