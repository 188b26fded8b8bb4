"""A whole training run: data, training, evaluation, package, report.

:func:`run_training` is what ``sdo-monitor train`` calls, in every process of a
``torchrun`` launch too. Order of work:

1. join the process group if launched by torchrun (:mod:`~monitor.train.distributed`);
2. draw (or reuse) the cached splits -- local rank 0 draws, the others wait
   (:mod:`~monitor.train.loading`, which knows each ``data.kind``);
3. fit the input scaling and target statistics on the training split;
4. train (linear model, then CNN, early stopping) -- all processes
   (:mod:`~monitor.train.trainer`);
5. rank 0 only: evaluate the best model on the held-out test split, write
   the model package with ``monitor.models.write_package`` (hash-verified
   and ONNX/torch parity-checked on load), evaluate the *package* on
   held-out FITS files through the daemon's ingest/preprocess/ONNX path,
   and write ``metrics.json``, the markdown report and the PNGs
   (:mod:`~monitor.train.documents`).

:func:`evaluate_package` adds evaluations to a package trained earlier.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.logs import get_logger
from monitor.models.defaults import EVE_LINES
from monitor.models.package import ModelPackage
from monitor.models.spec import CHECKPOINT_SPEC_KEY, manifest_from_spec
from monitor.models.writing import write_package
from monitor.train.distributed import DistContext, init_distributed
from monitor.train.documents import rewrite_documents, write_documents
from monitor.train.evaluate import evaluate_predictions, predict
from monitor.train.loading import data_summary, load_splits, training_provenance
from monitor.train.normalize import Normalization, fit_normalization
from monitor.train.report import model_card, targets_table
from monitor.train.settings import SyntheticSourceSettings, TrainConfig
from monitor.train.trainer import Trainer, TrainResult

__all__ = ["evaluate_package", "export_spec", "machine_description", "run_training"]

log = get_logger(__name__)

CLASSES = ("none", "C", "M", "X")


def machine_description() -> str:
    """CPU model and core count (for the report)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}"


def export_spec(config: TrainConfig, norm: Normalization, data: dict[str, Any],
                provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``monitor.models`` export spec of a trained model (scaling and targets included)."""
    m = config.model
    return {
        "name": m.name, "version": m.version,
        "description": m.description or "GOES flare class and EVE MEGS-A irradiance from seven "
                                         "AIA channels (SolarResNet, CAM saliency)",
        "size": m.size, "channels": list(m.channels), "scaling": norm.scaling_dicts(),
        "lines": norm.line_dicts(EVE_LINES),
        "network": {"widths": list(m.widths), "blocks": list(m.blocks),
                    "stem_stride": m.stem_stride, "stage_strides": list(m.stage_strides)},
        "training": data,
        "provenance": provenance,
    }


def _save_checkpoint(result: TrainResult, spec: dict[str, Any], path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(path), metadata={CHECKPOINT_SPEC_KEY: json.dumps(spec)})


def _write(config: TrainConfig, result: TrainResult, spec: dict[str, Any],
           metrics: dict[str, Any], config_text: str) -> ModelPackage:
    manifest = manifest_from_spec(spec)
    card = model_card(manifest.name, manifest.version, metrics, config_text)
    return write_package(config.package_path, result.model.cpu(), manifest, metrics=metrics,
                         model_card=card, overwrite=True)


def run_training(config: TrainConfig, config_text: str = "") -> dict[str, Any] | None:
    """Train, evaluate and export; returns ``metrics.json``'s content on rank 0, else None."""
    t_start = time.monotonic()
    ctx = init_distributed(config.training.device)
    try:
        threads = _threads(config, ctx)
        torch.set_num_threads(threads)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % (2 ** 32))
        out = Path(config.out_dir)
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
        splits = load_splits(config, ctx)
        norm = fit_normalization(splits["train"], seed=config.seed)
        line_names = [f"{ion} {wl:.2f} nm" for ion, wl in EVE_LINES]
        trainer = Trainer(config, norm, splits["train"], splits["val"], ctx, line_names)
        result = trainer.run()
        if not ctx.is_main:
            return None
        data = data_summary(config, splits)
        spec = export_spec(config, norm, data, training_provenance(config, splits))
        _save_checkpoint(result, spec, out / "checkpoint.safetensors")
        test = splits["test"]
        pred = predict(result.model.cpu(), test, norm, config.evaluation.batch_size)
        metrics: dict[str, Any] = {
            "status": "evaluated",
            "data": data,
            "test": evaluate_predictions(
                pred, test.class_index, test.goes_flux, test.irradiance, test.kernels, CLASSES,
                line_names, tolerance_px=config.evaluation.pointing_tolerance_px,
                bins=config.evaluation.reliability_bins),
        }
        metrics["training"] = _training_summary(result, ctx, threads, t_start)
        package = _write(config, result, spec, metrics, config_text)
        source = config.data
        if isinstance(source, SyntheticSourceSettings) and source.file_test_samples > 0:
            metrics["file_path"] = _file_check(config, package)
        metrics["targets"], metrics["targets_met"] = targets_table(metrics["test"])
        metrics["training"]["total_seconds"] = round(time.monotonic() - t_start, 1)
        package = _write(config, result, spec, metrics, config_text)
        write_documents(metrics, package, out)
        log.info("training run finished", package=str(package.path),
                 targets_met=metrics["targets_met"],
                 minutes=round((time.monotonic() - t_start) / 60, 1))
        return metrics
    finally:
        ctx.close()


def _threads(config: TrainConfig, ctx: DistContext) -> int:
    """Torch threads per process.

    OpenMP worker threads that spin while waiting (libgomp's default) make a
    training step 10-50x slower as soon as the cores are shared with anything
    else (measured on the 2-core development VM). Several threads are used only
    when ``OMP_WAIT_POLICY=PASSIVE`` was set before torch was imported
    (``python -m monitor.train`` does that) or when the config asks explicitly.
    """
    if config.training.threads:
        return config.training.threads
    cores = max(1, (os.cpu_count() or 1) // ctx.world_size)
    if cores > 1 and os.environ.get("OMP_WAIT_POLICY", "").lower() != "passive":
        log.warning("using 1 torch thread: OMP_WAIT_POLICY is not PASSIVE, and spinning "
                    "OpenMP threads slow training badly on shared cores (set "
                    "OMP_WAIT_POLICY=PASSIVE before starting, or training.threads)")
        return 1
    return cores


def _training_summary(result: TrainResult, ctx: DistContext, threads: int,
                      t_start: float) -> dict[str, Any]:
    return {"epochs_run": len(result.history), "best_epoch": result.best_epoch,
            "stop_reason": result.stop_reason, "samples_seen": result.samples_seen,
            "train_seconds": round(result.seconds, 1),
            "total_seconds": round(time.monotonic() - t_start, 1),
            "machine": machine_description(), "threads_per_process": threads,
            "processes": ctx.world_size, "linear_fit": result.linear_fit,
            "irradiance_head_refit": result.head_refit,
            "history": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()}
                        for h in result.history_dicts()]}


def evaluate_package(config: TrainConfig, package_dir: Path, config_text: str,
                     fresh_seed: int, fresh_samples: int,
                     reality: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evaluations after training, for a package trained earlier (``--evaluate``).

    Runs the config's file-path check and an untouched check on ``fresh_samples``
    Suns of ``fresh_seed``, merges both into the package's ``metrics.json`` and
    rewrites its card and the report in ``config.out_dir``. ``reality``, a checked
    ``reality_report.json`` (:func:`monitor.reality.report.read_report`) of the
    package, is recorded as ``metrics["reality"]`` and tabled in the card.
    """
    from monitor.models.package import load_package
    from monitor.train.filecheck import evaluate_untouched
    from monitor.train.sources import SyntheticDraw

    package = load_package(package_dir)
    source = config.data
    extra: dict[str, Any] = {"reality": reality} if reality else {}
    if isinstance(source, SyntheticSourceSettings):
        if source.file_test_samples > 0:
            extra["file_path"] = _file_check(config, package)
        if fresh_samples > 0:
            draw = SyntheticDraw(size=config.model.size, channels=tuple(config.model.channels),
                                 seed=fresh_seed, class_mix=tuple(source.class_mix),
                                 max_regions=source.max_regions, noise=source.noise,
                                 world=source.world)
            extra["fresh_test"] = evaluate_untouched(
                package, draw, fresh_samples, workers=config.workers or os.cpu_count() or 1,
                tolerance_px=config.evaluation.pointing_tolerance_px,
                bins=config.evaluation.reliability_bins)
    package = rewrite_documents(package.path, Path(config.out_dir), config_text, extra)
    return json.loads((package.path / "metrics.json").read_text())


def _file_check(config: TrainConfig, package: ModelPackage) -> dict[str, Any]:
    from monitor.train.filecheck import evaluate_files
    from monitor.train.sources import SyntheticDraw, TwinDraw

    source = config.data
    assert isinstance(source, SyntheticSourceSettings)
    common = {"size": config.model.size, "channels": tuple(config.model.channels),
              "seed": source.file_test_seed, "class_mix": tuple(source.class_mix),
              "max_regions": source.max_regions, "noise": source.noise, "world": source.world}
    t0 = time.monotonic()
    result = evaluate_files(package, SyntheticDraw(**common),
                            TwinDraw(**common, file_size=source.file_size),
                            source.file_test_samples, workers=config.workers or os.cpu_count() or 1,
                            tolerance_px=config.evaluation.pointing_tolerance_px,
                            bins=config.evaluation.reliability_bins)
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result
