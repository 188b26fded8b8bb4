"""Scenario files: the shipped ones load, invalid ones fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.synth import ScenarioError, list_scenarios, load_scenario
from monitor.synth.scenario import QUALITY_BITS, parse_scenario

SHIPPED = {"quiet_sun", "c_flare", "m_flare", "x_flare", "limb_flare", "active_regions",
           "data_gap", "quality_flags", "eclipse", "demo"}

GOOD = """
name: t
start: 2014-01-01T00:00:00
duration_s: 600
active_regions:
  - {name: AR1, lat_deg: 10, lon_deg: 0}
flares:
  - {region: AR1, peak_class: M1.0, start_s: 60}
"""


def test_shipped_scenarios_load() -> None:
    assert SHIPPED <= set(list_scenarios())
    for name in list_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.n_observations >= 10
        assert scenario.description


def test_shipped_scenarios_cover_the_issue() -> None:
    flares = {f.peak_class[0] for n in ("c_flare", "m_flare", "x_flare")
              for f in load_scenario(n).flares}
    assert flares == {"C", "M", "X"}
    assert load_scenario("limb_flare").active_regions[0].lon_deg > 90
    assert len(load_scenario("active_regions").active_regions) >= 4
    assert load_scenario("data_gap").gaps
    assert load_scenario("quality_flags").quality
    assert load_scenario("eclipse").eclipses


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    scenario = load_scenario(path)
    assert scenario.flares[0].peak_class == "M1.0"
    assert scenario.start.tzinfo is not None


@pytest.mark.parametrize("edit, where", [
    (("duration_s: 600", "duration_s: -5"), "duration_s: must be > 0"),
    (("lat_deg: 10", "lat_deg: 10, colour: red"), "active_regions[0].colour: unknown key"),
    (("peak_class: M1.0", "peak_class: Q7"), "flares[0].peak_class"),
    (("region: AR1", "region: AR9"), "flares[0].region: no active region named 'AR9'"),
    (("name: t\n", ""), "name: missing required key"),
    (("start: 2014-01-01T00:00:00", "start: yesterday"), "start: expected an ISO time"),
])
def test_invalid_scenarios_name_the_key(edit: tuple[str, str], where: str) -> None:
    text = GOOD.replace(*edit)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "test.yaml")
    assert where in str(err.value)
    assert str(err.value).startswith("test.yaml: ")


def test_windows_and_flags_are_checked() -> None:
    bad_window = GOOD + "gaps:\n  - {start_s: 300, end_s: 200}\n"
    with pytest.raises(ScenarioError, match=r"gaps\[0\]\.end_s: must be after start_s"):
        parse_scenario(bad_window)
    bad_flag = GOOD + "quality:\n  - {start_s: 0, end_s: 60, flags: [sunburn]}\n"
    with pytest.raises(ScenarioError, match=r"quality\[0\]\.flags\[0\]: unknown flag"):
        parse_scenario(bad_flag)
    ok = parse_scenario(GOOD + "quality:\n  - {start_s: 0, end_s: 60, flags: [eclipse, "
                               "calibration_image]}\n")
    assert ok.quality[0].bits == QUALITY_BITS["eclipse"] | QUALITY_BITS["calibration_image"]


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped: .*m_flare"):
        load_scenario("no_such_scenario")
