"""The measurements and comparisons on constructed series with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.reality.compare import (
    Row,
    disk_rows,
    flare_rows,
    lag_matches,
    quiet_rows,
    rise_within,
    within_factor,
    within_fraction,
)
from monitor.reality.measures import (
    FlareResponse,
    channel_response,
    eve_flare_response,
    loglog_fit,
    minute_means,
    running_mean,
)


def _bump(t_min: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t_min - centre) / width) ** 2)


def _hump(t_min: np.ndarray, centre: float, half: float = 30.0) -> np.ndarray:
    """Raised cosine: 1 at ``centre``, exactly 0 beyond ``half`` minutes from it."""
    x = np.clip((t_min - centre) / half, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def test_minute_means_average_each_minute_and_skip_nan() -> None:
    t = np.arange(0.0, 180.0, 10.0)  # 3 minutes of 10 s samples
    values = np.repeat([1.0, 2.0, 4.0], 6)
    values[7] = np.nan
    minutes, means = minute_means(t, values)
    assert minutes.tolist() == [0, 1, 2]
    assert means.tolist() == [1.0, 2.0, 4.0]


def test_running_mean_is_centred() -> None:
    out = running_mean(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3)
    assert out.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def _eve_record(lags_min: list[float], rises: list[float], goes_peak: float = 5e-5):
    """Three lines on a 10 s grid: line 1 is 'Fe XX', peaking in minute 40."""
    t = np.arange(0.0, 120 * 60.0, 10.0)
    tm = t / 60.0
    pre = np.array([1e-4, 1e-6, 5e-4])
    irr = np.empty((len(t), 3))
    for j in range(3):
        irr[:, j] = pre[j] * (1.0 + rises[j] * _hump(tm, 40.5 + lags_min[j]))
    return t, irr, pre, goes_peak


def test_eve_flare_response_recovers_known_ratio_rise_and_lags() -> None:
    t, irr, pre, goes = _eve_record(lags_min=[-3.0, 0.0, 8.0], rises=[0.10, 9.0, 0.5])
    r = eve_flare_response(t, irr, goes, fe_xx=1)
    assert r is not None
    assert r.peak_minute == 40
    np.testing.assert_allclose(r.pre, pre, rtol=1e-9)
    # Read at the Fe XX peak: the mean of minutes 38-42, i.e. of the samples in
    # [38, 43) min; a line peaking 3 minutes earlier is read off its top.
    window = (t >= 38 * 60.0) & (t < 43 * 60.0)
    expected = irr[window].mean(axis=0) / pre
    np.testing.assert_allclose(r.ratio, expected, rtol=1e-9)
    assert 9.8 < r.ratio[1] < 10.0 and 1.09 < r.ratio[0] < 1.1
    assert r.per_goes[1] == pytest.approx((r.at_peak[1] - pre[1]) / goes)
    assert r.lag_min == pytest.approx([-3.0, 0.0, 8.0], abs=0.1)


def test_eve_flare_response_refuses_a_record_that_starts_at_the_peak() -> None:
    t = np.arange(0.0, 3600.0, 10.0)
    irr = np.column_stack([np.exp(-t / 600.0)] * 3)  # decaying from the first sample
    assert eve_flare_response(t, irr, 1e-5, fe_xx=1) is None


def test_channel_response_known_rise_per_goes_and_lag() -> None:
    t = np.arange(0.0, 600.0)
    goes = 1e-6 + 4e-5 * _bump(t, 300.0, 6.0)
    channel = 1e9 + 8e15 * 4e-5 * _bump(t, 305.0, 6.0)  # 8e15 DN/s per W m^-2, 5 min late
    r = channel_response(t, channel, goes, goes_peak_min=300.0)
    assert r is not None
    assert r.lag_min == 5.0
    assert r.per_goes == pytest.approx(8e15, rel=0.02)


def test_loglog_fit_recovers_a_power_law() -> None:
    x = np.logspace(-6, -4, 20)
    slope, at, n = loglog_fit(x, 3.0 * x ** 1.5, 1e-5)
    assert (slope, n) == (pytest.approx(1.5), 20)
    assert at == pytest.approx(3.0 * 1e-5 ** 1.5)


def test_target_predicates() -> None:
    assert within_fraction(1.0, 1.24, 0.25) and not within_fraction(1.0, 1.26, 0.25)
    assert within_factor(2.0, 3.0, 1.5) and not within_factor(2.0, 3.1, 1.5)
    assert not within_factor(2.0, -2.0, 1.5)
    # A 10 % real rise: a flat synthetic line fails although its ratio is within 30 %.
    assert not rise_within(1.10, 1.0, 0.3) and rise_within(1.10, 1.12, 0.3)
    assert lag_matches(-2.0, -3.0, 2.0) and not lag_matches(-2.0, 3.0, 2.0)


def _response(ratio: list[float], per_goes: list[float], lag: list[float]) -> FlareResponse:
    n = len(ratio)
    return FlareResponse(np.ones(n), np.array(ratio), np.array(ratio), np.array(per_goes),
                         np.array(lag), 30)


def test_flare_rows_apply_the_targets_of_the_m1_bin() -> None:
    lines = ["Fe XX 13.29 nm", "He II 30.38 nm", "Fe IX 17.11 nm", "Fe VIII 13.12 nm"]
    real = [_response([5.0, 1.10, 1.01, 1.0], [0.2, 1.0, 0.02, 0.0], [0, -2, 0, 0])] * 3
    synth = [_response([5.5, 1.0, 1.01, 1.0], [0.2, 0.01, 0.025, 1e-3], [0, -3, 9, 0])] * 3
    rows = {r.quantity: r for r in flare_rows(lines, real, np.full(3, 5e-5),
                                              {"M": synth, ">=M1": synth})}
    m1 = "(n=3/3)"
    assert rows[f"peak/pre Fe XX 13.29 >=M1 {m1}"].met is True
    assert rows[f"peak/pre He II 30.38 >=M1 {m1}"].met is False          # flat He II
    assert rows[f"d(line)/d(GOES) Fe IX 17.11 >=M1 {m1}"].met is True    # small rise: x1.5
    assert rows[f"d(line)/d(GOES) Fe VIII 13.12 >=M1 {m1}"].met is None  # below the quantum
    assert rows["peak lag vs Fe XX He II 30.38 >=M1"].met is True
    assert rows[f"peak/pre Fe XX 13.29 M {m1}"].met is None              # no target per bin
    assert not any(q.endswith("X (n=3/3)") for q in rows)                # empty bin left out


def test_quiet_and_disk_rows() -> None:
    rows = quiet_rows(["A 1.00 nm", "B 2.00 nm"], np.array([[1.0, 2.0], [3.0, 2.0]]),
                      np.array([[2.4, 3.0]]))
    assert [(r.real, r.synthetic, r.met) for r in rows] == [(2.0, 2.4, True), (2.0, 3.0, False)]
    disk = disk_rows({171: 100.0, 94: 0.5}, {171: 131.0, 94: 0.6})
    assert [(r.quantity, r.met) for r in disk] == [("full-disk mean 94 Å", True),
                                                  ("full-disk mean 171 Å", False)]
    assert all(isinstance(r, Row) for r in disk)


def test_refined_peak_finds_the_vertex_between_samples() -> None:
    from monitor.reality.measures import refined_peak

    x = np.arange(10.0)
    values = -((x - 4.3) ** 2)
    assert refined_peak(values, 4) == pytest.approx(4.3)
    assert refined_peak(values, 0) == 0.0  # at the edge: no neighbours to fit


def test_disk_shape_of_a_constructed_disk() -> None:
    from monitor.reality.jp2 import disk_shape

    n, radius = 256, 80.0
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(xx - 127.5, yy - 127.5) / radius
    image = np.where(r < 1.0, 10.0, 2.0)        # flat disk, flat corona at 1/5
    image[(r < 0.95) & (xx < 127.5)] = 20.0      # the eastern half of the inner disk twice as bright
    shape = disk_shape(image, (127.5, 127.5), radius)
    assert shape.quantiles[0.1] == pytest.approx(10.0 / 15.0)   # median is 15 (half 10, half 20)
    assert shape.quantiles[0.99] == pytest.approx(20.0 / 15.0)
    assert shape.profile[1.1] == pytest.approx(2.0 / 15.0, rel=0.01)
    clipped = image <= 2.0
    assert np.isnan(disk_shape(image, (127.5, 127.5), radius, clipped).profile[1.2])
