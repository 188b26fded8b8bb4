"""Options of ``goes``: each changes what the GOES monitor polls, detects, scores or confirms.

Probes build :class:`monitor.goes.monitor.GoesMonitor` (what the daemon's
GOES link runs) from a :class:`GoesSettings` with one option changed, and
feed it a hand-made 1-minute series, frames and alerts -- or poll the
SWPC-like server of ``tests/fakes``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from typing import Any

import pytest
from fakes.swpc_server import SwpcServer
from optionrows import Row

from monitor.goes.monitor import GoesMonitor
from monitor.goes.samples import GoesSample
from monitor.goes.settings import (
    ConfirmationSettings,
    DetectionSettings,
    GoesSettings,
    SwpcFeedSettings,
    VerificationSettings,
)

T0 = 1_700_000_000.0 // 60 * 60
QUIET = [1e-7] * 5
FLARE = [1.2e-7, 2e-7, 8e-7, 5e-6, 2e-5, 3e-5, 2.5e-5, 1.8e-5, 1.4e-5, 1.0e-5, 8e-6]
# a second steep rise during the decay, from 1.8e-5: above the half level (1.5e-5),
# below 0.8 of the 3e-5 peak
SECOND = [2e-5, 2.6e-5, 3.5e-5, 5e-5, 4e-5, 2e-5, 1e-5, 5e-6, 1e-6]
# a 20-minute gap in the decay
GAP = [None] * 20 + [5e-6, 1e-6, 1e-7]


def samples(values: list[float | None]) -> list[GoesSample]:
    return [GoesSample(T0 + i * 60, v, 16) for i, v in enumerate(values) if v is not None]


def goes(**sections: Any) -> GoesSettings:
    base = GoesSettings(verification=VerificationSettings(windows_s={"1d": 86400.0},
                                                          settle_s=0.0, max_wait_s=600.0),
                        history_s=3600.0 * 24)
    return dataclasses.replace(base, **sections)


def section(name: str, cls: type, base: dict[str, Any], field: str, value: Any) -> GoesSettings:
    current = getattr(goes(), name)
    return goes(**{name: dataclasses.replace(current, **{**base, field: value})})


def events(values: list[float | None], settings: GoesSettings) -> tuple[Any, ...]:
    """Event announcements and finished events for a series."""
    monitor = GoesMonitor(settings)
    payloads = monitor.ingest(samples(values))
    announced = tuple((p["event_id"], p["state"], p["feed"], p["goes_class"], p["end_reason"])
                      for p in payloads)
    return announced, tuple(e.event_id for e in monitor.events())


def detection(values: list[float | None], field: str, value: Any) -> tuple[Any, ...]:
    return events(values, section("detection", DetectionSettings, {}, field, value))


FRAMES = [  # (minute, class probabilities, predicted class)
    (10, {"none": 0.4, "C": 0.2, "M": 0.4}, "M"),
    (2, {"none": 0.9, "C": 0.1}, "none"),
    (12, {"none": 0.2, "C": 0.2, "M": 0.3, "X": 0.3}, "M"),
]


def scores(settings: GoesSettings, values: list[float | None] = QUIET + FLARE) -> tuple[Any, ...]:
    """Outcomes of three frames and the skill table after the series arrived."""
    monitor = GoesMonitor(settings, clock=lambda: 0.0)
    outcomes = [monitor.observe_frame(f"f{m}", T0 + m * 60 + 5, probs, predicted)
                for m, probs, predicted in FRAMES]
    monitor.ingest(samples(values))
    rows = tuple((r.threshold, r.window, r.table.hits, r.table.misses, r.table.false_alarms,
                  r.table.correct_negatives) for r in monitor.scores())
    return tuple(outcomes), rows, tuple(sorted(monitor.verifier.counts.items()))


def verification(field: str, value: Any, values: list[float | None] = QUIET + FLARE,
                 base: dict[str, Any] | None = None) -> tuple[Any, ...]:
    return scores(section("verification", VerificationSettings, base or {}, field, value),
                  values)


def confirmation(offset_s: float, field: str, value: Any) -> Any:
    """Confirmation of an M alert started ``offset_s`` after GOES crossed M1 (minute 9)."""
    settings = section("confirmation", ConfirmationSettings, {}, field, value)
    monitor = GoesMonitor(settings)
    monitor.ingest(samples(QUIET + FLARE + [1e-7] * 80))
    return monitor.confirm_alert(T0 + 9 * 60 + offset_s, "M")


def history(value: float) -> str:
    settings = dataclasses.replace(goes(), history_s=value)
    monitor = GoesMonitor(settings, clock=lambda: 0.0)
    monitor.ingest(samples([1e-7] * 240))  # four hours
    return monitor.observe_frame("old", T0 + 10 * 60 + 5, {"none": 1.0}, "none")


# -- the feed, polled from the SWPC-like server --------------------------------------
def poll(field: str, value: Any, fault: dict[str, Any] | None = None,
         url: str | None = None) -> tuple[Any, ...]:
    """One poll (or two after a fault) of a real HTTP server; what came of it."""
    async def main() -> tuple[Any, ...]:
        async with SwpcServer() as server:
            for i, v in enumerate(QUIET + FLARE):
                server.add_minute(T0 + i * 60, v)
            feed = SwpcFeedSettings(url=url or server.url(), poll_interval_s=30.0,
                                    backoff_initial_s=2.0, backoff_max_s=300.0)
            feed = dataclasses.replace(feed, **{field: value})
            monitor = GoesMonitor(goes(feed=feed))
            delays = []
            if fault is not None:
                server.fail(**fault)
                result = await monitor.poller.fetch()
                delays.append(monitor.poller.next_delay(result))
            result = await monitor.poller.fetch()
            delays.append(monitor.poller.next_delay(result))
            await monitor.poller.close()
            event_classes = ()
            if result.outcome == "ok":
                await monitor._on_fetch(result)
                event_classes = tuple((e.event_id, e.goes_class) for e in monitor.events())
            agents = tuple(r.user_agent for r in server.requests)
            return result.outcome, result.reason, tuple(delays), event_classes, agents

    return asyncio.run(main())


def _p(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return functools.partial(fn, *args, **kwargs)


ROWS = [
    Row("goes.detection.rise_minutes", 4, 8, _p(detection, QUIET + FLARE, "rise_minutes")),
    Row("goes.detection.rise_ratio", 1.4, 1000.0, _p(detection, QUIET + FLARE, "rise_ratio")),
    Row("goes.detection.min_flux_w_m2", 1e-7, 1e-6,
        _p(detection, QUIET + FLARE, "min_flux_w_m2")),
    Row("goes.detection.max_gap_s", 900.0, 3600.0,
        _p(detection, QUIET + FLARE[:8] + GAP, "max_gap_s")),
    Row("goes.detection.split_fraction", 0.8, 0.1,
        _p(detection, QUIET + FLARE[:8] + SECOND, "split_fraction")),
    Row("goes.detection.events_kept", 1000, 1,
        _p(detection, QUIET + FLARE[:8] + SECOND + [1e-7] * 5, "events_kept")),
    Row("goes.verification.thresholds", ("C", "M", "X"), ("M",), _p(verification, "thresholds")),
    Row("goes.verification.windows_s", {"1d": 86400.0}, {"7d": 7 * 86400.0},
        _p(verification, "windows_s")),
    Row("goes.verification.decision", "probability", "predicted_class",
        _p(verification, "decision")),
    Row("goes.verification.probability_threshold", 0.5, 0.3,
        _p(verification, "probability_threshold")),
    # truth for the frame at minute 12 is due 10 minutes later; the series ends at 15
    Row("goes.verification.settle_s", 0.0, 600.0, _p(verification, "settle_s")),
    # a frame whose minute is missing: covered or not depending on the fraction asked
    Row("goes.verification.min_coverage", 0.5, 1.0,
        _p(verification, "min_coverage", base={"horizon_s": 300.0},
           values=QUIET + FLARE[:6] + [None, None] + FLARE[8:] + [1e-7] * 10)),
    Row("goes.verification.max_pairs", 1_000_000, 1, _p(verification, "max_pairs")),
    Row("goes.confirmation.before_s", 1800.0, 600.0, _p(confirmation, 1000.0, "before_s")),
    Row("goes.confirmation.after_s", 3600.0, 600.0, _p(confirmation, -1000.0, "after_s")),
    Row("goes.history_s", 86400.0, 3600.0, history),
    # the fake server's own URL (None) or a port nothing listens on
    Row("goes.feed.url", None, "http://127.0.0.1:9/json/goes/primary/xrays-6-hour.json",
        lambda url: poll("name", "goes-primary", url=url)),
    Row("goes.feed.name", "goes-primary", "goes-backup", _p(poll, "name")),
    Row("goes.feed.poll_interval_s", 60.0, 10.0, _p(poll, "poll_interval_s")),
    Row("goes.feed.timeout_s", 5.0, 0.2,
        _p(poll, "timeout_s", fault={"kind": "slow", "delay_s": 0.6})),
    Row("goes.feed.backoff_initial_s", 2.0, 7.0,
        _p(poll, "backoff_initial_s", fault={"kind": "status", "status": 503})),
    Row("goes.feed.backoff_max_s", 300.0, 3.0,
        _p(poll, "backoff_max_s", fault={"kind": "status", "status": 503, "times": 3})),
    Row("goes.feed.max_body_bytes", 32 * 1024 * 1024, 100, _p(poll, "max_body_bytes")),
    Row("goes.feed.user_agent", "sdo-monitor", "site-monitor/2", _p(poll, "user_agent")),
    Row("goes.feed.flux_scale", 1.0, 0.7, _p(poll, "flux_scale")),
]

ELSEWHERE = {
    "goes.enabled": "tests/daemon/test_daemon_goes.py::test_goes_feed_detects_the_flare_and_scores_frames",
    # defaults 0 s, 50,000 and 6 h: each assertion fails if the option were ignored
    "goes.verification.horizon_s": "tests/goes/test_goes_scores.py::test_horizon_takes_the_window_maximum",
    "goes.verification.max_pending": "tests/goes/test_goes_scores.py::test_missing_truth_is_dropped_and_counted",
    "goes.verification.max_wait_s": "tests/goes/test_goes_scores.py::test_missing_truth_is_dropped_and_counted",
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()
