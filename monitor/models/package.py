"""Model packages as loaded: verified on the way in, then read by every backend.

Loading checks, in order: ``model.json`` parses and follows the contract;
every listed file exists, has the recorded size (a short file is reported as
truncated) and sha256; then ONNX Runtime and torch agree on a probe input.
Each failure is a typed :class:`~monitor.models.errors.PackageError` naming
the file. Weights are read with safetensors only: nothing is ever unpickled.

The directory layout and ``model.json`` are :mod:`monitor.models.layout`'s
(its file names are importable from here too); writing a package is
:mod:`monitor.models.writing`'s. The package's own sha256 (for logs, Kafka
messages and cache keys) is the sha256 of ``model.json``: that file pins
every other file by hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.logs import get_logger
from monitor.models.errors import PackageFileMissingError, PackageFormatError, PackageParityError
from monitor.models.layout import METRICS, ONNX, WEIGHTS, default_package_path, read_manifest
from monitor.models.manifest import Manifest
from monitor.models.network import SolarResNet
from monitor.models.provenance import UNDECLARED, ModelIdentity, Provenance
from monitor.models.verify import check_parity, verify_files

__all__ = ["ModelPackage", "load_package", "load_weights"]

log = get_logger(__name__)

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
    manifest, digest = read_manifest(path)
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
