"""Alert rules over model outputs, with hysteresis, persistence, cooldown and dedup.

A rule watches one *signal* of every analysed frame -- the classifier's
probability that the flare class is at least C, M or X (``p_ge_C``,
``p_ge_M``, ``p_ge_X``) -- and

* fires after ``min_frames`` consecutive frames at or above ``fire_above``;
* resolves after ``clear_frames`` consecutive frames below ``clear_below``
  (``clear_below <= fire_above``: the gap between the two is the hysteresis
  that keeps a probability hovering at the threshold from flapping);
* does not fire again for ``cooldown_s`` of observation time after resolving.

Times are observation times, not wall-clock, so a replay raises the same
alerts as the live run did. The alert id is derived from the rule, the feed
and the first evidence frame, so a restart that re-analyses the same frames
produces the same id and consumers can drop the duplicate. The engine state
is a small JSON document the daemon saves in its state directory.

Across a model switch (a new package serving, after ``SIGHUP``, a promotion,
a rollback or a restart with another package) the state carries over, and a
streak never spans two packages. Each frame names the package that analysed
it (``model``, its sha256); when it differs from the previous frame's:

* an open alert stays open: the switch neither fires it again (same alert id,
  its evidence and peak kept; the new model's frames continue or raise them)
  nor resolves it: resolving needs ``clear_frames`` consecutive frames of the
  *new* package below ``clear_below``, the normal hysteresis counted afresh;
* a streak towards firing that the old package had begun is dropped: the new
  package fires only after ``min_frames`` consecutive frames of its own;
* a cooldown running since a resolution keeps running.

So a changed model alone never raises, repeats or ends an alert; only what
the new model sees, over the usual number of frames, does.

Default rules follow NOAA's radio-blackout scale on the classifier's classes:
R1 (M1 and above) and R3 (X1 and above). R2 (M5) needs a flux estimate that
the default classifier does not provide.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "DEFAULT_RULES",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "AlertSettings",
    "class_signals",
]

_NAMESPACE = uuid.UUID("9b3b0a8e-55c7-4f0e-8f0c-2b0f4f1e7d11")  # sdo-monitor alerts

Signal = Literal["p_ge_C", "p_ge_M", "p_ge_X"]


@dataclass(frozen=True)
class AlertRule:
    """One alert rule (see the module docstring for the semantics)."""

    name: str
    signal: Signal
    fire_above: float = field(metadata={"gt": 0, "le": 1})
    clear_below: float = field(metadata={"ge": 0, "le": 1})
    severity: Literal["info", "warning", "critical"] = "warning"
    noaa_scale: Literal["R1", "R2", "R3", "R4", "R5"] | None = None
    min_frames: int = field(default=2, metadata={"ge": 1})
    clear_frames: int = field(default=3, metadata={"ge": 1})
    cooldown_s: float = field(default=1800.0, metadata={"ge": 0})

    def check(self) -> list[tuple[str, str]]:
        if self.clear_below > self.fire_above:
            return [("clear_below", (f"must be <= fire_above ({self.fire_above}), "
                                     f"got {self.clear_below}"))]
        return []


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule("flare_m_class", "p_ge_M", fire_above=0.5, clear_below=0.3,
              severity="warning", noaa_scale="R1"),
    AlertRule("flare_x_class", "p_ge_X", fire_above=0.5, clear_below=0.3,
              severity="critical", noaa_scale="R3"),
)


@dataclass(frozen=True)
class AlertSettings:
    """The ``alerts`` section of the config."""

    rules: tuple[AlertRule, ...] = DEFAULT_RULES

    def check(self) -> list[tuple[str, str]]:
        names = [r.name for r in self.rules]
        return [(f"rules[{i}].name", f"duplicate rule name {n!r}")
                for i, n in enumerate(names) if n in names[:i]]


@dataclass(frozen=True)
class AlertEvent:
    """A firing or resolved alert, ready to become an ``alert.v1`` message."""

    alert_id: str
    rule: str
    feed: str
    state: Literal["firing", "resolved"]
    severity: str
    noaa_scale: str | None
    started_at: datetime
    resolved_at: datetime | None
    evidence_frames: tuple[str, ...]
    peak_probability: float
    location: dict[str, Any] | None
    message: str


def class_signals(probabilities: dict[str, float]) -> dict[str, float]:
    """Cumulative class probabilities: P(class >= C), P(>= M), P(>= X)."""
    order = ("C", "M", "X")
    out = {}
    for i, name in enumerate(order):
        out[f"p_ge_{name}"] = float(sum(probabilities.get(c, 0.0) for c in order[i:]))
    return out


@dataclass
class _RuleState:
    active: bool = False
    above: int = 0
    below: int = 0
    alert_id: str | None = None
    started_at: str | None = None
    resolved_at: str | None = None
    evidence: list[str] = field(default_factory=list)
    peak: float = 0.0
    location: dict[str, Any] | None = None
    last_t_obs: str | None = None
    #: The package (sha256) of the last frame seen: streaks never span two packages.
    model: str | None = None


class AlertEngine:
    """Evaluates the rules frame by frame; one state per (rule, feed)."""

    #: Evidence frames kept per alert (the first ones and the peak are what matter).
    MAX_EVIDENCE = 20

    def __init__(self, rules: tuple[AlertRule, ...] = DEFAULT_RULES) -> None:
        self.rules = rules
        self._state: dict[str, _RuleState] = {}

    def active(self) -> list[dict[str, Any]]:
        """Currently firing alerts, for the HTTP API."""
        return [{"key": key, "alert_id": s.alert_id, "started_at": s.started_at,
                 "peak_probability": s.peak, "evidence_frames": list(s.evidence)}
                for key, s in self._state.items() if s.active]

    def observe(self, feed: str, frame_id: str, t_obs: datetime, signals: dict[str, float],
                location: dict[str, Any] | None = None, model: str = "") -> list[AlertEvent]:
        """Feed one analysed frame; returns the alerts that fired or resolved.

        ``model`` names the package that analysed the frame (its sha256); a
        change starts the streaks afresh (see the module docstring).
        """
        events = []
        for rule in self.rules:
            value = signals.get(rule.signal)
            if value is None:
                continue
            state = self._state.setdefault(f"{rule.name}|{feed}", _RuleState())
            if state.last_t_obs is not None and t_obs <= datetime.fromisoformat(
                    state.last_t_obs):
                continue  # a late or repeated frame must not move the state backwards
            state.last_t_obs = t_obs.isoformat()
            if state.model is not None and state.model != model:
                state.above = state.below = 0  # a switch alone decides nothing
            state.model = model
            event = self._step(rule, state, feed, frame_id, t_obs, value, location)
            if event is not None:
                events.append(event)
        return events

    def _step(self, rule: AlertRule, s: _RuleState, feed: str, frame_id: str, t_obs: datetime,
              value: float, location: dict[str, Any] | None) -> AlertEvent | None:
        if not s.active:
            if value >= rule.fire_above and not self._cooling(rule, s, t_obs):
                if s.above == 0:
                    s.evidence, s.peak, s.location, s.started_at = [], 0.0, None, t_obs.isoformat()
                s.above += 1
                self._evidence(s, frame_id, value, location)
                if s.above >= rule.min_frames:
                    s.active, s.below, s.resolved_at = True, 0, None
                    s.alert_id = str(uuid.uuid5(_NAMESPACE, f"{rule.name}|{feed}|{s.evidence[0]}"))
                    return self._event(rule, s, feed, "firing")
            else:
                s.above = 0
            return None
        if value < rule.clear_below:
            s.below += 1
            if s.below >= rule.clear_frames:
                s.active, s.above = False, 0
                s.resolved_at = t_obs.isoformat()
                return self._event(rule, s, feed, "resolved")
        else:
            s.below = 0
            self._evidence(s, frame_id, value, location)
        return None

    def _evidence(self, s: _RuleState, frame_id: str, value: float,
                  location: dict[str, Any] | None) -> None:
        if len(s.evidence) < self.MAX_EVIDENCE:
            s.evidence.append(frame_id)
        if value >= s.peak:
            s.peak, s.location = value, location

    @staticmethod
    def _cooling(rule: AlertRule, s: _RuleState, t_obs: datetime) -> bool:
        if s.resolved_at is None:
            return False
        elapsed = (t_obs - datetime.fromisoformat(s.resolved_at)).total_seconds()
        return elapsed < rule.cooldown_s

    @staticmethod
    def _event(rule: AlertRule, s: _RuleState, feed: str,
               state: Literal["firing", "resolved"]) -> AlertEvent:
        assert s.alert_id is not None and s.started_at is not None
        # The located flare's place when the region has one, else the region's.
        region = s.location or {}
        where = (region.get("flare") or region).get("noaa_location")
        scale = f" ({rule.noaa_scale})" if rule.noaa_scale else ""
        text = (f"{rule.name}{scale} {state}: peak probability {s.peak:.2f}"
                + (f" at {where}" if where else ""))
        return AlertEvent(
            alert_id=s.alert_id, rule=rule.name, feed=feed, state=state,
            severity=rule.severity, noaa_scale=rule.noaa_scale,
            started_at=datetime.fromisoformat(s.started_at),
            resolved_at=datetime.fromisoformat(s.resolved_at) if s.resolved_at else None,
            evidence_frames=tuple(s.evidence), peak_probability=s.peak,
            location=s.location, message=text)

    def snapshot(self) -> dict[str, Any]:
        """The engine state as JSON-ready data (persisted across restarts)."""
        return {key: asdict(state) for key, state in self._state.items()}

    def restore(self, data: dict[str, Any]) -> None:
        """Load a :meth:`snapshot`; unknown rules are dropped."""
        names = {r.name for r in self.rules}
        self._state = {key: _RuleState(**value) for key, value in data.items()
                       if key.split("|", 1)[0] in names}
