"""Figures of the reality report (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monitor.reality.build import Report

__all__ = ["write_figures"]

_PROFILE_LINES = ("Fe XX 13.29", "Fe XVIII 9.39", "He II 30.38", "Fe XV 28.42",
                  "Fe XVI 33.54", "Fe IX 17.11")


def _profiles(report: Report, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report.profiles), figsize=(6 * len(report.profiles), 4.2),
                             squeeze=False)
    for ax, (name, pair) in zip(axes[0], report.profiles.items()):
        for k, line in enumerate(_PROFILE_LINES):
            colour = f"C{k}"
            for kind, style in (("real", "-"), ("synthetic", "--")):
                prof = pair[kind]
                ax.plot(prof["minutes"], prof["lines"][line], style, color=colour, lw=1.2,
                        label=f"{line} {kind}" if kind == "real" else None)
        ax.set_title(f"{name} flare: real GOES {pair['real']['goes']:.2g}, "
                     f"synthetic {pair['synthetic']['goes']:.2g} W m$^{{-2}}$", fontsize=9)
        ax.set_xlabel("minutes from the Fe XX peak")
        ax.set_ylabel("(line - pre) / its largest excess")
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_ylim(-0.6, 1.1)
    axes[0][0].legend(fontsize=7, title="solid real, dashed synthetic", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _quiet(report: Report, path: Path) -> None:
    import matplotlib.pyplot as plt

    x = np.arange(len(report.lines))
    real = np.nanmedian(report.real_quiet, axis=0)
    synth = np.nanmedian(report.synthetic_quiet, axis=0)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.semilogy(x, real, "o", label="real EVE (median pre-flare level)")
    ax.semilogy(x, synth, "s", mfc="none", label=f"synthetic world {report.world} (flare-free)")
    ax.set_xticks(x, [n.removesuffix(" nm") for n in report.lines], rotation=60, fontsize=8)
    ax.set_ylabel("W m$^{-2}$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _aia(report: Report, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for k, region in enumerate(report.regions):
        wls = sorted(region["real"])
        pos = np.arange(len(wls)) + 0.12 * (k - 1)
        real = [region["real"][w] if region["real"][w] else np.nan for w in wls]
        synth = [region["synthetic"][w] if region["synthetic"][w] else np.nan for w in wls]
        ax.plot(pos, np.abs(real), "o", color=f"C{k}", label=f"{region['label']} real")
        ax.plot(pos, np.abs(synth), "x", color=f"C{k}", label="synthetic, same class")
        ax.set_xticks(np.arange(len(wls)), [f"{w} Å" for w in wls])
    ax.set_yscale("log")
    ax.set_ylabel("|rise| per unit GOES rise (DN/s per W m$^{-2}$)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_figures(report: Report, out_dir: Path) -> list[str]:
    """Write the PNGs into ``out_dir``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    names = []
    for name, draw, ok in (("eve_profiles.png", _profiles, bool(report.profiles)),
                           ("quiet_levels.png", _quiet, True),
                           ("aia_response.png", _aia, bool(report.regions))):
        if ok:
            draw(report, out_dir / name)
            names.append(name)
    return names
