"""A shadow package in the running daemon: the shipped package serves, a perturbed copy shadows.

The challenger is the shipped package with its class head pushed to "X"
(re-packaged through :func:`monitor.models.write_package`, hashes and parity
included), so on a quiet Sun its P(>= M) crosses the alert rules' threshold in
every frame while the serving package's stays below it. Frames are fed one at
a time, each after the previous one's shadow result arrived, so the pipeline
always has spare capacity and every frame gets both results. The synthetic
Sun's own GOES truth is served as SWPC's JSON, so both packages are scored on
the same replayed day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import torch
from fakes.swpc_server import SwpcServer
from kafka import KafkaConsumer, TopicPartition
from support import daemon_config

from monitor.app import Daemon
from monitor.goes.settings import GoesSettings, SwpcFeedSettings
from monitor.models import load_package, write_package
from monitor.models.layout import default_package_path
from monitor.models.testing import make_random_package
from monitor.publish.envelope import validate_event
from monitor.synth import SynthFeed

CHALLENGER = "sdo-flare-eve-challenger"


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped package with its class head biased towards X (always 'flaring')."""
    shipped = load_package(default_package_path(), verify=False)
    model = shipped.build_torch_model()
    classes = list(shipped.manifest.classes.classes)
    with torch.no_grad():
        model.class_head.bias[classes.index("X")] += 30.0
    manifest = dataclasses.replace(shipped.manifest, name=CHALLENGER, version="0.1.0-test",
                                   created_utc="")
    out = tmp_path_factory.mktemp("challenger") / "pkg"
    write_package(out, model, manifest, verify=True)
    return out


class Collector:
    """Every message of some topics, as they arrive (a consumer on its own thread)."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.messages: dict[str, list[dict]] = {t: [] for t in topics}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(bootstrap,), daemon=True)
        self._thread.start()

    def _run(self, bootstrap: str) -> None:
        consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False,
                                 consumer_timeout_ms=200)
        while not self._stop.is_set() and not all(consumer.partitions_for_topic(t)
                                                  for t in self.messages):
            time.sleep(0.2)
        parts = [TopicPartition(t, p) for t in self.messages
                 for p in consumer.partitions_for_topic(t) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while not self._stop.is_set():
            for record in consumer:
                self.messages[record.topic].append(json.loads(record.value))
        consumer.close()

    def frame_ids(self, topic: str) -> set[str]:
        return {m["data"]["frame_id"] for m in self.messages[topic]}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def frames_of(staging: Path, truth: Path) -> Iterator[list[Path]]:
    written = list(SynthFeed("quiet_sun", staging, size=512, speed=0, seed=7, duration_s=420,
                             truth_path=truth).run())
    for index in sorted({f.index for f in written}):
        yield [f.path for f in written if f.index == index]


def test_shadow_runs_on_every_frame_is_scored_and_never_alerts(
        tmp_path: Path, kafka_bootstrap: str, challenger: Path) -> None:
    staging, spool, truth = tmp_path / "staging", tmp_path / "spool", tmp_path / "truth.jsonl"
    frames = list(frames_of(staging, truth))
    spool.mkdir()
    minutes = [json.loads(line) for line in truth.read_text().splitlines()]
    prefix = "e2eshadow"
    base = daemon_config(tmp_path, spool, default_package_path(), prefix)
    # a second shadow that cannot read the serving package's frames: refused, said why,
    # and the daemon serves anyway
    misfit = tmp_path / "misfit"
    make_random_package(misfit, size=64, seed=3, verify=False,
                        spec={"name": "test-misfit", "version": "1"})
    inference = dataclasses.replace(base.inference, shadow=(challenger, misfit))

    async def main() -> tuple[Collector, str, dict]:
        async with SwpcServer() as server:
            times = [datetime.fromisoformat(m["t_rec"]).timestamp() for m in minutes]
            for t, m in zip(times, minutes):
                server.add_minute(t, m["goes_xrsb_flux"])
            for k in range(1, 6):  # GOES goes on past the last frame: every frame is scored
                server.add_minute(times[-1] + 60.0 * k, minutes[-1]["goes_xrsb_flux"])
            goes = GoesSettings(enabled=True, feed=SwpcFeedSettings(
                url=server.url("6-hour"), poll_interval_s=0.5))
            config = dataclasses.replace(base, inference=inference, goes=goes)
            stop = asyncio.Event()
            daemon = Daemon(config, [kafka_bootstrap])
            task = asyncio.create_task(daemon.run(stop))
            await daemon.wait_ready(120)
            assert list(daemon.shadow_failures) == [str(misfit)]
            assert "grid size 64 px" in daemon.shadow_failures[str(misfit)]
            got = Collector(kafka_bootstrap, [f"{prefix}.frames", f"{prefix}.frames.shadow",
                                              f"{prefix}.alerts"])
            try:
                for k, files in enumerate(frames, start=1):
                    for path in files:
                        shutil.move(str(path), spool / path.name)
                    deadline = time.monotonic() + 120
                    while (len(got.frame_ids(f"{prefix}.frames.shadow")) < k
                           and time.monotonic() < deadline):
                        await asyncio.sleep(0.2)
                await asyncio.sleep(3)  # GOES polls, scores, one housekeeping export
                host, port = daemon.http_address
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://{host}:{port}/metrics") as r:
                        metrics = await r.text()
                    async with http.get(f"http://{host}:{port}/api/v1/status") as r:
                        status = await r.json()
                    async with http.get(f"http://{host}:{port}/api/v1/models") as r:
                        status["models"] = await r.json()
            finally:
                got.close()
                stop.set()
            assert await asyncio.wait_for(task, 60) == 0
            return got, metrics, status

    got, metrics, status = asyncio.run(main())
    served = got.messages[f"{prefix}.frames"]
    shadowed = got.messages[f"{prefix}.frames.shadow"]
    n = len(frames)
    # both topics carry every frame, once
    assert len(got.frame_ids(f"{prefix}.frames")) == n == len(served)
    assert got.frame_ids(f"{prefix}.frames.shadow") == got.frame_ids(f"{prefix}.frames")
    assert len(shadowed) == n
    shipped = load_package(default_package_path(), verify=False)
    for event in shadowed:
        validate_event(event)
        data = event["data"]
        assert event["type"] == "org.sdo-monitor.frame.shadow.v1"
        assert data["model"]["name"] == CHALLENGER and data["model"]["version"] == "0.1.0-test"
        assert data["model"]["sha256"] == load_package(challenger, verify=False).sha256
        assert data["champion"]["sha256"] == shipped.sha256
    # the challenger would cross the alert threshold in every frame, the serving package never
    p_ge_m = [e["data"]["class_probabilities"]["M"] + e["data"]["class_probabilities"]["X"]
              for e in served]
    shadow_p_ge_m = [e["data"]["class_probabilities"]["M"] + e["data"]["class_probabilities"]["X"]
                     for e in shadowed]
    assert max(p_ge_m) < 0.5, p_ge_m
    assert min(shadow_p_ge_m) > 0.99, shadow_p_ge_m
    assert got.messages[f"{prefix}.alerts"] == []
    assert 'sdo_monitor_shadow_skipped_total{package="sdo-flare-eve-challenger:0.1.0-test"} 0.0' \
        in metrics
    assert (f'sdo_monitor_shadow_frames_total{{package="{CHALLENGER}:0.1.0-test"}} {float(n)}'
            in metrics)

    # only the class head differs: the two virtual EVEs agree (to float32 rounding: the
    # challenger's ONNX graph is a fresh export of the same irradiance weights)
    found = re.search(r'sdo_monitor_shadow_irradiance_relative_difference\{package="'
                      + re.escape(CHALLENGER) + r':0.1.0-test"\} (\S+)', metrics)
    assert found is not None and float(found.group(1)) < 1e-5, found

    # per-package scores after the replayed day: both scored on every frame, apart
    rows = {(r["package"], r["threshold"], r["window"]): r for r in status["goes"]["scores"]}
    champion = rows[(f"{shipped.manifest.name}:{shipped.manifest.version}", "M", "24h")]
    shadow = rows[(f"{CHALLENGER}:0.1.0-test", "M", "24h")]
    assert champion["n"] == shadow["n"] == n
    assert champion["correct_negatives"] == n and champion["false_alarms"] == 0
    assert shadow["false_alarms"] == n and shadow["correct_negatives"] == 0
    # /api/v1/models: the champion and the challenger side by side, card and live numbers
    serving, challenger_entry = status["models"]["packages"]
    assert serving["role"] == "serving" and serving["model"]["sha256"] == shipped.sha256
    assert serving["card"]["status"] == "evaluated" and serving["card"]["test_tss"]["M"] > 0.9
    assert challenger_entry["role"] == "shadow" and challenger_entry["package"] == \
        f"{CHALLENGER}:0.1.0-test"
    assert challenger_entry["frames"] == n and challenger_entry["skipped"] == 0
    live = {(r["threshold"], r["window"]): r for r in challenger_entry["live"]}
    assert live[("M", "24h")]["false_alarms"] == n
    assert {(r["threshold"], r["window"]): r["correct_negatives"]
            for r in serving["live"]}[("M", "24h")] == n
    [refused] = status["models"]["refused"]
    assert refused["path"] == str(misfit) and "grid size" in refused["reason"]
    label = f'package="{CHALLENGER}:0.1.0-test",threshold="M",window="24h"'
    assert f'sdo_monitor_verification_contingency{{cell="false_alarms",{label}}} {float(n)}' \
        in metrics
