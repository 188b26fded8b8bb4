"""Worlds: named calibrations of the physics; v1 stays what the default model knows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monitor.synth import SyntheticDataset
from monitor.synth.command import add_subparser
from monitor.synth.eve import EVE_LINES, line_irradiance
from monitor.synth.goes import flux_from_class, goes_xrsb_flux
from monitor.synth.plasma import FlarePlasma
from monitor.synth.responses import CHANNEL_SPECS, LOG_T
from monitor.synth.worlds import DEFAULT_WORLD, V1, get_world, world_names

NAMES = [line.name for line in EVE_LINES]


def _curve(world_name: str, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, EVE lines of a flare on the world's quiet Sun, and GOES."""
    from monitor.synth.disk import quiet_sun_volume_dem

    world = get_world(world_name)
    plasma = FlarePlasma(name, 0.0, world=world)
    quiet = quiet_sun_volume_dem(world)
    t = np.arange(0.0, plasma.rise + 3 * plasma.decay, 10.0)
    lines, goes = [], []
    for ti in t:
        s = plasma.state(float(ti))
        volume = quiet + s.hot_dem + s.footpoint_dem
        lines.append(line_irradiance(volume, world))
        goes.append(goes_xrsb_flux(volume, LOG_T))
    return t, np.array(lines), np.array(goes)


def test_v2_is_the_default_and_v1_tables_are_the_first_synthetic_suns() -> None:
    assert DEFAULT_WORLD == "v2" and world_names() == ("v1", "v2")
    assert V1.eve_lines is EVE_LINES
    assert dict(V1.responses) == {s.wavelength: s.peaks for s in CHANNEL_SPECS}
    with pytest.raises(KeyError, match="choose from"):
        get_world("v9")


@pytest.mark.parametrize("world", ["v1", "v2"])
def test_each_world_flare_peaks_at_its_class(world: str) -> None:
    for name in ("C3.2", "M2.5", "X1.4"):
        plasma = FlarePlasma(name, 0.0, world=get_world(world))
        times = np.linspace(0, plasma.end_s, 800)
        peak = max(goes_xrsb_flux(plasma.state(t).hot_dem, LOG_T) for t in times)
        assert peak == pytest.approx(flux_from_class(name), rel=0.03)


def test_v2_flares_brighten_he_ii_first_and_fe_xvi_later() -> None:
    t, lines, _ = _curve("v2", "M5.0")
    fe_xx, he_ii, fe_xvi = (NAMES.index(n) for n in
                            ("Fe XX 13.29 nm", "He II 30.38 nm", "Fe XVI 33.54 nm"))
    peak = {j: t[int(np.argmax(lines[:, j]))] for j in (fe_xx, he_ii, fe_xvi)}
    assert peak[he_ii] < peak[fe_xx] < peak[fe_xvi]
    rise = lines.max(axis=0) / lines[0] - 1.0
    assert rise[he_ii] > 0.03 and rise[fe_xvi] > 0.03
    # v1's flares leave He II 30.4 and Fe XVI almost flat: the gap v2 closes.
    _, old, _ = _curve("v1", "M5.0")
    old_rise = old.max(axis=0) / old[0] - 1.0
    assert old_rise[he_ii] < 0.3 * rise[he_ii]


def test_v2_quiet_corona_is_dimmer_in_171_and_the_cool_lines() -> None:
    a = SyntheticDataset(size=64, seed=3, class_mix=(1, 0, 0, 0), noise=False, world="v1")
    b = SyntheticDataset(size=64, seed=3, class_mix=(1, 0, 0, 0), noise=False, world="v2")
    sa, sb = a.sample(0), b.sample(0)
    # Same draw (regions, observer), other light.
    assert a.scene(0).day_of_year == b.scene(0).day_of_year
    k171 = a.channels.index(171)
    assert sb.image[k171].mean() < 0.6 * sa.image[k171].mean()
    fe_ix = NAMES.index("Fe IX 17.11 nm")
    assert sb.labels.irradiance[fe_ix] < 0.5 * sa.labels.irradiance[fe_ix]


def test_synth_command_writes_the_world_into_the_truth(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers())
    lines = {}
    for world in ("v1", "v2"):
        out = tmp_path / world
        args = parser.parse_args(["synth", "--scenario", "m_flare", "--out", str(out),
                                  "--size", "512", "--speed", "0", "--seed", "3",
                                  "--duration", "60", "--cadence", "60",
                                  "--channels", "171", "--world", world])
        assert args.func(args) == 0
        lines[world] = json.loads((out / "synth_truth.jsonl").read_text().splitlines()[0])
    assert lines["v1"]["world"] == "v1" and lines["v2"]["world"] == "v2"
    assert lines["v1"]["irradiance"] != lines["v2"]["irradiance"]
