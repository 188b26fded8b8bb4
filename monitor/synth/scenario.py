"""Scenarios: small YAML files that say what the synthetic Sun does over a run.

A scenario names a start time, duration and cadence, the active regions
(heliographic position at the start, size, tilt, strength), the flares
(region, intrinsic peak GOES class, timing) and the feed's imperfections:
data gaps, QUALITY flags, telemetry dropouts and eclipses. The shipped ones
live in ``monitor/synth/scenarios/`` (package data); ``load_scenario`` also
takes a path.
Every key is checked; errors name the key (``flares[0].peak_class: ...``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from monitor.synth.goes import flux_from_class
from monitor.synth.responses import CHANNELS

__all__ = [
    "QUALITY_BITS",
    "ActiveRegionSpec",
    "EclipseEpisode",
    "FlareSpec",
    "MissingBlocks",
    "PointingSpec",
    "QualityEpisode",
    "Scenario",
    "ScenarioError",
    "TimeWindow",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
]

#: AIA level-1 QUALITY bits by name (JSOC ``lev0/apps/quallev1.h``). The
#: missing-value bits 0x100-0x800 are set from MISSVALS by the writer.
QUALITY_BITS: dict[str, int] = {
    "flatfield_missing": 0x1, "orbit_missing": 0x2, "ancillary_missing": 0x4,
    "pointing_missing": 0x8, "limb_fit_error": 0x10, "not_science_mode": 0x1000,
    "eclipse": 0x2000, "no_sun_presence": 0x4000, "safe_mode": 0x8000, "dark_image": 0x10000,
    "iss_loop_open": 0x20000, "calibration_image": 0x40000, "focus_out_of_range": 0x100000,
    "register_flag": 0x200000, "near_real_time": 0x40000000, "image_missing": 0x80000000,
}


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the offending key."""


@dataclass(frozen=True)
class ActiveRegionSpec:
    """An active region at the scenario start (it rotates from there)."""

    name: str
    lat_deg: float
    lon_deg: float
    size_arcmin: float = 3.0
    tilt_deg: float = 10.0
    strength: float = 1.0


@dataclass(frozen=True)
class FlareSpec:
    """A flare in one region; ``peak_class`` is its own peak XRS-B flux."""

    region: str
    peak_class: str
    start_s: float
    rise_s: float | None = None
    decay_s: float | None = None


@dataclass(frozen=True)
class TimeWindow:
    """``[start_s, end_s)`` in seconds from the scenario start."""

    start_s: float
    end_s: float

    def contains(self, t_s: float) -> bool:
        """Whether ``t_s`` falls in the window."""
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True)
class QualityEpisode(TimeWindow):
    """Frames in the window get these QUALITY flags (all channels unless listed)."""

    flags: tuple[str, ...] = ()
    channels: tuple[int, ...] = CHANNELS

    @property
    def bits(self) -> int:
        """The flags as a QUALITY bit mask."""
        value = 0
        for name in self.flags:
            value |= QUALITY_BITS[name]
        return value


@dataclass(frozen=True)
class MissingBlocks(TimeWindow):
    """Telemetry dropouts: this fraction of the image rows becomes BLANK."""

    fraction: float = 0.1
    channels: tuple[int, ...] = CHANNELS


@dataclass(frozen=True)
class EclipseEpisode(TimeWindow):
    """The Earth passes in front of the Sun: ingress, totality, egress.

    ``start_s``/``end_s`` bound the whole episode; ``ingress_s`` and
    ``egress_s`` are the partial phases at either end.
    """

    ingress_s: float = 300.0
    egress_s: float = 300.0

    def occulted_fraction(self, t_s: float) -> float:
        """0 before and after, 1 in totality, linear in between."""
        if not self.contains(t_s):
            return 0.0
        if t_s < self.start_s + self.ingress_s:
            return (t_s - self.start_s) / self.ingress_s
        if t_s > self.end_s - self.egress_s:
            return (self.end_s - t_s) / self.egress_s
        return 1.0


@dataclass(frozen=True)
class PointingSpec:
    """Sun-centre offset (full-resolution px) and roll; None draws small random values."""

    offset_px: tuple[float, float] | None = None
    crota2_deg: float | None = None


@dataclass(frozen=True)
class Scenario:
    """Everything a run of the synthetic Sun needs besides size, speed and seed."""

    name: str
    start: datetime
    duration_s: float
    cadence_s: float = 60.0
    description: str = ""
    channels: tuple[int, ...] = CHANNELS
    active_regions: tuple[ActiveRegionSpec, ...] = ()
    flares: tuple[FlareSpec, ...] = ()
    gaps: tuple[TimeWindow, ...] = ()
    quality: tuple[QualityEpisode, ...] = ()
    missing_blocks: tuple[MissingBlocks, ...] = ()
    eclipses: tuple[EclipseEpisode, ...] = ()
    pointing: PointingSpec = field(default_factory=PointingSpec)

    @property
    def n_observations(self) -> int:
        """Observation times in the run (gaps included)."""
        return int(self.duration_s // self.cadence_s) + 1

    def region(self, name: str) -> ActiveRegionSpec:
        """The active region called ``name``."""
        for spec in self.active_regions:
            if spec.name == name:
                return spec
        raise KeyError(name)


# --- parsing --------------------------------------------------------------------

def _fail(path: str, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: {message}" if path else message)


def _number(value: Any, path: str, *, positive: bool = False, minimum: float | None = None
            ) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, f"expected a number, got {value!r}")
    value = float(value)
    if positive and not value > 0:
        raise _fail(path, f"must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise _fail(path, f"must be >= {minimum}, got {value}")
    return value


def _channels(value: Any, path: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "expected a non-empty list of wavelengths")
    for i, c in enumerate(value):
        if c not in CHANNELS:
            raise _fail(f"{path}[{i}]", f"{c!r} is not one of {list(CHANNELS)}")
    return tuple(int(c) for c in value)


def _build(cls: type, raw: Any, path: str, convert: dict[str, Any]) -> Any:
    """Dataclass ``cls`` from a mapping, with per-key converters and exact key checks."""
    if not isinstance(raw, dict):
        raise _fail(path, f"expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise _fail(sub, f"unknown key (allowed: {', '.join(sorted(fields))})")
        kwargs[key] = convert[key](value, sub) if key in convert else value
    for name, f in fields.items():
        no_default = (f.default is dataclasses.MISSING
                      and f.default_factory is dataclasses.MISSING)
        if no_default and name not in kwargs:
            raise _fail(f"{path}.{name}" if path else name, "missing required key")
    return cls(**kwargs)


def _items(value: Any, path: str, cls: type, convert: dict[str, Any]) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(path, "expected a list")
    return tuple(_build(cls, item, f"{path}[{i}]", convert) for i, item in enumerate(value))


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"expected a non-empty string, got {value!r}")
    return value


def _time(value: Any, path: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise _fail(path, f"expected an ISO time like 2014-01-01T18:00:00, got {value!r}") \
                from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None \
        else parsed.astimezone(UTC)


def _peak_class(value: Any, path: str) -> str:
    try:
        flux_from_class(str(value))
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    return str(value).upper()


def _flags(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "expected a non-empty list of flag names")
    for i, name in enumerate(value):
        if name not in QUALITY_BITS:
            raise _fail(f"{path}[{i}]", f"unknown flag {name!r} (known: {', '.join(QUALITY_BITS)})")
    return tuple(value)


def _pair(value: Any, path: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(path, "expected [x, y]")
    return _number(value[0], f"{path}[0]"), _number(value[1], f"{path}[1]")


def _NUM(value: Any, path: str) -> float:
    return _number(value, path)


def _POS(value: Any, path: str) -> float:
    return _number(value, path, positive=True)


def _NONNEG(value: Any, path: str) -> float:
    return _number(value, path, minimum=0.0)


def _OPT_POS(value: Any, path: str) -> float | None:
    return None if value is None else _POS(value, path)


_WINDOW = {"start_s": _NONNEG, "end_s": _POS}


def _check_window(window: TimeWindow, path: str) -> None:
    if window.end_s <= window.start_s:
        raise _fail(f"{path}.end_s", f"must be after start_s ({window.start_s})")


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """A :class:`Scenario` from YAML text; ``source`` names it in errors.

    Raises
    ------
    ScenarioError
        On YAML syntax errors, unknown or missing keys and invalid values.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    try:
        scenario = _build(Scenario, raw, "", {
            "name": _text, "start": _time, "duration_s": _POS, "cadence_s": _POS,
            "description": lambda v, p: str(v), "channels": _channels,
            "active_regions": lambda v, p: _items(v, p, ActiveRegionSpec, {
                "name": _text, "lat_deg": _NUM, "lon_deg": _NUM, "size_arcmin": _POS,
                "tilt_deg": _NUM, "strength": _POS}),
            "flares": lambda v, p: _items(v, p, FlareSpec, {
                "region": _text, "peak_class": _peak_class, "start_s": _NONNEG,
                "rise_s": _OPT_POS, "decay_s": _OPT_POS}),
            "gaps": lambda v, p: _items(v, p, TimeWindow, _WINDOW),
            "quality": lambda v, p: _items(v, p, QualityEpisode, {
                **_WINDOW, "flags": _flags, "channels": _channels}),
            "missing_blocks": lambda v, p: _items(v, p, MissingBlocks, {
                **_WINDOW, "fraction": _POS, "channels": _channels}),
            "eclipses": lambda v, p: _items(v, p, EclipseEpisode, {
                **_WINDOW, "ingress_s": _POS, "egress_s": _POS}),
            "pointing": lambda v, p: _build(PointingSpec, v, p, {
                "offset_px": _pair, "crota2_deg": _NUM}),
        })
        names = [r.name for r in scenario.active_regions]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise _fail(f"active_regions[{i}].name", f"duplicate region name {name!r}")
            if abs(scenario.active_regions[i].lat_deg) > 80:
                raise _fail(f"active_regions[{i}].lat_deg", "must be within +-80")
        for i, flare in enumerate(scenario.flares):
            if flare.region not in names:
                raise _fail(f"flares[{i}].region", f"no active region named {flare.region!r} "
                                                   f"(have: {', '.join(names) or 'none'})")
        for key in ("gaps", "quality", "missing_blocks", "eclipses"):
            for i, window in enumerate(getattr(scenario, key)):
                _check_window(window, f"{key}[{i}]")
        for i, block in enumerate(scenario.missing_blocks):
            if block.fraction > 1:
                raise _fail(f"missing_blocks[{i}].fraction", "must be <= 1")
        for i, ecl in enumerate(scenario.eclipses):
            if ecl.ingress_s + ecl.egress_s > ecl.end_s - ecl.start_s:
                raise _fail(f"eclipses[{i}]", "ingress_s + egress_s exceed the episode")
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario


def _package_dir() -> Any:
    return resources.files("monitor.synth.scenarios")


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package, sorted."""
    return sorted(p.name[:-5] for p in _package_dir().iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (``"m_flare"``) or a scenario file by path.

    Raises
    ------
    ScenarioError
        If there is no such scenario or the file is invalid.
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return parse_scenario(path.read_text("utf-8"), str(path))
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read: {exc}") from None
    resource = _package_dir().joinpath(f"{text_name}.yaml")
    if not resource.is_file():
        raise ScenarioError(f"no scenario {text_name!r}; shipped: {', '.join(list_scenarios())}")
    return parse_scenario(resource.read_text("utf-8"), f"scenarios/{text_name}.yaml")
