"""The sample cache's log-space codes and the stacked (concatenated) splits."""

from __future__ import annotations

import numpy as np

from monitor.train.data import StackedImages, dequantize, quantize


def test_quantised_log_codes_keep_count_rates_to_0_04_percent() -> None:
    rng = np.random.default_rng(0)
    image = np.exp(rng.uniform(np.log(0.05), np.log(5e6), (7, 32, 32))).astype(np.float32)
    back = 10.0 ** dequantize(quantize(image, 1.0)).astype(np.float64) - 1.0
    assert np.max(np.abs(back / image - 1)[image > 1.0]) < 4e-4
    # Negative noise and zeros map to the floor, never to NaN.
    low = dequantize(quantize(np.array([-5.0, 0.0, -0.999], np.float32), 1.0))
    assert np.all(np.isfinite(low))
    assert abs(float(low[1])) < 2e-4


def test_stacked_images_index_like_one_array() -> None:
    a = np.arange(10 * 3).reshape(10, 3)
    b = 1000 + np.arange(6 * 3).reshape(6, 3)
    stacked = StackedImages([a, b])
    full = np.concatenate([a, b])
    assert stacked.shape == full.shape and len(stacked) == 16
    for rows in ([0, 11, 3, 15], np.array([12, 1, 12]), slice(2, 14), 13):
        assert np.array_equal(stacked[rows], full[rows])
    assert np.array_equal(np.asarray(stacked), full)


def test_select_ridge_shrinks_lines_the_inputs_cannot_explain() -> None:
    from monitor.train.heads import select_ridge

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 20))
    xv = rng.normal(size=(200, 20))
    # Line 0 is explained by the first column, line 1 is pure noise.
    y = np.c_[2.0 * x[:, 0] + 0.01 * rng.normal(size=400), rng.normal(size=400)]
    yv = np.c_[2.0 * xv[:, 0] + 0.01 * rng.normal(size=200), rng.normal(size=200)]
    a, av = np.c_[x, np.ones(400)], np.c_[xv, np.ones(200)]
    w, ridges = select_ridge(a, y, av, yv, np.ones(2), delta_dex=0.05)
    assert abs(w[0, 0] - 2.0) < 0.01 and ridges[0] <= 1e-2
    assert ridges[1] > ridges[0]
    assert np.abs(w[:-1, 1]).max() < np.abs(w[:-1, 0]).max() / 10


def test_a_missing_target_is_left_out_of_its_line_only() -> None:
    from monitor.train.heads import huber_lstsq

    rng = np.random.default_rng(1)
    a = np.c_[rng.normal(size=(60, 2)), np.ones(60)]
    y = a @ np.array([[1.0, -2.0], [0.5, 0.0], [0.1, 0.3]])
    holes = y.copy()
    holes[:10, 1] = np.nan                              # line 1 unknown in 10 samples
    w = huber_lstsq(a, holes, np.ones(2), delta_dex=0.05)
    assert np.allclose(w[:, 0], huber_lstsq(a, y[:, :1], np.ones(1), 0.05)[:, 0])
    # (the ridge is scaled by the whole design's Gram matrix: 1e-6 of it, hence atol)
    assert np.allclose(w[:, 1], huber_lstsq(a[10:], y[10:, 1:], np.ones(1), 0.05)[:, 0],
                       atol=1e-5)
    assert np.allclose(w, huber_lstsq(a, y, np.ones(2), 0.05), atol=1e-5)  # exact data
