"""What a model package directory holds, and its ``model.json`` read and written.

A package is a directory::

    model.json           manifest (monitor.models.manifest), sha256 of every other file
    model.onnx           dynamic batch; outputs logits, irradiance, features
    weights.safetensors  the torch state dict (torch backend, Grad-CAM, retraining)
    metrics.json         evaluation on the held-out split
    MODEL_CARD.md        training data, intended use, limits

Loading (:mod:`monitor.models.package`) and writing
(:mod:`monitor.models.writing`) both go through :func:`read_manifest` and
:func:`write_manifest`, so the one file that pins every other one by hash is
parsed and produced in one place. The package's own sha256 is the sha256 of
``model.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from monitor.atomicfile import atomic_path
from monitor.models.errors import PackageFileMissingError, PackageFormatError
from monitor.models.manifest import FileEntry, Manifest, ManifestError
from monitor.models.verify import sha256_file

__all__ = [
    "MANIFEST",
    "METRICS",
    "MODEL_CARD",
    "ONNX",
    "REQUIRED_FILES",
    "WEIGHTS",
    "default_package_path",
    "read_manifest",
    "write_manifest",
    "write_package_file",
]

MANIFEST = "model.json"
ONNX = "model.onnx"
WEIGHTS = "weights.safetensors"
METRICS = "metrics.json"
MODEL_CARD = "MODEL_CARD.md"
REQUIRED_FILES = (ONNX, WEIGHTS, METRICS, MODEL_CARD)


def default_package_path() -> Path:
    """Where the default package ships inside the Python package."""
    return Path(__file__).resolve().parent / "default"


def read_manifest(path: Path) -> tuple[Manifest, str]:
    """The parsed ``model.json`` of the package at ``path`` and its sha256.

    Raises
    ------
    PackageFileMissingError
        No such directory, or no ``model.json`` in it.
    PackageFormatError
        ``model.json`` is not JSON, breaks the contract, or lacks a required file.
    """
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise PackageFileMissingError(path, "model package directory does not exist")
    if not manifest_path.is_file():
        raise PackageFileMissingError(manifest_path, "missing: not a model package")
    raw = manifest_path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageFormatError(manifest_path, f"not valid JSON: {exc}") from None
    try:
        manifest = Manifest.from_dict(data)
    except ManifestError as exc:
        raise PackageFormatError(manifest_path, str(exc)) from None
    missing = [f for f in REQUIRED_FILES if f not in manifest.files]
    if missing:
        raise PackageFormatError(manifest_path, f"files section lacks {missing}")
    return manifest, hashlib.sha256(raw).hexdigest()


def write_package_file(path: Path, text: str) -> None:
    """Replace one text file of a package in one step, readable by the service user."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)


def write_manifest(path: Path, manifest: Manifest) -> None:
    """``model.json`` with the sha256 and size of every required file as it is now."""
    files = {name: FileEntry(sha256=sha256_file(path / name), bytes=(path / name).stat().st_size)
             for name in REQUIRED_FILES}
    write_package_file(path / MANIFEST,
                       json.dumps(replace(manifest, files=files).to_dict(), indent=2) + "\n")
