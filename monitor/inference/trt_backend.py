"""TensorRT 10/11: engine from the package ONNX, cached on disk, run on torch-owned buffers.

Written against the TensorRT 10.x and 11.x Python API (see
``/work/shared/notes/tensorrt.md`` and docs/inference.md); ``tensorrt`` is an
optional import and everything here is skipped cleanly where it is absent.

Precision. TensorRT 11 removed the builder precision flags (FP16, BF16, INT8,
FP8) and made every network strongly typed, i.e. the engine follows the ONNX
types. So reduced precision is decided in the graph, identically on 10 and 11:
for fp16 the backend exports a variant of the package network with the CNN in
fp16 (batch norms folded) and the image statistics, linear irradiance model
and I/O in fp32 (:func:`monitor.models.onnx_export.half_precision_module`),
and builds it with ``STRONGLY_TYPED`` (opt-in on 10, implied on 11; the
``1 << int(...)`` form works on both, ``EXPLICIT_BATCH`` is gone in 11).
fp32 builds the package ONNX as is (TF32 allowed, TensorRT's default). INT8
and FP8 are not offered: they need calibration data and Q/DQ nodes, which the
project does not produce yet.

Build: one optimisation profile for batch 1..max_batch (opt = max_batch), a
workspace limit, the builder optimisation level, and a timing cache kept next
to the engines. ``build_serialized_network`` returns ``None`` on failure (never
raises), so the captured logger messages become the error.

Run: one execution context per batch bucket (the same buckets as the torch
CUDA backend), each with its input shape set once and its tensor addresses
pointing at torch-allocated device buffers (256-byte aligned by torch's
allocator). ``execute_async_v3`` runs on a dedicated torch stream, never the
default stream. With CUDA graphs on, each context is enqueued once outside
capture (lazy initialisation), then captured with ``torch.cuda.graph``; an
enqueue that fails during capture turns graphs off with a log line. Separate
contexts per bucket keep every captured graph's shapes and addresses fixed;
they share profile 0, which is allowed because they never run concurrently
(one worker thread, one stream).
"""

from __future__ import annotations

import collections
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from monitor.inference.base import (
    BackendError,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    check_batch,
)
from monitor.inference.engine_cache import EngineCache, EngineKey, host_platform
from monitor.inference.settings import TensorRTSettings
from monitor.inference.torch_cuda import batch_buckets
from monitor.inference.torch_cuda import probe as probe_cuda

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = ["TensorRTBackend", "build_engine", "engine_key", "import_tensorrt", "probe"]

log = logging.getLogger(__name__)

#: Bump when the fp16 variant recipe changes, so cached engines are rebuilt.
FP16_RECIPE = "strongly-typed-fp16-cnn-fp32-stats-v1"
FP32_RECIPE = "package-onnx-v1"
_LOGGER: Any = None


def import_tensorrt() -> tuple[Any, str]:
    """Import ``tensorrt`` if possible; returns ``(module or None, reason)``."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        return None, f"tensorrt is not installed ({exc}); install sdo-monitor[gpu] on a GPU host"
    except Exception as exc:  # noqa: BLE001 - a broken install (missing libnvinfer, ...)
        return None, f"tensorrt failed to import: {type(exc).__name__}: {exc}"
    try:
        major = int(str(trt.__version__).split(".")[0])
    except ValueError:
        return None, f"unrecognised tensorrt version {trt.__version__!r}"
    if major < 10:
        return None, f"tensorrt {trt.__version__} is too old: the backend needs the 10.x/11.x API"
    return trt, f"tensorrt {trt.__version__}"


def probe() -> tuple[bool, str]:
    """Available when tensorrt >= 10 imports and torch sees a CUDA device."""
    trt, reason = import_tensorrt()
    if trt is None:
        return False, reason
    ok, why = probe_cuda()
    if not ok:
        return False, f"tensorrt {trt.__version__} is installed but {why}"
    return True, f"tensorrt {trt.__version__}"


def _logger(trt: Any) -> Any:
    """One process-wide TensorRT logger that forwards to ``logging`` and keeps recent errors."""
    global _LOGGER
    if _LOGGER is not None:
        return _LOGGER

    class _Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.recent: collections.deque[str] = collections.deque(maxlen=20)

        def log(self, severity: Any, msg: str) -> None:
            S = trt.ILogger.Severity
            if severity in (S.INTERNAL_ERROR, S.ERROR):
                self.recent.append(msg)
                log.error("tensorrt: %s", msg)
            elif severity == S.WARNING:
                self.recent.append(msg)
                log.warning("tensorrt: %s", msg)
            else:
                log.debug("tensorrt: %s", msg)

    _LOGGER = _Logger()
    return _LOGGER


def _recent_errors(trt: Any) -> str:
    return " | ".join(list(_logger(trt).recent)[-5:]) or "no message from TensorRT"


def _device_index(device: str) -> int:
    return int(device.split(":")[1]) if ":" in device else 0


def engine_key(trt: Any, package: ModelPackage, precision: Precision, max_batch: int,
               settings: TensorRTSettings, device: str) -> EngineKey:
    """The cache key of the engine these arguments would build."""
    index = _device_index(device)
    major, minor = torch.cuda.get_device_capability(index)
    return EngineKey(
        package_name=package.manifest.name,
        package_sha256=package.sha256,
        onnx_sha256=package.onnx_sha256,
        precision=precision,
        recipe=FP16_RECIPE if precision == "fp16" else FP32_RECIPE,
        tensorrt_version=str(trt.__version__),
        gpu_name=torch.cuda.get_device_name(index),
        compute_capability=f"{major}.{minor}",
        platform=host_platform(),
        batch_profile=(1, max_batch, max_batch),
        input_shape=package.input_shape,
        optimization_level=settings.optimization_level,
        torch_version=torch.__version__ if precision == "fp16" else "",
    )


def _onnx_for_build(package: ModelPackage, precision: Precision, workdir: Path,
                    device: str) -> Path:
    if precision == "fp32":
        return package.onnx_path
    from monitor.models.onnx_export import export_onnx, half_precision_module

    model = half_precision_module(package.build_torch_model(device), torch.float16)
    path = workdir / "model-fp16.onnx"
    spec = package.manifest.input
    export_onnx(model, path, in_channels=len(spec.channels), size=spec.size,
                input_name=spec.name, output_names=package.manifest.output_names,
                opset=package.manifest.opset, device=device)
    return path


def _build_plan(trt: Any, onnx_path: Path, key: EngineKey, input_name: str,
                settings: TensorRTSettings, cache: EngineCache) -> bytes:
    logger = _logger(trt)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [f"{parser.get_error(i).desc()} (node {parser.get_error(i).node_name()})"
                  for i in range(parser.num_errors)]
        raise BackendError(f"TensorRT cannot parse {onnx_path.name}: {'; '.join(errors)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mib << 20)
    config.builder_optimization_level = settings.optimization_level
    timing = config.create_timing_cache(cache.read_timing_cache(key))
    if timing is None:  # unreadable saved cache: start from an empty one
        timing = config.create_timing_cache(b"")
    config.set_timing_cache(timing, False)
    profile = builder.create_optimization_profile()
    c, n, _ = key.input_shape
    lo, opt, hi = key.batch_profile
    profile.set_shape(input_name, (lo, c, n, n), (opt, c, n, n), (hi, c, n, n))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)  # releases the GIL
    if plan is None:
        raise BackendError(f"TensorRT engine build failed: {_recent_errors(trt)}")
    try:
        cache.write_timing_cache(key, bytes(config.get_timing_cache().serialize()))
    except OSError as exc:
        log.warning("timing cache not saved", extra={"kv": {"error": str(exc)}})
    return bytes(plan)


def build_engine(package: ModelPackage, precision: Precision, max_batch: int,
                 settings: TensorRTSettings, cache: EngineCache,
                 device: str = "cuda:0") -> tuple[bytes, EngineKey, bool]:
    """Return a serialized engine from the cache, building and caching it on a miss.

    Returns
    -------
    plan : bytes
        Serialized engine.
    key : EngineKey
        Its cache key.
    cached : bool
        True when it came from the cache.
    """
    trt, reason = import_tensorrt()
    if trt is None:
        raise BackendUnavailableError("tensorrt", reason)
    if precision not in ("fp32", "fp16"):
        raise BackendUnavailableError("tensorrt", f"builds fp32 or fp16 engines, not {precision}")
    with torch.cuda.device(_device_index(device)):
        key = engine_key(trt, package, precision, max_batch, settings, device)
        with cache.build_lock(key):
            plan = cache.load(key)
            if plan is not None:
                return plan, key, True
            log.info("building TensorRT engine", extra={"kv": {
                "package": key.package_name, "precision": precision, "max_batch": max_batch,
                "gpu": key.gpu_name, "tensorrt": key.tensorrt_version,
                "key": key.digest[:16]}})
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=cache.root) as work:
                onnx_path = _onnx_for_build(package, precision, Path(work), device)
                plan = _build_plan(trt, onnx_path, key, package.manifest.input.name, settings,
                                   cache)
            seconds = time.perf_counter() - start
            path = cache.store(key, plan, seconds)
            log.info("TensorRT engine built", extra={"kv": {
                "seconds": round(seconds, 1), "path": str(path), "bytes": len(plan)}})
            return plan, key, False


class _Slot:
    """One batch bucket: its context, fixed-shape buffers and optional CUDA graph."""

    def __init__(self, context: Any, inp: torch.Tensor, outs: list[torch.Tensor]) -> None:
        self.context = context
        self.input = inp
        self.outputs = outs
        self.graph: Any = None


class TensorRTBackend:
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

    name = "tensorrt"

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
        """Whether a valid-looking engine for these arguments is on disk."""
        trt, _ = import_tensorrt()
        if trt is None or not torch.cuda.is_available():
            return False
        key = engine_key(trt, package, precision, max_batch, self.settings, device)
        return self.cache.plan_path(key).is_file()

    def load(self, package: ModelPackage, device: str = "cuda:0", precision: Precision = "fp16",
             max_batch: int = 8) -> None:
        """Get the engine (cache or build), deserialize it, create contexts and buffers."""
        ok, reason = probe()
        if not ok:
            raise BackendUnavailableError(self.name, reason)
        trt, _ = import_tensorrt()
        self.device = device
        with torch.cuda.device(_device_index(device)):
            start = time.perf_counter()
            plan, key, cached = build_engine(package, precision, max_batch, self.settings,
                                             self.cache, device)
            self.runtime = trt.Runtime(_logger(trt))
            engine = self.runtime.deserialize_cuda_engine(plan)
            if engine is None and cached:
                # Stale or foreign plan (version/device mismatch): drop it and rebuild once.
                log.warning("cached engine did not deserialize; rebuilding", extra={"kv": {
                    "key": key.digest[:16], "tensorrt": _recent_errors(trt)}})
                self.cache.invalidate(key)
                plan, key, cached = build_engine(package, precision, max_batch, self.settings,
                                                 self.cache, device)
                engine = self.runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise BackendError(f"engine does not deserialize: {_recent_errors(trt)}")
            self.engine, self.key = engine, key
            self.built_seconds = None if cached else time.perf_counter() - start
            self._setup(trt, package, max_batch)
        log.info("backend loaded", extra={"kv": {
            "backend": self.name, "precision": precision, "cached_engine": cached,
            "key": key.digest[:16], "buckets": list(self.buckets)}})

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
                raise BackendError(f"cannot create an execution context: {_recent_errors(trt)}")
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
            raise BackendError(f"execute_async_v3 failed: {_recent_errors(trt)}")

    def warmup(self) -> None:
        """Enqueue every bucket, capture CUDA graphs if enabled, then replay a few times."""
        with torch.cuda.device(_device_index(self.device)):
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
                                extra={"kv": {"backend": self.name, "error": str(exc)}})
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
        with torch.cuda.device(_device_index(self.device)), torch.cuda.stream(self.stream):
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
