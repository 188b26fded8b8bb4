"""The evaluation report: training curve and reliability PNGs, a markdown summary, the model card.

Targets (the model's acceptance goals, on held-out synthetic data): TSS >= 0.9 for >= M;
irradiance median relative error <= 2 %, worst line <= 5 %, better than the
linear-only baseline; pointing game >= 90 %. :func:`targets_table` checks
them and says plainly which are missed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["POINTING_GOALS_ARCSEC", "TARGETS", "model_card", "plot_reliability",
           "plot_training_curve", "pointing_sentence", "report_markdown", "targets_table"]

#: (label, path into metrics, comparison, target value).
TARGETS: tuple[tuple[str, tuple[str, ...], str, float], ...] = (
    ("TSS >= M", ("classification", "thresholds", ">=M", "tss"), ">=", 0.9),
    ("irradiance median relative error", ("irradiance", "model", "median"), "<=", 0.02),
    ("irradiance worst line", ("irradiance", "model", "worst_line"), "<=", 0.05),
    ("pointing game", ("pointing_game", "share"), ">=", 0.9),
)


#: Goals of the located flare's distance to the true one: (median, 90th percentile), arcsec.
POINTING_GOALS_ARCSEC = (30.0, 90.0)


def pointing_sentence(files: dict[str, Any]) -> str | None:
    """One sentence on the pointing error of the file-path check; None if not measured."""
    pe = files["files"].get("pointing_error")
    if not pe or not pe.get("located"):
        return None
    goal_median, goal_p90 = POINTING_GOALS_ARCSEC
    met = pe["median_arcsec"] <= goal_median and pe["p90_arcsec"] <= goal_p90
    cam, area = pe["cam_region"], pe["area_msh"]
    cam_area = cam["area_msh"] or {"median": float("nan")}
    return (f"Flare location (the daemon's `flare_location`, hot channels inside the CAM "
            f"region): {pe['located']} of {pe['frames']} flare frames located, "
            f"{pe['median_arcsec']:.1f} arcsec from the true flare (median), "
            f"{pe['p90_arcsec']:.1f} arcsec (90 %), {pe['max_arcsec']:.1f} at worst "
            f"(goal <= {goal_median:g} / {goal_p90:g}: {'met' if met else 'missed'}); "
            f"areas {area['p10']:.0f}-{area['p90']:.0f} MSH (10-90 %). The CAM region "
            f"alone: {cam['median_arcsec']:.1f} / {cam['p90_arcsec']:.1f} arcsec, "
            f"{cam_area['median']:.0f} MSH (median).")


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def targets_table(test: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Each target with the measured value and whether it is met; and whether all are."""
    rows = []
    for label, path, op, target in TARGETS:
        value = _get(test, path)
        met = value is not None and (value >= target if op == ">=" else value <= target)
        goal = f"{op} {target:g}" if "TSS" in label else f"{op} {_pct(target)}"
        rows.append({"target": label, "value": value, "goal": goal, "met": met})
    for which, name in (("median", "median"), ("worst_line", "worst line")):
        base = _get(test, ("irradiance", "linear_baseline", which))
        model = _get(test, ("irradiance", "model", which))
        better = base is not None and model is not None and model < base
        rows.append({"target": f"irradiance {name} better than the linear-only baseline",
                     "value": model, "goal": f"< {_pct(base)}", "met": better})
    return rows, all(r["met"] for r in rows)


def _shown(row: dict[str, Any]) -> str:
    v = row["value"]
    if v is None:
        return "n/a"
    return f"{v:.3f}" if "TSS" in row["target"] else _pct(v)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def plot_training_curve(history: list[dict[str, Any]], path: Path) -> None:
    """Losses, validation TSS and irradiance errors per epoch (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    ax = axes[0]
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("loss (train also has the localisation term)")
    ax.legend()
    ax = axes[1]
    ax.plot(epochs, [h["val_tss_m"] for h in history], "o-", color="C2")
    ax.axhline(0.9, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("epoch")
    ax.set_title("validation TSS (>= M)")
    ax = axes[2]
    ax.plot(epochs, [100 * h["val_irradiance_median"] for h in history], "o-", label="median")
    ax.plot(epochs, [100 * h["val_irradiance_worst"] for h in history], "s-", label="worst line")
    ax.axhline(2, color="C0", ls="--", lw=1)
    ax.axhline(5, color="C1", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("validation EVE relative error (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_reliability(calibration: dict[str, Any], path: Path, title: str = "") -> None:
    """Reliability curves (forecast probability vs observed frequency) per threshold (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
    for name, cal in calibration.items():
        pts = [(f, o, c) for f, o, c in zip(cal["mean_forecast"], cal["observed_frequency"],
                                           cal["count"]) if f is not None]
        if not pts:
            continue
        f, o, c = zip(*pts)
        ax.plot(f, o, "o-", label=f"{name} (Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f})",
                markersize=3 + 0 * len(c))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "reliability (held-out)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _matrix(cm: dict[str, Any]) -> list[str]:
    classes = cm["classes"]
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |",
             "|---|" + "---|" * len(classes)]
    for name, row in zip(classes, cm["counts"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def report_markdown(metrics: dict[str, Any], title: str) -> str:
    """The short markdown report of ``metrics.json``."""
    test = metrics["test"]
    rows, ok = targets_table(test)
    out = [f"# {title}", "",
           (f"Held-out synthetic test set: {test['samples']} samples, seed "
           f"{metrics['data'].get('test_seed')} (never used in training); class counts "
           f"{test['class_counts']}."), "",
           "## Targets", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['target']} | {r['goal']} | {_shown(r)} | "
                   f"{'yes' if r['met'] else '**no**'} |")
    out += ["", "All targets met." if ok else "**Not all targets are met** (see above).", "",
            "## Classification", ""]
    out += ["| threshold | TSS | HSS | POD | FAR | TP | FN | FP | TN |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, s in test["classification"]["thresholds"].items():
        out.append(f"| {name} | {s['tss']} | {s['hss']} | {s['pod']} | {s['far']} | {s['tp']} | "
                   f"{s['fn']} | {s['fp']} | {s['tn']} |")
    out += ["", "Confusion matrix (arg-max class):", ""] + _matrix(
        test["classification"]["confusion_matrix"])
    out += ["", ("Calibration: `train_reliability.png` (Brier / ECE per threshold in "
            "`metrics.json`)."), "", "## Irradiance (relative error, median over samples)", "",
            "| line | model | linear baseline |", "|---|---|---|"]
    model_lines = test["irradiance"]["model"]["per_line"]
    base_lines = test["irradiance"]["linear_baseline"]["per_line"]
    for name in model_lines:
        out.append(f"| {name} | {_pct(model_lines[name]['median'])} | "
                   f"{_pct(base_lines[name]['median'])} |")
    out.append(f"| **median of lines** | {_pct(test['irradiance']['model']['median'])} | "
               f"{_pct(test['irradiance']['linear_baseline']['median'])} |")
    out.append(f"| **worst line** | {_pct(test['irradiance']['model']['worst_line'])} | "
               f"{_pct(test['irradiance']['linear_baseline']['worst_line'])} |")
    pg = test["pointing_game"]
    out += ["", "## Saliency pointing game", "",
            (f"{pg['hits']} of {pg['frames']} correctly classified flare frames "
            f"({_pct(pg['share'])}) have the saliency peak within 3 sigma + "
            f"{pg['tolerance_px']:g} px of a flare kernel; median peak-to-kernel distance "
            f"{pg['median_distance_px']} px.")]
    fresh = metrics.get("fresh_test")
    if fresh:
        r, _ = targets_table(fresh)
        out += ["", f"## Untouched check: {fresh['samples']} Suns of seed {fresh['seed']}", "",
                ("Drawn after training, never looked at while the method was developed "
                 "(the test seed above was, in preliminary runs); ONNX Runtime on the "
                 "package's own scaling:"), "", "| target | goal | measured | met |",
                "|---|---|---|---|"]
        out += [f"| {x['target']} | {x['goal']} | {_shown(x)} | {'yes' if x['met'] else 'no'} |"
                for x in r]
    files = metrics.get("file_path")
    if files:
        f, d, a = files["files"], files["dataset"], files["agreement"]
        out += ["", "## The daemon's path: FITS files through ingest and preprocessing", "",
                (f"{files['samples']} held-out Suns (seed {files['seed']}) written as "
                 f"{files['file_size_px']} px level-1 FITS files and read back the daemon's "
                 "way, against the same Suns from the dataset API"
                 + (f" ({len(files.get('rejected_by_ingest', []))} of {files.get('drawn')} "
                    "drawn frames were rejected by ingest and are left out)"
                    if files.get("rejected_by_ingest") else "") + ":"), "",
                "| | files | dataset twins |", "|---|---|---|",
                (f"| TSS >= M | {f['classification']['thresholds']['>=M']['tss']} | "
                f"{d['classification']['thresholds']['>=M']['tss']} |"),
                (f"| accuracy | {f['classification']['accuracy']} | "
                f"{d['classification']['accuracy']} |"),
                (f"| EVE median / worst line | {_pct(f['irradiance']['model']['median'])} / "
                f"{_pct(f['irradiance']['model']['worst_line'])} | "
                f"{_pct(d['irradiance']['model']['median'])} / "
                f"{_pct(d['irradiance']['model']['worst_line'])} |"),
                (f"| pointing game | {_pct(f['pointing_game']['share'])} | "
                f"{_pct(d['pointing_game']['share'])} |"), "",
                (f"Same predicted class on {_pct(a['same_predicted_class'])} of the frames; "
                f"mean |dP(>=M)| {a['p_ge_m_abs_diff_mean']:.4f}; median saliency peak shift "
                f"{a['saliency_peak_shift_px_median']} px.")]
        pointing = pointing_sentence(files)
        if pointing:
            out += ["", pointing]
    t = metrics["training"]
    out += ["", "## Training", "",
            (f"{t['epochs_run']} epochs ({t['stop_reason']}), best epoch {t['best_epoch']}, "
            f"{t['samples_seen']} samples seen, {t['train_seconds'] / 60:.1f} min of training on "
            f"{t['machine']}; whole run {t['total_seconds'] / 60:.1f} min. "
            "Curve: `train_curve.png`."), ""]
    return "\n".join(out)


def reality_section(reality: dict[str, Any]) -> list[str]:
    """The card's lines on real data: a ``sdo-monitor reality --package`` table.

    Every row as measured: a miss stays in the table with its number.
    """
    from monitor.reality.report import markdown_table, rows_from_report, summary

    world, rows = rows_from_report(reality)
    model_rows = [r for r in rows if r.quantity.startswith("model:")]
    settings = reality.get("settings") or {}
    counts = ", ".join(f"{k.replace('_', ' ')} {settings[k]}" for k in
                       ("quiet_samples", "flares_per_class", "disk_samples",
                        "package_samples", "seed") if k in settings)
    lines = [f"## Against real data (world {world})", "",
             (f"`sdo-monitor reality --world {world} --package` (docs/reality.md): the "
              "synthetic world it was trained on, and this package's EVE lines predicted "
              "on flare-free Suns of that world (the `model:` rows), against real EVE, "
              f"AIA, GOES and SDOML data{f' ({counts})' if counts else ''}. "
              f"{summary(rows)}; the model rows alone: {summary(model_rows)}. "
              "NO marks a miss, shown with its number; — marks a row without a target."), ""]
    return lines + markdown_table(rows) + [""]


def model_card(manifest_name: str, version: str, metrics: dict[str, Any],
               config_text: str) -> str:
    """``MODEL_CARD.md`` of a trained package."""
    test = metrics["test"]
    rows, ok = targets_table(test)
    data = metrics["data"]
    synthetic = data.get("source") == "synthetic"
    lines = [f"# Model card: {manifest_name} {version}", ""]
    if synthetic:
        lines += [("**Trained on synthetic data only.** This network has only ever seen the "
                  "project's synthetic Sun (`monitor.synth`). It must be retrained on real SDO "
                  "data (e.g. SDOML: AIA images with GOES XRS and EVE MEGS-A labels) and "
                  "re-evaluated before any operational use. Its numbers below describe the "
                  "synthetic world, not the real Sun."), ""]
    lines += ["## What it does",
              ("- Input: AIA 94, 131, 171, 193, 211, 304, 335 A on the 256 px model grid "
              "(north up, Sun centred, radius 100 px), DN/s scaled as `model.json` says."),
              ("- Outputs: probabilities of the GOES XRS-B class of the whole Sun at the "
              "observation time (none = below C1, C, M, X); the 14 EVE MEGS-A line "
              "irradiances (Szenicer et al. 2019: linear model on per-channel image mean/std "
              "plus a CNN on the residual); the last feature maps, from which the "
              "class-activation maps of the saliency summaries are made."), "",
              "## Training data"]
    if synthetic:
        twins = data.get("file_train_samples") or 0
        seen = (f", {twins} of them also written as {data.get('file_size_px')} px level-1 "
                "FITS files and read back through ingest and preprocessing (saturation, "
                "integer rounding, WCS resampling: what the daemon sees)") if twins else ""
        world = f" of world {data['world']}" if data.get("world") else ""
        lines += [(f"- {data['train_samples']} synthetic Suns{world} (seed {data['train_seed']})"
                  f"{seen}; validation {data['val_samples']} (seed {data['val_seed']}), test "
                  f"{data['test_samples']} (seed {data['test_seed']}); class mix of the "
                  f"generator {data['class_mix']} (none, C, M, X). Each sample: random day "
                  "of the year, 0-6 active regions, at most one flare caught at a random "
                  "moment of its rise or decay; photon and read noise."),
                  ("- The synthetic Sun is a simple DEM model: real AIA images have far richer "
                  "structure (filaments, coronal holes, CMEs, instrument artefacts, "
                  "degradation) that this model has never seen.")]
    else:
        lines += [(f"- {data.get('data')} "
                  f"({data.get('block_days')} d blocks, {data.get('gap_hours')} h gaps).")]
    lines += ["", "## Must not be used for",
              ("- Operational flare alerts, forecasts or irradiance products of the real Sun "
               "(it has not seen real data)." if synthetic else
               "- Operational products before its held-out scores below have been reviewed "
               "against the operator's own requirements."),
              ("- Forecasting: it classifies the *current* GOES level from the current images; "
              "it does not predict future flares."),
              ("- Other instruments, other channels, uncalibrated or degraded AIA data, or "
              "grids other than the 256 px model grid."), "",
              f"## Held-out results ({'synthetic' if synthetic else 'time-split test blocks'})",
              "", "| target | goal | measured | met |",
              "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['goal']} | {_shown(r)} | "
                     f"{'yes' if r['met'] else 'no'} |")
    lines += ["", f"All targets met on the {'synthetic ' if synthetic else ''}test set." if ok else
              "Not all targets are met; see `metrics.json`.", ""]
    files = metrics.get("file_path")
    if files:
        f = files["files"]
        lines += [(f"On {files['samples']} held-out Suns written as {files['file_size_px']} px "
                  "FITS files and read through the daemon's ingest/preprocess path: TSS >= M "
                  f"{f['classification']['thresholds']['>=M']['tss']:.3f}, EVE median "
                  f"{_pct(f['irradiance']['model']['median'])}, worst line "
                  f"{_pct(f['irradiance']['model']['worst_line'])}, pointing game "
                  f"{_pct(f['pointing_game']['share'])}."), ""]
        pointing = pointing_sentence(files)
        if pointing:
            lines += [pointing, ""]
    fresh = metrics.get("fresh_test")
    if fresh:
        r_fresh, _ = targets_table(fresh)
        shown = ", ".join(f"{x['target']} {_shown(x)}" for x in r_fresh[:4])
        lines += [(f"Untouched check, {fresh['samples']} Suns of seed {fresh['seed']} drawn "
                   f"after training: {shown}."), ""]
    if metrics.get("reality"):
        lines += reality_section(metrics["reality"])
    lines += ["## Known limits",
              ("- Saturated flare kernels (AIA clips at 16383 DN) are in the file-path "
               "training samples only, blooming in none; the file-path check above measures "
               "what the daemon's path costs (mostly on the flare lines)."),
              (f"- The worst EVE line is {test['irradiance']['model']['worst_line_name']} "
               f"({_pct(test['irradiance']['model']['worst_line'])} on the test set): a flare "
               "line's irradiance is a linear sum over the flare kernel, which the GAP + "
               "linear head on log-scaled images has to approximate."),
              (f"- Through files it has only seen {files['file_size_px']} px ones: other sizes "
               "(e.g. 512 px synthetic files, whose short binned exposures round the quiet "
               "disk to 0 DN) are outside its training distribution; run the file-path "
               "evaluation at the feed's size before trusting it there.")
              if files else "- It has not been evaluated on files, only on model-grid samples.",
              ("- Calibration was measured on the synthetic class mix; real flare rates are "
              "much lower, so probabilities need recalibration on real data."),
              ("- Saliency maps have the resolution of the 16x16 feature map (16 px, ~150 "
              "arcsec at 256 px): their regions' areas are those of the map. Flare positions "
              "and areas come from the hot channels (94, 131 A) inside the top region; if the "
              "map points at the wrong region, so does the located flare."), "",
              "## Reproduce", "", "```yaml", config_text.strip(), "```", ""]
    return "\n".join(lines)
