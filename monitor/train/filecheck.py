"""Does the package do on files what it does on training samples? The daemon-path check.

For ``n`` held-out Suns (``file_test_seed``, never used in training) this
draws each twice -- as the dataset sample the model was trained on, and as
seven level-1 FITS files of ``file_size`` px read back through
``monitor.ingest`` and ``monitor.preprocess`` (:mod:`monitor.train.twin`) --
scales both with the package's own ``model.json`` scaling
(``monitor.preprocess.apply_scaling``), and runs the exported ONNX graph with
the daemon's ONNX Runtime backend. It reports the full evaluation on the
files, the same evaluation on their dataset twins, and how far the two
paths' outputs are apart frame by frame. On the files, where each frame's
geometry comes from its headers, it also makes the saliency summaries as the
daemon does and scores the located flares in arcsec (``pointing_error``,
:mod:`monitor.train.pointing`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from monitor.logs import get_logger
from monitor.models.package import ModelPackage
from monitor.saliency import FrameGeometry, HeadWeights
from monitor.train.data import SampleTuple
from monitor.train.evaluate import Predictions, cam_peaks, evaluate_predictions
from monitor.train.pointing import Located, locate_frames
from monitor.train.sources import SyntheticDraw, TwinDraw

__all__ = ["draw_pairs", "evaluate_files", "evaluate_untouched", "run_package"]

log = get_logger(__name__)

_PAIR_DRAWS: tuple[SyntheticDraw, TwinDraw] | None = None


def _pair_init(draws: tuple[SyntheticDraw, TwinDraw]) -> None:
    global _PAIR_DRAWS
    _PAIR_DRAWS = draws
    os.environ.setdefault("OMP_NUM_THREADS", "1")


Pair = tuple[int, SampleTuple, SampleTuple | None, FrameGeometry | None, str | None]


def _draw_pair(dataset: SyntheticDraw, files: TwinDraw, index: int) -> Pair:
    try:
        sample, geometry = files.frame(index)
        return index, dataset(index), sample, geometry, None
    except RuntimeError as exc:   # ingest refused a file, as the daemon would
        return index, dataset(index), None, None, str(exc)


def _pair(index: int) -> Pair:
    assert _PAIR_DRAWS is not None
    return _draw_pair(*_PAIR_DRAWS, index)


def _sample(index: int) -> SampleTuple:
    assert _PAIR_DRAWS is not None
    return _PAIR_DRAWS[0](index)


def draw_pairs(dataset: SyntheticDraw, files: TwinDraw, count: int, workers: int = 1
               ) -> list[Pair]:
    """``count`` (index, dataset sample, file-path sample, its geometry, rejection) of the same Suns.

    A frame whose files ingest rejects has ``None`` and the rejection message.
    """
    if workers <= 1 or count < 4:
        return [_draw_pair(dataset, files, i) for i in range(count)]
    # spawn: see monitor.train.data._drawn (fork-inherited thread pools deadlock).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_pair_init, initargs=((dataset, files),)) as pool:
        return sorted(pool.imap_unordered(_pair, range(count)), key=lambda r: r[0])


def run_package(package: ModelPackage, images_dn_s: Sequence[np.ndarray],
                batch: int = 8, geometries: Sequence[FrameGeometry] | None = None
                ) -> Predictions:
    """Scale DN/s images with the package's scaling and run them like the daemon does.

    ONNX Runtime (the daemon's CPU backend) gives logits, irradiance and
    features; the linear-baseline part of the irradiance, which the graph
    does not output separately, comes from the package's torch weights. With
    the frames' ``geometries`` the saliency summaries are made too, as the
    daemon makes them, and the located flares kept (``Predictions.location``).
    """
    import torch

    from monitor.inference.ort_backend import OnnxRuntimeBackend
    from monitor.preprocess import apply_scaling

    manifest = package.manifest
    scalings = list(manifest.input.scaling)
    backend = OnnxRuntimeBackend(threads=0, warmup_iterations=1)
    backend.load(package, "cpu", "fp32", max_batch=batch)
    model = package.build_torch_model()
    weight = model.class_head.weight.detach().numpy()
    heads = HeadWeights.from_package(package)
    probs, irr, lin, peaks = [], [], [], []
    located: list[Located] = []
    try:
        for start in range(0, len(images_dn_s), batch):
            x = np.stack([apply_scaling(im, scalings) for im in images_dn_s[start:start + batch]])
            out = backend.infer(x)
            z = out.logits - out.logits.max(axis=1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            probs.append(p)
            irr.append(manifest.irradiance_w_m2(out.irradiance))
            with torch.no_grad():
                lin.append(manifest.irradiance_w_m2(
                    model.linear_irradiance(torch.from_numpy(x)).numpy()))
            peaks.append(cam_peaks(out.features, weight, p.argmax(axis=1), x.shape[-1]))
            if geometries is not None:
                located.append(locate_frames(
                    out.features, out.logits, images_dn_s[start:start + batch],
                    geometries[start:start + batch], heads, manifest.input.channels))
    finally:
        backend.close()
    return Predictions(np.concatenate(probs), np.concatenate(irr), np.concatenate(lin),
                       np.concatenate(peaks),
                       Located.concatenate(located) if located else None)


def _evaluate(pred: Predictions, samples: Sequence[SampleTuple], package: ModelPackage,
              tolerance_px: float, bins: int) -> dict[str, Any]:
    manifest = package.manifest
    kernels = np.full((len(samples), 3, 5), np.nan, np.float32)
    for i, s in enumerate(samples):
        kernels[i, :len(s[4])] = s[4][:3]
    return evaluate_predictions(
        pred, np.array([s[1] for s in samples]), np.array([s[2] for s in samples]),
        np.stack([s[3] for s in samples]), kernels, manifest.classes.classes,
        [line.name for line in manifest.lines], tolerance_px=tolerance_px, bins=bins)


def evaluate_files(package: ModelPackage, dataset: SyntheticDraw, files: TwinDraw, count: int,
                   *, workers: int = 1, tolerance_px: float = 16.0, bins: int = 10
                   ) -> dict[str, Any]:
    """Evaluate ``package`` on ``count`` Suns through files and through the dataset API.

    Returns
    -------
    dict
        ``files`` and ``dataset`` (full evaluations), ``agreement`` (per-frame
        differences between the paths) and the settings used.
    """
    drawn = draw_pairs(dataset, files, count, workers)
    rejected = [{"index": i, "reason": why} for i, _, b, _, why in drawn if b is None]
    pairs = [(a, b) for _, a, b, _, _ in drawn if b is not None]
    geometries = [g for _, _, b, g, _ in drawn if b is not None]
    if rejected:
        log.warning("file-path check: ingest rejected frames", rejected=len(rejected), of=count,
                    first=rejected[0]["reason"][-120:])
    on_dataset = [a for a, _ in pairs]
    on_files = [b for _, b in pairs]
    p_data = run_package(package, [s[0] for s in on_dataset])
    p_files = run_package(package, [s[0] for s in on_files], geometries=geometries)
    rel_irr = np.abs(p_files.irradiance / p_data.irradiance - 1.0)
    p_m_data = p_data.probabilities[:, 2:].sum(axis=1)
    p_m_files = p_files.probabilities[:, 2:].sum(axis=1)
    peak_shift = np.hypot(*(p_files.cam_peak_xy - p_data.cam_peak_xy).T)
    names = [line.name for line in package.manifest.lines]
    agreement = {
        "same_predicted_class": round(float(np.mean(p_files.predicted == p_data.predicted)), 6),
        "p_ge_m_abs_diff_mean": round(float(np.mean(np.abs(p_m_files - p_m_data))), 6),
        "p_ge_m_abs_diff_max": round(float(np.max(np.abs(p_m_files - p_m_data))), 6),
        "irradiance_rel_diff_median_per_line": {
            n: round(float(v), 6) for n, v in zip(names, np.median(rel_irr, axis=0))},
        "irradiance_rel_diff_max": round(float(rel_irr.max()), 6),
        "saliency_peak_shift_px_median": round(float(np.median(peak_shift)), 3),
        "truth_flux_ratio_max": round(float(max(abs(b[2] / a[2] - 1) for a, b in pairs)), 9),
    }
    return {
        "samples": len(pairs), "drawn": count, "rejected_by_ingest": rejected,
        "seed": dataset.seed, "file_size_px": files.file_size,
        "path": "SynthFeed FITS writer -> monitor.ingest.read_observation -> "
                "monitor.preprocess.preprocess -> apply_scaling(model.json) -> ONNX Runtime",
        "files": _evaluate(p_files, on_files, package, tolerance_px, bins),
        "dataset": _evaluate(p_data, on_dataset, package, tolerance_px, bins),
        "agreement": agreement,
    }


def evaluate_untouched(package: ModelPackage, dataset: SyntheticDraw, count: int, *,
                       workers: int = 1, tolerance_px: float = 16.0, bins: int = 10
                       ) -> dict[str, Any]:
    """The test evaluation on ``count`` Suns of a seed nobody looked at during development.

    The samples go through the package's own scaling and ONNX Runtime, as in
    the daemon (``run_package``); the result has the test section's layout, so
    :func:`monitor.train.report.targets_table` reads it.
    """
    if workers <= 1 or count < 4:
        samples = [dataset(i) for i in range(count)]
    else:
        ctx = multiprocessing.get_context("spawn")  # see draw_pairs
        with ctx.Pool(workers, initializer=_pair_init, initargs=((dataset, None),)) as pool:
            samples = pool.map(_sample, range(count), chunksize=4)
    result = _evaluate(run_package(package, [s[0] for s in samples]), samples, package,
                       tolerance_px, bins)
    return {**result, "samples": count, "seed": dataset.seed,
            "path": "SyntheticDataset samples -> apply_scaling(model.json) -> ONNX Runtime"}
