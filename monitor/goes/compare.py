"""Two packages scored on the same period, and whether their TSS difference is significant.

``sdo-monitor verify --compare A B`` scores the frames of package A and of
package B (``frame.analyzed`` and ``frame.shadow`` messages name their
package) against the same GOES truth, exactly as the live verification does
(:func:`~monitor.goes.report.score_period`), then compares them on the
frames both scored (paired: the same frames, the same truth).

Significance: a paired block bootstrap of ``TSS(B) - TSS(A)`` per threshold.
Frames 12 s apart are not independent (a flare spans dozens of them), so the
resampling unit is a block of ``block_s`` seconds of observation time (one
hour by default): the blocks are drawn with replacement ``resamples`` times
from a seeded generator, each draw's contingency tables are summed for both
packages, and the 2.5th and 97.5th percentiles of the TSS differences are
the 95 % interval. The difference is significant when the interval excludes
zero. A draw without observed events or without non-events has no TSS for
either package (the truth is shared) and is left out and counted; when more
than half the draws are left out the verdict is ``undetermined``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import monitor
from monitor.goes.report import FrameRecord, VerificationReport, score_period, write_pair
from monitor.goes.samples import GoesSample
from monitor.goes.scores import CELLS, Contingency, ScoredPair
from monitor.goes.settings import DetectionSettings, VerificationSettings

__all__ = ["Comparison", "TssDifference", "bootstrap_tss_difference", "compare_packages",
           "comparison_markdown", "paired", "select_package", "write_comparison"]


@dataclass(frozen=True)
class TssDifference:
    """The bootstrap verdict on ``TSS(B) - TSS(A)`` at one threshold."""

    threshold: str
    frames: int
    a: Contingency
    b: Contingency
    difference: float | None
    low: float | None
    high: float | None
    resamples: int
    undefined: int
    block_s: float
    seed: int

    @property
    def verdict(self) -> str:
        """``significant``, ``not significant`` or ``undetermined``."""
        if self.low is None or self.high is None or self.undefined * 2 > self.resamples:
            return "undetermined"
        return "significant" if self.low > 0 or self.high < 0 else "not significant"

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "frames": self.frames, "a": self.a.to_dict(),
                "b": self.b.to_dict(), "tss_difference": self.difference,
                "interval_95": [self.low, self.high], "verdict": self.verdict,
                "resamples": self.resamples, "undefined_resamples": self.undefined,
                "block_s": self.block_s, "seed": self.seed}


def paired(a: Sequence[ScoredPair], b: Sequence[ScoredPair]) -> tuple[list[ScoredPair],
                                                                       list[ScoredPair]]:
    """The pairs of the frames both packages scored, in the same (time) order."""
    by_frame = {p.frame_id: p for p in b}
    common = sorted((p for p in a if p.frame_id in by_frame), key=lambda p: (p.t_obs,
                                                                             p.frame_id))
    return common, [by_frame[p.frame_id] for p in common]


def _cells(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n, 4) one-hot cells in the order of :data:`CELLS`."""
    out = np.zeros((len(predicted), len(CELLS)), dtype=np.int64)
    out[predicted & observed, 0] = 1  # hits
    out[~predicted & observed, 1] = 1  # misses
    out[predicted & ~observed, 2] = 1  # false alarms
    out[~predicted & ~observed, 3] = 1  # correct negatives
    return out


def _tss(cells: np.ndarray) -> np.ndarray:
    hits, misses, false_alarms, negatives = (cells[..., k].astype(float) for k in range(4))
    events, non_events = hits + misses, false_alarms + negatives
    with np.errstate(invalid="ignore", divide="ignore"):
        value = hits / events - false_alarms / non_events
    return np.where((events > 0) & (non_events > 0), value, np.nan)


def bootstrap_tss_difference(a: Sequence[ScoredPair], b: Sequence[ScoredPair],
                             thresholds: Sequence[str], *, resamples: int = 2000,
                             block_s: float = 3600.0, seed: int = 0) -> list[TssDifference]:
    """The paired block bootstrap of ``TSS(B) - TSS(A)`` per threshold (module docstring).

    ``a`` and ``b`` are the pairs of the same frames, in the same order
    (:func:`paired`); their observed values must agree (one truth).
    """
    if len(a) != len(b) or any(p.frame_id != q.frame_id for p, q in zip(a, b)):
        raise ValueError("a and b must be the pairs of the same frames (see paired())")
    if resamples < 1 or not block_s > 0:
        raise ValueError("resamples >= 1 and block_s > 0 required")
    out = []
    times = np.array([p.t_obs for p in a], dtype=float)
    blocks = (np.floor((times - times.min()) / block_s).astype(np.int64) if len(a)
              else np.zeros(0, dtype=np.int64))
    _, block_of = np.unique(blocks, return_inverse=True)
    n_blocks = int(block_of.max()) + 1 if len(a) else 0
    rng = np.random.default_rng(seed)
    # every threshold sees the same draws: the verdicts are of one resampling
    weights = (rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=resamples)
               if n_blocks else np.zeros((resamples, 0), dtype=np.int64))
    for k, threshold in enumerate(thresholds):
        observed = np.array([p.observed[k] for p in a], dtype=bool)
        if any(q.observed[k] != o for q, o in zip(b, observed)):
            raise ValueError(f"the two packages' truth differs at >= {threshold}: not the "
                             "same GOES data")
        per_package = []
        for pairs in (a, b):
            predicted = np.array([p.predicted[k] for p in pairs], dtype=bool)
            cells = _cells(predicted, observed)
            per_block = np.zeros((n_blocks, len(CELLS)), dtype=np.int64)
            np.add.at(per_block, block_of, cells)
            per_package.append((Contingency(*(int(x) for x in cells.sum(axis=0))),
                                weights @ per_block))
        (table_a, drawn_a), (table_b, drawn_b) = per_package
        differences = _tss(drawn_b) - _tss(drawn_a)
        defined = differences[~np.isnan(differences)]
        point = (None if table_a.tss is None or table_b.tss is None
                 else table_b.tss - table_a.tss)
        low, high = ((float(np.percentile(defined, 2.5)), float(np.percentile(defined, 97.5)))
                     if len(defined) else (None, None))
        out.append(TssDifference(threshold, len(a), table_a, table_b, point, low, high,
                                 resamples, resamples - len(defined), block_s, seed))
    return out


@dataclass(frozen=True)
class Comparison:
    """``verify --compare``: both packages' reports and the verdict per threshold."""

    a: str
    b: str
    report_a: VerificationReport
    report_b: VerificationReport
    differences: tuple[TssDifference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"generated_by": "sdo-monitor verify --compare", "version": monitor.__version__,
                "a": self.a, "b": self.b,
                "method": "paired block bootstrap of TSS(B) - TSS(A) over the frames both "
                          "packages scored; 95 % percentile interval; significant when it "
                          "excludes 0",
                "differences": [d.to_dict() for d in self.differences],
                "report_a": self.report_a.to_dict(), "report_b": self.report_b.to_dict()}


def select_package(frames: Sequence[FrameRecord], spec: str) -> tuple[str, list[FrameRecord]]:
    """The frames of one package, named ``name:version`` or by a sha256 prefix (>= 8 hex).

    Raises ValueError naming the packages the input holds when none or
    several match.
    """
    found: dict[str, str | None] = {f.package: f.sha256 for f in frames if f.package}
    hex_prefix = len(spec) >= 8 and all(c in "0123456789abcdef" for c in spec)
    matches = [label for label, sha in found.items()
               if label == spec or (hex_prefix and sha is not None and sha.startswith(spec))]
    if len(matches) != 1:
        known = ", ".join(f"{label} ({(sha or '?')[:12]})" for label, sha in sorted(
            found.items())) or "none (no message names its model)"
        what = "no package" if not matches else "several packages"
        raise ValueError(f"{what} in the input match {spec!r}; packages found: {known}")
    return matches[0], [f for f in frames if f.package == matches[0]]


def compare_packages(frames: Sequence[FrameRecord], samples: Sequence[GoesSample], a: str,
                     b: str, settings: VerificationSettings | None = None,
                     detection: DetectionSettings | None = None, flux_scale: float = 1.0, *,
                     resamples: int = 2000, block_s: float = 3600.0,
                     seed: int = 0) -> Comparison:
    """Score packages ``a`` and ``b`` on the same GOES data and compare them."""
    settings = settings or VerificationSettings()
    label_a, frames_a = select_package(frames, a)
    label_b, frames_b = select_package(frames, b)
    if label_a == label_b:
        raise ValueError(f"{a!r} and {b!r} are the same package ({label_a})")
    report_a = score_period(frames_a, samples, settings, detection, flux_scale)
    report_b = score_period(frames_b, samples, settings, detection, flux_scale)
    pairs_a, pairs_b = paired(report_a.pairs, report_b.pairs)
    if not pairs_a:
        raise ValueError(f"{label_a} and {label_b} have no scored frame in common")
    differences = bootstrap_tss_difference(pairs_a, pairs_b, settings.thresholds,
                                           resamples=resamples, block_s=block_s, seed=seed)
    return Comparison(label_a, label_b, report_a, report_b, tuple(differences))


def _fmt(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def comparison_markdown(c: Comparison) -> str:
    """The comparison as a markdown page."""
    first = c.differences[0] if c.differences else None
    out = ["# Package comparison against GOES", "",
           f"A = `{c.a}`, B = `{c.b}`; frames both packages scored: "
           f"{first.frames if first else 0}.", "",
           "Significance: paired block bootstrap of TSS(B) - TSS(A) "
           + (f"({first.resamples} resamples of {first.block_s:g} s blocks, seed {first.seed})"
              if first else "") + "; the 95 % interval must exclude 0.", "",
           "| threshold | TSS A | TSS B | HSS A | HSS B | B - A | 95 % interval | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for d in c.differences:
        out.append(f"| >= {d.threshold} | {_fmt(d.a.tss)} | {_fmt(d.b.tss)} | {_fmt(d.a.hss)} "
                   f"| {_fmt(d.b.hss)} | {_fmt(d.difference, True)} | [{_fmt(d.low, True)}, "
                   f"{_fmt(d.high, True)}] | {d.verdict} |")
    out += ["", "Each package's own report (every frame it has, not only the common ones) is "
            "in the JSON report.", ""]
    return "\n".join(out)


def write_comparison(c: Comparison, json_path: Path, markdown_path: Path) -> None:
    """Write the JSON and markdown comparison reports (directories created)."""
    write_pair(c.to_dict(), comparison_markdown(c), json_path, markdown_path)
