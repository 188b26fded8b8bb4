"""The human-readable side of a trained package: report, PNGs and ``metrics.json``.

A training run writes them once from its measured numbers; ``train --evaluate``
and a change of the report code write them again from the package's own
``metrics.json`` (:func:`rewrite_documents`), leaving the weights, the ONNX
graph and the measured numbers byte for byte as they are. Both go through
:func:`write_documents`, so a rewritten report cannot drift from a fresh one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from monitor.models.package import ModelPackage
from monitor.models.writing import update_documents
from monitor.train.report import (
    model_card,
    plot_reliability,
    plot_training_curve,
    report_markdown,
    targets_table,
)

__all__ = ["EXTRA_FILES", "rewrite_documents", "write_documents"]

#: Report files copied into the package directory beside the contract's files.
EXTRA_FILES = ("TRAINING_REPORT.md", "train_curve.png", "train_reliability.png")


def write_documents(metrics: dict[str, Any], package: ModelPackage, out_dir: Path) -> None:
    """Render the curve, reliability PNG, report and ``metrics.json`` into ``out_dir``.

    The report files (:data:`EXTRA_FILES`) are then copied into the package
    directory, world-readable like the rest of the package.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = package.manifest
    plot_training_curve(metrics["training"]["history"], out / "train_curve.png")
    plot_reliability(metrics["test"]["calibration"], out / "train_reliability.png",
                     title=f"reliability, {metrics['test']['samples']} held-out samples")
    (out / "TRAINING_REPORT.md").write_text(
        report_markdown(metrics, f"Training report: {manifest.name} {manifest.version}") + "\n",
        encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    for name in EXTRA_FILES:
        shutil.copyfile(out / name, package.path / name)
        os.chmod(package.path / name, 0o644)


def rewrite_documents(package_dir: Path, out_dir: Path, config_text: str,
                      extra_metrics: dict[str, Any] | None = None) -> ModelPackage:
    """Re-render a trained package's card, report, PNGs and target table from its metrics.

    For when the report code changes after a (long) training run, or an
    evaluation is added afterwards (``extra_metrics``, merged at the top level
    of ``metrics.json``): the weights, the ONNX graph and the measured numbers
    stay as they are, byte for byte (:func:`monitor.models.writing.update_documents`);
    ``model.json`` gets new hashes for the rewritten files.
    """
    from monitor.models.package import load_package

    package = load_package(package_dir)
    metrics = json.loads((package.path / "metrics.json").read_text())
    metrics.update(extra_metrics or {})
    metrics["targets"], metrics["targets_met"] = targets_table(metrics["test"])
    manifest = package.manifest
    card = model_card(manifest.name, manifest.version, metrics, config_text)
    out = update_documents(package.path, metrics=metrics, model_card=card)
    write_documents(metrics, out, out_dir)
    return out
