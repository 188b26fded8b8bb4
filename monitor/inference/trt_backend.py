"""TensorRT 10/11 runtime backend: cached engine, torch-owned buffers, CUDA graphs.

The engine comes from :mod:`monitor.inference.trt_build` (cache or build);
``tensorrt`` is an optional import and everything here is skipped cleanly
where it is absent.

Run: one execution context per batch bucket (the same buckets as the torch
CUDA backend), each with its input shape set once and its tensor addresses
pointing at torch-allocated device buffers (256-byte aligned by torch's
allocator). ``execute_async_v3`` runs on a dedicated torch stream, never the
default stream. With CUDA graphs on, each context is enqueued once outside
capture (lazy initialisation), then captured with ``torch.cuda.graph``; an
enqueue that fails during capture turns graphs off with a log line. Separate
contexts per bucket keep every captured graph's shapes and addresses fixed;
they share profile 0, which is allowed because they never run concurrently
(one worker thread, one stream). A ``deserialize_cuda_engine`` that returns
``None`` for a cached plan (version or device mismatch) invalidates the entry
and rebuilds once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from monitor.inference.base import (
    BackendError,
    BackendPlugin,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    check_batch,
)
from monitor.inference.engine_cache import EngineCache, EngineKey
from monitor.inference.settings import InferenceSettings, TensorRTSettings
from monitor.inference.torch_cuda import batch_buckets
from monitor.inference.trt_build import (
    build_engine,
    device_index,
    engine_key,
    import_tensorrt,
    probe,
    recent_errors,
    trt_logger,
)
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = ["TensorRTBackend", "import_tensorrt", "probe"]

log = get_logger(__name__)


class _Slot:
    """One batch bucket: its context, fixed-shape buffers and optional CUDA graph."""

    def __init__(self, context: Any, inp: torch.Tensor, outs: list[torch.Tensor]) -> None:
        self.context = context
        self.input = inp
        self.outputs = outs
        self.graph: Any = None


class TensorRTBackend(BackendPlugin, name="tensorrt", auto_rank=10, gpu=True):
    """TensorRT engine on one GPU.

    Parameters
    ----------
    settings : TensorRTSettings
        Build and cache options.
    cache_dir : pathlib.Path
        Engine cache directory (resolved by the registry).
    warmup_iterations : int
        Runs per bucket before readiness.
    """

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return probe()

    @classmethod
    def from_settings(cls, settings: InferenceSettings, cache_dir: Path) -> TensorRTBackend:
        return cls(settings.tensorrt, cache_dir, settings.warmup_iterations)

    def __init__(self, settings: TensorRTSettings, cache_dir: Path,
                 warmup_iterations: int = 3) -> None:
        self.settings = settings
        self.cache = EngineCache(cache_dir, settings.max_cached_engines)
        self.warmup_iterations = warmup_iterations
        self.key: EngineKey | None = None
        self.engine: Any = None
        self.runtime: Any = None
        self.slots: dict[int, _Slot] = {}
        self.buckets: tuple[int, ...] = ()
        self.shape: tuple[int, int, int] = (0, 0, 0)
        self.max_batch = 0
        self.device = "cuda:0"
        self.stream: Any = None
        self.host_in: torch.Tensor | None = None
        self.host_out: list[torch.Tensor] = []
        self.output_names: list[str] = []
        self.built_seconds: float | None = None

    def is_cached(self, package: ModelPackage, precision: Precision, max_batch: int,
                  device: str = "cuda:0") -> bool:
        """Whether a complete engine entry for these arguments is on disk.

        The registry uses this to choose between loading TensorRT in the
        foreground (cached: fast) and serving from a fallback while it builds.
        """
        trt, _ = import_tensorrt()
        if trt is None or not torch.cuda.is_available():
            return False
        return self.cache.has(engine_key(trt, package, precision, max_batch, self.settings,
                                         device))

    def load(self, package: ModelPackage, device: str = "cuda:0", precision: Precision = "fp16",
             max_batch: int = 8) -> None:
        """Get the engine (cache or build), deserialize it, create contexts and buffers."""
        ok, reason = probe()
        if not ok:
            raise BackendUnavailableError(self.name, reason)
        trt, _ = import_tensorrt()
        self.device = device
        with torch.cuda.device(device_index(device)):
            start = time.perf_counter()
            plan, key, cached = build_engine(package, precision, max_batch, self.settings,
                                             self.cache, device)
            self.runtime = trt.Runtime(trt_logger(trt))
            engine = self.runtime.deserialize_cuda_engine(plan)
            if engine is None and cached:
                # Stale or foreign plan (version/device mismatch): drop it and rebuild once.
                log.warning("cached engine did not deserialize; rebuilding", key=key.digest[:16],
                            tensorrt=recent_errors(trt))
                self.cache.invalidate(key)
                plan, key, cached = build_engine(package, precision, max_batch, self.settings,
                                                 self.cache, device)
                engine = self.runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise BackendError(f"engine does not deserialize: {recent_errors(trt)}")
            self.engine, self.key = engine, key
            self.built_seconds = None if cached else time.perf_counter() - start
            self._setup(trt, package, max_batch)
        log.info("backend loaded", backend=self.name, precision=precision, cached_engine=cached,
                 key=key.digest[:16], buckets=list(self.buckets))

    def _setup(self, trt: Any, package: ModelPackage, max_batch: int) -> None:
        engine = self.engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        expected = list(package.manifest.output_names)
        if inputs != [package.manifest.input.name] or sorted(outputs) != sorted(expected):
            raise BackendError(f"engine I/O {inputs} -> {outputs} differs from the package")
        for n in names:
            # keep_io_types: the fp16 variant still takes and returns float32.
            if engine.get_tensor_dtype(n) != trt.DataType.FLOAT:
                raise BackendError(f"engine tensor {n} is {engine.get_tensor_dtype(n)}, "
                                   "expected float32 I/O")
        self.output_names = expected
        self.shape = package.input_shape
        self.max_batch = max_batch
        self.buckets = batch_buckets(max_batch)
        dev = torch.device(self.device)
        self.stream = torch.cuda.Stream(device=dev)
        for b in self.buckets:
            context = engine.create_execution_context()
            if context is None:
                raise BackendError(f"cannot create an execution context: {recent_errors(trt)}")
            if not context.set_input_shape(inputs[0], (b, *self.shape)):
                raise BackendError(f"batch {b} is outside the engine's profile")
            if context.infer_shapes():
                raise BackendError("engine output shapes cannot be inferred")
            inp = torch.zeros((b, *self.shape), dtype=torch.float32, device=dev)
            outs = [torch.empty(tuple(context.get_tensor_shape(n)), dtype=torch.float32,
                                device=dev) for n in expected]
            ok = context.set_tensor_address(inputs[0], inp.data_ptr())
            for n, t in zip(expected, outs):
                ok = context.set_tensor_address(n, t.data_ptr()) and ok
            if not ok:
                raise BackendError("set_tensor_address refused a buffer (alignment?)")
            self.slots[b] = _Slot(context, inp, outs)
        self.host_in = torch.empty((max_batch, *self.shape), dtype=torch.float32).pin_memory()
        full = self.slots[self.buckets[-1]].outputs
        self.host_out = [torch.empty(tuple(t.shape), dtype=torch.float32).pin_memory()
                         for t in full]
        # Buffers were zeroed on the default stream; order them before our stream's work.
        self.stream.wait_stream(torch.cuda.current_stream(dev))

    def _enqueue(self, slot: _Slot) -> None:
        if not slot.context.execute_async_v3(self.stream.cuda_stream):
            trt, _ = import_tensorrt()
            raise BackendError(f"execute_async_v3 failed: {recent_errors(trt)}")

    def warmup(self) -> None:
        """Enqueue every bucket, capture CUDA graphs if enabled, then replay a few times."""
        with torch.cuda.device(device_index(self.device)):
            for slot in self.slots.values():
                self._enqueue(slot)  # lazy initialisation must not be captured
            self.stream.synchronize()
            if self.settings.cuda_graphs:
                try:
                    for slot in self.slots.values():
                        graph = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(graph, stream=self.stream,
                                              capture_error_mode="thread_local"):
                            self._enqueue(slot)
                        slot.graph = graph
                except (RuntimeError, BackendError) as exc:
                    for slot in self.slots.values():
                        slot.graph = None
                    log.warning("CUDA graph capture failed; running without graphs",
                                backend=self.name, error=str(exc))
        for b in self.buckets:
            x = np.zeros((b, *self.shape), dtype=np.float32)
            for _ in range(self.warmup_iterations):
                self.infer(x)

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one batch (zero-padded to its bucket)."""
        if self.engine is None or self.host_in is None:
            raise RuntimeError("backend not loaded")
        x = check_batch(batch, self.shape, self.max_batch)
        b = x.shape[0]
        bucket = next(s for s in self.buckets if s >= b)
        slot = self.slots[bucket]
        self.host_in[:b].copy_(torch.from_numpy(x))
        with torch.cuda.device(device_index(self.device)), torch.cuda.stream(self.stream):
            slot.input[:b].copy_(self.host_in[:b], non_blocking=True)
            if b < bucket:
                slot.input[b:].zero_()
            if slot.graph is not None:
                slot.graph.replay()
            else:
                self._enqueue(slot)
            for host, dev in zip(self.host_out, slot.outputs):
                host[:b].copy_(dev[:b], non_blocking=True)
        self.stream.synchronize()
        logits, irradiance, features = (h[:b].numpy().copy() for h in self.host_out)
        return InferenceOutput(logits, irradiance, features)

    def run_on_device(self, bucket: int) -> None:
        """Run one bucket on the input already on the GPU: no host copies, no sync.

        What a benchmark times with CUDA events on :attr:`stream` to separate
        the GPU's work from the host staging that :meth:`infer` adds.
        """
        slot = self.slots[bucket]
        with torch.cuda.device(device_index(self.device)), torch.cuda.stream(self.stream):
            if slot.graph is not None:
                slot.graph.replay()
            else:
                self._enqueue(slot)

    def close(self) -> None:
        """Release graphs, contexts, engine and runtime (contexts before their engine)."""
        for slot in self.slots.values():
            slot.graph = None
            slot.context = None
        self.slots.clear()
        self.engine = None
        self.runtime = None
        self.host_in = None
        self.host_out = []
