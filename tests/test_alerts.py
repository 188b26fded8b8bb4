"""Alert rules: hysteresis, consecutive frames, cooldown, stable ids, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from monitor.alerts import AlertEngine, AlertRule, class_signals
from monitor.config import parse_config

T0 = datetime(2011, 6, 7, 6, 0, tzinfo=UTC)
RULE = AlertRule("m", "p_ge_M", fire_above=0.5, clear_below=0.3, min_frames=2,
                 clear_frames=2, cooldown_s=600, noaa_scale="R1")


def run(engine: AlertEngine, probs: list[float], start: int = 0) -> list[tuple[int, str]]:
    out = []
    for i, p in enumerate(probs, start):
        loc = {"noaa_location": f"N10W{i:02d}"}
        for ev in engine.observe("aia", f"f{i}", T0 + timedelta(seconds=12 * i),
                                 {"p_ge_M": p}, loc):
            out.append((i, ev.state))
    return out


def test_fires_after_consecutive_frames_and_resolves_with_hysteresis() -> None:
    engine = AlertEngine((RULE,))
    # one spike is not enough; 0.4 is inside the hysteresis band and does not clear
    events = run(engine, [0.1, 0.6, 0.1, 0.6, 0.7, 0.4, 0.4, 0.2, 0.4, 0.2, 0.1])
    assert events == [(4, "firing"), (10, "resolved")]


def test_alert_carries_peak_and_its_location() -> None:
    engine = AlertEngine((RULE,))
    fired = []
    for i, p in enumerate([0.6, 0.9, 0.7]):
        fired += engine.observe("aia", f"f{i}", _t(i),
                                {"p_ge_M": p}, {"noaa_location": f"S0{i}E10"})
    ev = fired[0]
    assert ev.peak_probability == 0.9 and ev.location == {"noaa_location": "S01E10"}
    assert ev.evidence_frames == ("f0", "f1")
    assert "R1" in ev.message and "S01E10" in ev.message


def test_alert_message_names_the_located_flare_over_its_region() -> None:
    engine = AlertEngine((RULE,))
    region = {"noaa_location": "S05E12", "flare": {"noaa_location": "S07E15"}}
    fired = []
    for i in range(2):
        fired += engine.observe("aia", f"f{i}", _t(i), {"p_ge_M": 0.9}, region)
    assert "at S07E15" in fired[0].message and fired[0].location == region


def test_cooldown_is_in_observation_time() -> None:
    engine = AlertEngine((RULE,))
    first = run(engine, [0.9, 0.9, 0.1, 0.1])
    assert [s for _, s in first] == ["firing", "resolved"]
    # 10 frames later (120 s) is inside the 600 s cooldown: no new alert
    assert run(engine, [0.9] * 5, start=14) == []
    # after the cooldown it fires again, with a new id
    again = run(engine, [0.9, 0.9], start=60)
    assert again == [(61, "firing")]


def _t(i: int) -> datetime:
    return T0 + timedelta(seconds=12 * i)


def test_alert_id_is_stable_across_a_restart_with_saved_state() -> None:
    a = AlertEngine((RULE,))
    ids_a = [e.alert_id for i, p in enumerate([0.9, 0.9])
             for e in a.observe("aia", f"f{i}", _t(i), {"p_ge_M": p})]
    b = AlertEngine((RULE,))
    b.observe("aia", "f0", _t(0), {"p_ge_M": 0.9})
    saved = json.loads(json.dumps(b.snapshot()))
    c = AlertEngine((RULE,))
    c.restore(saved)
    ids_c = [e.alert_id for e in c.observe("aia", "f1", _t(1), {"p_ge_M": 0.9})]
    assert ids_a == ids_c and len(ids_a) == 1
    # the resolved message of that alert has the same id
    resolved = [e for i in range(3)
                for e in c.observe("aia", f"g{i}", _t(2 + i), {"p_ge_M": 0.0})]
    assert resolved[0].alert_id == ids_a[0] and resolved[0].state == "resolved"


def test_late_or_repeated_frames_do_not_move_the_state() -> None:
    engine = AlertEngine((RULE,))
    engine.observe("aia", "f5", _t(5), {"p_ge_M": 0.9})
    assert engine.observe("aia", "f4", _t(4), {"p_ge_M": 0.9}) == []  # late: ignored
    assert engine.observe("aia", "f5", _t(5), {"p_ge_M": 0.9}) == []  # repeated: ignored
    assert len(engine.observe("aia", "f6", _t(6), {"p_ge_M": 0.9})) == 1


def test_feeds_are_independent() -> None:
    engine = AlertEngine((RULE,))
    engine.observe("a", "x0", _t(0), {"p_ge_M": 0.9})
    assert engine.observe("b", "y0", _t(0), {"p_ge_M": 0.9}) == []
    assert len(engine.observe("a", "x1", _t(1), {"p_ge_M": 0.9})) == 1


def test_class_signals_are_cumulative() -> None:
    s = class_signals({"none": 0.5, "C": 0.2, "M": 0.2, "X": 0.1})
    assert abs(s["p_ge_C"] - 0.5) < 1e-9 and abs(s["p_ge_M"] - 0.3) < 1e-9
    assert abs(s["p_ge_X"] - 0.1) < 1e-9


def test_rules_from_config_validate_hysteresis_order() -> None:
    config = parse_config("""
alerts:
  rules:
    - {name: m, signal: p_ge_M, fire_above: 0.6, clear_below: 0.4, noaa_scale: R1}
""")
    assert config.alerts.rules[0].fire_above == 0.6
    try:
        parse_config("alerts: {rules: [{name: m, signal: p_ge_M, fire_above: 0.3, "
                     "clear_below: 0.5}]}")
    except Exception as exc:  # noqa: BLE001
        assert "alerts.rules[0].clear_below: must be <= fire_above" in str(exc)
    else:
        raise AssertionError("inverted hysteresis accepted")
