"""The docs figure: one flaring observation, its saliency overlay, reported vs true position.

Run::

    python -m monitor.train.figure --out docs/img/train_saliency.png --index 1

It takes held-out synthetic Suns (seed 404, the file-path test seed of the
default config, never used in training), finds the first one from ``--index``
on whose GOES class is M or X with a visible flare, writes it as 1024 px level-1 FITS files, and follows the
daemon's path: ``read_observation`` -> ``preprocess`` -> the package's scaling
-> ONNX Runtime -> ``explain_outputs`` (saliency summary) -> ``render_overlay``.
It prints a markdown table of the summary's top region next to the flare's
true position from the synthetic truth, and writes the same as JSON beside
the PNG.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["flare_figure", "main"]


def _true_position(frame: Any, geometry: Any) -> dict[str, Any]:
    flare = frame.truth.flares[0]
    top = next(k for k in flare.kernels if k.kind == "loop_top")
    x, y = geometry.world_to_pixel(top.tx_arcsec, top.ty_arcsec)
    return {"flare": flare.name, "peak_class": flare.peak_class,
            "goes_class_now": frame.truth.goes_class, "noaa_location": flare.location,
            "hpc_x_arcsec": round(top.tx_arcsec, 1), "hpc_y_arcsec": round(top.ty_arcsec, 1),
            "hgs_lon_deg": round(top.lon_deg, 2), "hgs_lat_deg": round(top.lat_deg, 2),
            "grid_x_px": round(float(x), 2), "grid_y_px": round(float(y), 2)}


def flare_figure(package_dir: Path | None, out_png: Path, *, seed: int = 404,
                 start_index: int = 0, size: int = 1024, png_px: int = 384) -> dict[str, Any]:
    """Make the figure; returns the reported and true positions."""
    from monitor.inference.ort_backend import OnnxRuntimeBackend
    from monitor.models import default_package_path, load_package
    from monitor.preprocess import apply_scaling
    from monitor.saliency import HeadWeights, SaliencySettings, explain_outputs
    from monitor.saliency.overlay import render_overlay
    from monitor.synth import SyntheticDataset
    from monitor.train.twin import dataset_scene, read_frame, write_twin_files

    package = load_package(package_dir or default_package_path())
    channels = package.manifest.input.channels
    dataset = SyntheticDataset(size=package.manifest.input.size, channels=channels, seed=seed)
    index = start_index
    while True:
        labels = dataset.sample(index).labels
        if labels.class_index >= 2 and any(k.visible for k in labels.kernels):
            break
        index += 1
    tmp = Path(tempfile.mkdtemp(prefix="sdo-figure-"))
    try:
        frame = write_twin_files(dataset_scene(dataset, index), tmp, channels, size=size)
        image, geometry = read_frame(frame.paths, channels, package.manifest.input.size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    backend = OnnxRuntimeBackend()
    backend.load(package, "cpu", "fp32", 1)
    scalings = list(package.manifest.input.scaling)
    out = backend.infer(apply_scaling(image, scalings)[None])
    backend.close()
    z = out.logits[0] - out.logits[0].max()
    probabilities = np.exp(z) / np.exp(z).sum()
    settings = SaliencySettings()
    summary = explain_outputs(out.features[0], out.logits[0], HeadWeights.from_package(package),
                              geometry, settings)
    channel = channels.index(131) if 131 in channels else 0
    png = render_overlay(image[channel], summary, size_px=png_px, channel_label="AIA 131 A")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.write_bytes(png)
    region = summary.targets[0].regions[0].to_dict() if summary.targets[0].regions else None
    result = {
        "seed": seed, "index": index, "file_size_px": size, "t_obs": geometry.t_obs.isoformat(),
        "probabilities": {c: round(float(p), 4) for c, p in
                          zip(package.manifest.classes.classes, probabilities)},
        "explained": summary.targets[0].target.name,
        "reported": region, "true": _true_position(frame, geometry),
    }
    if region is not None:
        result["offset_arcsec"] = round(float(np.hypot(
            region["hpc_x_arcsec"] - result["true"]["hpc_x_arcsec"],
            region["hpc_y_arcsec"] - result["true"]["hpc_y_arcsec"])), 1)
    out_png.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _table(result: dict[str, Any]) -> str:
    r, t = result["reported"] or {}, result["true"]
    rows = [("helioprojective (arcsec)",
             f"{r.get('hpc_x_arcsec', float('nan')):.1f}, {r.get('hpc_y_arcsec', float('nan')):.1f}",
             f"{t['hpc_x_arcsec']:.1f}, {t['hpc_y_arcsec']:.1f}"),
            ("Stonyhurst lon, lat (deg)",
             f"{r.get('hgs_lon_deg') or float('nan'):.2f}, {r.get('hgs_lat_deg') or float('nan'):.2f}",
             f"{t['hgs_lon_deg']:.2f}, {t['hgs_lat_deg']:.2f}"),
            ("NOAA location", str(r.get("noaa_location")), t["noaa_location"])]
    lines = ["| | saliency summary (region 1) | synthetic truth (loop top) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m monitor.train.figure",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--out", type=Path, default=Path("docs/img/train_saliency.png"))
    parser.add_argument("--seed", type=int, default=404)
    parser.add_argument("--index", type=int, default=0, help="first sample index to try")
    parser.add_argument("--png-px", type=int, default=384, help="PNG width and height")
    args = parser.parse_args(argv)
    result = flare_figure(args.package, args.out, seed=args.seed, start_index=args.index,
                          png_px=args.png_px)
    sys.stdout.write(json.dumps({k: result[k] for k in ("seed", "index", "probabilities",
                                                         "explained", "offset_arcsec")
                                 if k in result}) + "\n" + _table(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
