"""The SWPC feed: parsing bad records, the poller against the loopback server, the live monitor."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from fakes.swpc_server import SwpcServer, swpc_record
from jsonschema import Draft202012Validator

from monitor.goes.monitor import GoesMonitor
from monitor.goes.settings import GoesSettings, SwpcFeedSettings
from monitor.goes.swpc import SwpcPoller, parse_swpc

T0 = 1_700_000_000.0 // 60 * 60


def feed_settings(server: SwpcServer, **changes: object) -> SwpcFeedSettings:
    base = SwpcFeedSettings(url=server.url(), poll_interval_s=0.05, timeout_s=2.0,
                            backoff_initial_s=0.05, backoff_max_s=0.4)
    return dataclasses.replace(base, **changes)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


# -- parsing -------------------------------------------------------------------
def test_parse_counts_every_bad_record() -> None:
    good = swpc_record(T0, 2e-6, satellite=16)
    document = [
        swpc_record(T0, 2e-7, "0.05-0.4nm"),
        good,
        dict(good),                                   # the same minute again
        swpc_record(T0 + 60, None),                   # null flux
        swpc_record(T0 + 120, -1e-7),                 # negative
        swpc_record(T0 + 180, 0.0),                   # zero
        swpc_record(T0 + 240, -99999.0),              # fill value
        swpc_record(T0 + 300, float("nan")),          # NaN
        swpc_record(T0 + 360, 5.0),                   # implausible
        {**swpc_record(T0 + 420, 1e-6), "flux": "1e-6"},       # wrong type
        {**swpc_record(T0 + 480, 1e-6), "time_tag": "yesterday"},
        {**swpc_record(T0 + 540, 1e-6), "energy": None},
        "not a record",
        swpc_record(T0 + 600, 3e-6),
    ]
    parsed = parse_swpc(json.loads(json.dumps(document)))
    assert [s.time for s in parsed.samples] == [T0, T0 + 600]
    assert dict(parsed.counts) == {
        "other_band": 1, "duplicate": 1, "null_flux": 1, "non_positive_flux": 2,
        "fill_value": 1, "non_finite_flux": 1, "implausible_flux": 1, "bad_record": 3,
        "bad_time": 1}
    assert parse_swpc({"not": "a list"}).counts == {"bad_record": 1}


def test_parse_prefers_the_newest_satellite_on_a_switch_minute() -> None:
    document = [swpc_record(T0, 1e-6, satellite=16), swpc_record(T0 + 60, 1.1e-6, satellite=16),
                swpc_record(T0 + 60, 1.6e-6, satellite=18), swpc_record(T0 + 120, 1.7e-6,
                                                                       satellite=18)]
    parsed = parse_swpc(document, flux_scale=1.0)
    assert [(s.flux, s.satellite) for s in parsed.samples] == [
        (1e-6, 16), (1.6e-6, 18), (1.7e-6, 18)]
    assert parsed.counts["conflicting_duplicate"] == 1 and parsed.satellite == 18


# -- the poller -------------------------------------------------------------------
def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())


def test_conditional_requests_answer_304_until_the_data_change() -> None:
    async def scenario() -> None:
        async with SwpcServer() as server:
            server.add_minute(T0, 1e-6)
            async with SwpcPoller(feed_settings(server)) as poller:
                first = await poller.fetch()
                assert first.outcome == "ok" and len(first.document) == 2
                second = await poller.fetch()
                assert second.outcome == "not_modified"
                server.add_minute(T0 + 60, 2e-6)
                third = await poller.fetch()
                assert third.outcome == "ok" and len(third.document) == 4
            sent = server.requests
            assert sent[0].if_none_match is None and sent[0].if_modified_since is None
            assert sent[1].if_none_match and sent[1].if_modified_since
            assert [r.status for r in sent] == [200, 304, 200]
            assert sent[2].if_none_match == sent[1].if_none_match  # the validators of answer 1
    run(scenario)


def test_last_modified_alone_gives_304() -> None:
    async def scenario() -> None:
        import aiohttp

        async with SwpcServer() as server:
            server.add_minute(T0, 1e-6)
            async with aiohttp.ClientSession() as session:
                async with session.get(server.url("1-day")) as response:
                    modified = response.headers["Last-Modified"]
                    assert response.status == 200
                headers = {"If-Modified-Since": modified}
                async with session.get(server.url("1-day"), headers=headers) as response:
                    assert response.status == 304
    run(scenario)


def test_backoff_on_server_errors_and_recovery() -> None:
    async def scenario() -> None:
        async with SwpcServer() as server:
            server.add_minute(T0, 1e-6)
            settings = feed_settings(server, backoff_initial_s=1.0, backoff_max_s=8.0,
                                     poll_interval_s=60.0)
            async with SwpcPoller(settings) as poller:
                server.fail("status", times=4, status=500)
                delays = []
                for _ in range(4):
                    result = await poller.fetch()
                    assert result.outcome == "error" and result.reason == "http_status"
                    assert result.status == 500
                    delays.append(poller.next_delay(result))
                assert delays == [1.0, 2.0, 4.0, 8.0]  # doubling, capped at backoff_max_s
                server.fail("status", times=1, status=503, retry_after="6")
                result = await poller.fetch()
                assert poller.next_delay(result) == 8.0  # capped; Retry-After 6 < 16
                ok = await poller.fetch()
                assert ok.outcome == "ok" and poller.failures == 0
                assert poller.next_delay(ok) == 60.0
                assert poller.counts["error:http_status"] == 5
    run(scenario)


@pytest.mark.parametrize(("fault", "params", "reason"), [
    ("garbage", {}, "bad_json"),
    ("truncate", {}, "connection"),
    ("slow", {"delay_s": 2.0}, "timeout"),
])
def test_broken_answers_are_errors_not_crashes(fault: str, params: dict[str, float],
                                               reason: str) -> None:
    async def scenario() -> None:
        async with SwpcServer() as server:
            for i in range(200):
                server.add_minute(T0 + 60 * i, 1e-6)
            async with SwpcPoller(feed_settings(server, timeout_s=0.5)) as poller:
                server.fail(fault, **params)  # type: ignore[arg-type]
                result = await poller.fetch()
                assert result.outcome == "error" and result.reason == reason
                # no validators were kept from the broken answer: the next one is a 200
                again = await poller.fetch()
                assert again.outcome == "ok" and len(again.document) == 400
    run(scenario)


# -- the live monitor ----------------------------------------------------------------
SCHEMA = json.loads(open(  # noqa: SIM115 - read once at import
    __import__("monitor.publish", fromlist=["x"]).__path__[0]
    + "/schemas/goes.event.v1.schema.json").read())


def envelope(payload: dict[str, object]) -> dict[str, object]:
    """A CloudEvent around a payload, as make_event builds it once the type is registered."""
    from monitor.publish.envelope import EVENT_TYPES, make_event, rfc3339

    if any(t.name == "goes.event" for t in EVENT_TYPES.values()):
        return make_event("goes.event", payload, source="urn:sdo-monitor:test")
    return {"specversion": "1.0", "id": "x", "source": "urn:sdo-monitor:test",
            "type": "org.sdo-monitor.goes.event.v1", "subject": payload["event_id"],
            "time": rfc3339(datetime.now(UTC)), "datacontenttype": "application/json",
            "dataschema": "urn:sdo-monitor:schema:goes.event.v1", "data": payload}


def test_monitor_polls_detects_counts_and_survives_bad_data() -> None:
    async def scenario() -> None:
        async with SwpcServer() as server:
            quiet = [1e-7] * 10
            flare = [1.3e-7, 3e-7, 2e-6, 1.2e-5, 6e-5, 4e-5, 2e-5, 1e-5]
            for i, flux in enumerate(quiet + flare[:5]):
                server.add_minute(T0 + 60 * i, flux, satellite=16)
            settings = GoesSettings(enabled=True, feed=feed_settings(server))
            events: list[dict[str, object]] = []
            counted: list[tuple[str, str, int]] = []

            async def publish(payload: dict[str, object]) -> None:
                events.append(payload)

            monitor = GoesMonitor(settings, on_event=publish, on_count=lambda family, reason, n:
                                  counted.append((family, reason, n)))
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop))
            await wait_until(lambda: len(events) >= 3)  # begin, R1, R2
            await wait_until(lambda: monitor.counts["polls:not_modified"] >= 1)
            server.fail("status", times=2, status=500)
            # bad values, a duplicate minute from the new satellite, then the switch
            n = len(quiet) + 5
            server.add_raw(swpc_record(T0 + 60 * n, None, satellite=18))
            server.add_raw(swpc_record(T0 + 60 * n, -5.0, satellite=18))
            server.add_raw({"time_tag": None, "energy": "0.1-0.8nm", "flux": 1e-6})
            for i, flux in enumerate(flare[5:] + [1e-7] * 2, start=n + 1):
                server.add_minute(T0 + 60 * i, flux, satellite=18)
            server.add_raw(swpc_record(T0 + 60 * (n - 1), 4.1e-5, satellite=18))
            await wait_until(lambda: any(e["state"] == "end" for e in events))
            stop.set()
            await task
        states = [(e["state"], e["level"]) for e in events]
        assert states == [("begin", None), ("threshold", "R1"), ("threshold", "R2"),
                          ("end", None)]
        end = events[-1]
        assert end["goes_class"] == "M6.0" and end["noaa_scale"] == "R2"
        assert end["flags"] == ["data_gap", "satellite_switch"]
        assert end["end_reason"] == "half_decay"
        validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for payload in events:
            assert not list(validator.iter_errors(envelope(payload)))
        counts = monitor.counts
        assert counts["feed_errors:http_status"] == 2
        assert counts["samples:null_flux"] >= 1 and counts["samples:non_positive_flux"] >= 1
        assert counts["samples:bad_time"] >= 1
        assert counts["samples:conflicting_duplicate"] >= 1
        assert counts["satellite:switch"] == 1 and counts["gap_minutes:gap"] == 1
        assert ("feed_errors", "http_status", 1) in counted
        status = monitor.status()
        assert status["latest"]["satellite"] == 18 and status["running_event"] is None
        json.dumps(status)  # JSON-ready for /api/v1/status
    run(scenario)
