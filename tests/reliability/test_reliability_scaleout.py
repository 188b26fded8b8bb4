"""Two daemons in one consumer group split a notification topic; one dies, one finishes.

Notifications are keyed by the frame's observation slot, so all channels of
a frame reach the same instance: no frame is ever split (no incomplete-frame
rejections), every frame is analysed, and a frame analysed twice (work of the
killed instance that was not committed) carries the same message id.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from astropy.io import fits
from kafka import KafkaProducer
from support import (
    delivery_report,
    frames_in_time_order,
    kill,
    ledger_frame_ids,
    read_topic,
    record_outcome,
    spawn,
    write_config,
)

from monitor.publish.kafka_client import client_options, ensure_topics
from monitor.publish.settings import KafkaSettings
from monitor.sources import make_notification


def read_t_obs_and_wavelength(path: Path) -> tuple[str, int]:
    header = fits.getheader(path, 1)
    return str(header["T_OBS"]), int(header["WAVELNTH"])


def _notify(bootstrap: str, topic: str, files: list[Path]) -> None:
    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all")
    for path in files:
        t_obs, wavelength = read_t_obs_and_wavelength(path)
        key, value = make_notification(path=str(path), t_obs=t_obs, wavelength=wavelength,
                                       cadence_s=60)
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def test_two_instances_split_the_work_and_survive_a_kill(tmp_path: Path, kafka_bootstrap: str,
                                                         untrained_package: Path,
                                                         m_flare_files: Path) -> None:
    prefix = "rel.scale"
    topic = f"{prefix}.notifications"
    ensure_topics(client_options(KafkaSettings(), [kafka_bootstrap]), [topic], 4, 1)
    feeds = (f"feeds:\n  - {{kind: kafka, name: notes, topic: {topic}, group_id: {prefix}, "
             f"cadence_s: 60, path_roots: [{m_flare_files}], session_timeout_s: 6, "
             f"heartbeat_interval_s: 1, max_poll_interval_s: 5}}")
    procs, logs = {}, {}
    for name in ("a", "b"):
        cfg = write_config(tmp_path / f"{name}.yaml", state=tmp_path / name / "state",
                           bootstrap=kafka_bootstrap, prefix=prefix, package=untrained_package,
                           feeds=feeds)
        text = cfg.read_text().replace("  mode: live", f"  mode: live\n  instance: {name}")
        cfg.write_text(text)
        logs[name] = tmp_path / f"{name}.log"
        procs[name] = spawn("run", "-c", str(cfg), log=logs[name])
    files = frames_in_time_order(m_flare_files)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(
                "daemon ready" in logs[n].read_text() for n in logs):
            time.sleep(0.5)
        time.sleep(8)  # both joined the group and got partitions
        _notify(kafka_bootstrap, topic, files[:8 * 7])
        first = read_topic(kafka_bootstrap, f"{prefix}.frames", 4, 120)
        assert len(first) >= 4, logs["a"].read_text()[-2000:] + logs["b"].read_text()[-2000:]
        kill(procs["b"])
        _notify(kafka_bootstrap, topic, files[8 * 7:])
        frames = read_topic(kafka_bootstrap, f"{prefix}.frames", 16, 180)
    finally:
        for proc in procs.values():
            kill(proc)
    frame_ids = {e["data"]["frame_id"] for e in frames}
    analysed = set().union(*(ledger_frame_ids(tmp_path / n / "state") for n in ("a", "b")))
    record_outcome("scale-out, one instance killed", "2 instances in a consumer group, one "
                   "SIGKILLed after 8 of 16 frames", delivery_report(frames, analysed))
    assert len(frame_ids) == 16, sorted(Counter(e["source"] for e in frames).items())
    assert {e["source"] for e in first} <= {"urn:sdo-monitor:a", "urn:sdo-monitor:b"}
    assert len({e["source"] for e in frames}) == 2  # both instances did work
    per_frame: dict[str, set[str]] = {}
    for event in frames:
        per_frame.setdefault(event["data"]["frame_id"], set()).add(event["id"])
        assert event["data"]["missing_channels"] == []  # channels of a frame never split
    assert all(len(ids) == 1 for ids in per_frame.values())
    rejects = read_topic(kafka_bootstrap, f"{prefix}.rejects", 1, 5)
    assert not [r for r in rejects if r["data"]["reason"] == "incomplete_frame"]
    json.dumps(frames)  # the messages are plain JSON
