"""Two packages against the same GOES truth: the paired block bootstrap and ``verify --compare``.

The bootstrap is checked on constructed scores whose answer is known (a large
difference is significant, identical packages are not, a period without
events is undetermined, the seed fixes the interval); the command on a real
GOES-15 day (2010-10-16, an M2.9 flare) with two "packages" built from that
day's own truth: one perfect, one that never forecasts a flare.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from goes_support import SHARED_GOES

from monitor.goes.classes import class_level, goes_class
from monitor.goes.command import add_subparser
from monitor.goes.compare import TssDifference, bootstrap_tss_difference, paired
from monitor.goes.files import read_goes_files
from monitor.goes.scores import ScoredPair

DAY = SHARED_GOES / "sci_xrsf-l2-avg1m_g15_d20101016_v1-0-0.nc"


def pairs(predicted: list[bool], observed: list[bool], step_s: float = 60.0) -> list[ScoredPair]:
    return [ScoredPair(f"f{i}", 1e9 + i * step_s, 1e-6, (p,), (o,))
            for i, (p, o) in enumerate(zip(predicted, observed))]


def test_a_large_difference_is_significant_and_identical_packages_are_not() -> None:
    rng = np.random.default_rng(1)
    observed = list(rng.random(2000) < 0.2)  # ~33 h of minutes, events spread over it
    good = [o if rng.random() < 0.95 else not o for o in observed]  # TSS ~0.9
    poor = [o if rng.random() < 0.6 else not o for o in observed]  # TSS ~0.2
    [d] = bootstrap_tss_difference(pairs(poor, observed), pairs(good, observed), ("M",),
                                   resamples=500, block_s=3600, seed=3)
    assert d.difference is not None and d.difference > 0.5
    assert d.low is not None and d.low > 0.4 and d.verdict == "significant"
    assert d.low <= d.difference <= d.high
    # the other way round: negative and significant too
    [r] = bootstrap_tss_difference(pairs(good, observed), pairs(poor, observed), ("M",),
                                   resamples=500, block_s=3600, seed=3)
    assert r.high is not None and r.high < -0.4 and r.verdict == "significant"
    # identical predictions: the difference is 0 in every draw
    [same] = bootstrap_tss_difference(pairs(good, observed), pairs(good, observed), ("M",),
                                      resamples=200, seed=3)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    assert same.verdict == "not significant"


def test_as_many_fixes_as_new_errors_is_not_significant_and_the_seed_fixes_it() -> None:
    rng = np.random.default_rng(2)
    observed = list(rng.random(1440) < 0.3)  # a day of minutes: 24 one-hour blocks
    a = [o if rng.random() < 0.8 else not o for o in observed]
    right = [i for i, (p, o) in enumerate(zip(a, observed)) if p == o]
    wrong = [i for i, (p, o) in enumerate(zip(a, observed)) if p != o]
    flips = {int(i) for i in rng.choice(right, 15, replace=False)} | {
        int(i) for i in rng.choice(wrong, 15, replace=False)}
    b = [not p if i in flips else p for i, p in enumerate(a)]  # 15 fixed, 15 broken

    def run(seed: int) -> TssDifference:
        return bootstrap_tss_difference(pairs(a, observed), pairs(b, observed), ("M",),
                                        seed=seed)[0]
    one, again, other = run(7), run(7), run(8)
    assert one.verdict == "not significant" and one.low < 0 < one.high
    assert (one.low, one.high) == (again.low, again.high)
    assert (one.low, one.high) != (other.low, other.high)
    assert other.verdict == "not significant"


def test_no_events_is_undetermined_and_mismatched_inputs_are_refused() -> None:
    quiet = pairs([False] * 100, [False] * 100)
    [d] = bootstrap_tss_difference(quiet, quiet, ("M",), resamples=50)
    assert d.difference is None and d.verdict == "undetermined" and d.undefined == 50
    with pytest.raises(ValueError, match="same frames"):
        bootstrap_tss_difference(quiet, quiet[1:], ("M",))
    truth_b = pairs([False] * 100, [True] * 100)
    with pytest.raises(ValueError, match="truth differs"):
        bootstrap_tss_difference(quiet, truth_b, ("M",))
    a, b = paired(quiet[:60], list(reversed(quiet[40:])))
    assert [p.frame_id for p in a] == [p.frame_id for p in b] == [f"f{i}" for i in range(40, 60)]


# -- the command, on a real GOES day ---------------------------------------------------
def verify(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    return int(args.func(args))


def event(kind: str, name: str, t: float, level: int) -> dict[str, object]:
    from monitor.publish.envelope import rfc3339

    classes = ("none", "C", "M", "X")
    model = {"name": name, "version": "1", "sha256": (name[0] * 64)[:64]}
    return {"specversion": "1.0", "id": f"{name}-{t}", "source": "urn:sdo-monitor:test",
            "type": f"org.sdo-monitor.{kind}.v1",
            "data": {"frame_id": f"frame-{int(t)}", "t_obs": rfc3339(t + 30.0),
                     "class_probabilities": {c: float(i == level) for i, c in enumerate(classes)},
                     "predicted_class": classes[level], "model": model}}


@pytest.mark.skipif(not DAY.exists(), reason=f"{DAY} (../shared/data) not present")
def test_verify_compare_on_a_real_goes_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    day = read_goes_files([DAY])
    served, shadow = tmp_path / "frames.jsonl", tmp_path / "frames.shadow.jsonl"
    levels = [class_level((goes_class(s.flux) or "A")[0]) or 0 for s in day.samples]
    assert max(levels) == 2  # the M2.9 flare
    with open(served, "w") as f:  # the serving package: GOES itself, a perfect nowcast
        f.writelines(json.dumps(event("frame.analyzed", "perfect", s.time, lvl)) + "\n"
                     for s, lvl in zip(day.samples, levels))
    with open(shadow, "w") as f:  # the shadow: never a flare
        f.writelines(json.dumps(event("frame.shadow", "blind", s.time, 0)) + "\n"
                     for s in day.samples)
    out = tmp_path / "report"
    assert verify("--frames", str(served), str(shadow), "--goes", str(DAY), "--compare",
                  "perfect:1", "bbbbbbbb", "--resamples", "300", "--out", str(out)) == 0
    report = json.loads((out / "compare_report.json").read_text())
    assert (report["a"], report["b"]) == ("perfect:1", "blind:1")
    rows = {d["threshold"]: d for d in report["differences"]}
    assert rows["C"]["a"]["tss"] == 1.0 and rows["C"]["b"]["tss"] == 0.0
    assert rows["C"]["tss_difference"] == -1.0 and rows["C"]["verdict"] == "significant"
    assert rows["C"]["interval_95"] == [-1.0, -1.0]
    assert rows["X"]["verdict"] == "undetermined"  # no X flare that day
    assert rows["C"]["frames"] == report["report_a"]["predictions"]["scored"] > 1000
    text = capsys.readouterr().out
    assert ">=C: TSS perfect:1 1.000, blind:1 0.000" in text and "significant" in text
    assert "| >= C | 1.000 | 0.000 |" in (out / "compare_report.md").read_text()
    # without --compare the shadow's messages are not read: the served package alone
    assert verify("--frames", str(served), str(shadow), "--goes", str(DAY), "--out",
                  str(tmp_path / "plain")) == 0
    plain = json.loads((tmp_path / "plain" / "verify_report.json").read_text())
    assert plain["inputs"]["frames_read"] == len(day.samples)
    # a package the input does not hold is refused with the ones it does
    assert verify("--frames", str(served), "--goes", str(DAY), "--compare", "perfect:1",
                  "nobody:9", "--out", str(out)) == 2
    assert "packages found: perfect:1" in capsys.readouterr().out
