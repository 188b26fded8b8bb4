"""The seven channels of one flaring observation side by side (a PNG for the docs).

Run ``python -m monitor.synth.figure --out docs/img/synth_channels.png`` (the
defaults reproduce the committed picture: scenario ``m_flare``, seed 7,
1024 px, the observation nearest the GOES peak).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from monitor.synth.scenario import load_scenario
from monitor.synth.sun import Observation, SyntheticSun

__all__ = ["channel_figure", "main", "peak_observation"]


def peak_observation(sun: SyntheticSun) -> Observation:
    """The observation with the highest GOES flux (truth only is computed to find it)."""
    from monitor.synth.geometry import observer_at
    from monitor.synth.sun import scene_truth

    best, best_flux = 0, -1.0
    for index in range(len(sun)):
        t_s = index * sun.scenario.cadence_s
        scene = sun.scene(t_s, observer_at(sun.t_rec(index)))
        flux = scene_truth(scene, sun.quiet_dem)[0]
        if flux > best_flux:
            best, best_flux = index, flux
    return sun.observe(best)


def channel_figure(observation: Observation, path: Path, zoom: float = 0.0) -> None:
    """Save the channels of ``observation`` as one PNG row (AIA colour maps, log stretch).

    ``zoom`` > 0 adds a second row: a box of that many arcsec around the
    flare's hot kernel, with the truth kernels marked (red dashed: loop top at
    3 sigma, green: footpoints at 2 sigma).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sunpy.visualization.colormaps  # noqa: F401 - registers the sdoaia colour maps

    truth = observation.truth
    waves = sorted(observation.images)
    rows = 2 if zoom and truth.flares else 1
    fig, axes = plt.subplots(rows, len(waves), figsize=(2.6 * len(waves), 2.9 * rows),
                             squeeze=False)
    kernels = truth.flares[0].kernels if truth.flares else ()
    for col, w in enumerate(waves):
        image = observation.images[w]
        rate = np.where(image.data == -32768, np.nan, image.data / image.exposure_s)
        positive = rate[np.isfinite(rate) & (rate > 0)]
        low = np.percentile(positive, 1) if positive.size else 0.1
        high = np.percentile(positive, 99.99) if positive.size else 1.0
        shown = np.log10(np.clip(rate, low, high))
        cmap = f"sdoaia{w}"
        ax = axes[0, col]
        ax.imshow(shown, origin="lower", cmap=cmap)
        ax.set_title(f"{w} \u00c5  {image.exposure_s:.2f} s", fontsize=9)
        ax.set_axis_off()
        if rows == 2:
            size = observation.geometry.size
            half = zoom / 2 / observation.geometry.cdelt_arcsec
            cx, cy = kernels[0].x_px, kernels[0].y_px
            x0, x1 = int(max(cx - half, 0)), int(min(cx + half, size))
            y0, y1 = int(max(cy - half, 0)), int(min(cy + half, size))
            ax = axes[1, col]
            ax.imshow(shown[y0:y1, x0:x1], origin="lower", cmap=cmap,
                      extent=(x0 - 0.5, x1 - 0.5, y0 - 0.5, y1 - 0.5))
            for k in kernels:
                hot = k.kind == "loop_top"
                ax.add_patch(plt.Circle((k.x_px, k.y_px), (3 if hot else 2) * k.sigma_px,
                                        fill=False, color="red" if hot else "lime",
                                        ls="--" if hot else "-", lw=0.9))
            ax.set_axis_off()
    flare = truth.flares[0] if truth.flares else None
    title = (f"{truth.scenario}  {truth.to_json()['t_rec']}  GOES {truth.goes_class}"
             + (f"  flare {flare.peak_class} at {flare.location} ({flare.phase}, "
                f"{flare.temperature_k / 1e6:.0f} MK)" if flare else ""))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=85)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: render a scenario's peak observation to a PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="m_flare")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--zoom", type=float, default=240.0,
                        help="arcsec box around the flare in a second row (0: none)")
    parser.add_argument("--out", type=Path, default=Path("docs/img/synth_channels.png"))
    args = parser.parse_args(argv)
    sun = SyntheticSun(load_scenario(args.scenario), size=args.size, seed=args.seed)
    channel_figure(peak_observation(sun), args.out, zoom=args.zoom)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
