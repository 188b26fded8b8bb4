"""Engine cache: keys change with every validity input, atomic entries, corruption, pruning."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from monitor.inference.engine_cache import EngineCache, EngineKey, host_platform

KEY = EngineKey(
    package_name="sdo-flare-eve", package_sha256="a" * 64, onnx_sha256="b" * 64,
    precision="fp16", recipe="r1", tensorrt_version="10.16.0.72", gpu_name="NVIDIA H100 PCIe",
    compute_capability="9.0", platform="linux-x86_64", batch_profile=(1, 8, 8),
    input_shape=(7, 256, 256), optimization_level=3, torch_version="2.13.0")


@pytest.mark.parametrize("field,value", [
    ("package_sha256", "c" * 64), ("onnx_sha256", "d" * 64), ("precision", "fp32"),
    ("recipe", "r2"), ("tensorrt_version", "11.4.0.106"), ("gpu_name", "NVIDIA A100"),
    ("compute_capability", "8.0"), ("platform", "linux-aarch64"),
    ("batch_profile", (1, 16, 16)), ("input_shape", (7, 512, 512)),
    ("optimization_level", 5), ("hardware_compatibility", "AMPERE_PLUS"),
    ("torch_version", "2.15.0"),
])
def test_every_key_field_changes_the_digest(field: str, value: object) -> None:
    other = dataclasses.replace(KEY, **{field: value})
    assert other.digest != KEY.digest
    assert EngineCache(Path("/x")).plan_path(other) != EngineCache(Path("/x")).plan_path(KEY)


def test_store_load_round_trip_and_sidecar(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    assert cache.load(KEY) is None
    path = cache.store(KEY, b"PLAN-BYTES", build_seconds=12.3)
    assert path.parent == tmp_path / "engines" and path.suffix == ".plan"
    assert cache.load(KEY) == b"PLAN-BYTES"
    [entry] = cache.entries()
    assert entry.meta["key"]["gpu_name"] == "NVIDIA H100 PCIe"
    assert entry.meta["build_seconds"] == 12.3 and entry.size_bytes == 10
    assert not list((tmp_path / "engines").glob(".*tmp*"))  # no temporary left behind


def test_corrupted_plan_is_a_miss_and_removed(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store(KEY, b"GOOD-PLAN", 1.0)
    path.write_bytes(b"BAD-PLAN!")  # same size, different bytes
    assert cache.load(KEY) is None
    assert not path.exists() and not path.with_suffix(".json").exists()


def test_a_plan_without_its_sidecar_is_not_cached(tmp_path: Path) -> None:
    # The registry's "cached?" question must agree with what load() will accept,
    # or a lone plan would mean a foreground engine build at start-up.
    cache = EngineCache(tmp_path)
    assert not cache.has(KEY)
    path = cache.store(KEY, b"PLAN", 1.0)
    assert cache.has(KEY)
    path.with_suffix(".json").unlink()
    assert path.is_file() and not cache.has(KEY)
    assert cache.load(KEY) is None


def test_prune_keeps_most_recently_used(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path, max_entries=2)
    keys = [dataclasses.replace(KEY, optimization_level=i) for i in range(3)]
    for i, key in enumerate(keys[:2]):
        path = cache.store(key, f"plan{i}".encode(), 1.0)
        os.utime(path, (1000 + i, 1000 + i))
    cache.load(keys[0])  # touch: now the most recent
    cache.store(keys[2], b"plan2", 1.0)
    assert cache.load(keys[1]) is None
    assert cache.load(keys[0]) == b"plan0" and cache.load(keys[2]) == b"plan2"


def test_timing_cache_is_per_gpu_and_version(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.read_timing_cache(KEY) == b""
    cache.write_timing_cache(KEY, b"TIMING")
    assert cache.read_timing_cache(dataclasses.replace(KEY, precision="fp32")) == b"TIMING"
    assert cache.read_timing_cache(dataclasses.replace(KEY, gpu_name="NVIDIA L4")) == b""
    assert "/" not in cache.timing_cache_path(KEY).name.removeprefix("timing-")


def test_build_lock_is_reentrant_across_calls(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "new")
    with cache.build_lock(KEY):
        assert (tmp_path / "new").is_dir()
    with cache.build_lock(KEY):  # released: can be taken again
        pass
    assert host_platform().count("-") >= 1
