"""Assemble the reality report: read the real data, sample the synthetic Sun, compare.

:func:`build_report` is the whole comparison for one world; what it returns
(:class:`Report`) holds the table rows and the curves the figures draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.reality import compare, jp2, real, synthetic
from monitor.reality.measures import FlareResponse, channel_response, eve_flare_response
from monitor.synth.eve import EVE_LINES
from monitor.synth.worlds import World

__all__ = ["Counts", "Report", "build_report"]

_FE_XX = 2
_FE_XVIII = 0
_REGION_CHANNELS = (94, 131, 171, 193, 304)
_DISK_CHANNELS = (94, 131, 171, 193, 211, 304, 335)


@dataclass(frozen=True)
class Counts:
    """How many synthetic samples each comparison draws."""

    quiet: int = 200
    flares_per_bin: int = 100
    disk: int = 12
    package: int = 64
    seed: int = 0


@dataclass
class Report:
    """Rows of the table and the material of the figures."""

    world: str
    rows: list[compare.Row]
    lines: tuple[str, ...]
    real_quiet: np.ndarray
    synthetic_quiet: np.ndarray
    profiles: dict[str, Any] = field(default_factory=dict)
    regions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _real_flares(eve: real.EveFlares) -> tuple[list[FlareResponse], np.ndarray, list[int]]:
    responses, fluxes, index = [], [], []
    for i, flux in enumerate(eve.goes_flux):
        t, irr = eve.record(i)
        if len(t) == 0 or not np.isfinite(flux):
            continue
        r = eve_flare_response(t, irr, float(flux), _FE_XX)
        if r is not None:
            responses.append(r)
            fluxes.append(float(flux))
            index.append(i)
    return responses, np.array(fluxes), index


def _synthetic_flares(world: World, real_flux: np.ndarray, counts: Counts
                      ) -> dict[str, tuple[list[FlareResponse], np.ndarray, list[tuple]]]:
    """Each class bin's flares, peak fluxes resampled from the bin's real ones."""
    out = {}
    for b, (name, lo, hi) in enumerate(compare.CLASS_BINS):
        pool = real_flux[(real_flux >= lo) & (real_flux < hi)]
        if not len(pool):
            continue
        rng = np.random.default_rng([counts.seed, 5, b])
        fluxes = rng.choice(pool, counts.flares_per_bin)
        starts = rng.uniform(8.0, 50.0, len(fluxes))
        records = synthetic.flare_records(world, fluxes, starts, seed=counts.seed + 10 * b)
        responses, peaks, kept = [], [], []
        for rec in records:
            r = eve_flare_response(rec[0], rec[1], rec[2], _FE_XX)
            if r is not None:
                responses.append(r)
                peaks.append(rec[2])
                kept.append(rec)
        out[name] = (responses, np.array(peaks), kept)
    return out


def _profile(t_s: np.ndarray, irr: np.ndarray, response: FlareResponse) -> dict[str, list]:
    from monitor.reality.measures import minute_means

    minutes, means = minute_means(t_s, irr)
    rel = minutes - response.peak_minute
    keep = (rel >= -30) & (rel <= 90)
    with np.errstate(all="ignore"):
        excess = means[keep] - response.pre
        peak = np.nanmax(np.abs(excess), axis=0)
        norm = excess / np.where(peak > 0, peak, np.nan)
    return {"minutes": rel[keep].tolist(),
            "lines": {short: norm[:, j].tolist() for j, short in enumerate(_short_lines())}}


def _short_lines() -> list[str]:
    return [compare.short(line.name) for line in EVE_LINES]


def _example(responses: list[FlareResponse], flux: np.ndarray, lo: float, hi: float,
             want: float) -> int | None:
    sel = [i for i, f in enumerate(flux) if lo <= f < hi]
    return min(sel, key=lambda i: abs(np.log10(flux[i] / want))) if sel else None


def _median_shape(shapes: list[jp2.DiskShape]) -> jp2.DiskShape:
    return jp2.DiskShape(
        {q: float(np.median([s.quantiles[q] for s in shapes])) for q in shapes[0].quantiles},
        {r: float(np.median([s.profile[r] for s in shapes])) for r in shapes[0].profile})


def build_report(real_dir: Path, goes_dir: Path, world: World, counts: Counts,
                 package_dir: Path | None = None) -> Report:
    """Every comparison of one world with the real data in ``real_dir``.

    Raises
    ------
    monitor.reality.real.RealDataError
        If a real-data file is missing or malformed.
    """
    lines = tuple(line.name for line in EVE_LINES)
    eve = real.read_eve_flares(real_dir)
    r_resp, r_flux, r_index = _real_flares(eve)
    real_pre = np.array([r.pre for r in r_resp])
    quiet = synthetic.quiet_levels(world, counts.quiet, seed=counts.seed)
    rows = compare.quiet_rows(lines, real_pre, quiet)
    notes = [(f"real EVE: {len(r_resp)} of {len(eve.goes_class)} flares timed by their Fe XX "
              f"peak; synthetic: {counts.quiet} flare-free Suns, "
              f"{counts.flares_per_bin} flares per class bin (C, M, X, >= M1), peak fluxes "
              f"drawn from the bin's real flares")]

    by_bin = _synthetic_flares(world, r_flux, counts)
    rows += compare.flare_rows(lines, r_resp, r_flux, {k: v[0] for k, v in by_bin.items()})
    s_resp = [r for k in ("C", "M", "X") if k in by_bin for r in by_bin[k][0]]
    s_flux = np.concatenate([by_bin[k][1] for k in ("C", "M", "X") if k in by_bin])
    s_records = [r for k in ("C", "M", "X") if k in by_bin for r in by_bin[k][2]]

    report = Report(world.name, rows, lines, real_pre, quiet, notes=notes)
    for name, lo, hi, want in (("M", 1e-5, 1e-4, 5e-5), ("X", 1e-4, 1.0, 2e-4)):
        ri, si = _example(r_resp, r_flux, lo, hi, want), _example(s_resp, s_flux, lo, hi, want)
        if ri is None or si is None:
            continue
        t, irr = eve.record(r_index[ri])
        report.profiles[name] = {
            "real": {**_profile(t, irr, r_resp[ri]), "goes": float(r_flux[ri])},
            "synthetic": {**_profile(s_records[si][0], s_records[si][1], s_resp[si]),
                          "goes": float(s_flux[si])}}

    for region in real.read_region_curves(real_dir, goes_dir):
        r_ch = {wl: channel_response(region.t_min, region.channels[wl], region.goes,
                                     region.peak_min)
                for wl in _REGION_CHANNELS if wl in region.channels}
        sim = synthetic.region_curves(world, region.goes_class, _REGION_CHANNELS)
        s_ch = {wl: channel_response(sim.t_min, sim.channels[wl], sim.goes, sim.peak_min)
                for wl in _REGION_CHANNELS}
        label = f"SHARP {region.sharp} {region.goes_class}"
        report.rows += compare.region_rows(label, r_ch, s_ch)
        report.regions.append({
            "label": label,
            "real": {wl: (v.per_goes if v else None) for wl, v in r_ch.items()},
            "synthetic": {wl: (v.per_goes if v else None) for wl, v in s_ch.items()}})

    sdoml = real.read_sdoml_means(real_dir)
    means, shapes = [], []
    centre = ((512 - 1) / 2, (512 - 1) / 2)
    for images in synthetic.disk_images(world, _DISK_CHANNELS, counts.disk, seed=counts.seed):
        means.append(images.mean(axis=(1, 2), dtype=np.float64))
        shapes.append({wl: jp2.disk_shape(images[k], centre, synthetic.SDOML_RADIUS_PX)
                       for k, wl in enumerate(_DISK_CHANNELS) if wl in (171, 193, 304)})
    report.rows += compare.disk_rows(sdoml, dict(zip(_DISK_CHANNELS, np.mean(means, axis=0))))
    for path in sorted((real_dir / "aia_jp2").glob("*.jp2")):
        image = jp2.read_jp2(path)
        shape = jp2.disk_shape(image.data, image.centre, image.radius_px, image.clipped_low)
        label = f"JP2 {image.wavelength} Å {path.name[:10].replace('_', '-')}"
        report.rows += compare.shape_rows(label, shape, _median_shape(
            [s[image.wavelength] for s in shapes]))

    for label, j in (("Fe XX 13.29", _FE_XX), ("Fe XVIII 9.39", _FE_XVIII)):
        r_rise = np.array([r.at_peak[j] - r.pre[j] for r in r_resp])
        s_rise = np.array([r.at_peak[j] - r.pre[j] for r in s_resp])
        report.rows += compare.goes_eve_rows(label, r_flux, r_rise, s_flux, s_rise)

    if package_dir is not None:
        from monitor.reality.package import package_quiet_levels

        predicted = package_quiet_levels(package_dir, world, counts.package, counts.seed)
        report.rows += [
            compare.Row("a", f"model: {r.quantity}", r.real, r.synthetic, r.target, r.met,
                        r.unit)
            for r in compare.quiet_rows(lines, real_pre, predicted)]
        report.notes.append(f"model rows: predictions of the package {package_dir} on "
                            f"{counts.package} flare-free synthetic Suns of world {world.name}")
    return report
