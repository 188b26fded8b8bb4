"""Measurements on light curves, the same for real and synthetic series (pure functions).

Every comparison of ``sdo-monitor reality`` goes through these functions with
real data on one side and the synthetic Sun on the other, so a difference in
a row is a difference of the Suns, not of the arithmetic.

EVE flare response (:func:`eve_flare_response`): the record is averaged into
1-minute means; the pre-flare level is the median of the first 5 minutes;
the Fe XX peak is the maximum of its 3-minute running mean; a line's value
"at the peak" is the mean of the 1-minute means within 2 minutes of the Fe XX
peak; ``ratio = at_peak / pre`` and ``per_goes = (at_peak - pre) / goes_peak``.
A line's own peak time is the maximum of its 5-minute running mean between
30 minutes before and 60 minutes after the Fe XX peak; its lag is that time
minus the Fe XX peak time, both refined to a fraction of a minute by the
vertex of the parabola through the maximum and its two neighbours (lags of
a minute or less matter: He II leads Fe XX by about one).

Channel response (:func:`channel_response`): pre-flare is the median over
60 to 30 minutes before the GOES peak; the channel's peak is its maximum of
3-minute running means between 30 minutes before and 90 minutes after; the
rise per unit GOES flux is the channel's rise over the GOES rise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ChannelResponse",
    "FlareResponse",
    "channel_response",
    "eve_flare_response",
    "loglog_fit",
    "minute_means",
    "running_mean",
]

#: Minutes at the start of a record taken as pre-flare.
PRE_MINUTES: int = 5
#: Half-width (minutes) of the window of 1-minute means read "at" the Fe XX peak.
AT_PEAK_HALF: int = 2
#: Window (minutes around the Fe XX peak) searched for each line's own peak.
LAG_WINDOW: tuple[int, int] = (-30, 60)


def minute_means(t_s: np.ndarray, values: np.ndarray, t0_s: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """1-minute means of ``values`` (N, ...) sampled at ``t_s``, ignoring NaN.

    Returns ``(minutes, means)``: minute index from ``t0_s`` (default the first
    sample) and the mean of each minute, NaN where a minute holds no finite value.
    """
    t = np.asarray(t_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    start = float(t[0]) if t0_s is None else float(t0_s)
    idx = np.floor((t - start) / 60.0).astype(np.int64)
    n = int(idx.max()) + 1 if len(idx) else 0
    flat = v.reshape(len(t), -1)
    sums = np.zeros((n, flat.shape[1]))
    counts = np.zeros((n, flat.shape[1]))
    finite = np.isfinite(flat)
    np.add.at(sums, idx, np.where(finite, flat, 0.0))
    np.add.at(counts, idx, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return np.arange(n), means.reshape((n, *v.shape[1:]))


def running_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean along axis 0 over ``width`` samples, ignoring NaN."""
    v = np.asarray(values, dtype=np.float64)
    flat = v.reshape(len(v), -1)
    finite = np.isfinite(flat)
    kernel = np.ones(width)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        s = np.convolve(np.where(finite[:, j], flat[:, j], 0.0), kernel, mode="same")
        c = np.convolve(finite[:, j].astype(np.float64), kernel, mode="same")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return out.reshape(v.shape)


def refined_peak(values: np.ndarray, i: int) -> float:
    """Index ``i`` of a maximum moved to the vertex of the parabola through ``i - 1 .. i + 1``."""
    if i <= 0 or i >= len(values) - 1:
        return float(i)
    a, b, c = values[i - 1], values[i], values[i + 1]
    curvature = a - 2.0 * b + c
    if not (np.isfinite(a) and np.isfinite(c)) or curvature >= 0:
        return float(i)
    return float(i) + float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5))


@dataclass(frozen=True)
class FlareResponse:
    """One flare's EVE response, per line (arrays in the order of the lines)."""

    pre: np.ndarray
    at_peak: np.ndarray
    ratio: np.ndarray
    per_goes: np.ndarray
    lag_min: np.ndarray
    peak_minute: int


def eve_flare_response(t_s: np.ndarray, irradiance: np.ndarray, goes_peak: float,
                       fe_xx: int) -> FlareResponse | None:
    """Response of every line to one flare (see the module docstring).

    Parameters
    ----------
    t_s : numpy.ndarray
        Sample times, seconds (any origin).
    irradiance : numpy.ndarray
        (N, L) line irradiances, NaN = missing.
    goes_peak : float
        The flare's GOES XRS-B peak flux, W m^-2.
    fe_xx : int
        Column of Fe XX 13.29 nm, whose peak times the flare.

    Returns
    -------
    FlareResponse or None
        None when the record cannot time the flare (no Fe XX, or its peak falls
        in the pre-flare minutes).
    """
    _, means = minute_means(t_s, irradiance)
    if len(means) < PRE_MINUTES + 3:
        return None
    pre = np.nanmedian(means[:PRE_MINUTES], axis=0) if np.isfinite(
        means[:PRE_MINUTES]).any() else np.full(means.shape[1], np.nan)
    smooth = running_mean(means[:, fe_xx], 3)
    if not np.isfinite(smooth).any():
        return None
    k = int(np.nanargmax(smooth))
    if k < PRE_MINUTES + 1:
        return None
    window = means[max(k - AT_PEAK_HALF, 0):k + AT_PEAK_HALF + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        at_peak = np.nanmean(window, axis=0)
        ratio = at_peak / pre
        per_goes = (at_peak - pre) / goes_peak
    lo, hi = max(k + LAG_WINDOW[0], 0), min(k + LAG_WINDOW[1] + 1, len(means))
    five = running_mean(means, 5)[lo:hi]
    k_fine = refined_peak(smooth, k)
    lag = np.full(means.shape[1], np.nan)
    for j in range(means.shape[1]):
        if np.isfinite(five[:, j]).any():
            lag[j] = lo + refined_peak(five[:, j], int(np.nanargmax(five[:, j]))) - k_fine
    return FlareResponse(pre, at_peak, ratio, per_goes, lag, k)


@dataclass(frozen=True)
class ChannelResponse:
    """A channel's response to one flare against GOES."""

    rise: float
    goes_rise: float
    per_goes: float
    lag_min: float


def channel_response(t_min: np.ndarray, channel: np.ndarray, goes: np.ndarray,
                     goes_peak_min: float) -> ChannelResponse | None:
    """Rise of ``channel`` per unit GOES rise, and its peak lag (minutes).

    ``t_min``: common 1-minute time axis (minutes), ``channel`` and ``goes``
    sampled on it (NaN = missing); ``goes_peak_min``: the GOES peak time.
    None when either series lacks pre-flare or peak data.
    """
    t = np.asarray(t_min, dtype=np.float64)
    c = running_mean(np.asarray(channel, dtype=np.float64), 3)
    g = np.asarray(goes, dtype=np.float64)
    pre = (t >= goes_peak_min - 60) & (t <= goes_peak_min - 30)
    win = (t >= goes_peak_min - 30) & (t <= goes_peak_min + 90)
    if not (np.isfinite(c[pre]).any() and np.isfinite(c[win]).any()
            and np.isfinite(g[pre]).any() and np.isfinite(g[win]).any()):
        return None
    c_pre, g_pre = float(np.nanmedian(c[pre])), float(np.nanmedian(g[pre]))
    i = int(np.nanargmax(np.where(win, c, -np.inf)))
    g_peak = float(np.nanmax(np.where(win, g, -np.inf)))
    rise, goes_rise = float(c[i]) - c_pre, g_peak - g_pre
    if goes_rise <= 0:
        return None
    return ChannelResponse(rise, goes_rise, rise / goes_rise, float(t[i] - goes_peak_min))


def loglog_fit(x: np.ndarray, y: np.ndarray, at: float) -> tuple[float, float, int]:
    """Least-squares ``log10 y = a + b log10 x`` over positive pairs.

    Returns ``(b, y_at, n)``: the slope, the fitted ``y`` at ``x = at`` and how
    many pairs were used (NaN, NaN when fewer than 3).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 3:
        return float("nan"), float("nan"), int(ok.sum())
    b, a = np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)
    return float(b), float(10 ** (a + b * np.log10(at))), int(ok.sum())
