"""torch on CUDA: fp16/bf16 autocast, channels_last, CUDA graphs, pinned host memory.

The GPU path when TensorRT is absent or still building its engine.

- Batch norms are folded into the convolutions once at load (free speed, same
  numbers in eval mode).
- Autocast runs the convolutions in fp16 (or bf16); the network keeps the
  image statistics and the linear irradiance model in fp32 itself. The autocast
  weight cache is disabled because a cache filled during graph capture would
  be freed after it (torch documents this for ``make_graphed_callables``).
- One CUDA graph per batch-size bucket (powers of two up to ``max_batch``, and
  ``max_batch``): a batch is zero-padded to the next bucket, so a handful of
  graphs cover every size and replay has no Python or launch overhead.
- Host staging buffers are pinned so the host<->device copies are asynchronous
  on the backend's own stream (never the default stream).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from monitor.inference.base import (
    BackendPlugin,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    check_batch,
)
from monitor.inference.settings import InferenceSettings
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = ["TorchCUDABackend", "batch_buckets", "probe"]

log = get_logger(__name__)

_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def probe() -> tuple[bool, str]:
    """Available when this torch build has CUDA and sees a device."""
    if not torch.backends.cuda.is_built():
        return False, f"torch {torch.__version__} was built without CUDA"
    if not torch.cuda.is_available():
        return False, "no CUDA device visible (driver missing or CUDA_VISIBLE_DEVICES empty)"
    name = torch.cuda.get_device_name(0)
    return True, f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}"


def batch_buckets(max_batch: int) -> tuple[int, ...]:
    """Batch sizes that get a CUDA graph: powers of two below ``max_batch``, and ``max_batch``."""
    sizes = {max_batch}
    b = 1
    while b < max_batch:
        sizes.add(b)
        b *= 2
    return tuple(sorted(sizes))


class TorchCUDABackend(BackendPlugin, name="torch_cuda", auto_rank=20, gpu=True):
    """torch eager or CUDA-graph replay on one GPU.

    Parameters
    ----------
    cuda_graphs : bool
        Capture and replay CUDA graphs per batch bucket.
    channels_last : bool
        NHWC memory format (faster tensor-core convolutions).
    warmup_iterations : int
        Runs per bucket before readiness.
    """

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return probe()

    @classmethod
    def from_settings(cls, settings: InferenceSettings, cache_dir: Path) -> TorchCUDABackend:
        return cls(settings.torch_cuda.cuda_graphs, settings.torch_cuda.channels_last,
                   settings.warmup_iterations)

    def __init__(self, cuda_graphs: bool = True, channels_last: bool = True,
                 warmup_iterations: int = 3) -> None:
        self.cuda_graphs = cuda_graphs
        self.channels_last = channels_last
        self.warmup_iterations = warmup_iterations
        self.model: Any = None
        self.device = torch.device("cpu")
        self.dtype = torch.float16
        self.shape: tuple[int, int, int] = (0, 0, 0)
        self.max_batch = 0
        self.buckets: tuple[int, ...] = ()
        self.stream: Any = None
        self.static_in: dict[int, torch.Tensor] = {}
        self.static_out: dict[int, tuple[torch.Tensor, ...]] = {}
        self.graphs: dict[int, Any] = {}
        self.host_in: torch.Tensor | None = None
        self.dev_in: torch.Tensor | None = None
        self.host_out: tuple[torch.Tensor, ...] = ()

    def load(self, package: ModelPackage, device: str = "cuda:0", precision: Precision = "fp16",
             max_batch: int = 8) -> None:
        """Load weights to the GPU and allocate static and pinned buffers."""
        ok, reason = probe()
        if not ok:
            raise BackendUnavailableError(self.name, reason)
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise BackendUnavailableError(self.name, "this GPU does not support bf16")
        from monitor.models.onnx_export import fuse_batchnorm

        self.device = torch.device(device)
        self.dtype = _DTYPES[precision]
        self.shape = package.input_shape
        self.max_batch = max_batch
        self.buckets = batch_buckets(max_batch)
        model = fuse_batchnorm(package.build_torch_model("cpu")).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()
        self.stream = torch.cuda.Stream(device=self.device)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for b in self.buckets:
            self.static_in[b] = torch.zeros((b, *self.shape), device=self.device).contiguous(
                memory_format=fmt)
        self.host_in = torch.empty((max_batch, *self.shape), dtype=torch.float32).pin_memory()
        # NCHW landing buffer: the pinned copy stays a plain async memcpy, and the
        # NCHW -> channels_last conversion happens on the GPU.
        self.dev_in = torch.empty((max_batch, *self.shape), device=self.device)
        # Buffers were made on the default stream; order them before work on ours.
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            outs = self._forward(self.static_in[self.buckets[0]])
        self.stream.synchronize()
        self.host_out = tuple(torch.empty((max_batch, *o.shape[1:]), dtype=torch.float32)
                              .pin_memory() for o in outs)
        log.info("backend loaded", backend=self.name, device=str(self.device), precision=precision,
                 gpu=torch.cuda.get_device_name(self.device), buckets=list(self.buckets))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        enabled = self.dtype != torch.float32
        with torch.autocast("cuda", dtype=self.dtype, enabled=enabled, cache_enabled=False):
            return tuple(self.model(x))

    def _capture(self) -> None:
        # One private memory pool per graph: a shared pool could place one graph's
        # outputs in another's scratch memory; the net is small enough not to care.
        for b in self.buckets:
            graph = torch.cuda.CUDAGraph()
            # thread_local: a TensorRT build in another thread must not break this capture.
            with torch.inference_mode(), torch.cuda.graph(graph, stream=self.stream,
                                                          capture_error_mode="thread_local"):
                self.static_out[b] = self._forward(self.static_in[b])
            self.graphs[b] = graph

    def warmup(self) -> None:
        """Eager runs per bucket on the side stream, then CUDA-graph capture and replays."""
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            for b in self.buckets:
                for _ in range(max(self.warmup_iterations, 1)):
                    self.static_out[b] = self._forward(self.static_in[b])
        self.stream.synchronize()
        if self.cuda_graphs:
            try:
                self._capture()
            except RuntimeError as exc:
                self.graphs.clear()
                log.warning("CUDA graph capture failed; running eager", backend=self.name,
                            error=str(exc))
        for b in self.buckets:
            x = np.zeros((b, *self.shape), dtype=np.float32)
            for _ in range(self.warmup_iterations):
                self.infer(x)

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one batch (padded to its bucket)."""
        if self.model is None or self.host_in is None or self.dev_in is None:
            raise RuntimeError("backend not loaded")
        x = check_batch(batch, self.shape, self.max_batch)
        b = x.shape[0]
        bucket = next(s for s in self.buckets if s >= b)
        self.host_in[:b].copy_(torch.from_numpy(x))
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            static = self.static_in[bucket]
            self.dev_in[:b].copy_(self.host_in[:b], non_blocking=True)
            static[:b].copy_(self.dev_in[:b])
            if b < bucket:
                static[b:].zero_()
            if bucket in self.graphs:
                self.graphs[bucket].replay()
                outs = self.static_out[bucket]
            else:
                outs = self._forward(static)
            for host, dev in zip(self.host_out, outs):
                host[:b].copy_(dev[:b], non_blocking=True)
        self.stream.synchronize()
        logits, irradiance, features = (h[:b].numpy().copy() for h in self.host_out)
        return InferenceOutput(logits, irradiance, features)

    def run_on_device(self, bucket: int) -> None:
        """Run one bucket on the input already on the GPU: no host copies, no sync.

        What a benchmark times with CUDA events on :attr:`stream` to separate
        the GPU's work from the host staging that :meth:`infer` adds.
        """
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            if bucket in self.graphs:
                self.graphs[bucket].replay()
            else:
                self.static_out[bucket] = self._forward(self.static_in[bucket])

    def close(self) -> None:
        """Free graphs and buffers."""
        self.graphs.clear()
        self.static_out.clear()
        self.static_in.clear()
        self.model = None
        self.host_in = None
        self.dev_in = None
        self.host_out = ()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
