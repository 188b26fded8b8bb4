"""TensorRT 10/11 engine building: precision, profile, timing cache, engine cache.

Written against the TensorRT 10.x and 11.x Python API (see
``/work/shared/notes/tensorrt.md`` and docs/inference.md); ``tensorrt`` is an
optional import: :func:`import_tensorrt` and :func:`probe` report why it is
unusable instead of raising.

Precision. TensorRT 11 removed the builder precision flags (FP16, BF16, INT8,
FP8) and made every network strongly typed, i.e. the engine follows the ONNX
types. So reduced precision is decided in the graph, identically on 10 and 11:
for fp16 this module exports a variant of the package network with the CNN in
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
raises), so the captured logger messages become the error. Engines are cached
by :class:`~monitor.inference.engine_cache.EngineCache`; a per-key file lock
stops two processes from building the same engine.
"""

from __future__ import annotations

import collections
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from monitor.inference.base import BackendError, BackendUnavailableError, Precision
from monitor.inference.engine_cache import EngineCache, EngineKey, host_platform
from monitor.inference.settings import TensorRTSettings
from monitor.inference.torch_cuda import probe as probe_cuda
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = ["FP16_RECIPE", "FP32_RECIPE", "build_engine", "device_index", "engine_key",
           "import_tensorrt", "probe", "recent_errors", "trt_logger"]

log = get_logger(__name__)

#: Bump when the fp16 variant recipe changes, so cached engines are rebuilt.
FP16_RECIPE = "strongly-typed-fp16-cnn-fp32-stats-v1"
FP32_RECIPE = "package-onnx-v1"
_LOGGER: Any = None
_LOGGER_LOCK = threading.Lock()


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


def trt_logger(trt: Any) -> Any:
    """One process-wide TensorRT logger that forwards to ``logging`` and keeps recent errors."""
    global _LOGGER
    with _LOGGER_LOCK:
        if _LOGGER is None:
            _LOGGER = _make_logger(trt)
        return _LOGGER


def _make_logger(trt: Any) -> Any:
    """A ``trt.ILogger`` subclass that drops INFO and VERBOSE before any work.

    TensorRT calls a Python logger for every message of every severity, VERBOSE
    included, each call taking the GIL (while a build runs in another thread
    next to the serving one). So the severity -> level table is fixed here, once,
    and a message that maps to nothing returns at the first line. INFO is kept
    (at DEBUG) only when this module's logger already logs DEBUG; VERBOSE never.
    Warnings and errors are also kept in ``recent`` for exception messages.
    """
    severity = trt.ILogger.Severity
    levels = {severity.INTERNAL_ERROR: logging.ERROR, severity.ERROR: logging.ERROR,
              severity.WARNING: logging.WARNING}
    if log.isEnabledFor(logging.DEBUG):
        levels[severity.INFO] = logging.DEBUG

    class _Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.recent: collections.deque[str] = collections.deque(maxlen=20)

        def log(self, severity: Any, msg: str) -> None:
            level = levels.get(severity)
            if level is None:
                return
            if level >= logging.WARNING:
                self.recent.append(msg)
            log.log(level, "tensorrt: %s", msg)

    return _Logger()


def recent_errors(trt: Any) -> str:
    """The last few TensorRT errors and warnings, for exception messages."""
    return " | ".join(list(trt_logger(trt).recent)[-5:]) or "no message from TensorRT"


def device_index(device: str) -> int:
    """CUDA device index of ``"cuda"`` / ``"cuda:N"``."""
    return int(device.split(":")[1]) if ":" in device else 0


def engine_key(trt: Any, package: ModelPackage, precision: Precision, max_batch: int,
               settings: TensorRTSettings, device: str) -> EngineKey:
    """The cache key of the engine these arguments would build."""
    index = device_index(device)
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
    logger = trt_logger(trt)
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
    try:
        timing = config.create_timing_cache(cache.read_timing_cache(key))
    except Exception:  # noqa: BLE001 - a damaged saved cache only costs build time
        timing = None
    if timing is None:  # unreadable saved cache: start from an empty one
        log.warning("timing cache unreadable; starting an empty one",
                    path=str(cache.timing_cache_path(key)))
        timing = config.create_timing_cache(b"")
    config.set_timing_cache(timing, False)
    profile = builder.create_optimization_profile()
    c, n, _ = key.input_shape
    lo, opt, hi = key.batch_profile
    profile.set_shape(input_name, (lo, c, n, n), (opt, c, n, n), (hi, c, n, n))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)  # releases the GIL
    if plan is None:
        raise BackendError(f"TensorRT engine build failed: {recent_errors(trt)}")
    try:
        cache.write_timing_cache(key, bytes(config.get_timing_cache().serialize()))
    except OSError as exc:
        log.warning("timing cache not saved", error=str(exc))
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
    with torch.cuda.device(device_index(device)):
        key = engine_key(trt, package, precision, max_batch, settings, device)
        with cache.build_lock(key):
            plan = cache.load(key)
            if plan is not None:
                return plan, key, True
            log.info("building TensorRT engine", package=key.package_name, precision=precision,
                     max_batch=max_batch, gpu=key.gpu_name, tensorrt=key.tensorrt_version,
                     key=key.digest[:16])
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=cache.root) as work:
                onnx_path = _onnx_for_build(package, precision, Path(work), device)
                plan = _build_plan(trt, onnx_path, key, package.manifest.input.name, settings,
                                   cache)
            seconds = time.perf_counter() - start
            path = cache.store(key, plan, seconds)
            log.info("TensorRT engine built", seconds=round(seconds, 1), path=str(path),
                     bytes=len(plan))
            return plan, key, False
