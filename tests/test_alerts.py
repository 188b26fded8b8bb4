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


def _run_models(engine: AlertEngine, frames: list[tuple[float, str]],
                start: int = 0) -> list[tuple[int, str, str]]:
    """Frames as (probability, package sha); returns (frame, state, alert id) transitions."""
    out = []
    for i, (p, model) in enumerate(frames, start):
        for ev in engine.observe("aia", f"f{i}", _t(i), {"p_ge_M": p}, None, model):
            out.append((i, ev.state, ev.alert_id))
    return out


def test_a_switch_neither_refires_nor_resolves_an_open_alert() -> None:
    rule = AlertRule("m", "p_ge_M", fire_above=0.5, clear_below=0.3, min_frames=2,
                     clear_frames=2, cooldown_s=600)
    engine = AlertEngine((rule,))
    fired = _run_models(engine, [(0.9, "A"), (0.9, "A"), (0.1, "A")])
    assert [(i, s) for i, s, _ in fired] == [(1, "firing")]
    # one quiet frame of A, then B takes over, quiet: A's frame does not count towards
    # the resolution; B needs its own two quiet frames
    after = _run_models(engine, [(0.1, "B"), (0.1, "B")], start=3)
    assert [(i, s) for i, s, _ in after] == [(4, "resolved")]
    assert after[0][2] == fired[0][2]  # the same alert, not a new one


def test_an_open_alert_continues_on_the_new_model_without_a_second_firing() -> None:
    engine = AlertEngine((RULE,))
    fired = _run_models(engine, [(0.7, "A"), (0.7, "A")])
    assert [s for _, s, _ in fired] == ["firing"]
    assert _run_models(engine, [(0.95, "B"), (0.9, "B")], start=2) == []
    active = engine.active()
    assert len(active) == 1 and active[0]["peak_probability"] == 0.95  # escalated by B
    assert active[0]["evidence_frames"] == ["f0", "f1", "f2", "f3"]


def test_a_streak_towards_firing_does_not_span_a_switch() -> None:
    engine = AlertEngine((RULE,))  # min_frames 2
    # A sees one frame above, B one: no package saw two, nothing fires
    assert _run_models(engine, [(0.9, "A"), (0.9, "B")]) == []
    # B's second frame above: B's own streak of two fires
    fired = _run_models(engine, [(0.9, "B")], start=2)
    assert [(i, s) for i, s, _ in fired] == [(2, "firing")]
    assert engine.active()[0]["evidence_frames"] == ["f1", "f2"]


def test_the_cooldown_runs_on_across_a_switch() -> None:
    engine = AlertEngine((RULE,))  # cooldown 600 s, frames 12 s apart
    transitions = _run_models(engine, [(0.9, "A"), (0.9, "A"), (0.1, "A"), (0.1, "A")])
    assert [s for _, s, _ in transitions] == ["firing", "resolved"]
    assert _run_models(engine, [(0.9, "B")] * 5, start=4) == []  # still cooling down


def test_the_package_of_the_last_frame_survives_a_restart() -> None:
    engine = AlertEngine((RULE,))
    _run_models(engine, [(0.9, "A")])
    restored = AlertEngine((RULE,))
    restored.restore(json.loads(json.dumps(engine.snapshot())))
    # a restart on another package is a switch too: A's frame does not complete B's streak
    assert _run_models(restored, [(0.9, "B")], start=1) == []
    # state saved before packages were recorded (no "model") starts the record quietly
    old = {k: {f: v for f, v in state.items() if f != "model"}
           for k, state in engine.snapshot().items()}
    legacy = AlertEngine((RULE,))
    legacy.restore(old)
    assert [s for _, s, _ in _run_models(legacy, [(0.9, "B")], start=1)] == ["firing"]
