"""Rows of the reality table: real against synthetic, with targets (pure functions).

Targets (docs/reality.md):

* a. quiet level of each EVE line within +-25 % of real;
* b. for >= M1 flares, a line whose real median ratio rises by >= 5 % must
  rise by within +-30 % of the real rise (``ratio - 1``; stricter than the
  ratio itself, which a flat line would pass for a 10 % real rise); a line
  rising by less has its ``d(line)/d(GOES)`` within a factor 1.5; He II
  peaks before Fe XX and Fe XV/XVI after it, median lags within a factor 2;
* c. AIA 94 and 131 A rise per unit GOES flux within a factor 2;
* d. full-frame channel means within +-30 % of SDOML v2.

Rows without a target (C/M/X bins, timing of other lines, GOES against EVE)
are reported with ``met = None``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitor.reality.jp2 import DiskShape
from monitor.reality.measures import ChannelResponse, FlareResponse, loglog_fit

__all__ = [
    "CLASS_BINS",
    "Row",
    "disk_rows",
    "flare_rows",
    "goes_eve_rows",
    "lag_matches",
    "quiet_rows",
    "region_rows",
    "rise_within",
    "shape_rows",
    "within_factor",
    "within_fraction",
]

#: GOES class bins of row b: name, lower and upper flux (W m^-2).
CLASS_BINS: tuple[tuple[str, float, float], ...] = (
    ("C", 1e-6, 1e-5), ("M", 1e-5, 1e-4), ("X", 1e-4, 1.0), (">=M1", 1e-5, 1.0))
_TARGET_BIN = ">=M1"
_EARLY = ("He II 25.63", "He II 30.38")
_LATE = ("Fe XV 28.42", "Fe XVI 33.54")


@dataclass(frozen=True)
class Row:
    """One line of the table; ``met`` is None where no target applies."""

    section: str
    quantity: str
    real: float
    synthetic: float
    target: str = ""
    met: bool | None = None
    unit: str = ""


def within_fraction(real: float, synthetic: float, fraction: float) -> bool:
    """``|synthetic / real - 1| <= fraction``."""
    return bool(np.isfinite(real) and np.isfinite(synthetic) and real != 0
                and abs(synthetic / real - 1.0) <= fraction)


def within_factor(real: float, synthetic: float, factor: float) -> bool:
    """Same sign and ``1/factor <= synthetic / real <= factor``."""
    if not (np.isfinite(real) and np.isfinite(synthetic)) or real == 0:
        return False
    q = synthetic / real
    return bool(1.0 / factor <= q <= factor)


def rise_within(real_ratio: float, synthetic_ratio: float, fraction: float) -> bool:
    """The rise ``ratio - 1`` within ``fraction`` of the real rise."""
    return within_fraction(real_ratio - 1.0, synthetic_ratio - 1.0, fraction)


def lag_matches(real: float, synthetic: float, factor: float) -> bool:
    """Same side of zero as the real lag and within ``factor`` of it."""
    return within_factor(real, synthetic, factor)


def _median(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """NaN-ignoring median; all-NaN columns give NaN without a warning."""
    if values.size == 0:
        return np.full(values.shape[1] if values.ndim > 1 else 1, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def short(name: str) -> str:
    """``"Fe XVIII 9.39 nm"`` -> ``"Fe XVIII 9.39"``."""
    return name.removesuffix(" nm")


def quiet_rows(lines: Sequence[str], real_pre: np.ndarray, synthetic: np.ndarray) -> list[Row]:
    """a. Median quiet level per line: real per-flare pre-flare levels, synthetic flare-free Suns."""
    real, synth = _median(real_pre), _median(synthetic)
    return [Row("a", f"quiet {short(n)}", float(r), float(s), "±25 %",
                within_fraction(float(r), float(s), 0.25), "W m^-2")
            for n, r, s in zip(lines, real, synth)]


def _stack(responses: Sequence[FlareResponse], field: str) -> np.ndarray:
    return np.array([getattr(r, field) for r in responses]).reshape(len(responses), -1)


def flare_rows(lines: Sequence[str], real: Sequence[FlareResponse], real_flux: np.ndarray,
               synthetic: dict[str, Sequence[FlareResponse]]) -> list[Row]:
    """b. Peak/pre ratio, d(line)/d(GOES) and peak lag against Fe XX, per class bin.

    ``synthetic`` holds each bin's own synthetic flares (drawn from that bin's
    real peak fluxes, so a mixed bin like >= M1 has the real mix of M and X).
    """
    rows = []
    for name, lo, hi in CLASS_BINS:
        r_sel = [x for x, f in zip(real, real_flux) if lo <= f < hi]
        s_sel = list(synthetic.get(name, ()))
        if not r_sel or not s_sel:
            continue
        r_ratio, s_ratio = _median(_stack(r_sel, "ratio")), _median(_stack(s_sel, "ratio"))
        r_dg, s_dg = _median(_stack(r_sel, "per_goes")), _median(_stack(s_sel, "per_goes"))
        target = name == _TARGET_BIN
        for j, line in enumerate(lines):
            tag = f"{short(line)} {name} (n={len(r_sel)}/{len(s_sel)})"
            big = r_ratio[j] - 1.0 >= 0.05
            # A median real rise of exactly 0 is below the file's 1e-6 W m^-2
            # quantum (Fe VIII): no factor of it can be checked.
            measurable = bool(r_dg[j] != 0)
            small_target = "×1.5" if measurable else "n/a: real rise < EVE file quantum"
            rows.append(Row("b", f"peak/pre {tag}", float(r_ratio[j]), float(s_ratio[j]),
                            "rise ±30 %" if target and big else "",
                            rise_within(r_ratio[j], s_ratio[j], 0.3)
                            if target and big else None))
            rows.append(Row("b", f"d(line)/d(GOES) {tag}", float(r_dg[j]), float(s_dg[j]),
                            small_target if target and not big else "",
                            within_factor(r_dg[j], s_dg[j], 1.5)
                            if target and not big and measurable else None))
        if target:
            r_lag, s_lag = _median(_stack(r_sel, "lag_min")), _median(_stack(s_sel, "lag_min"))
            for j, line in enumerate(lines):
                timed = short(line) in _EARLY + _LATE
                side = "before" if short(line) in _EARLY else "after"
                rows.append(Row("b", f"peak lag vs Fe XX {short(line)} {name}",
                                float(r_lag[j]), float(s_lag[j]),
                                f"{side} Fe XX, ×2" if timed else "",
                                lag_matches(r_lag[j], s_lag[j], 2.0) if timed else None, "min"))
    return rows


def region_rows(label: str, real: dict[int, ChannelResponse | None],
                synthetic: dict[int, ChannelResponse | None]) -> list[Row]:
    """c. Channel rise per unit GOES flux and peak lag for one flaring region."""
    rows = []
    for wl in sorted(real):
        r, s = real[wl], synthetic.get(wl)
        rv = r.per_goes if r else float("nan")
        sv = s.per_goes if s else float("nan")
        hot = wl in (94, 131)
        rows.append(Row("c", f"{wl} Å rise per GOES {label}", rv, sv, "×2" if hot else "",
                        within_factor(rv, sv, 2.0) if hot else None, "DN/s per W m^-2"))
        rows.append(Row("c", f"{wl} Å peak lag vs GOES {label}",
                        r.lag_min if r else float("nan"), s.lag_min if s else float("nan"),
                        unit="min"))
    return rows


def disk_rows(real: dict[int, float], synthetic: dict[int, float]) -> list[Row]:
    """d. Full-frame mean DN/s per channel against SDOML v2."""
    return [Row("d", f"full-disk mean {wl} Å", real[wl], synthetic[wl], "±30 %",
                within_fraction(real[wl], synthetic[wl], 0.3), "DN/s")
            for wl in sorted(synthetic) if wl in real]


def shape_rows(label: str, real: DiskShape, synthetic: DiskShape) -> list[Row]:
    """d. Gain-free shape of a real JP2 image against the synthetic median: quantiles, limb."""
    rows = [Row("d", f"{label} on-disk q{round(q * 100)}/q50", real.quantiles[q],
                synthetic.quantiles[q]) for q in real.quantiles]
    rows += [Row("d", f"{label} limb profile I({rho:g} R)/I(<0.5 R)", real.profile[rho],
                 synthetic.profile[rho]) for rho in real.profile]
    return rows


def goes_eve_rows(label: str, real_goes: np.ndarray, real_rise: np.ndarray,
                  synthetic_goes: np.ndarray, synthetic_rise: np.ndarray) -> list[Row]:
    """e. A hot line's flare rise against the GOES peak: log-log slope and value at M1."""
    rb, r_at, rn = loglog_fit(real_goes, real_rise, 1e-5)
    sb, s_at, sn = loglog_fit(synthetic_goes, synthetic_rise, 1e-5)
    return [Row("e", f"{label} rise vs GOES peak: log-log slope (n={rn}/{sn})", rb, sb),
            Row("e", f"{label} rise at GOES M1 (fit)", r_at, s_at, unit="W m^-2")]
