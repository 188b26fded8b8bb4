"""``sdo-monitor inspect FILE...``: what the daemon would make of one real file.

For each file: the ingest verdict (reason code and message when refused), the
header facts (instrument, channel, T_OBS, exposure, QUALITY bits in words,
level), the geometry (disk centre and radius in pixels and arcsec, roll), the
degradation factor applied, and DN/s statistics on the model grid -- all
through the daemon's own code (``read_observation``, ``preprocess`` with the
configured degradation table), so a file that looks right here looks right to
the daemon. ``--png OUT`` draws the grid image with the limb; ``--json``
prints one JSON object per file for scripts. Level-1 and 1.5 FITS and
Helioviewer JPEG 2000 files are read.

Exit status: 0 when every file was accepted, 1 when any was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config import Config, load_config
from monitor.grid import ModelGrid
from monitor.ingest import Observation, read_observation
from monitor.ingest.quality import bit_names
from monitor.preprocess import PreprocessError, load_degradation_table, preprocess_detailed

__all__ = ["add_subparser", "inspect_file", "run_inspect"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "inspect", help="show what the daemon makes of AIA files (verdict, header, grid)",
        description="Read FITS (level 1 / 1.5) or Helioviewer JPEG 2000 files the daemon's way "
                    "and report the ingest verdict, header facts, geometry, the degradation "
                    "factor and DN/s statistics on the model grid. Exit 0 when every file "
                    "was accepted, 1 when any was refused.")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="daemon config (ingest policy, degradation table, model package)")
    parser.add_argument("--grid-size", type=int, default=None,
                        help="model grid size in pixels (default: the model package's)")
    parser.add_argument("--png", type=Path, default=None, metavar="OUT",
                        help="write a preview on the model grid with the limb drawn (one "
                             "file: OUT; several: OUT/<name>.png)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.set_defaults(func=run_inspect)


def _grid_size(config: Config, override: int | None) -> int:
    if override is not None:
        if not 16 <= override <= 4096:
            raise ValueError(f"--grid-size {override} is outside 16..4096")
        return override
    from monitor.models import default_package_path, load_package

    package = config.inference.model_package or default_package_path()
    return load_package(package, verify=False).manifest.input.size


def _header(obs: Observation) -> dict[str, Any]:
    return {"telescope": obs.telescope, "instrument": obs.instrument,
            "channel": obs.wavelength, "t_obs": obs.t_obs.isoformat(),
            "exposure_s": obs.exposure_s, "quality": obs.quality,
            "quality_bits": list(bit_names(obs.quality)), "level": obs.level,
            "format": obs.file_format, "compression": obs.compression, "fsn": obs.fsn,
            "img_type": obs.img_type, "flags": list(obs.flags)}


def _geometry(obs: Observation) -> dict[str, Any]:
    g = obs.geometry
    x, y = g.sun_center_pixel()
    # helioprojective offset of the disk centre from the image centre, arcsec
    dx, dy = (g.pixel_matrix() @ np.array([(g.naxis1 - 1) / 2 - x, (g.naxis2 - 1) / 2 - y]))
    return {"naxis": [g.naxis1, g.naxis2], "disk_center_px": [round(x, 3), round(y, 3)],
            "image_center_hpc_arcsec": [round(float(dx), 2), round(float(dy), 2)],
            "radius_px": round(g.rsun_pixels(), 3), "radius_arcsec": round(g.rsun_obs, 3),
            "arcsec_per_px": [g.cdelt1, g.cdelt2], "roll_deg": round(g.crota2, 5)}


def _statistics(data: np.ndarray, grid: ModelGrid) -> dict[str, float]:
    yy, xx = np.mgrid[0:grid.size, 0:grid.size]
    disk = np.hypot(xx - grid.center, yy - grid.center) <= grid.radius_px
    pct = np.percentile(data, (1, 50, 99))
    return {"min": float(data.min()), "p01": float(pct[0]), "median": float(pct[1]),
            "mean": float(data.mean()), "p99": float(pct[2]), "max": float(data.max()),
            "disk_mean": float(data[disk].mean()), "off_disk_mean": float(data[~disk].mean())}


def inspect_file(path: Path, config: Config, grid: ModelGrid) -> tuple[dict[str, Any],
                                                                         np.ndarray | None]:
    """The report of one file, and its grid image when it was accepted. Never raises."""
    result = read_observation(path, config.ingest)
    report: dict[str, Any] = {"path": str(path)}
    if not result.ok:
        rejection = result.rejection
        assert rejection is not None
        report.update(verdict="refused", reason=str(rejection.reason), message=rejection.message,
                      channel=rejection.wavelength,
                      t_obs=rejection.t_obs.isoformat() if rejection.t_obs else None)
        return report, None
    obs, image = result.observation, result.image
    assert obs is not None and image is not None
    report.update(header=_header(obs), geometry=_geometry(obs))
    spec = config.preprocess.degradation_table
    try:
        table = load_degradation_table(spec)
        out = preprocess_detailed(obs, image, grid, config.preprocess, degradation=table)
    except PreprocessError as exc:
        report.update(verdict="refused", reason=str(exc.reason), message=exc.message)
        return report, None
    except ValueError as exc:  # the configured table cannot be read
        report.update(verdict="refused", reason="calibration_unavailable", message=str(exc))
        return report, None
    applied = out.degradation
    report.update(verdict="accepted", reason=None, message=None)
    report["degradation"] = None if table is None or applied is None else {
        "table": spec if spec.startswith("builtin") else table.source,
        "table_last_day": table.last_day.date().isoformat(), "factor": applied.factor,
        "extrapolated_days": round(applied.extrapolated_days, 3)}
    report["grid"] = {"size": grid.size, "radius_px": grid.radius_px,
                      "covered_fraction": round(out.covered_fraction, 6),
                      "dn_per_s": _statistics(out.data, grid)}
    return report, out.data


def write_preview(data: np.ndarray, grid: ModelGrid, title: str, out: Path) -> None:
    """PNG of a grid image (north up, log scale) with the model grid's limb drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Circle

    positive = data[data > 0]
    low = float(np.percentile(positive, 1)) if positive.size else 1e-3
    high = float(max(np.percentile(data, 99.9), low * 10))
    fig, ax = plt.subplots(figsize=(5.12, 5.12), dpi=100)
    ax.imshow(np.clip(data, low, None), origin="lower", cmap="gray",
              norm=LogNorm(vmin=low, vmax=high))
    ax.add_patch(Circle((grid.center, grid.center), grid.radius_px, fill=False,
                        edgecolor="#ffcc00", linewidth=1.0))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _text(report: dict[str, Any]) -> str:
    lines = [f"{report['path']}: {report['verdict']}"
             + (f" ({report['reason']}: {report['message']})" if report["reason"] else "")]
    header = report.get("header")
    if header:
        bits = ", ".join(header["quality_bits"]) or "none"
        lines.append(f"  {header['instrument']} {header['channel']} A  T_OBS {header['t_obs']}  "
                     f"exposure {header['exposure_s']:.4g} s  level {header['level']:g}  "
                     f"{header['format']}")
        lines.append(f"  QUALITY {header['quality']:#010x}: {bits}")
    geometry = report.get("geometry")
    if geometry:
        x, y = geometry["disk_center_px"]
        lines.append(f"  disk centre ({x:.2f}, {y:.2f}) px, radius {geometry['radius_px']:.2f} "
                     f"px = {geometry['radius_arcsec']:.2f}\", roll {geometry['roll_deg']:.4f} deg")
    if "degradation" in report:
        d = report["degradation"]
        lines.append("  degradation: none applied" if d is None else
                     f"  degradation factor {d['factor']:.6g} ({d['table']}, last day "
                     f"{d['table_last_day']}"
                     + (f", extrapolated {d['extrapolated_days']:.0f} d)"
                        if d["extrapolated_days"] else ")"))
    if "grid" in report:
        s = report["grid"]["dn_per_s"]
        lines.append(f"  grid {report['grid']['size']} px DN/s: median {s['median']:.4g}, mean "
                     f"{s['mean']:.4g}, p99 {s['p99']:.4g}, max {s['max']:.4g}, disk mean "
                     f"{s['disk_mean']:.4g}, off-disk mean {s['off_disk_mean']:.4g}")
    if report.get("png"):
        lines.append(f"  preview: {report['png']}")
    return "\n".join(lines)


def run_inspect(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    try:
        grid = ModelGrid(_grid_size(config, args.grid_size))
    except (OSError, ValueError) as exc:
        print(f"sdo-monitor inspect: {exc}", file=sys.stderr)
        return 2
    if args.png is not None and len(args.files) > 1:
        args.png.mkdir(parents=True, exist_ok=True)
    refused = 0
    for path in args.files:
        report, data = inspect_file(path, config, grid)
        refused += report["verdict"] != "accepted"
        if args.png is not None and data is not None:
            out = args.png / f"{path.name}.png" if len(args.files) > 1 else args.png
            title = f"{path.name}\nmodel grid {grid.size} px, limb r = {grid.radius_px:g} px"
            write_preview(data, grid, title, out)
            report["png"] = str(out)
        print(json.dumps(report) if args.json else _text(report), flush=True)
    return 1 if refused else 0
