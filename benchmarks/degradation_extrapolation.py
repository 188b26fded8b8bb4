"""How wrong is a degradation table used past its last day? Measured on the real v9 factors.

    python benchmarks/degradation_extrapolation.py                 # the shipped table
    python benchmarks/degradation_extrapolation.py --table ../shared/data/real/aia_degradation_v9

The table is cut every ``--step`` days (from its 400th day to a year before its
end); each cut table predicts the factor 30, 90, 180 and 365 days later, the way
the daemon does past a table's last day (the log-linear trend of the last 90
days, :mod:`monitor.preprocess.calibrate`), and the prediction is compared with
the full table's value. Also shown: holding the last value (no trend). The
numbers are RMS of ``ln(predicted / true)`` per channel, i.e. the fractional
error of the corrected DN/s. Results go to
``benchmarks/results/degradation_extrapolation.json`` and a Markdown table on
stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.preprocess.calibrate import TREND_DAYS, DegradationTable
from monitor.preprocess.tables import DailyCurve

HORIZONS = (30, 90, 180, 365)


def measure(table: DegradationTable, step: int) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {"trend": {}, "last_value": {}}
    for channel in table.channels():
        curve = table._curves[channel]  # the samples of a daily table
        assert isinstance(curve, DailyCurve), "needs a daily table"
        t, v = curve.samples()
        times = [datetime.fromtimestamp(float(x), UTC) for x in t]
        errors: dict[str, dict[int, list[float]]] = {"trend": {h: [] for h in HORIZONS},
                                                      "last_value": {h: [] for h in HORIZONS}}
        for cut in range(400, len(t) - max(HORIZONS), step):
            part = DegradationTable({channel: DailyCurve("cut", times[:cut], list(v[:cut]))},
                                    "cut")
            for h in HORIZONS:
                when = times[cut - 1] + timedelta(days=h)
                true = table.factor(channel, when)
                errors["trend"][h].append(math.log(part.factor(channel, when) / true))
                errors["last_value"][h].append(math.log(float(v[cut - 1]) / true))
        for method, per_h in errors.items():
            out[method][str(channel)] = {
                str(h): round(float(np.sqrt(np.mean(np.square(e)))), 4) for h, e in per_h.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None,
                        help="daily table (folder of degrad_*.csv or wide CSV); default builtin")
    parser.add_argument("--step", type=int, default=30, help="days between cuts")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "degradation_extrapolation.json")
    args = parser.parse_args()
    table = DegradationTable.from_file(args.table) if args.table else DegradationTable.builtin()
    result = measure(table, args.step)
    doc = {"table": table.describe(), "trend_days": TREND_DAYS, "step_days": args.step,
           "metric": "RMS of ln(predicted/true) over cuts, per channel and horizon (days)",
           "results": result}
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print("| channel | " + " | ".join(f"trend {h} d | hold {h} d" for h in HORIZONS) + " |")
    print("|---|" + "---|" * (2 * len(HORIZONS)))
    for channel in result["trend"]:
        cells = [f"{result[m][channel][str(h)]:.3f}" for h in HORIZONS
                 for m in ("trend", "last_value")]
        print(f"| {channel} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
