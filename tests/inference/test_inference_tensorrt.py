"""TensorRT backend: skipped with the reason where TensorRT or a GPU is absent."""

from __future__ import annotations

import argparse
import enum
import logging
import types
from pathlib import Path

import numpy as np
import pytest

from monitor.inference.command import EXIT_UNAVAILABLE, add_subparser
from monitor.inference.settings import TensorRTSettings
from monitor.inference.torch_cpu import TorchCPUBackend
from monitor.inference.trt_backend import TensorRTBackend, import_tensorrt, probe
from monitor.inference.trt_build import _make_logger
from monitor.models.package import ModelPackage

AVAILABLE, REASON = probe()


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_probe_gives_a_reason_either_way() -> None:
    assert REASON
    trt, why = import_tensorrt()
    assert (trt is None) == ("not installed" in why or "failed" in why or "too old" in why)


class _StandInILogger:
    """Stand-in for ``tensorrt.ILogger`` (TensorRT cannot be installed on CPU machines):
    the base class with its Severity enum, which is all the logger subclass uses."""

    class Severity(enum.Enum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self) -> None:
        pass


STAND_IN_TRT = types.SimpleNamespace(ILogger=_StandInILogger)
SEVERITY = _StandInILogger.Severity


@pytest.mark.parametrize("debug", [False, True])
def test_trt_logger_drops_info_and_verbose_first(caplog: pytest.LogCaptureFixture,
                                                 debug: bool) -> None:
    name = "monitor.inference.trt_build"
    caplog.set_level(logging.DEBUG if debug else logging.INFO, logger=name)
    logger = _make_logger(STAND_IN_TRT)
    for severity in SEVERITY:
        logger.log(severity, f"message {severity.name}")
    got = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == name]
    expected = [(logging.ERROR, "tensorrt: message INTERNAL_ERROR"),
                (logging.ERROR, "tensorrt: message ERROR"),
                (logging.WARNING, "tensorrt: message WARNING")]
    if debug:
        expected.append((logging.DEBUG, "tensorrt: message INFO"))
    assert got == expected  # VERBOSE never reaches logging
    assert list(logger.recent) == ["message INTERNAL_ERROR", "message ERROR", "message WARNING"]


@pytest.mark.skipif(AVAILABLE, reason="tensorrt is available here")
def test_build_engine_command_reports_unavailable(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["build-engine", "--cache-dir", str(tmp_path)]) == EXIT_UNAVAILABLE
    assert "TensorRT unavailable" in capsys.readouterr().out


def test_build_engine_list_shows_backends(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["build-engine", "--list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "torch_cpu" in out and "available" in out and "0 engine(s)" in out


@pytest.mark.gpu
@pytest.mark.skipif(not AVAILABLE, reason=f"TensorRT backend unavailable: {REASON}")
@pytest.mark.parametrize("precision,tol", [("fp32", 1e-2), ("fp16", 2e-2)])
def test_tensorrt_engine_parity_and_cache_reuse(package: ModelPackage, tmp_path: Path,
                                                torch_backend: TorchCPUBackend,
                                                precision: str, tol: float) -> None:
    settings = TensorRTSettings(workspace_mib=256, optimization_level=1)
    backend = TensorRTBackend(settings, tmp_path, warmup_iterations=1)
    backend.load(package, "cuda:0", precision, max_batch=4)  # type: ignore[arg-type]
    backend.warmup()
    try:
        assert backend.built_seconds is not None  # built now
        for b in (1, 3, 4):
            x = np.random.default_rng(b).normal(size=(b, 7, 64, 64)).astype(np.float32)
            got, ref = backend.infer(x), torch_backend.infer(x)
            for name in ("logits", "irradiance", "features"):
                a, r = getattr(got, name), getattr(ref, name)
                assert np.abs(a - r).max() <= tol * np.abs(r).max(), name
    finally:
        backend.close()
    again = TensorRTBackend(settings, tmp_path, warmup_iterations=1)
    again.load(package, "cuda:0", precision, max_batch=4)  # type: ignore[arg-type]
    try:
        assert again.built_seconds is None  # from the cache, no rebuild
    finally:
        again.close()
