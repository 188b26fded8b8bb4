"""TSS, HSS, confusion matrix, calibration and irradiance errors on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.train.metrics import (
    BinaryScores,
    binary_scores,
    confusion_matrix,
    irradiance_errors,
    reliability,
    threshold_scores,
)


@pytest.mark.parametrize(("tp", "fn", "fp", "tn", "tss", "hss"), [
    (40, 10, 5, 45, 0.7, 0.7),                 # POD 0.8, POFD 0.1
    (10, 0, 0, 90, 1.0, 1.0),                  # perfect
    (5, 5, 45, 45, 0.0, 0.0),                  # no skill: hit rate = false-alarm rate
    (20, 5, 30, 945, 0.8 - 30 / 975, 37500 / 72500),   # rare events: TSS and HSS differ
    (0, 10, 10, 0, -1.0, -1.0),                # always wrong
])
def test_tss_and_hss_from_hand_made_tables(tp: int, fn: int, fp: int, tn: int, tss: float,
                                           hss: float) -> None:
    s = BinaryScores(tp=tp, fn=fn, fp=fp, tn=tn)
    assert s.tss == pytest.approx(tss, abs=1e-12)
    assert s.hss == pytest.approx(hss, abs=1e-12)


def test_undefined_scores_are_nan_not_errors() -> None:
    s = BinaryScores(tp=0, fn=0, fp=3, tn=7)   # no events at all
    assert np.isnan(s.pod) and np.isnan(s.tss)
    assert s.to_dict()["tss"] is None


def test_binary_scores_count_the_table() -> None:
    observed = np.array([1, 1, 1, 0, 0, 0, 0, 1], bool)
    forecast = np.array([1, 0, 1, 1, 0, 0, 0, 1], bool)
    s = binary_scores(observed, forecast)
    assert (s.tp, s.fn, s.fp, s.tn) == (3, 1, 1, 3)


def test_confusion_matrix_rows_are_truth() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 2, 3, 3]), np.array([0, 1, 1, 3, 3, 2]), 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]]


def test_threshold_scores_sum_probabilities_of_classes_at_or_above() -> None:
    true = np.array([0, 1, 2, 3, 2, 0])
    prob = np.array([
        [0.9, 0.1, 0.0, 0.0],    # none, forecast below M
        [0.2, 0.5, 0.2, 0.1],    # C: P(>=M) = 0.3 -> no
        [0.1, 0.3, 0.3, 0.3],    # M: P(>=M) = 0.6 -> hit (arg-max would say C/M tie)
        [0.0, 0.0, 0.1, 0.9],    # X: hit
        [0.2, 0.4, 0.35, 0.05],  # M: P(>=M) = 0.4 -> miss
        [0.3, 0.2, 0.3, 0.2],    # none: P(>=M) = 0.5 -> false alarm
    ])
    s = threshold_scores(true, prob, 2)
    assert (s.tp, s.fn, s.fp, s.tn) == (2, 1, 1, 2)
    assert s.tss == pytest.approx(2 / 3 - 1 / 3)
    x = threshold_scores(true, prob, 3)
    assert (x.tp, x.fn, x.fp, x.tn) == (1, 0, 0, 5)


def test_reliability_of_a_two_level_forecast() -> None:
    p = np.array([0.1, 0.1, 0.9, 0.9])
    o = np.array([0, 0, 1, 1])
    r = reliability(p, o, bins=10)
    assert r["count"][1] == 2 and r["count"][9] == 2 and sum(r["count"]) == 4
    assert r["mean_forecast"][1] == pytest.approx(0.1)
    assert r["observed_frequency"][1] == 0.0 and r["observed_frequency"][9] == 1.0
    assert r["mean_forecast"][5] is None
    assert r["ece"] == pytest.approx(0.1)
    assert r["brier"] == pytest.approx(0.01)


def test_irradiance_errors_median_and_worst_line() -> None:
    true = np.ones((5, 3))
    pred = true * np.array([1.01, 1.03, 0.9])          # 1 %, 3 %, 10 % per line
    pred[0] = [2.0, 2.0, 2.0]                           # one outlier frame: medians ignore it
    e = irradiance_errors(pred, true, ["a", "b", "c"])
    assert e["per_line"]["a"]["median"] == pytest.approx(0.01)
    assert e["per_line"]["c"]["median"] == pytest.approx(0.10)
    assert e["median"] == pytest.approx(0.03)
    assert e["worst_line"] == pytest.approx(0.10) and e["worst_line_name"] == "c"


def test_irradiance_errors_leave_missing_lines_out_per_line() -> None:
    true = np.ones((4, 2))
    pred = true * np.array([1.02, 1.05])
    true[1, 1] = np.nan                                 # line b missing in one sample
    pred[1, 1] = 9.0
    e = irradiance_errors(pred, true, ["a", "b"])
    assert e["per_line"]["b"]["median"] == pytest.approx(0.05)
    assert e["per_line"]["b"]["samples"] == 3 and e["per_line"]["a"]["samples"] == 4
    assert e["worst_line_name"] == "b" and np.isfinite(e["all_samples_median"])
