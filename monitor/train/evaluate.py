"""Evaluation on a held-out split: classes, calibration, irradiance, pointing game.

:func:`predict` runs a torch model over a split and keeps, per sample, the
class probabilities, the irradiance of the full model and of its linear part
alone (the Szenicer baseline, in W m^-2), and the peak of the predicted
class's saliency map. The map is the class-activation map from
:mod:`monitor.saliency` (``class_activation_maps`` of the last feature maps
with the class-head weights, upsampled bilinearly to the model grid), i.e.
exactly what the daemon's saliency summaries are made from.

**Pointing game.** Among flare frames (true class C, M or X) that the model
classifies correctly, the share whose saliency peak lies on the true flare:
within ``3 sigma + tolerance`` grid pixels of a visible kernel (loop top or
footprint) of the flare. ``sigma`` is the kernel's Gaussian extent; the
tolerance (default 16 px, one cell of the 16x16 feature map at 256 px, about
150 arcsec) is the resolution the map has at all.

**Pointing error.** Where the frames' geometries are known (the file path of
:mod:`monitor.train.filecheck`), also the distance in arcsec from the flare the
daemon locates to the true one (:mod:`monitor.train.pointing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from monitor.models.network import SolarResNet
from monitor.saliency import class_activation_maps, upsample_bilinear
from monitor.train.data import Split
from monitor.train.metrics import (
    confusion_matrix,
    irradiance_errors,
    reliability,
    threshold_scores,
)
from monitor.train.normalize import Normalization
from monitor.train.pointing import Located, pointing_error

__all__ = ["Predictions", "cam_peaks", "evaluate_predictions", "pointing_game", "predict"]

THRESHOLD_NAMES = {1: ">=C", 2: ">=M", 3: ">=X"}


@dataclass
class Predictions:
    """Model outputs over a split, in physical units."""

    probabilities: np.ndarray
    irradiance: np.ndarray
    linear_irradiance: np.ndarray
    cam_peak_xy: np.ndarray
    #: Located regions and flares, when the frames' geometries were known (file path).
    location: Located | None = None

    @property
    def predicted(self) -> np.ndarray:
        """Arg-max class per sample."""
        return np.argmax(self.probabilities, axis=1)


def cam_peaks(features: np.ndarray, class_weight: np.ndarray, classes: np.ndarray,
              size: int) -> np.ndarray:
    """Grid ``(x, y)`` of the saliency peak of ``classes[i]`` for each sample.

    Parameters
    ----------
    features : numpy.ndarray
        ``(B, F, h, w)`` last feature maps.
    class_weight : numpy.ndarray
        ``(K, F)`` class-head weights.
    classes : numpy.ndarray
        ``(B,)`` class whose map is used.
    size : int
        Model grid size.
    """
    maps = class_activation_maps(features, class_weight)  # (B, K, h, w)
    chosen = maps[np.arange(len(classes)), classes]
    up = upsample_bilinear(chosen, size)
    flat = up.reshape(len(classes), -1).argmax(axis=1)
    y, x = np.unravel_index(flat, (size, size))
    return np.stack([x, y], axis=1).astype(np.float64)


def predict(model: SolarResNet, split: Split, norm: Normalization, batch_size: int = 32,
            device: str | torch.device = "cpu") -> Predictions:
    """Run ``model`` over ``split`` (no augmentation)."""
    model.eval()
    size = split.images.shape[-1]
    weight = model.class_head.weight.detach().float().cpu().numpy()
    probs, irr, lin, peaks = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            codes = np.asarray(split.images[start:start + batch_size])
            x = norm.network_input(norm.log_batch(codes)).to(device)
            logits, z, features = model(x)
            p = torch.softmax(logits, 1).cpu().numpy()
            probs.append(p)
            irr.append(z.cpu().numpy())
            lin.append(model.linear_irradiance(x).cpu().numpy())
            peaks.append(cam_peaks(features.cpu().numpy(), weight, p.argmax(axis=1), size))
    return Predictions(probabilities=np.concatenate(probs),
                       irradiance=norm.irradiance(np.concatenate(irr)),
                       linear_irradiance=norm.irradiance(np.concatenate(lin)),
                       cam_peak_xy=np.concatenate(peaks))


def pointing_game(peaks_xy: np.ndarray, kernels: np.ndarray, true_index: np.ndarray,
                  predicted: np.ndarray, tolerance_px: float) -> dict[str, Any]:
    """Share of correctly classified flare frames whose saliency peak is on the flare.

    Parameters
    ----------
    peaks_xy : numpy.ndarray
        ``(n, 2)`` saliency peak per sample (grid px).
    kernels : numpy.ndarray
        ``(n, K, 5)`` kernels ``(x, y, sigma, share, visible)``, NaN-padded.
    true_index, predicted : numpy.ndarray
        Classes.
    tolerance_px : float
        Added to each kernel's 3-sigma extent.

    Returns
    -------
    dict
        ``frames`` (eligible), ``hits``, ``share``, ``median_distance_px``,
        ``tolerance_px`` and ``rule``.
    """
    eligible, hits, distances = 0, 0, []
    for i in range(len(true_index)):
        if true_index[i] < 1 or predicted[i] != true_index[i]:
            continue
        k = kernels[i]
        visible = k[(k[:, 4] > 0.5) & np.isfinite(k[:, 0])]
        if not len(visible):
            continue
        eligible += 1
        d = np.hypot(visible[:, 0] - peaks_xy[i, 0], visible[:, 1] - peaks_xy[i, 1])
        distances.append(float(d.min()))
        if np.any(d <= 3.0 * visible[:, 2] + tolerance_px):
            hits += 1
    return {"frames": eligible, "hits": hits,
            "share": round(hits / eligible, 6) if eligible else None,
            "median_distance_px": round(float(np.median(distances)), 3) if distances else None,
            "tolerance_px": tolerance_px,
            "rule": "correctly classified C/M/X frames; hit when the saliency peak of the "
                    "predicted class is within 3 sigma + tolerance of a visible flare kernel"}


def evaluate_predictions(pred: Predictions, true_index: np.ndarray, goes_flux: np.ndarray,
                         irradiance: np.ndarray, kernels: np.ndarray,
                         class_names: Sequence[str], line_names: Sequence[str], *,
                         tolerance_px: float, bins: int) -> dict[str, Any]:
    """All held-out scores as one JSON-ready dict (the body of ``metrics.json``)."""
    true_index = np.asarray(true_index)
    predicted = pred.predicted
    k = len(class_names)
    thresholds = {}
    calibration = {}
    for c in range(1, k):
        name = THRESHOLD_NAMES.get(c, f">={class_names[c]}")
        thresholds[name] = threshold_scores(true_index, pred.probabilities, c).to_dict()
        calibration[name] = reliability(pred.probabilities[:, c:].sum(axis=1),
                                        true_index >= c, bins)
    model_err = irradiance_errors(pred.irradiance, irradiance, line_names)
    base_err = irradiance_errors(pred.linear_irradiance, irradiance, line_names)
    return {
        "samples": len(true_index),
        "class_counts": {class_names[i]: int(v)
                         for i, v in enumerate(np.bincount(true_index, minlength=k))},
        "classification": {
            "accuracy": round(float(np.mean(predicted == true_index)), 6),
            "confusion_matrix": {"rows": "true class", "columns": "predicted class (arg-max)",
                                 "classes": list(class_names),
                                 "counts": confusion_matrix(true_index, predicted, k).tolist()},
            "thresholds": thresholds,
            "rule": "event forecast when the summed probability of the classes at or above "
                    "the threshold is >= 0.5",
        },
        "calibration": calibration,
        "irradiance": {"model": model_err, "linear_baseline": base_err,
                       "metric": "per line: median over samples of |pred - true| / true; "
                                 "'median' = median of the 14 line medians, 'worst_line' = "
                                 "their maximum"},
        "pointing_game": pointing_game(pred.cam_peak_xy, kernels, true_index, predicted,
                                       tolerance_px),
        **({"pointing_error": pointing_error(pred.location, kernels, true_index, predicted)}
           if pred.location is not None else {}),
        "goes_flux_range_w_m2": [float(np.min(goes_flux)), float(np.max(goes_flux))],
    }
