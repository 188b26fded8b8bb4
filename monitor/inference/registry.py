"""Backend registry: probe what runs here, pick one, fall back with a logged reason.

Backends register by name (:class:`~monitor.inference.base.BackendPlugin`);
``auto`` tries them by rank: tensorrt -> torch_cuda -> onnxruntime -> torch_cpu.
A backend whose optional dependency or device is missing is logged once with
the reason and skipped; a forced backend that is unavailable is an error that
says why (the daemon must not silently serve from a slower path the operator
did not ask for).

TensorRT engines can take minutes to build. When none is cached and
``tensorrt.build_in_background`` is on, :func:`open_backend` serves from the
next available backend and builds in a background thread; the returned
:class:`ManagedBackend` reports itself *degraded* until the engine is loaded,
then swaps it in between two batches on the worker thread (warm-up included)
and closes the stand-in.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from monitor.inference.base import (
    BACKENDS,
    Backend,
    BackendError,
    BackendUnavailableError,
    InferenceOutput,
    Precision,
    auto_order,
)
from monitor.inference.settings import InferenceSettings
from monitor.inference.trt_backend import TensorRTBackend
from monitor.logs import get_logger

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = [
    "Availability",
    "BackendStatus",
    "ManagedBackend",
    "create_backend",
    "default_engine_cache_dir",
    "open_backend",
    "probe_backends",
]

log = get_logger(__name__)

_logged_unavailable: set[tuple[str, str]] = set()
_log_lock = threading.Lock()


@dataclass(frozen=True)
class Availability:
    """Result of probing one backend."""

    name: str
    available: bool
    reason: str


def probe_backends() -> dict[str, Availability]:
    """Probe every backend (cheap: imports and device queries, no model work)."""
    out = {}
    for name in auto_order():
        try:
            ok, reason = BACKENDS.get(name).probe()
        except Exception as exc:  # noqa: BLE001 - a probe must never crash start-up
            ok, reason = False, f"probe failed: {type(exc).__name__}: {exc}"
        out[name] = Availability(name, ok, reason)
    return out


def _log_unavailable(name: str, reason: str) -> None:
    with _log_lock:
        if (name, reason) in _logged_unavailable:
            return
        _logged_unavailable.add((name, reason))
    log.info("inference backend unavailable, skipped", backend=name, reason=reason)


def default_engine_cache_dir(settings: InferenceSettings, service_cache_dir: Path | None) -> Path:
    """Engine cache: the setting, else ``<service cache>/tensorrt``, else the XDG cache."""
    if settings.tensorrt.engine_cache_dir is not None:
        return settings.tensorrt.engine_cache_dir
    if service_cache_dir is not None:
        return service_cache_dir / "tensorrt"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sdo-monitor" / "tensorrt"


def _precision_for(name: str, settings: InferenceSettings) -> Precision:
    cls = BACKENDS.get(name)
    return cls.precision_for(settings, cls.device_for(settings))


def create_backend(name: str, settings: InferenceSettings, cache_dir: Path) -> Backend:
    """Construct (not load) the backend called ``name``."""
    return BACKENDS.get(name).from_settings(settings, cache_dir)


@dataclass(frozen=True)
class BackendStatus:
    """What the daemon reports about inference (readiness detail, metrics).

    Attributes
    ----------
    requested : str
        ``inference.backend`` from the config.
    target : str
        The backend that should serve once everything is ready.
    active : str
        The backend serving right now.
    precision : str
        Precision of the active backend.
    degraded : bool
        True while ``active != target`` (engine building, or it failed).
    engine_build : str
        ``not_needed``, ``building``, ``ready`` (loaded, swapping), ``done`` or ``failed``.
    detail : str
        Human-readable explanation.
    unavailable : dict
        Backends skipped at start-up and why.
    build_seconds : float or None
        Duration of the background build (load included) once it ended.
    """

    requested: str
    target: str
    active: str
    precision: str
    degraded: bool
    engine_build: Literal["not_needed", "building", "ready", "done", "failed"]
    detail: str
    unavailable: dict[str, str] = field(default_factory=dict)
    build_seconds: float | None = None


class ManagedBackend:
    """The :class:`~monitor.inference.base.Runner` the daemon uses: one active backend,
    possibly a better one being built in the background.

    Create it with :func:`open_backend`.
    """

    def __init__(self, active: Backend, precision: Precision, requested: str,
                 unavailable: dict[str, str],
                 pending: Callable[[], tuple[Backend, Precision]] | None = None,
                 pending_name: str | None = None) -> None:
        self._active = active
        self._precision = precision
        self._requested = requested
        self._unavailable = unavailable
        self._pending_factory = pending
        self._target = pending_name or active.name
        self._build_state: Literal["not_needed", "building", "ready", "done", "failed"] = \
            "building" if pending else "not_needed"
        self._build_error = ""
        self._build_seconds: float | None = None
        self._ready: tuple[Backend, Precision] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def name(self) -> str:
        """Name of the backend serving now."""
        return self._active.name

    def status(self) -> BackendStatus:
        """Snapshot for ``/readyz`` detail, ``/api/v1/status`` and metrics."""
        with self._lock:
            state = self._build_state
            degraded = self._active.name != self._target
            if state == "building":
                detail = f"{self._target} engine building; serving from {self._active.name}"
            elif state == "ready":
                detail = f"{self._target} engine ready; switching on the next batch"
            elif state == "failed":
                detail = (f"{self._target} failed ({self._build_error}); "
                          f"serving from {self._active.name}")
            else:
                detail = f"serving from {self._active.name}"
            return BackendStatus(self._requested, self._target, self._active.name,
                                 self._precision, degraded, state, detail,
                                 dict(self._unavailable), self._build_seconds)

    def warmup(self) -> None:
        """Warm the active backend, then start the background build (if any).

        The build starts only after warm-up so it never overlaps a CUDA-graph capture.
        """
        self._active.warmup()
        self._start_build()

    def _start_build(self) -> None:
        if self._pending_factory is not None and self._thread is None:
            self._thread = threading.Thread(target=self._build, name="engine-build", daemon=True)
            self._thread.start()

    def finish_build(self) -> None:
        """Build the target backend now, if one is pending, and serve from it.

        For a package that is to replace a serving one: its TensorRT engine is
        built (or taken from the cache) before it serves a frame, so the
        switch is never a step down to the stand-in. Blocking; call it on the
        inference thread, after :meth:`warmup`.

        Raises
        ------
        BackendError
            The build or its warm-up failed (the stand-in still serves).
        """
        self._start_build()
        if self._thread is not None:
            self._thread.join()
        self._swap_if_ready()
        with self._lock:
            state, error = self._build_state, self._build_error
        if state == "failed":
            raise BackendError(f"{self._target} could not be built: {error}")

    def _build(self) -> None:
        assert self._pending_factory is not None
        started = time.perf_counter()
        try:
            backend, precision = self._pending_factory()
        except Exception as exc:  # noqa: BLE001 - any build failure keeps the stand-in serving
            with self._lock:
                self._build_seconds = time.perf_counter() - started
                self._build_state = "failed"
                self._build_error = f"{type(exc).__name__}: {exc}"
            log.error("background backend build failed; staying degraded", backend=self._target,
                      error=self._build_error)
            return
        with self._lock:
            if self._closed:
                backend.close()
                return
            self._ready = (backend, precision)
            self._build_seconds = time.perf_counter() - started
            self._build_state = "ready"
        log.info("background backend ready", backend=self._target)

    def wait_for_build(self, timeout: float | None = None) -> bool:
        """Block until the background build ends; True if it is no longer running."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _swap_if_ready(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is None:
            return
        backend, precision = ready
        try:
            backend.warmup()
        except Exception as exc:  # noqa: BLE001
            backend.close()
            with self._lock:
                self._build_state = "failed"
                self._build_error = f"warm-up failed: {type(exc).__name__}: {exc}"
            log.error("new backend failed warm-up; staying degraded", backend=backend.name,
                      error=str(exc))
            return
        old = self._active
        with self._lock:
            self._active, self._precision = backend, precision
            self._build_state = "done"
        old.close()
        log.info("inference backend switched",
                 **{"from": old.name, "to": backend.name, "precision": precision})

    def infer(self, batch: np.ndarray) -> InferenceOutput:
        """Run one batch on the active backend (after swapping in a finished build)."""
        if self._ready is not None:
            self._swap_if_ready()
        return self._active.infer(batch)

    def close(self) -> None:
        """Close the active backend (and a finished but unused build)."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, None
        if ready is not None:
            ready[0].close()
        self._active.close()


def _load(name: str, package: ModelPackage, settings: InferenceSettings,
          cache_dir: Path) -> tuple[Backend, Precision]:
    cls = BACKENDS.get(name)
    device = cls.device_for(settings)
    precision = cls.precision_for(settings, device)
    backend = create_backend(name, settings, cache_dir)
    try:
        backend.load(package, device, precision, settings.max_batch)
    except BaseException:
        backend.close()
        raise
    return backend, precision


def open_backend(settings: InferenceSettings, package: ModelPackage,
                 service_cache_dir: Path | None = None) -> ManagedBackend:
    """Select, construct and load the backend the settings ask for.

    Parameters
    ----------
    settings : InferenceSettings
        The ``inference`` config section.
    package : ModelPackage
        Loaded (verified) model package.
    service_cache_dir : pathlib.Path, optional
        ``service.cache_dir``; engines go to ``<it>/tensorrt`` unless configured.

    Returns
    -------
    ManagedBackend
        Loaded, not yet warmed up (call ``warmup()`` on the inference worker).

    Raises
    ------
    BackendUnavailableError
        A forced backend cannot run here, or (auto) none can.
    """
    cache_dir = default_engine_cache_dir(settings, service_cache_dir)
    probes = probe_backends()
    forced = settings.backend != "auto"
    order = [settings.backend] if forced else list(auto_order())
    trt_precision = _precision_for("tensorrt", settings)
    if probes["tensorrt"].available and trt_precision not in ("fp32", "fp16"):
        probes["tensorrt"] = Availability("tensorrt", False, f"builds fp32 or fp16 engines, "
                                                             f"{trt_precision} was requested")
    if forced and not probes[settings.backend].available:
        raise BackendUnavailableError(settings.backend, probes[settings.backend].reason)
    unavailable = {n: p.reason for n, p in probes.items() if not p.available}
    for name, reason in unavailable.items():
        if not forced:
            _log_unavailable(name, reason)

    background: str | None = None
    if "tensorrt" in order and probes["tensorrt"].available and \
            settings.tensorrt.build_in_background:
        trt = create_backend("tensorrt", settings, cache_dir)
        assert isinstance(trt, TensorRTBackend)
        if not trt.is_cached(package, trt_precision, settings.max_batch, settings.device):
            background = "tensorrt"
            # The stand-in: the next available backend in auto order, whatever was forced.
            order = [n for n in auto_order() if n != "tensorrt"]
            log.warning("no cached TensorRT engine: building in the background, serving "
                        "degraded meanwhile", cache_dir=str(cache_dir))

    errors: dict[str, str] = {}
    for name in order:
        if not probes[name].available:
            continue
        try:
            backend, precision = _load(name, package, settings, cache_dir)
        except Exception as exc:
            if forced and background is None:
                if isinstance(exc, BackendUnavailableError):
                    raise
                raise BackendUnavailableError(name, f"{type(exc).__name__}: {exc}") from exc
            errors[name] = f"{type(exc).__name__}: {exc}"
            log.warning("inference backend failed to load; trying the next", backend=name,
                        reason=errors[name])
            continue
        log.info("inference backend selected", backend=name, precision=precision,
                 requested=settings.backend, building=background or "",
                 skipped={**unavailable, **errors})
        factory = None
        if background is not None:
            def factory() -> tuple[Backend, Precision]:
                return _load("tensorrt", package, settings, cache_dir)
        return ManagedBackend(backend, precision, settings.backend, {**unavailable, **errors},
                              pending=factory, pending_name=background)
    reasons = "; ".join(f"{n}: {r}" for n, r in {**unavailable, **errors}.items())
    raise BackendUnavailableError(settings.backend, f"no backend could be loaded ({reasons})")
