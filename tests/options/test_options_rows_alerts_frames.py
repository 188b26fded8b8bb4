"""Options of ``alerts`` and ``frames``: each changes which alerts fire or which frames close."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from optionrows import Row

from monitor.alerts import AlertEngine, AlertRule
from monitor.config import parse_config
from monitor.frames import ChannelItem, FrameAssembler, FrameSettings

T0 = datetime(2011, 6, 7, 6, 0, tzinfo=UTC)
RULE = AlertRule("m", "p_ge_M", fire_above=0.5, clear_below=0.3, min_frames=2,
                 clear_frames=2, cooldown_s=60, severity="warning", noaa_scale="R1")
# rises, hovers in the hysteresis band, clears, rises again 96 s after clearing
SIGNAL = [0.1, 0.6, 0.7, 0.8, 0.4, 0.25, 0.2, 0.2, 0.1, 0.6, 0.6, 0.6, 0.6, 0.2, 0.2, 0.2]


def alerts(field: str, value: Any) -> list[tuple[Any, ...]]:
    """What the engine published for SIGNAL with one field of the rule changed."""
    # through the config loader, as the daemon gets its rules
    rule = dataclasses.asdict(dataclasses.replace(RULE, **{field: value}))
    config = parse_config(f"alerts: {{rules: [{_flow(rule)}]}}")
    engine = AlertEngine(config.alerts.rules)
    out = []
    for i, p in enumerate(SIGNAL):
        signals = {"p_ge_C": p, "p_ge_M": p / 2, "p_ge_X": p / 4}
        signals[RULE.signal] = p
        for ev in engine.observe("aia", f"f{i}", T0 + timedelta(seconds=12 * i), signals):
            out.append((i, ev.state, ev.rule, ev.severity, ev.noaa_scale, ev.message))
    return out


def _flow(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {'null' if v is None else v}" for k, v in mapping.items()) + "}"


CH = (94, 131, 171, 193, 211, 304, 335)


def frames(field: str, value: Any) -> tuple[Any, ...]:
    """Frames an assembler closes from 5 of 7 channels of 3 cycles, by policy."""
    settings = dataclasses.replace(FrameSettings(wait_s=20, on_missing="partial", min_channels=5,
                                                 max_open=3), **{field: value})
    asm: FrameAssembler[str] = FrameAssembler(settings, CH, {"aia": 12.0})
    closed: list[tuple[str, int]] = []

    def note(result: Any) -> None:
        closed.extend(("partial", len(f.channels)) for f in result.partial)
        closed.extend(("abandoned", len(f.channels)) for f in result.abandoned)

    for cycle in range(3):
        for ch in CH[:5]:
            note(asm.add(ChannelItem("aia", ch, T0 + timedelta(seconds=12 * cycle + 1),
                                     f"{ch}@{cycle}", arrived_at=0.0), now=float(cycle)))
    open_before_expiry = asm.open_frames
    note(asm.expire(now=100.0))
    return tuple(closed), open_before_expiry


ROWS = [
    Row("alerts.rules.name", "m", "r1", lambda v: alerts("name", v)),
    Row("alerts.rules.signal", "p_ge_M", "p_ge_X", lambda v: alerts("signal", v)),
    Row("alerts.rules.fire_above", 0.5, 0.75, lambda v: alerts("fire_above", v)),
    Row("alerts.rules.clear_below", 0.3, 0.22, lambda v: alerts("clear_below", v)),
    Row("alerts.rules.severity", "warning", "critical", lambda v: alerts("severity", v)),
    Row("alerts.rules.noaa_scale", "R1", None, lambda v: alerts("noaa_scale", v)),
    Row("alerts.rules.min_frames", 2, 4, lambda v: alerts("min_frames", v)),
    Row("alerts.rules.clear_frames", 2, 4, lambda v: alerts("clear_frames", v)),
    Row("alerts.rules.cooldown_s", 60, 600, lambda v: alerts("cooldown_s", v)),
    Row("frames.wait_s", 20, 200, lambda v: frames("wait_s", v)),
    Row("frames.on_missing", "partial", "reject", lambda v: frames("on_missing", v)),
    Row("frames.min_channels", 5, 6, lambda v: frames("min_channels", v)),
    Row("frames.max_open", 3, 2, lambda v: frames("max_open", v)),
]

ELSEWHERE: dict[str, str] = {}
EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()
