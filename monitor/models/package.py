"""Model packages: write, load, verify.

A package is a directory::

    model.json           manifest (monitor.models.manifest), sha256 of every other file
    model.onnx           dynamic batch; outputs logits, irradiance, features
    weights.safetensors  the torch state dict (torch backend, Grad-CAM, retraining)
    metrics.json         evaluation on the held-out split
    MODEL_CARD.md        training data, intended use, limits

Loading checks, in order: ``model.json`` parses and follows the contract;
every listed file exists, has the recorded size (a short file is reported as
truncated) and sha256; then ONNX Runtime and torch agree on a probe input.
Each failure is a typed :class:`~monitor.models.errors.PackageError` naming
the file. Weights are read with safetensors only: nothing is ever unpickled.

The package's own sha256 (for logs, Kafka messages and cache keys) is the
sha256 of ``model.json``: that file pins every other file by hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.logs import get_logger
from monitor.models.card import default_model_card
from monitor.models.errors import (
    PackageError,
    PackageFileMissingError,
    PackageFormatError,
    PackageParityError,
)
from monitor.models.manifest import FileEntry, Manifest, ManifestError
from monitor.models.network import SolarResNet
from monitor.models.onnx_export import export_onnx
from monitor.models.provenance import UNDECLARED, ModelIdentity, Provenance
from monitor.models.verify import (
    ParityReport,
    check_parity,
    sha256_file,
    verify_files,
)

__all__ = [
    "MANIFEST",
    "METRICS",
    "MODEL_CARD",
    "ONNX",
    "REQUIRED_FILES",
    "WEIGHTS",
    "ModelPackage",
    "ParityReport",
    "check_parity",
    "default_model_card",
    "default_package_path",
    "load_package",
    "load_weights",
    "sha256_file",
    "update_documents",
    "write_package",
]

log = get_logger(__name__)

MANIFEST = "model.json"
ONNX = "model.onnx"
WEIGHTS = "weights.safetensors"
METRICS = "metrics.json"
MODEL_CARD = "MODEL_CARD.md"
REQUIRED_FILES = (ONNX, WEIGHTS, METRICS, MODEL_CARD)

_PROBE_SEED = 20190404  # any fixed seed: the probe must be the same on every load


@dataclass(frozen=True)
class ModelPackage:
    """A loaded (and normally verified) model package.

    Parameters
    ----------
    path : pathlib.Path
        Package directory.
    manifest : Manifest
        Parsed ``model.json``.
    sha256 : str
        sha256 of ``model.json``, i.e. of the package as a whole.
    verified : bool
        Whether hashes and ONNX/torch parity were checked at load.
    """

    path: Path
    manifest: Manifest
    sha256: str
    verified: bool = True

    @property
    def provenance(self) -> Provenance:
        """The declared training data, or the synthetic-only reading of a silent package."""
        return self.manifest.provenance or UNDECLARED

    @property
    def identity(self) -> ModelIdentity:
        """Name, version, sha256 and provenance: what every result names."""
        m = self.manifest
        return ModelIdentity(m.name, m.version, self.sha256, self.provenance)

    @property
    def onnx_path(self) -> Path:
        """Path of ``model.onnx``."""
        return self.path / ONNX

    @property
    def weights_path(self) -> Path:
        """Path of ``weights.safetensors``."""
        return self.path / WEIGHTS

    @property
    def onnx_sha256(self) -> str:
        """sha256 of ``model.onnx`` as recorded in the manifest."""
        return self.manifest.files[ONNX].sha256

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, N, N)`` of one frame."""
        spec = self.manifest.input
        return (len(spec.channels), spec.size, spec.size)

    def state_dict(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The weights as tensors (safetensors, never pickle)."""
        from safetensors.torch import load_file

        try:
            return load_file(str(self.weights_path), device=str(device))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise PackageFormatError(self.weights_path, f"unreadable safetensors: {exc}") from None

    def build_torch_model(self, device: str | torch.device = "cpu") -> SolarResNet:
        """The torch network with the package weights, in eval mode on ``device``."""
        model = SolarResNet(self.manifest.network)
        load_weights(model, self.state_dict("cpu"), self.weights_path)
        return model.to(device).eval()

    def head_weights(self) -> dict[str, np.ndarray]:
        """CAM head tensors named in the manifest, as float32 numpy arrays.

        Returns
        -------
        dict
            Keys ``class_weight`` (K, F), ``class_bias`` (K,),
            ``irradiance_weight`` (L, F), ``irradiance_bias`` (L,).
        """
        from safetensors import safe_open

        cam = self.manifest.cam
        names = {"class_weight": cam.class_weight, "class_bias": cam.class_bias,
                 "irradiance_weight": cam.irradiance_weight,
                 "irradiance_bias": cam.irradiance_bias}
        out: dict[str, np.ndarray] = {}
        with safe_open(str(self.weights_path), framework="np") as fh:
            available = set(fh.keys())
            for key, tensor in names.items():
                if tensor not in available:
                    raise PackageFormatError(self.weights_path, f"no tensor {tensor!r} ({key})")
                out[key] = np.asarray(fh.get_tensor(tensor), dtype=np.float32)
        return out

    def pointing_error_arcsec(self) -> dict[str, Any] | None:
        """The measured flare pointing error, from ``metrics.json``; None if never measured.

        ``{"median", "p90", "frames"}``: arcsec between located and true flares
        on held-out synthetic Suns through FITS files and the daemon's path
        (``file_path.files.pointing_error``, written by ``train --evaluate``).
        """
        try:
            metrics = json.loads((self.path / METRICS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        found: Any = metrics
        for key in ("file_path", "files", "pointing_error"):
            found = found.get(key) if isinstance(found, dict) else None
        if not isinstance(found, dict) or not found.get("frames"):
            return None
        median, p90 = found.get("median_arcsec"), found.get("p90_arcsec")
        if not isinstance(median, (int, float)) or not isinstance(p90, (int, float)):
            return None
        return {"median": float(median), "p90": float(p90), "frames": int(found["frames"])}

    def probe_input(self, batch: int = 2) -> np.ndarray:
        """Deterministic random ``(batch, C, N, N)`` float32 input for parity checks."""
        rng = np.random.default_rng(_PROBE_SEED)
        return rng.standard_normal((batch, *self.input_shape), dtype=np.float32)


def load_weights(model: SolarResNet, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load a state dict into ``model``, or raise one readable error naming ``source``.

    Parameters
    ----------
    model : SolarResNet
        Network to fill.
    state : dict
        Tensors by parameter name (from safetensors).
    source : pathlib.Path
        File the tensors came from (for the message).

    Raises
    ------
    PackageFormatError
        When names or shapes differ from the network's.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise PackageFormatError(source, "weights do not fit the network: "
                                         f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
                                         f"shape mismatches {shapes[:5]}")
    model.load_state_dict(state, strict=True)


def default_package_path() -> Path:
    """Where the default package ships inside the Python package."""
    return Path(__file__).resolve().parent / "default"


def _read_manifest(path: Path) -> tuple[Manifest, str]:
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


def load_package(path: Path | str, verify: bool = True) -> ModelPackage:
    """Load a model package, verifying integrity and ONNX/torch parity.

    Parameters
    ----------
    path : pathlib.Path or str
        Package directory.
    verify : bool
        Check every sha256 and the ONNX/torch parity (default). ``False``
        only parses ``model.json`` (tools that inspect a package).

    Returns
    -------
    ModelPackage

    Raises
    ------
    PackageFileMissingError, PackageHashMismatchError, PackageFormatError, PackageParityError
        With the path of the file at fault.
    """
    path = Path(path).resolve()
    if path == default_package_path() and not path.is_dir():
        raise PackageFileMissingError(path, "no default model package is installed; set "
                                            "inference.model_package or create one with "
                                            "'sdo-monitor export'")
    manifest, digest = _read_manifest(path)
    package = ModelPackage(path=path, manifest=manifest, sha256=digest, verified=verify)
    if manifest.provenance is None:
        log.warning("model package declares no provenance: read as trained on synthetic "
                    "data only", package=manifest.name, path=str(path))
    if verify:
        verify_files(path, manifest)
        report = check_parity(package)
        if not report.ok:
            worst = max(report.relative, key=report.relative.__getitem__)
            raise PackageParityError(
                package.onnx_path,
                f"ONNX and torch ({WEIGHTS}) disagree on the probe input: output {worst} "
                f"relative difference {report.relative[worst]:.2e} > {report.rtol:.0e}")
        log.info("model package verified", package=manifest.name, version=manifest.version,
                 sha256=digest[:12], parity={k: f"{v:.1e}" for k, v in report.relative.items()})
    return package


def _write_manifest(path: Path, manifest: Manifest) -> None:
    """``model.json`` with the sha256 and size of every required file as it is now."""
    files = {name: FileEntry(sha256=sha256_file(path / name), bytes=(path / name).stat().st_size)
             for name in REQUIRED_FILES}
    tmp = path / f".{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(replace(manifest, files=files).to_dict(), indent=2) + "\n",
                   encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path / MANIFEST)


def update_documents(path: Path | str, *, metrics: dict[str, Any], model_card: str,
                     verify: bool = True) -> ModelPackage:
    """Rewrite a package's ``metrics.json`` and ``MODEL_CARD.md`` and re-hash ``model.json``.

    The weights and the ONNX graph are not touched (byte for byte), so the
    package's numbers can be re-measured without re-exporting the network.
    """
    path = Path(path).resolve()
    manifest, _ = _read_manifest(path)
    verify_files(path, manifest)  # only a package that was intact gets new hashes
    for name, text in ((METRICS, json.dumps(metrics, indent=2, sort_keys=True) + "\n"),
                       (MODEL_CARD, model_card)):
        tmp = path / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path / name)
    _write_manifest(path, manifest)
    return load_package(path, verify=verify)


def write_package(
    out_dir: Path | str,
    model: SolarResNet,
    manifest: Manifest,
    *,
    metrics: dict[str, Any] | None = None,
    model_card: str | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> ModelPackage:
    """Write a package directory atomically and load it back.

    Parameters
    ----------
    out_dir : pathlib.Path or str
        Target directory; must not exist unless ``overwrite``.
    model : SolarResNet
        Trained (or initialised) network; its config must equal ``manifest.network``.
    manifest : Manifest
        Everything but ``files`` and ``created_utc``, which are filled here.
    metrics : dict, optional
        Evaluation results written as ``metrics.json``.
    model_card : str, optional
        Markdown; a template naming the limits is written when omitted.
    overwrite : bool
        Replace an existing package directory.
    verify : bool
        Load the written package with full verification (parity included).

    Returns
    -------
    ModelPackage
    """
    from safetensors.torch import save_file

    out = Path(out_dir).resolve()
    if model.config != manifest.network:
        raise ValueError(f"model config {model.config} differs from manifest.network "
                         f"{manifest.network}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (use overwrite=True / --force)")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        model = model.eval()
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "sdo-monitor", "model":
                                                        manifest.name})
        export_onnx(model.to("cpu"), tmp / ONNX, in_channels=len(manifest.input.channels),
                    size=manifest.input.size, input_name=manifest.input.name,
                    output_names=manifest.output_names, opset=manifest.opset)
        (tmp / METRICS).write_text(
            json.dumps(metrics if metrics is not None else {"status": "not evaluated"},
                       indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / MODEL_CARD).write_text(model_card or default_model_card(manifest),
                                      encoding="utf-8")
        for name in REQUIRED_FILES:
            # safetensors creates its file 0600; a package is read by the service user.
            os.chmod(tmp / name, 0o644)
        created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        _write_manifest(tmp, replace(manifest, created_utc=manifest.created_utc or created))
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("model package written", path=str(out), name=manifest.name)
    try:
        return load_package(out, verify=verify)
    except PackageError:
        log.error("freshly written package failed verification", path=str(out))
        raise
