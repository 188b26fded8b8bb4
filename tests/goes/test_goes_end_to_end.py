"""End to end: a synthetic flare scenario, its GOES truth served as SWPC JSON, predictions.

The scenario is the project's ``m_flare`` (an M2.5 flare); its GOES XRS-B
flux comes from the synthetic Sun's own truth (no images rendered). The
"model" is the truth lagged by two minutes, so it misses the onset and
raises false alarms in the decay: the expected contingency tables are
counted here directly from the two lists, independently of the verifier.
Checked: the live monitor (predictions first, GOES later, polled from the
loopback server), then ``sdo-monitor verify`` from a JSON-lines file with a
GOES file, from the URL, and from a Kafka topic on the real local broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes.swpc_server import SwpcServer

from monitor.goes.classes import class_level, goes_class
from monitor.goes.command import add_subparser
from monitor.goes.monitor import GoesMonitor
from monitor.goes.samples import utc
from monitor.goes.settings import GoesSettings, SwpcFeedSettings, VerificationSettings

LAG = 2  # minutes the fake model lags the truth
N_FRAMES = 40  # GOES runs 6 minutes past the last frame
WINDOWS = {"30m": 1800.0, "24h": 86400.0}


@pytest.fixture(scope="module")
def scenario() -> list[tuple[float, float]]:
    """(minute start, XRS-B flux) of the m_flare scenario, from the synthetic Sun's truth."""
    from monitor.synth.geometry import observer_at
    from monitor.synth.scenario import load_scenario
    from monitor.synth.sun import SyntheticSun, scene_truth

    sc = load_scenario("m_flare")
    assert sc.cadence_s == 60
    # World v1: its Sun stays below C1 for more than 10 of the minutes around the flare,
    # which the scoring checks below need (v2's flares decay more slowly: 9).
    sun = SyntheticSun(sc, size=64, seed=7, channels=(94,), world="v1")
    out = []
    for i in range(len(sun)):
        t_rec = sun.t_rec(i)  # aware UTC
        flux = scene_truth(sun.scene(i * sc.cadence_s, observer_at(t_rec)), sun.quiet_dem,
                           sun.world)[0]
        out.append((t_rec.timestamp(), float(flux)))
    return out


def level(flux: float) -> int:
    return class_level((goes_class(flux) or "A")[0]) or 0


def frame_data(i: int, t: float, predicted_level: int) -> dict[str, object]:
    names = ("none", "C", "M", "X")
    probs = {n: (0.91 if k == predicted_level else 0.03) for k, n in enumerate(names)}
    return {"frame_id": f"aia-{utc(t):%Y%m%dT%H%M%SZ}", "t_obs": utc(t + 6).isoformat(),
            "class_probabilities": probs, "predicted_class": names[predicted_level]}


def frames_of(scenario: list[tuple[float, float]]) -> list[dict[str, object]]:
    levels = [level(f) for _, f in scenario]
    return [frame_data(i, t, levels[max(0, i - LAG)]) for i, (t, _) in enumerate(scenario)
            if i < N_FRAMES]


def expected_cells(scenario: list[tuple[float, float]], since: float | None = None
                   ) -> dict[str, tuple[int, int, int, int]]:
    """(hits, misses, false alarms, correct negatives) per threshold, counted by hand."""
    levels = [level(f) for _, f in scenario]
    out = {}
    for k, name in ((1, "C"), (2, "M"), (3, "X")):
        cells = [0, 0, 0, 0]
        for i in range(N_FRAMES):
            t_obs = scenario[i][0] + 6
            if since is not None and t_obs <= since:
                continue
            predicted, observed = levels[max(0, i - LAG)] >= k, levels[i] >= k
            cells[0 if predicted and observed else 1 if observed else
                  2 if predicted else 3] += 1
        out[name] = tuple(cells)
    return out


def settings_for(url: str) -> GoesSettings:
    return GoesSettings(
        enabled=True, feed=SwpcFeedSettings(url=url, poll_interval_s=0.05, backoff_initial_s=0.05,
                                            backoff_max_s=0.2),
        verification=VerificationSettings(windows_s=WINDOWS, settle_s=60.0))


def test_live_monitor_scores_the_scenario(scenario: list[tuple[float, float]]) -> None:
    levels = [level(f) for _, f in scenario]
    assert max(levels) == 2 and levels.count(0) > 10  # an M flare with quiet around it
    expected = expected_cells(scenario)
    assert expected["M"][0] > 0 and expected["M"][1] > 0 and expected["M"][2] > 0

    async def run() -> GoesMonitor:
        async with SwpcServer() as server:
            events: list[dict[str, object]] = []
            monitor = GoesMonitor(settings_for(server.url()), on_event=events.append)
            for data in frames_of(scenario):  # predictions first: GOES comes later
                assert monitor.observe_frame_data(data) == "pending"
            assert monitor.verifier.pending == N_FRAMES
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop))
            for start in range(0, len(scenario), 10):  # GOES arrives in chunks
                for t, flux in scenario[start:start + 10]:
                    server.add_minute(t, flux)
                await asyncio.sleep(0.15)
            deadline = asyncio.get_running_loop().time() + 10
            while monitor.verifier.pending and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await task
            assert [e["state"] for e in events] == ["begin", "threshold", "end"]
            assert events[-1]["goes_class"].startswith("M2")  # M2.5 sampled each minute
            return monitor

    monitor = asyncio.run(run())
    assert monitor.verifier.pending == 0
    assert monitor.verifier.counts["scored"] == N_FRAMES
    rows = {(r.threshold, r.window): r.table for r in monitor.scores()}
    for name, cells in expected.items():
        table = rows[(name, "24h")]
        assert (table.hits, table.misses, table.false_alarms, table.correct_negatives) == cells
    # the 30-minute window, as of the end of the GOES data, holds only the later frames
    as_of = scenario[-1][0] + 60
    for name, cells in expected_cells(scenario, since=as_of - 1800).items():
        table = rows[(name, "30m")]
        assert (table.hits, table.misses, table.false_alarms, table.correct_negatives) == cells
    m = rows[("M", "24h")]
    a, c, b, d = expected["M"]
    assert m.tss == pytest.approx(a / (a + c) - b / (b + d))
    assert m.hss == pytest.approx(2 * (a * d - b * c) / ((a + c) * (c + d) + (a + b) * (b + d)))
    x = rows[("X", "24h")]
    assert x.tss is None and x.hss is None  # no X flare: undefined, not 0
    status = json.loads(json.dumps(monitor.status()))
    assert status["pending_predictions"] == 0
    restored = GoesMonitor(settings_for("http://127.0.0.1:1/x.json"))
    assert restored.restore(json.loads(json.dumps(monitor.snapshot()))) > 0
    assert [r.to_dict() for r in restored.scores()] == [r.to_dict() for r in monitor.scores()]


# -- the verify command ----------------------------------------------------------------
def verify(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    return int(args.func(args))


def write_frames(path: Path, frames: list[dict[str, object]]) -> None:
    with open(path, "w") as f:
        f.writelines(json.dumps({"specversion": "1.0", "id": str(data["frame_id"]),
                                 "type": "org.sdo-monitor.frame.analyzed.v1",
                                 "source": "urn:sdo-monitor:test", "data": data}) + "\n"
                     for data in frames)
        f.write(json.dumps({"specversion": "1.0", "type": "org.sdo-monitor.alert.v1",
                            "data": {}}) + "\n")
        f.write("{not json\n")


def check_report(out: Path, scenario: list[tuple[float, float]]) -> dict[str, object]:
    report = json.loads((out / "verify_report.json").read_text())
    assert report["predictions"]["scored"] == N_FRAMES
    for row in report["period_scores"]:
        cells = (row["hits"], row["misses"], row["false_alarms"], row["correct_negatives"])
        assert cells == expected_cells(scenario)[row["threshold"]]
    (event,) = report["goes_events"]
    assert event["goes_class"].startswith("M2") and event["frames"] > 5
    assert 0 < event["frames_predicting_class"] < event["frames"]  # the lag misses the onset
    markdown = (out / "verify_report.md").read_text()
    assert "| >= M |" in markdown and event["event_id"] in markdown
    return report


def test_verify_command_with_files(tmp_path: Path, scenario: list[tuple[float, float]]) -> None:
    frames = tmp_path / "frames.jsonl"
    write_frames(frames, frames_of(scenario))
    server = SwpcServer()
    for t, flux in scenario:
        server.add_minute(t, flux)
    goes = tmp_path / "xrays-1-day.json"
    goes.write_bytes(server.document("1-day"))
    assert verify("--frames", str(frames), "--goes", str(goes), "--out", str(tmp_path)) == 0
    report = check_report(tmp_path, scenario)
    assert report["inputs"]["frames_skipped"] == {"other_type": 1, "bad_json": 1}
    assert verify("--frames", str(tmp_path / "missing.jsonl"), "--goes", str(goes)) == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert verify("--frames", str(empty), "--goes", str(goes)) == 2


@contextmanager
def threaded_server(scenario: list[tuple[float, float]]) -> Iterator[SwpcServer]:
    """The loopback server on its own event loop (the command runs its own)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = SwpcServer()
    for t, flux in scenario:
        server.add_minute(t, flux)
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_verify_command_with_url(tmp_path: Path, scenario: list[tuple[float, float]]) -> None:
    frames = tmp_path / "frames.jsonl"
    write_frames(frames, frames_of(scenario))
    with threaded_server(scenario) as server:
        assert verify("--frames", str(frames), "--goes-url", server.url("7-day"),
                      "--out", str(tmp_path)) == 0
        check_report(tmp_path, scenario)
        server.fail("status", times=1, status=500)
        assert verify("--frames", str(frames), "--goes-url", server.url("7-day"),
                      "--out", str(tmp_path / "x")) == 2


def test_verify_command_from_kafka(tmp_path: Path, scenario: list[tuple[float, float]],
                                   kafka_bootstrap: str, unique_topic: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=[kafka_bootstrap])
    try:
        for data in frames_of(scenario):
            event = {"specversion": "1.0", "type": "org.sdo-monitor.frame.analyzed.v1",
                     "id": data["frame_id"], "source": "urn:sdo-monitor:test", "data": data}
            producer.send(unique_topic, json.dumps(event).encode(), key=b"k")
        producer.flush(30)
    finally:
        producer.close()
    server = SwpcServer()
    for t, flux in scenario:
        server.add_minute(t, flux)
    goes = tmp_path / "xrays.json"
    goes.write_bytes(server.document("1-day"))
    assert verify("--kafka-topic", unique_topic, "--bootstrap", kafka_bootstrap,
                  "--goes", str(goes), "--out", str(tmp_path)) == 0
    check_report(tmp_path, scenario)
