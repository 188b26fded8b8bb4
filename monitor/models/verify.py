"""Integrity and parity checks of a model package (used by :func:`load_package`).

Hashes: every file listed in ``model.json`` must exist with the recorded size
(a short file is reported as truncated) and sha256. Parity: ONNX Runtime on
``model.onnx`` and torch on ``weights.safetensors`` must agree on a fixed probe
input within :data:`PARITY_RTOL`, which catches an ONNX file and weights that
were each hashed correctly but do not belong together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from monitor.models.errors import (
    PackageFileMissingError,
    PackageFormatError,
    PackageHashMismatchError,
    PackageParityError,
)
from monitor.models.manifest import Manifest

__all__ = ["PARITY_RTOL", "ParityReport", "ParityTarget", "check_parity", "sha256_file",
           "verify_files"]

#: Largest relative difference allowed between ONNX Runtime and torch outputs.
PARITY_RTOL = 1e-4
_MANIFEST = "model.json"


class ParityTarget(Protocol):
    """What the parity check reads of a package: a loaded
    :class:`~monitor.models.package.ModelPackage` (named here, not imported: that module
    imports this one)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def onnx_path(self) -> Path: ...

    def probe_input(self, batch: int = 2) -> np.ndarray: ...

    def build_torch_model(self, device: str = "cpu") -> Any: ...


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ParityReport:
    """Largest relative difference per output between ONNX Runtime and torch."""

    relative: dict[str, float]
    rtol: float

    @property
    def ok(self) -> bool:
        """True when every output is within ``rtol``."""
        return all(v <= self.rtol for v in self.relative.values())


def verify_files(path: Path, manifest: Manifest) -> None:
    """Check that every listed file exists with its recorded size and sha256."""
    for name, entry in sorted(manifest.files.items()):
        if "/" in name or "\\" in name or name.startswith("."):
            raise PackageFormatError(path / _MANIFEST, f"file name {name!r} is not a plain name")
        fpath = path / name
        if not fpath.is_file():
            raise PackageFileMissingError(fpath, "missing (listed in model.json)")
        size = fpath.stat().st_size
        actual = sha256_file(fpath)
        if actual != entry.sha256:
            detail = ""
            if size < entry.bytes:
                detail = f"truncated: {size} of {entry.bytes} bytes"
            elif size != entry.bytes:
                detail = f"size {size}, expected {entry.bytes} bytes"
            raise PackageHashMismatchError(fpath, entry.sha256, actual, detail)


def check_parity(package: ParityTarget, rtol: float = PARITY_RTOL, batch: int = 2) -> ParityReport:
    """Compare ONNX Runtime (CPU) and torch (CPU, fp32) on the probe input.

    Parameters
    ----------
    package : ParityTarget
        Package to check (a loaded ``ModelPackage``).
    rtol : float
        Allowed ``max|onnx - torch| / max|torch|`` per output.
    batch : int
        Probe batch size (2 exercises the dynamic batch axis).
    """
    import onnxruntime as ort

    x = package.probe_input(batch)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a load-time check; leave cores to the pipeline
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(package.onnx_path), options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise PackageFormatError(package.onnx_path, f"ONNX Runtime cannot load it: {exc}") from None
    names = package.manifest.output_names
    got_inputs = [i.name for i in session.get_inputs()]
    got_outputs = [o.name for o in session.get_outputs()]
    if got_inputs != [package.manifest.input.name] or got_outputs != list(names):
        raise PackageFormatError(package.onnx_path,
                                 f"graph I/O {got_inputs} -> {got_outputs} does not match "
                                 f"model.json ({package.manifest.input.name} -> {list(names)})")
    onnx_out = session.run(list(names), {package.manifest.input.name: x})
    model = package.build_torch_model("cpu")
    with torch.inference_mode():
        torch_out = [t.numpy() for t in model(torch.from_numpy(x))]
    relative = {}
    for name, a, b in zip(names, onnx_out, torch_out):
        if a.shape != b.shape:
            raise PackageParityError(package.onnx_path, f"output {name} shape {a.shape} != "
                                                        f"torch {b.shape}")
        scale = max(float(np.abs(b).max()), 1e-12)
        relative[name] = float(np.abs(a.astype(np.float64) - b).max() / scale)
    return ParityReport(relative=relative, rtol=rtol)
