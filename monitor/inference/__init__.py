"""Inference backends behind one protocol, a registry with fallbacks, and a dynamic batcher.

Typical wiring (the daemon)::

    package = load_package(settings.model_package or default_package_path())
    runner = open_backend(settings, package, service_cache_dir)   # loads, not warmed
    batcher = DynamicBatcher(runner, package.input_shape, settings.max_batch,
                             settings.max_wait_ms, settings.queue_size)
    await batcher.start()           # warm-up on the worker thread; then ready
    out = await batcher.submit(frame)
    runner.status()                 # degraded while a TensorRT engine builds
    await batcher.close()
"""

from monitor.inference.base import (
    BACKENDS,
    Backend,
    BackendError,
    BackendUnavailableError,
    InferenceOutput,
    Runner,
    auto_order,
)
from monitor.inference.batcher import BatcherClosedError, BatchEvent, DynamicBatcher
from monitor.inference.registry import (
    BackendStatus,
    ManagedBackend,
    open_backend,
    probe_backends,
)
from monitor.inference.settings import InferenceSettings

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendStatus",
    "BackendUnavailableError",
    "BatchEvent",
    "BatcherClosedError",
    "DynamicBatcher",
    "InferenceOutput",
    "InferenceSettings",
    "ManagedBackend",
    "Runner",
    "auto_order",
    "open_backend",
    "probe_backends",
]
