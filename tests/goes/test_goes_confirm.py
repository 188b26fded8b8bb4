"""GOES confirmation of alerts ("GOES confirmed at HH:MM") and event payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from goes_support import at
from jsonschema import Draft202012Validator

from monitor.goes.detect import EventUpdate, detect_flares
from monitor.goes.events import confirm_alert, event_payload, threshold_for_alert
from monitor.goes.files import GoesDay
from monitor.goes.samples import FluxSeries, GoesSample

MINUTE = 60.0


def test_m25_flare_confirms_an_m_alert(day_2011_06_07: GoesDay) -> None:
    events = detect_flares(day_2011_06_07.samples, feed="goes-primary")
    started = datetime(2011, 6, 7, 6, 30, tzinfo=UTC)
    confirmation = confirm_alert(started, events, "M")
    assert confirmation is not None
    first_m = next(s for s in day_2011_06_07.samples if s.flux >= 1e-5)
    assert confirmation.confirmed_at == first_m.time
    assert at("2011-06-07", "06:25") <= confirmation.confirmed_at <= at("2011-06-07", "06:41")
    assert confirmation.peak_class == "M2.5" and confirmation.noaa_scale == "R1"
    hhmm = datetime.fromtimestamp(first_m.time, UTC).strftime("%H:%M")
    assert confirmation.message.startswith(f"GOES confirmed at {hhmm} UT: M1.")
    assert "peak 06:41 UT, R1" in confirmation.message
    json.dumps(confirmation.to_dict())
    # not an X flare, not R2 (M5), and nothing near an alert hours earlier
    assert confirm_alert(started, events, "X") is None
    assert confirm_alert(started, events, threshold_for_alert(noaa_scale="R2")) is None
    assert confirm_alert(at("2011-06-07", "02:00"), events, "M") is None


def test_confirmation_without_a_detected_event_uses_the_series() -> None:
    t0 = at("2024-05-10", "12:00")
    series = FluxSeries()
    slow = [GoesSample(t0 + i * MINUTE, 5e-6 * 1.05 ** i, 16) for i in range(60)]
    for sample in slow:
        series.add(sample)
    assert detect_flares(slow) == []  # too slow for NOAA's rule
    confirmation = confirm_alert(t0 + 1800, [], "M", series=series)
    assert confirmation is not None and confirmation.event_id is None
    assert confirmation.confirmed_at == next(s.time for s in slow if s.flux >= 1e-5)


def test_threshold_for_alert() -> None:
    assert threshold_for_alert("p_ge_M") == "M"
    assert threshold_for_alert("p_ge_X") == "X"
    assert threshold_for_alert("p_ge_M", "R2") == "R2"


def test_payloads_match_the_schema(day_2011_06_07: GoesDay) -> None:
    import test_goes_feed

    from monitor.publish.envelope import EVENT_TYPES, validate_event

    (flare,) = [e for e in detect_flares(day_2011_06_07.samples, feed="goes-primary")
                if e.peak_flux >= 1e-5]
    payload = event_payload(EventUpdate("end", flare))
    assert payload["event_id"] == "goes-primary-g15-20110607T0616Z"
    assert payload["begin_time"] == "2011-06-07T06:16:00Z"
    assert payload["goes_class"] == "M2.5" and payload["crossings"]["M"] < payload["peak_time"]
    event = test_goes_feed.envelope(payload)
    validator = Draft202012Validator(test_goes_feed.SCHEMA,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert not list(validator.iter_errors(event))
    broken = dict(event, data={**payload, "state": "maybe"})
    assert list(validator.iter_errors(broken))
    if any(t.name == "goes.event" for t in EVENT_TYPES.values()):
        validate_event(event)  # the envelope module agrees once the type is registered


def test_watched_alerts_get_follow_ups_as_goes_arrives(day_2011_06_07: GoesDay) -> None:
    import asyncio

    from monitor.goes.monitor import GoesMonitor

    follow_ups: list[tuple[str, object]] = []

    async def publish(alert_id: str, confirmation: object) -> None:
        follow_ups.append((alert_id, confirmation))

    monitor = GoesMonitor(on_confirmation=publish)
    samples = day_2011_06_07.samples
    monitor.ingest([s for s in samples if s.time < at("2011-06-07", "06:20")])
    assert monitor.watch_alert("m-alert", at("2011-06-07", "06:30"), "M") is None
    assert monitor.watch_alert("x-alert", at("2011-06-07", "05:40"), "X") is None
    monitor.ingest([s for s in samples if s.time < at("2011-06-07", "06:25")])
    asyncio.run(monitor.deliver())
    assert follow_ups == []  # M1 not reached yet, the X window still open
    monitor.ingest(samples)
    asyncio.run(monitor.deliver())
    outcome = dict(follow_ups)
    assert outcome["m-alert"].message.startswith("GOES confirmed at 06:")  # type: ignore[union-attr]
    assert outcome["x-alert"] is None  # its window passed without X
    assert monitor.counts["confirmations:confirmed"] == 1
    assert monitor.counts["confirmations:not_confirmed"] == 1
    # an alert GOES already confirmed is answered at once
    assert monitor.watch_alert("late", at("2011-06-07", "06:45"), "M") is not None
