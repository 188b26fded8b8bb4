"""Options of ``inference`` and ``saliency``, on the CPU backends with a real model package.

Backends come from the registry's factory (:func:`create_backend` /
:func:`open_backend`), batchers and frame analysers are built the way the
daemon builds them; the saliency probes analyse one real frame (seven
synthetic AIA files through the ingest worker function) and draw its
overlay. GPU-only options are exempted below with the test that covers them
where a GPU is present.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from optionrows import Row, scratch

from monitor.frames import ChannelItem, FrameAssembler, FrameSettings
from monitor.inference import DynamicBatcher
from monitor.inference.registry import create_backend, open_backend
from monitor.inference.settings import CpuSettings, InferenceSettings
from monitor.ingest import IngestSettings
from monitor.ingest.samples import SyntheticSpec, write_synthetic_fits
from monitor.models import load_package
from monitor.pipeline.analysis import FrameAnalyzer
from monitor.pipeline.pool_work import ingest_file
from monitor.preprocess import PreprocessSettings
from monitor.saliency import SaliencySettings

PACKAGE: list[Path] = []  # the session's untrained package (set by the fixture below)
BASE = InferenceSettings(backend="onnxruntime", max_batch=4, max_wait_ms=20.0,
                         warmup_iterations=1, cpu=CpuSettings(threads=1))


@pytest.fixture(autouse=True)
def _package(untrained_package: Path) -> None:
    PACKAGE[:] = [untrained_package]


@functools.cache
def package() -> Any:
    return load_package(PACKAGE[0])


# -- backends and batching ------------------------------------------------------------------
def backend_used(value: str) -> str:
    runner = open_backend(dataclasses.replace(BASE, backend=value), package())
    try:
        return runner.name
    finally:
        runner.close()


def warmup_calls(value: int) -> list[int]:
    """Batch sizes the backend ran during its warm-up."""
    backend = create_backend("onnxruntime", dataclasses.replace(BASE, warmup_iterations=value),
                             scratch("options-"))
    backend.load(package(), "cpu", "fp32", BASE.max_batch)
    calls: list[int] = []
    infer = backend.infer
    backend.infer = lambda x: (calls.append(len(x)), infer(x))[1]  # a spy on the object
    try:
        backend.warmup()
    finally:
        backend.close()
    return calls


def session_threads(value: int) -> int:
    backend = create_backend("onnxruntime", dataclasses.replace(BASE, cpu=CpuSettings(value)),
                             scratch("options-"))
    backend.load(package(), "cpu", "fp32", 1)
    try:
        return backend.session.get_session_options().intra_op_num_threads
    finally:
        backend.close()


def batches(field: str, value: Any, *, gap_s: float = 0.0, n: int = 4) -> list[int]:
    """Batch sizes when ``n`` frames are submitted (``gap_s`` apart), batched as the
    daemon batches (``DynamicBatcher(backend, shape, max_batch, max_wait_ms, queue_size)``)."""
    cfg = dataclasses.replace(BASE, **{field: value})
    sizes: list[int] = []

    async def main() -> None:
        runner = open_backend(cfg, package())
        batcher = DynamicBatcher(runner, package().input_shape, cfg.max_batch, cfg.max_wait_ms,
                                 cfg.queue_size, observers=[lambda e: sizes.append(e.frames)])
        await batcher.start(warmup=False)
        try:
            x = np.zeros(package().input_shape, np.float32)
            tasks = []
            for _ in range(n):
                tasks.append(asyncio.create_task(batcher.submit(x)))
                await asyncio.sleep(gap_s)
            await asyncio.gather(*tasks)
        finally:
            await batcher.close()

    asyncio.run(main())
    return sizes


def package_digest(value: str) -> str:
    """What the loaded package computes on a fixed input."""
    path = PACKAGE[0] if value == "untrained" else _other_package()
    loaded = load_package(path)
    runner = open_backend(BASE, loaded)
    try:
        out = runner.infer(loaded.example_batch(1) if hasattr(loaded, "example_batch")
                           else np.ones((1, *loaded.input_shape), np.float32))
        return hashlib.sha256(np.round(out.logits, 4).tobytes()).hexdigest()
    finally:
        runner.close()


@functools.cache
def _other_package() -> Path:
    from monitor.models import build_network, manifest_from_spec, write_package

    out = scratch("options-pkg-") / "seed1"
    manifest = manifest_from_spec(None)
    write_package(out, build_network(manifest.network, seed=1), manifest)
    return out


def verified(value: bool) -> str:
    """Loading a package whose weights were changed after packaging."""
    tampered = scratch("options-tampered-") / "pkg"
    shutil.copytree(PACKAGE[0], tampered)
    onnx = tampered / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-100] ^= 0x01
    onnx.write_bytes(bytes(data))
    try:
        load_package(tampered, value)
    except Exception as exc:  # noqa: BLE001 - the refusal is the observation
        return type(exc).__name__
    return "loaded"


# -- saliency on one analysed frame ------------------------------------------------------------
@functools.cache
def frame() -> Any:
    pkg = package()
    channels = tuple(pkg.manifest.input.channels)
    tmp = scratch("options-frame-")
    asm: FrameAssembler[Any] = FrameAssembler(FrameSettings(), channels, {"aia": 12.0})
    ready = []
    for i, w in enumerate(channels):
        path = tmp / f"{w}.fits"
        write_synthetic_fits(path, SyntheticSpec(size=256, wavelength=w, seed=i,
                                                 t_obs="2013-01-01T00:00:01.00Z"))
        done = ingest_file(str(path), IngestSettings(),
                           PreprocessSettings(degradation_table="none"), pkg.manifest.input.size)
        assert done.ok, done.rejection
        ready += asm.add(ChannelItem("aia", w, done.observation.t_obs, done, arrived_at=0.0),
                         now=0.0).ready
    assert len(ready) == 1
    return ready[0]


LOOP: list[asyncio.AbstractEventLoop] = []  # one loop for the module: one batcher


@functools.cache
def batcher() -> DynamicBatcher:
    """One started batcher on the module's loop, as the daemon starts it."""
    LOOP.append(asyncio.new_event_loop())
    runner = open_backend(BASE, package())
    started = DynamicBatcher(runner, package().input_shape, BASE.max_batch, BASE.max_wait_ms,
                             BASE.queue_size)
    LOOP[0].run_until_complete(started.start(warmup=False))
    return started


@pytest.fixture(autouse=True, scope="module")
def _close_batcher() -> Any:
    yield
    if LOOP:
        LOOP[0].run_until_complete(batcher().close())
        LOOP[0].close()


def analysed(field: str, value: Any, base: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The saliency summary and overlay of the frame under the changed settings."""
    return _analysed(dataclasses.replace(SaliencySettings(extra_classes=("M",)),
                                         **{**(base or {}), field: value}))


@functools.cache
def _analysed(settings: SaliencySettings) -> tuple[Any, ...]:
    shared = batcher()

    async def main() -> tuple[Any, ...]:
        analyzer = FrameAnalyzer(package(), shared, settings)
        try:
            done = await analyzer.analyse(frame(), shared.runner.name, ())
            png = (await analyzer.draw_overlay(done.overlay_inputs)
                   if done.overlay_inputs is not None else None)
        finally:
            analyzer.close()
        summary = done.saliency.to_dict() if done.saliency is not None else None
        size = struct.unpack(">II", png[16:24]) if png else None
        digest = hashlib.sha256(png).hexdigest() if png else None
        return summary, done.overlay_url is not None, size, digest

    return LOOP[0].run_until_complete(main())


def _p(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return functools.partial(fn, *args, **kwargs)


ROWS = [
    Row("inference.backend", "onnxruntime", "torch_cpu", backend_used),
    Row("inference.warmup_iterations", 1, 3, warmup_calls),
    Row("inference.cpu.threads", 1, 2, session_threads),
    Row("inference.max_batch", 1, 4, _p(batches, "max_batch", n=4)),
    Row("inference.max_wait_ms", 1.0, 600.0, _p(batches, "max_wait_ms", gap_s=0.1, n=2)),
    Row("inference.queue_size", 1, 8, _p(batches, "queue_size", n=3)),
    Row("inference.model_package", "untrained", "seed1", package_digest),
    Row("inference.verify_package", True, False, verified),
    Row("saliency.enabled", True, False, _p(analysed, "enabled")),
    Row("saliency.explain_predicted_class", True, False, _p(analysed, "explain_predicted_class")),
    Row("saliency.extra_classes", ("M",), ("M", "X"), _p(analysed, "extra_classes")),
    Row("saliency.irradiance_lines_nm", (), (13.29,), _p(analysed, "irradiance_lines_nm")),
    Row("saliency.threshold_fraction", 0.5, 0.9, _p(analysed, "threshold_fraction")),
    Row("saliency.top_k", 3, 1, _p(analysed, "top_k")),
    Row("saliency.min_region_px", 4, 400, _p(analysed, "min_region_px")),
    Row("saliency.min_mu", 0.1, 0.95, _p(analysed, "min_mu")),
    Row("saliency.refine_channels", (94, 131), (171,), _p(analysed, "refine_channels")),
    Row("saliency.overlay", True, False, _p(analysed, "overlay")),
    Row("saliency.overlay_channel", 131, 171, _p(analysed, "overlay_channel")),
    Row("saliency.overlay_size_px", 512, 256, _p(analysed, "overlay_size_px")),
    Row("saliency.overlay_alpha", 0.5, 0.9, _p(analysed, "overlay_alpha")),
]


_TRT = ("builds and caches TensorRT engines, which need TensorRT on a GPU host (it cannot be "
        "installed here); tests/inference/test_inference_tensorrt.py::"
        "test_tensorrt_engine_parity_and_cache_reuse builds with it there")
EXEMPT = {
    "inference.device": (
        "the CUDA device of the GPU backends; CPU backends ignore it by design. "
        "tests/options/test_options_rows_inference.py::test_gpu_backends_follow_their_switches "
        "loads each GPU backend on it where CUDA is present"),
    "inference.precision": (
        "fp16/bf16 apply to GPU backends only (CPU backends run fp32 and say so: "
        "tests/inference/test_inference_registry.py::test_auto_falls_back_to_onnxruntime_and_logs_why); "
        "tests/options/test_options_rows_inference.py::test_gpu_backends_follow_their_switches "
        "loads torch_cuda in fp16 and fp32 where CUDA is present"),
    "inference.onnxruntime_cuda": (
        "puts ONNX Runtime on the CUDA provider, which needs onnxruntime-gpu and a GPU; "
        "tests/options/test_options_rows_inference.py::test_onnxruntime_cuda_moves_the_session_to_the_gpu"),
    "inference.torch_cuda.cuda_graphs": (
        "CUDA graph capture of the torch_cuda backend, GPU only; "
        "tests/options/test_options_rows_inference.py::test_gpu_backends_follow_their_switches"),
    "inference.torch_cuda.channels_last": (
        "memory format of the torch_cuda backend's model and inputs, GPU only; "
        "tests/options/test_options_rows_inference.py::test_gpu_backends_follow_their_switches"),
    "inference.shadow": (
        "added by the model-switching work; behaviour tested in "
        "tests/daemon/test_daemon_shadow.py::test_shadow_runs_on_every_frame_is_scored_and_never_alerts "
        "(a shadow package's results arrive on <prefix>.frames.shadow, never as alerts)"),
    "inference.package_watch_s": (
        "added by the model-switching work; behaviour tested in "
        "tests/daemon/test_daemon_promote.py::test_promote_and_rollback_reach_the_running_daemon "
        "(0.5 s: the daemon follows the package link) and "
        "tests/daemon/test_daemon_switch.py::test_sighup_mid_burst_switches_cleanly_and_a_broken_package_is_refused "
        "(0: only SIGHUP switches)"),
    **{f"inference.tensorrt.{name}": _TRT for name in (
        "engine_cache_dir", "build_in_background", "workspace_mib", "optimization_level",
        "cuda_graphs", "max_cached_engines")},
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()


@pytest.mark.gpu
def test_onnxruntime_cuda_moves_the_session_to_the_gpu() -> None:
    from monitor.inference.ort_backend import OnnxRuntimeBackend, probe_cuda

    ok, reason = probe_cuda()
    if not ok:
        pytest.skip(f"needs onnxruntime-gpu and a GPU: {reason}")
    on = dataclasses.replace(BASE, onnxruntime_cuda=True, device="cuda:0")
    assert OnnxRuntimeBackend.device_for(on) == "cuda:0"
    assert OnnxRuntimeBackend.device_for(dataclasses.replace(on, onnxruntime_cuda=False)) == "cpu"
    runner = open_backend(on, package())
    try:
        session = runner._active.session
        assert session.get_providers()[0] == "CUDAExecutionProvider"
    finally:
        runner.close()


@pytest.mark.gpu
def test_gpu_backends_follow_their_switches() -> None:
    import torch

    from monitor.inference.settings import TorchCudaSettings

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x = np.zeros((1, *package().input_shape), np.float32)
    seen = {}
    for graphs, last, precision in ((True, True, "fp16"), (False, False, "fp32")):
        settings = dataclasses.replace(
            BASE, backend="torch_cuda", device="cuda:0", precision=precision,
            torch_cuda=TorchCudaSettings(cuda_graphs=graphs, channels_last=last))
        runner = open_backend(settings, package())
        try:
            runner.infer(x)
            backend = runner._active
            weight = next(p for p in backend.model.parameters()
                          if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1)
            seen[graphs] = (bool(backend.graphs), weight.dtype,
                            weight.is_contiguous(memory_format=torch.channels_last),
                            str(weight.device))
        finally:
            runner.close()
    assert seen[True][0] and not seen[False][0]
    assert seen[True][1] == torch.float16 and seen[False][1] == torch.float32
    assert seen[True][2] and not seen[False][2]
    assert seen[True][3] == seen[False][3] == "cuda:0"
