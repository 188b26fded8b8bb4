"""Writing model packages: a whole new one, or new documents for an intact one.

:func:`write_package` builds every file in a hidden directory beside the
target and renames it into place, so a reader (the daemon, a promotion) sees
the old package or the new one, never half of either; it then loads the
result back with full verification, so nothing unloadable is ever left
looking like a package. :func:`update_documents` re-measures a package's
numbers without re-exporting the network: the weights and the ONNX graph
stay byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.logs import get_logger
from monitor.models.card import default_model_card
from monitor.models.errors import PackageError
from monitor.models.layout import (
    METRICS,
    MODEL_CARD,
    ONNX,
    REQUIRED_FILES,
    WEIGHTS,
    read_manifest,
    write_manifest,
    write_package_file,
)
from monitor.models.manifest import Manifest
from monitor.models.network import SolarResNet
from monitor.models.onnx_export import export_onnx
from monitor.models.package import ModelPackage, load_package
from monitor.models.verify import verify_files

__all__ = ["update_documents", "write_package"]

log = get_logger(__name__)


def _metrics_text(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2, sort_keys=True) + "\n"


def update_documents(path: Path | str, *, metrics: dict[str, Any], model_card: str,
                     verify: bool = True) -> ModelPackage:
    """Rewrite a package's ``metrics.json`` and ``MODEL_CARD.md`` and re-hash ``model.json``.

    The weights and the ONNX graph are not touched (byte for byte), so the
    package's numbers can be re-measured without re-exporting the network.
    """
    path = Path(path).resolve()
    manifest, _ = read_manifest(path)
    verify_files(path, manifest)  # only a package that was intact gets new hashes
    write_package_file(path / METRICS, _metrics_text(metrics))
    write_package_file(path / MODEL_CARD, model_card)
    write_manifest(path, manifest)
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
        _write_files(tmp, model.eval(), manifest, metrics, model_card)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("model package written", path=str(out), name=manifest.name)
    try:
        return load_package(out, verify=verify)
    except PackageError:
        log.error("freshly written package failed verification", path=str(out))
        raise


def _write_files(tmp: Path, model: SolarResNet, manifest: Manifest,
                 metrics: dict[str, Any] | None, model_card: str | None) -> None:
    """Every file of the package into the directory ``tmp``, ``model.json`` last."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS), metadata={"format": "sdo-monitor", "model":
                                                    manifest.name})
    export_onnx(model.to("cpu"), tmp / ONNX, in_channels=len(manifest.input.channels),
                size=manifest.input.size, input_name=manifest.input.name,
                output_names=manifest.output_names, opset=manifest.opset)
    (tmp / METRICS).write_text(
        _metrics_text(metrics if metrics is not None else {"status": "not evaluated"}),
        encoding="utf-8")
    (tmp / MODEL_CARD).write_text(model_card or default_model_card(manifest), encoding="utf-8")
    for name in REQUIRED_FILES:
        # safetensors creates its file 0600; a package is read by the service user.
        os.chmod(tmp / name, 0o644)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    write_manifest(tmp, replace(manifest, created_utc=manifest.created_utc or created))


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished directory onto ``out``, moving an old package aside first."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
