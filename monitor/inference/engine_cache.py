"""On-disk cache of TensorRT engines and timing caches, so a restart never rebuilds.

A serialized engine runs only with the TensorRT version that built it, on the
same GPU model (not portable across architectures, and NVIDIA support says the
exact model matters), on the same OS; a mismatched plan does not raise, it
deserializes to ``None``. So the key holds everything that decides validity
or content:

- the model: package sha256 (pins ``model.onnx`` and the weights) and the
  ONNX sha256, plus for reduced precision the recipe and torch version that
  produce the fp16 ONNX variant;
- the runtime: full ``tensorrt.__version__``, GPU name, compute capability,
  OS and machine;
- the build: precision, batch profile (min, opt, max), input shape,
  optimisation level and hardware-compatibility level.

Entries are ``<name>-<digest16>.plan`` with a ``.json`` sidecar holding the key
fields (for humans and for ``build-engine --list``). Writes are atomic
(temporary file + rename), a lock file serialises builders of the same key
across processes, and the oldest entries beyond ``max_entries`` are pruned.
This module needs no TensorRT, so it is tested on every machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from monitor.logs import get_logger

__all__ = ["CacheEntry", "EngineCache", "EngineKey", "host_platform"]

log = get_logger(__name__)

KEY_SCHEMA = 1


def host_platform() -> str:
    """OS and machine, e.g. ``linux-x86_64`` (engines are not portable across them)."""
    return f"{platform.system().lower()}-{platform.machine()}"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine's validity and content depend on."""

    package_name: str
    package_sha256: str
    onnx_sha256: str
    precision: str
    recipe: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    platform: str
    batch_profile: tuple[int, int, int]
    input_shape: tuple[int, int, int]
    optimization_level: int
    hardware_compatibility: str = "NONE"
    torch_version: str = ""

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of all fields."""
        doc = {"schema": KEY_SCHEMA, **asdict(self)}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def gpu_tag(self) -> str:
        """Filesystem-safe GPU + TensorRT tag, for the timing cache name."""
        raw = f"{self.gpu_name}-sm{self.compute_capability}-trt{self.tensorrt_version}"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


@dataclass(frozen=True)
class CacheEntry:
    """One cached engine as listed by :meth:`EngineCache.entries`."""

    plan: Path
    meta: dict[str, Any]

    @property
    def size_bytes(self) -> int:
        """Size of the plan file."""
        return self.plan.stat().st_size


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class EngineCache:
    """Directory of engines keyed by :class:`EngineKey`.

    Parameters
    ----------
    root : pathlib.Path
        Cache directory (created on demand; systemd's ``CacheDirectory``).
    max_entries : int
        Engines kept; the least recently used beyond this are deleted.
    """

    def __init__(self, root: Path, max_entries: int = 8) -> None:
        self.root = Path(root)
        self.max_entries = max_entries

    def plan_path(self, key: EngineKey) -> Path:
        """Path of the engine file for ``key``."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key.package_name)[:48]
        return self.root / f"{safe}-{key.digest[:16]}.plan"

    def has(self, key: EngineKey) -> bool:
        """Whether a complete entry (plan and sidecar) is on disk for ``key``.

        Cheap (no read, no checksum): what :meth:`load` would at least need. A
        plan without its sidecar is a miss there, so it is one here too.
        """
        plan = self.plan_path(key)
        return plan.is_file() and plan.with_suffix(".json").is_file()

    def load(self, key: EngineKey) -> bytes | None:
        """Cached plan bytes, or ``None``; a sidecar that disagrees with the key is a miss."""
        plan = self.plan_path(key)
        meta_path = plan.with_suffix(".json")
        if not plan.is_file() or not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            data = plan.read_bytes()
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("engine cache entry unreadable; rebuilding", path=str(plan), error=str(exc))
            self.invalidate(key)
            return None
        if meta.get("digest") != key.digest or meta.get("plan_sha256") != \
                hashlib.sha256(data).hexdigest():
            log.warning("engine cache entry does not match its key or checksum; rebuilding",
                        path=str(plan))
            self.invalidate(key)
            return None
        os.utime(plan)  # LRU order for pruning
        return data

    def store(self, key: EngineKey, plan: bytes, build_seconds: float) -> Path:
        """Write ``plan`` and its sidecar atomically, then prune old entries."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.plan_path(key)
        _atomic_write(path, plan)
        meta = {"digest": key.digest, "key": asdict(key), "build_seconds": round(build_seconds, 2),
                "plan_sha256": hashlib.sha256(plan).hexdigest(), "bytes": len(plan),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())
        self.prune()
        return path

    def invalidate(self, key: EngineKey) -> None:
        """Delete the entry for ``key`` (e.g. after deserialization returned None)."""
        plan = self.plan_path(key)
        for p in (plan, plan.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def entries(self) -> list[CacheEntry]:
        """All complete entries, most recently used first."""
        if not self.root.is_dir():
            return []
        out = []
        for plan in self.root.glob("*.plan"):
            try:
                meta = json.loads(plan.with_suffix(".json").read_text())
            except (OSError, json.JSONDecodeError):
                continue
            out.append(CacheEntry(plan=plan, meta=meta))
        return sorted(out, key=lambda e: e.plan.stat().st_mtime, reverse=True)

    def prune(self) -> None:
        """Keep the ``max_entries`` most recently used engines."""
        for entry in self.entries()[self.max_entries:]:
            for p in (entry.plan, entry.plan.with_suffix(".json")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            log.info("engine cache pruned", path=str(entry.plan))

    def timing_cache_path(self, key: EngineKey) -> Path:
        """Timing cache shared by all builds on this GPU and TensorRT version."""
        return self.root / f"timing-{key.gpu_tag}.cache"

    def read_timing_cache(self, key: EngineKey) -> bytes:
        """Saved timing cache bytes, or ``b""`` (TensorRT then starts an empty one)."""
        try:
            return self.timing_cache_path(key).read_bytes()
        except OSError:
            return b""

    def write_timing_cache(self, key: EngineKey, data: bytes) -> None:
        """Save the timing cache atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.timing_cache_path(key), data)

    @contextlib.contextmanager
    def build_lock(self, key: EngineKey) -> Iterator[None]:
        """Exclusive lock per key across processes (two daemons never build the same engine)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.plan_path(key).with_suffix(".lock")
        with open(lock, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
