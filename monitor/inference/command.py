"""``sdo-monitor build-engine``: build (or list) cached TensorRT engines ahead of a restart.

Deployment runs it once per GPU host (or after a package or TensorRT upgrade)
so the daemon finds its engine in the cache and starts at full speed instead
of serving degraded while it builds::

    sdo-monitor build-engine --config /etc/sdo-monitor/config.yaml
    sdo-monitor build-engine --package models/v1 --precision fp16 --max-batch 8
    sdo-monitor build-engine --list          # cached engines and backend availability

Exit codes: 0 built or already cached, 1 failed, 4 TensorRT unavailable here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from monitor.inference.engine_cache import EngineCache
from monitor.inference.registry import default_engine_cache_dir, probe_backends
from monitor.inference.settings import InferenceSettings
from monitor.typedyaml import override

__all__ = ["EXIT_UNAVAILABLE", "add_subparser", "run_build_engine"]

EXIT_UNAVAILABLE = 4


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``build-engine`` subcommand."""
    p = subparsers.add_parser(
        "build-engine", help="build the TensorRT engine for a model package into the cache",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="daemon config (inference and cache settings)")
    p.add_argument("--package", type=Path, help="model package (default: config, else shipped)")
    p.add_argument("--precision", choices=("fp16", "fp32"), help="default: config, else fp16")
    p.add_argument("--max-batch", type=int, help="batch profile maximum (default: config)")
    p.add_argument("--device", help="CUDA device, e.g. cuda:0 (default: config)")
    p.add_argument("--cache-dir", type=Path, help="engine cache directory (default: config)")
    p.add_argument("--list", action="store_true", help="list cached engines and backends, exit")
    p.set_defaults(func=run_build_engine)


def _settings(args: argparse.Namespace) -> tuple[InferenceSettings, Path | None]:
    settings = InferenceSettings()
    service_cache: Path | None = None
    if args.config is not None:
        from monitor.config import load_config

        config = load_config(args.config)
        settings, service_cache = config.inference, config.service.cache_dir
    settings = override(settings, {
        "tensorrt.engine_cache_dir": args.cache_dir, "model_package": args.package,
        "precision": args.precision, "max_batch": args.max_batch, "device": args.device})
    return settings, service_cache


def run_build_engine(args: argparse.Namespace) -> int:
    """Execute ``build-engine``; returns the exit code."""
    settings, service_cache = _settings(args)
    cache_dir = default_engine_cache_dir(settings, service_cache)
    probes = probe_backends()
    if args.list:
        for p in probes.values():
            print(f"{p.name:12s} {'available' if p.available else 'unavailable':11s} {p.reason}")
        entries = EngineCache(cache_dir).entries()
        print(f"\nengine cache {cache_dir}: {len(entries)} engine(s)")
        for e in entries:
            key = e.meta.get("key", {})
            print(json.dumps({"file": e.plan.name, "bytes": e.size_bytes,
                              "package": key.get("package_name"),
                              "precision": key.get("precision"), "gpu": key.get("gpu_name"),
                              "tensorrt": key.get("tensorrt_version"),
                              "batch_profile": key.get("batch_profile")}))
        return 0
    if not probes["tensorrt"].available:
        print(f"sdo-monitor build-engine: TensorRT unavailable: {probes['tensorrt'].reason}")
        return EXIT_UNAVAILABLE
    from monitor.inference.trt_backend import build_engine
    from monitor.models.layout import default_package_path
    from monitor.models.package import load_package

    package = load_package(settings.model_package or default_package_path())
    precision = "fp16" if settings.precision in ("auto", "fp16") else "fp32"
    start = time.perf_counter()
    plan, key, cached = build_engine(package, precision, settings.max_batch,  # type: ignore[arg-type]
                                     settings.tensorrt, EngineCache(cache_dir), settings.device)
    what = "already cached" if cached else f"built in {time.perf_counter() - start:.1f} s"
    print(f"engine {key.digest[:16]} ({len(plan) / 1e6:.1f} MB) {what} in {cache_dir}")
    return 0
