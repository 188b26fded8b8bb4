"""Registry: probes, forced choice errors, auto fallback with logged reasons, background swap."""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
import pytest

from monitor.inference.base import Backend, BackendUnavailableError, Precision
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.registry import ManagedBackend, open_backend, probe_backends
from monitor.inference.settings import CpuSettings, InferenceSettings
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.models.package import ModelPackage

PROBES = probe_backends()
NO_TRT = not PROBES["tensorrt"].available
NO_CUDA = not PROBES["torch_cuda"].available
CPU_ONLY = NO_TRT and NO_CUDA


def _settings(**kw: object) -> InferenceSettings:
    return InferenceSettings(max_batch=4, warmup_iterations=1, cpu=CpuSettings(threads=1),
                             **kw)  # type: ignore[arg-type]


def test_probes_cover_every_backend_with_a_reason() -> None:
    assert list(PROBES) == ["tensorrt", "torch_cuda", "onnxruntime", "torch_cpu"]
    assert PROBES["torch_cpu"].available
    assert all(p.reason for p in PROBES.values())


@pytest.mark.skipif(not NO_TRT, reason="tensorrt is installed here")
def test_forcing_tensorrt_without_it_is_a_clear_error(package: ModelPackage) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        open_backend(_settings(backend="tensorrt"), package)
    assert info.value.backend == "tensorrt"
    assert "tensorrt" in str(info.value) and info.value.reason


@pytest.mark.skipif(not NO_CUDA, reason="a CUDA device is visible here")
def test_forcing_torch_cuda_without_gpu_names_the_reason(package: ModelPackage) -> None:
    with pytest.raises(BackendUnavailableError, match="torch_cuda.*(CUDA|cuda)"):
        open_backend(_settings(backend="torch_cuda"), package)


@pytest.mark.skipif(not CPU_ONLY, reason="GPU backends are available here")
def test_auto_falls_back_to_onnxruntime_and_logs_why(package: ModelPackage,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from monitor.inference import registry

    registry._logged_unavailable.clear()
    with caplog.at_level(logging.INFO, logger="monitor.inference.registry"):
        runner = open_backend(_settings(precision="fp16"), package)
    try:
        assert runner.name == "onnxruntime"
        status = runner.status()
        assert not status.degraded and status.precision == "fp32"  # fp16 does not apply on CPU
        assert set(status.unavailable) == {"tensorrt", "torch_cuda"}
        skipped = {r.kv["backend"]: r.kv["reason"] for r in caplog.records  # type: ignore[attr-defined]
                   if r.getMessage() == "inference backend unavailable, skipped"}
        assert set(skipped) == {"tensorrt", "torch_cuda"}
        assert "not installed" in skipped["tensorrt"]
        # logged once: a second selection does not repeat the lines
        caplog.clear()
        open_backend(_settings(), package).close()
        assert not [r for r in caplog.records
                    if r.getMessage() == "inference backend unavailable, skipped"]
    finally:
        runner.close()


def test_forced_cpu_backends_load_and_run(package: ModelPackage) -> None:
    x = np.zeros((2, 7, 64, 64), np.float32)
    for name in ("torch_cpu", "onnxruntime"):
        runner = open_backend(_settings(backend=name), package)
        try:
            assert runner.name == name
            assert runner.infer(x).logits.shape == (2, 4)
        finally:
            runner.close()


def test_cpu_backend_refuses_fp16(package: ModelPackage) -> None:
    backend = TorchCPUBackend(threads=1)
    with pytest.raises(BackendUnavailableError, match="fp32"):
        backend.load(package, "cpu", "fp16", 4)
    settings = _settings(backend="torch_cpu", precision="fp16")
    assert [f for f, _ in settings.check()] == ["precision"]


def test_background_build_serves_degraded_then_swaps(package: ModelPackage) -> None:
    """The stand-in serves while the target "builds"; the swap happens between batches."""
    gate = threading.Event()
    stand_in = TorchCPUBackend(threads=1, warmup_iterations=1)
    stand_in.load(package, "cpu", "fp32", 4)

    def build() -> tuple[Backend, Precision]:
        gate.wait(30)  # the real backend, released when the test says the build is done
        backend = OnnxRuntimeBackend(threads=1, warmup_iterations=1)
        backend.load(package, "cpu", "fp32", 4)
        return backend, "fp32"

    runner = ManagedBackend(stand_in, "fp32", "auto", {}, pending=build,
                            pending_name="onnxruntime")
    x = np.random.default_rng(0).normal(size=(2, 7, 64, 64)).astype(np.float32)
    try:
        runner.warmup()
        status = runner.status()
        assert status.degraded and status.engine_build == "building"
        assert status.active == "torch_cpu" and status.target == "onnxruntime"
        before = runner.infer(x)
        gate.set()
        assert runner.wait_for_build(30)
        assert runner.status().engine_build == "ready"
        after = runner.infer(x)  # swaps in, warms up, then serves
        status = runner.status()
        assert runner.name == "onnxruntime" and not status.degraded
        assert status.engine_build == "done"
        assert stand_in.model is None  # the stand-in was closed
        np.testing.assert_allclose(after.logits, before.logits, rtol=1e-4, atol=1e-5)
    finally:
        gate.set()
        runner.close()


def test_failed_background_build_stays_degraded_and_serving(package: ModelPackage) -> None:
    stand_in = TorchCPUBackend(threads=1, warmup_iterations=0)
    stand_in.load(package, "cpu", "fp32", 4)

    def fake_failing_build() -> tuple[Backend, Precision]:
        raise RuntimeError("fake engine build failure")

    runner = ManagedBackend(stand_in, "fp32", "tensorrt", {}, pending=fake_failing_build,
                            pending_name="tensorrt")
    try:
        runner.warmup()
        assert runner.wait_for_build(30)
        status = runner.status()
        assert status.engine_build == "failed" and status.degraded
        assert "fake engine build failure" in status.detail
        assert runner.infer(np.zeros((1, 7, 64, 64), np.float32)).logits.shape == (1, 4)
    finally:
        runner.close()


def test_finish_build_serves_the_target_before_returning(package: ModelPackage) -> None:
    """What a package about to replace the serving one needs: no stand-in phase."""
    stand_in = TorchCPUBackend(threads=1, warmup_iterations=0)
    stand_in.load(package, "cpu", "fp32", 4)

    def build() -> tuple[Backend, Precision]:
        backend = OnnxRuntimeBackend(threads=1, warmup_iterations=0)
        backend.load(package, "cpu", "fp32", 4)
        return backend, "fp32"

    runner = ManagedBackend(stand_in, "fp32", "auto", {}, pending=build,
                            pending_name="onnxruntime")
    try:
        runner.finish_build()  # never warmed up: it starts the build itself
        status = runner.status()
        assert runner.name == "onnxruntime" and not status.degraded
        assert status.engine_build == "done" and stand_in.model is None
    finally:
        runner.close()


def test_finish_build_raises_when_the_target_cannot_be_built(package: ModelPackage) -> None:
    from monitor.inference.base import BackendError

    stand_in = TorchCPUBackend(threads=1, warmup_iterations=0)
    stand_in.load(package, "cpu", "fp32", 4)

    def fake_failing_build() -> tuple[Backend, Precision]:
        raise RuntimeError("fake engine build failure")

    runner = ManagedBackend(stand_in, "fp32", "tensorrt", {}, pending=fake_failing_build,
                            pending_name="tensorrt")
    try:
        with pytest.raises(BackendError, match="fake engine build failure"):
            runner.finish_build()
        assert runner.name == "torch_cpu"
    finally:
        runner.close()


def test_settings_defaults_are_valid_and_build_from_yaml() -> None:
    from monitor.typedyaml import ConfigError, build

    assert InferenceSettings().check() == []
    built = build(InferenceSettings, {"backend": "onnxruntime", "max_batch": 16,
                                      "tensorrt": {"workspace_mib": 512},
                                      "cpu": {"threads": 2}})
    assert built.max_batch == 16 and built.tensorrt.workspace_mib == 512
    assert dataclasses.replace(built, backend="auto").backend == "auto"
    with pytest.raises(ConfigError, match="max_wait_ms"):
        build(InferenceSettings, {"max_wait_ms": 0})
    with pytest.raises(ConfigError, match="backend"):
        build(InferenceSettings, {"backend": "tpu"})
