"""Forecast-verification and irradiance scores (numpy only).

Event classes are ordered (none < C < M < X). A threshold "``>= M``" turns
the four-class problem into a binary one: observed when the true class index
is ``>= k``, forecast when the summed probability of classes ``>= k`` is at
least ``probability_threshold`` (0.5). From its 2x2 table:

* TSS (true skill statistic, Hanssen-Kuipers) ``= TP/(TP+FN) - FP/(FP+TN)``,
  hit rate minus false-alarm rate, in [-1, 1]; independent of how rare the
  events are, hence the flare-forecasting standard (Bloomfield et al. 2012).
* HSS (Heidke skill score) ``= 2 (TP TN - FN FP) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN))``,
  skill over random forecasts with the same marginals; depends on the
  event rate.

Irradiance (Szenicer et al. 2019): per line, the median over samples of the
absolute relative error ``|pred - true| / true``; the report gives those 14
medians, their median ("median relative error") and their maximum ("worst
line"), for the full model and for the linear-only baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BinaryScores",
    "binary_scores",
    "confusion_matrix",
    "irradiance_errors",
    "reliability",
    "threshold_scores",
]


@dataclass(frozen=True)
class BinaryScores:
    """A 2x2 contingency table and the scores derived from it."""

    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def n(self) -> int:
        """Number of forecasts."""
        return self.tp + self.fn + self.fp + self.tn

    @property
    def pod(self) -> float:
        """Probability of detection (hit rate) ``TP/(TP+FN)``; NaN without events."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def pofd(self) -> float:
        """Probability of false detection ``FP/(FP+TN)``; NaN without non-events."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")

    @property
    def far(self) -> float:
        """False-alarm ratio ``FP/(TP+FP)``; NaN without forecasts of the event."""
        return self.fp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def tss(self) -> float:
        """True skill statistic ``POD - POFD``."""
        return self.pod - self.pofd

    @property
    def hss(self) -> float:
        """Heidke skill score (NaN when the denominator is 0)."""
        denom = (self.tp + self.fn) * (self.fn + self.tn) + (self.tp + self.fp) * (self.fp + self.tn)
        return 2.0 * (self.tp * self.tn - self.fn * self.fp) / denom if denom else float("nan")

    def to_dict(self) -> dict[str, float | int]:
        """JSON form (NaN becomes None)."""
        def clean(v: float) -> float | None:
            return None if math.isnan(v) else round(float(v), 6)

        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "tn": self.tn,
                "tss": clean(self.tss), "hss": clean(self.hss), "pod": clean(self.pod),
                "pofd": clean(self.pofd), "far": clean(self.far)}


def binary_scores(observed: np.ndarray, forecast: np.ndarray) -> BinaryScores:
    """The 2x2 table of boolean arrays ``observed`` and ``forecast``."""
    o = np.asarray(observed, dtype=bool)
    f = np.asarray(forecast, dtype=bool)
    return BinaryScores(tp=int(np.sum(o & f)), fn=int(np.sum(o & ~f)),
                        fp=int(np.sum(~o & f)), tn=int(np.sum(~o & ~f)))


def confusion_matrix(true_index: np.ndarray, predicted_index: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted class."""
    t = np.asarray(true_index, dtype=np.int64)
    p = np.asarray(predicted_index, dtype=np.int64)
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (t, p), 1)
    return out


def threshold_scores(true_index: np.ndarray, probabilities: np.ndarray, threshold_class: int,
                     probability_threshold: float = 0.5) -> BinaryScores:
    """Scores for "class >= ``threshold_class``" from class probabilities ``(n, K)``."""
    prob = np.asarray(probabilities, dtype=np.float64)
    p_event = prob[:, threshold_class:].sum(axis=1)
    return binary_scores(np.asarray(true_index) >= threshold_class,
                         p_event >= probability_threshold)


def reliability(p_event: np.ndarray, observed: np.ndarray, bins: int = 10
                ) -> dict[str, list[float | int | None] | float]:
    """Reliability (calibration) curve of probabilistic forecasts of one event.

    Returns
    -------
    dict
        ``edges`` (bins + 1), per bin ``mean_forecast``, ``observed_frequency``
        (None for empty bins) and ``count``; ``brier`` score; ``ece`` (expected
        calibration error, count-weighted mean of |forecast - frequency|).
    """
    p = np.clip(np.asarray(p_event, dtype=np.float64), 0.0, 1.0)
    o = np.asarray(observed, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.minimum(np.digitize(p, edges[1:-1]), bins - 1)
    mean_f: list[float | None] = []
    freq: list[float | None] = []
    counts: list[int] = []
    ece = 0.0
    for b in range(bins):
        m = which == b
        k = int(m.sum())
        counts.append(k)
        if k:
            mf, fo = float(p[m].mean()), float(o[m].mean())
            mean_f.append(round(mf, 6))
            freq.append(round(fo, 6))
            ece += k * abs(mf - fo)
        else:
            mean_f.append(None)
            freq.append(None)
    n = max(len(p), 1)
    return {"edges": [round(float(e), 6) for e in edges], "mean_forecast": mean_f,
            "observed_frequency": freq, "count": counts,
            "brier": round(float(np.mean((p - o) ** 2)) if len(p) else float("nan"), 6),
            "ece": round(ece / n, 6)}


def irradiance_errors(predicted: np.ndarray, true: np.ndarray, names: Sequence[str]
                      ) -> dict[str, object]:
    """Relative errors of ``(n, L)`` line irradiances (W m^-2) against the truth.

    Returns
    -------
    dict
        ``per_line`` {name: {"median": .., "mean": .., "p90": ..}},
        ``median`` (median of the per-line medians), ``worst_line`` (their max)
        and ``worst_line_name``.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(true, dtype=np.float64)
    rel = np.abs(pred - truth) / np.abs(truth)
    per_line = {}
    medians = np.zeros(len(names))
    for i, name in enumerate(names):
        # Only samples where the line is known count (real EVE lines go missing singly).
        known = rel[np.isfinite(rel[:, i]), i]
        if not known.size:
            known = np.array([np.inf])
        medians[i] = np.median(known)
        per_line[name] = {"median": round(float(medians[i]), 6),
                          "mean": round(float(known.mean()), 6),
                          "p90": round(float(np.quantile(known, 0.9)), 6),
                          "samples": int(np.isfinite(rel[:, i]).sum())}
    worst = int(np.argmax(medians))
    every = rel[np.isfinite(rel)]
    return {"per_line": per_line, "median": round(float(np.median(medians)), 6),
            "worst_line": round(float(medians[worst]), 6), "worst_line_name": names[worst],
            "all_samples_median": round(float(np.median(every)) if every.size else
                                        float("inf"), 6)}
