"""Every backend available on this machine agrees with torch CPU fp32 (<= 1e-4 relative)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitor.inference.base import InferenceOutput
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.registry import probe_backends
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.models.package import ModelPackage

RTOL = 1e-4


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-12))


def _structured(n: int) -> np.ndarray:
    """Disk-like frames with a bright kernel: closer to real scaled inputs than noise."""
    y, x = np.mgrid[0:64, 0:64]
    r = np.hypot(x - 31.5, y - 31.5)
    disk = np.where(r < 25, 1.0, -1.0)
    out = np.empty((n, 7, 64, 64), dtype=np.float32)
    for i in range(n):
        kernel = 4.0 * np.exp(-((x - 20 - 5 * i) ** 2 + (y - 30) ** 2) / 8.0)
        out[i] = (disk + kernel)[None] * np.linspace(0.5, 1.5, 7)[:, None, None]
    return out


@pytest.mark.parametrize("batch", [1, 4])
def test_onnxruntime_matches_torch_cpu(torch_backend: TorchCPUBackend,
                                       ort_backend: OnnxRuntimeBackend, batch: int) -> None:
    for x in (np.random.default_rng(batch).normal(size=(batch, 7, 64, 64)).astype(np.float32),
              _structured(batch)):
        ref = torch_backend.infer(x)
        got = ort_backend.infer(x)
        for name in ("logits", "irradiance", "features"):
            a, b = getattr(got, name), getattr(ref, name)
            assert a.dtype == np.float32 and a.shape == b.shape
            assert _rel(a, b) <= RTOL, (name, _rel(a, b))


def test_torch_cpu_backend_equals_package_network(package: ModelPackage,
                                                  torch_backend: TorchCPUBackend) -> None:
    x = _structured(2)
    with torch.inference_mode():
        ref = [t.numpy() for t in package.build_torch_model()(torch.from_numpy(x))]
    got = torch_backend.infer(x)
    for a, b in zip((got.logits, got.irradiance, got.features), ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_backends_reject_wrong_batches(ort_backend: OnnxRuntimeBackend,
                                       torch_backend: TorchCPUBackend) -> None:
    for backend in (ort_backend, torch_backend):
        with pytest.raises(ValueError, match="does not match"):
            backend.infer(np.zeros((1, 6, 64, 64), np.float32))
        with pytest.raises(ValueError, match="outside 1..4"):
            backend.infer(np.zeros((5, 7, 64, 64), np.float32))


def test_output_slices_are_independent_copies() -> None:
    out = InferenceOutput(np.zeros((3, 4), np.float32), np.zeros((3, 14), np.float32),
                          np.zeros((3, 2, 4, 4), np.float32))
    part = out.slice(1, 2)
    part.logits[:] = 1
    assert len(part) == 1 and out.logits.sum() == 0
    assert len(InferenceOutput.concat([out, part])) == 4


@pytest.mark.skipif(not probe_backends()["torch_cuda"].available,
                    reason="needs a CUDA GPU with a CUDA build of torch "
                           f"({probe_backends()['torch_cuda'].reason})")
@pytest.mark.gpu
def test_torch_cuda_matches_torch_cpu_within_fp16_tolerance(package: ModelPackage,
                                                            torch_backend: TorchCPUBackend) -> None:
    from monitor.inference.torch_cuda import TorchCUDABackend

    backend = TorchCUDABackend(cuda_graphs=True, warmup_iterations=1)
    backend.load(package, "cuda:0", "fp16", max_batch=4)
    backend.warmup()
    try:
        for b in (1, 3, 4):
            x = _structured(b)
            ref, got = torch_backend.infer(x), backend.infer(x)
            for name in ("logits", "irradiance", "features"):
                assert _rel(getattr(got, name), getattr(ref, name)) <= 1e-2, name
    finally:
        backend.close()
