"""Settings of the GOES X-ray feed, flare detection and live verification.

The ``goes`` section of the daemon's YAML. Standard library only, so loading a
config stays cheap. Defaults describe NOAA SWPC's public 1-minute GOES XRS
product and NOAA's operational flare definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "SWPC_PRIMARY_URL",
    "ConfirmationSettings",
    "DetectionSettings",
    "GoesSettings",
    "SwpcFeedSettings",
    "VerificationSettings",
]

#: SWPC's 1-minute XRS fluxes of the primary GOES satellite, last 6 hours.
SWPC_PRIMARY_URL = "https://services.swpc.noaa.gov/json/goes/primary/xrays-6-hour.json"

_CLASS_LETTERS = ("C", "M", "X")


@dataclass(frozen=True)
class SwpcFeedSettings:
    """Polling NOAA SWPC's GOES X-ray JSON (or a service that imitates it)."""

    name: str = field(default="goes-primary",
                      metadata={"doc": "feed name in metric labels, logs and event keys"})
    url: str = field(default=SWPC_PRIMARY_URL,
                     metadata={"doc": "JSON array of 1-minute records (time_tag, satellite, "
                                      "flux, energy)"})
    poll_interval_s: float = field(
        default=60.0, metadata={"gt": 0, "doc": "SWPC updates the file once a minute"})
    timeout_s: float = field(default=20.0, metadata={"gt": 0, "doc": "one request, all of it"})
    backoff_initial_s: float = field(
        default=5.0, metadata={"gt": 0, "doc": "wait after the first failed poll"})
    backoff_max_s: float = field(
        default=600.0, metadata={"gt": 0, "doc": "longest wait between failed polls"})
    max_body_bytes: int = field(
        default=32 * 1024 * 1024, metadata={"gt": 0, "doc": "refuse larger documents"})
    user_agent: str = "sdo-monitor"
    flux_scale: float = field(
        default=1.0,
        metadata={"gt": 0, "le": 2,
                  "doc": "factor from the fluxes read to the scale NOAA's class thresholds "
                         "apply to: 1.0 for SWPC real-time data (GOES-16+ unscaled, "
                         "GOES-13/15 operational already scaled); 0.7 for GOES-13/14/15 "
                         "science-quality (NCEI L2) data"})

    def check(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        if not self.url.startswith(("http://", "https://")):
            issues.append(("url", f"must start with http:// or https://, got {self.url!r}"))
        if self.backoff_max_s < self.backoff_initial_s:
            issues.append(("backoff_max_s", "must be >= backoff_initial_s"))
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            issues.append(("name", f"must be letters, digits, '-' or '_', got {self.name!r}"))
        return issues


@dataclass(frozen=True)
class DetectionSettings:
    """NOAA's X-ray event definition on 1-minute XRS-B (0.1-0.8 nm) fluxes.

    Begin: the first minute of ``rise_minutes`` consecutive minutes of strictly
    increasing flux, all at or above ``min_flux_w_m2``, the last at least
    ``rise_ratio`` times the first. Peak: the minute of maximum flux. End: the
    first minute at or below halfway between the peak and the pre-flare
    background (the flux of the begin minute).
    """

    rise_minutes: int = field(default=4, metadata={"ge": 2, "le": 30})
    rise_ratio: float = field(
        default=1.4, metadata={"gt": 1, "doc": "last/first flux of the rising run"})
    min_flux_w_m2: float = field(
        default=1e-7, metadata={"gt": 0, "doc": "every value of the run at least this (B1)"})
    max_gap_s: float = field(
        default=900.0,
        metadata={"ge": 60, "doc": "a data gap longer than this ends a running event "
                                   "(end_reason data_gap) at its last sample"})
    split_fraction: float = field(
        default=0.8,
        metadata={"gt": 0, "le": 1,
                  "doc": "a new steep rise after the peak starts a new event when it begins "
                         "below this fraction of the running event's peak"})
    events_kept: int = field(
        default=1000, metadata={"ge": 1, "doc": "finished events kept in memory"})


@dataclass(frozen=True)
class VerificationSettings:
    """How predictions are paired with GOES truth and scored.

    The observed value of a frame is the largest 1-minute XRS-B flux (class
    scale) among the records overlapping ``[t_obs, t_obs + horizon_s]``; a
    record stamped T covers ``[T, T + 60 s)``. With the default horizon 0 that
    is the one minute containing the observation time: the classifier is a
    nowcast trained on the class at the frame's own time.
    """

    thresholds: tuple[Literal["C", "M", "X"], ...] = field(
        default=_CLASS_LETTERS, metadata={"doc": "event thresholds: flux >= C1, M1, X1"})
    windows_s: dict[str, float] = field(
        default_factory=lambda: {"24h": 86400.0, "27d": 27 * 86400.0},
        metadata={"doc": "rolling windows (label -> seconds of observation time)"})
    horizon_s: float = field(
        default=0.0, metadata={"ge": 0, "le": 7 * 86400,
                               "doc": "truth is the max flux in [t_obs, t_obs + horizon_s]"})
    decision: Literal["probability", "predicted_class"] = field(
        default="probability",
        metadata={"doc": "probability: 'yes' at threshold T when P(class >= T) >= "
                         "probability_threshold (as the alert rules decide); predicted_class: "
                         "when the arg-max class is >= T"})
    probability_threshold: float = field(default=0.5, metadata={"gt": 0, "le": 1})
    settle_s: float = field(
        default=120.0, metadata={"ge": 0, "doc": "wait this long past a window's end for "
                                                 "late records before scoring it"})
    min_coverage: float = field(
        default=0.5, metadata={"gt": 0, "le": 1,
                               "doc": "fraction of a window's minutes that must have data"})
    max_pending: int = field(
        default=50_000, metadata={"ge": 1, "doc": "predictions waiting for truth; the "
                                                  "oldest is dropped beyond this"})
    max_wait_s: float = field(
        default=6 * 3600.0, metadata={"gt": 0, "doc": "a prediction whose truth has not "
                                                      "arrived by then is dropped"})
    max_pairs: int = field(
        default=1_000_000, metadata={"ge": 1, "doc": "scored pairs kept (longest window)"})

    def check(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        if not self.windows_s:
            issues.append(("windows_s", "at least one window is needed"))
        for label, seconds in self.windows_s.items():
            if not label or not all(c.isalnum() or c in "_-" for c in label):
                issues.append(("windows_s", f"label {label!r}: letters, digits, '-', '_'"))
            if not seconds > 0:
                issues.append(("windows_s", f"window {label!r} must be > 0 s"))
        if len(set(self.thresholds)) != len(self.thresholds) or not self.thresholds:
            issues.append(("thresholds", "must be a non-empty list without repeats"))
        return issues


@dataclass(frozen=True)
class ConfirmationSettings:
    """Matching alerts with GOES: "GOES confirmed at HH:MM" follow-ups."""

    before_s: float = field(
        default=1800.0, metadata={"ge": 0, "doc": "GOES may cross the threshold this long "
                                                  "before the alert started"})
    after_s: float = field(
        default=3600.0, metadata={"ge": 0, "doc": "... or this long after it"})


@dataclass(frozen=True)
class GoesSettings:
    """The ``goes`` section: feed, event detection, verification, alert confirmation."""

    enabled: bool = field(default=False, metadata={"doc": "poll GOES and score predictions"})
    feed: SwpcFeedSettings = field(default_factory=SwpcFeedSettings)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    confirmation: ConfirmationSettings = field(default_factory=ConfirmationSettings)
    history_s: float = field(
        default=3 * 86400.0,
        metadata={"ge": 3600, "doc": "1-minute fluxes kept in memory (truth lookups, "
                                     "confirmation); at least the horizon plus max_wait_s"})

    def check(self) -> list[tuple[str, str]]:
        v = self.verification
        if self.history_s < v.horizon_s + v.max_wait_s:
            needed = v.horizon_s + v.max_wait_s
            return [("history_s",
                     f"must be >= verification.horizon_s + max_wait_s ({needed:.0f} s)")]
        return []
