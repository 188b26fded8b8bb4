"""Broker faults the outage test does not cover: down at start-up, frozen, topics missing.

Each test runs the real daemon (``sdo-monitor run``, live spool) against a real
Kafka-protocol broker and checks the publishing contract: analysis goes on
while Kafka cannot take the results, they wait in the outbox, and once the
broker is usable every frame reaches its topic with one stable id and the
outbox drains to zero.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from kafka import KafkaAdminClient
from support import (
    copy_frames,
    delivery_report,
    frames_in_time_order,
    integrity,
    kill,
    ledger_counts,
    ledger_frame_ids,
    outbox_pending,
    read_frames,
    record_outcome,
    spawn,
    spool_feeds,
    wait_for,
    wait_ready,
    write_config,
)

from monitor.publish.kafka_client import client_options, ensure_topics, topic_names
from monitor.publish.local_broker import LocalBroker
from monitor.publish.settings import KafkaSettings


def _processed(state: Path) -> int:
    return ledger_counts(state).get("processed", 0)


def _stop(proc, log: Path) -> None:  # type: ignore[no-untyped-def]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]


def test_broker_down_at_start_outbox_grows_then_drains(tmp_path: Path, untrained_package: Path,
                                                       m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    broker = LocalBroker()  # a reserved port with nothing listening yet
    prefix = "rel.fault.down"
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=broker.bootstrap,
                       prefix=prefix, package=untrained_package, feeds=spool_feeds(spool))
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    try:
        wait_ready(daemon, log)  # serving without any broker
        copy_frames(files, spool, range(3))
        wait_for(lambda: _processed(state) == 3 * 7, 120, what="3 frames analysed, no broker")
        # every frame's frame + saliency messages are held, none was dropped
        assert outbox_pending(state) >= 2 * 3
        assert daemon.poll() is None
        broker.start()
        events = read_frames(broker.bootstrap, f"{prefix}.frames", 3, 120)
        wait_for(lambda: outbox_pending(state) == 0, 60, what="outbox drained")
        _stop(daemon, log)
    finally:
        kill(daemon)
        broker.close()
    expected = ledger_frame_ids(state)
    report = delivery_report(events, expected)
    record_outcome("broker down at start-up", "broker absent for the first 3 frames", report)
    assert len(expected) == 3
    assert report["lost"] == 0 and report["unexpected"] == 0 and report["unstable_ids"] == 0
    assert integrity(state / "ledger.sqlite3") == "ok"
    assert "Traceback" not in log.read_text()


def test_frozen_broker_loses_nothing(tmp_path: Path, untrained_package: Path,
                                     m_flare_files: Path) -> None:
    """SIGSTOP/SIGCONT of the broker process: a real hang (no RST, no errors), then a stutter."""
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    broker = LocalBroker().start()
    prefix = "rel.fault.frozen"
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=broker.bootstrap,
                       prefix=prefix, package=untrained_package, feeds=spool_feeds(spool))
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    pid = broker_pid(broker)
    try:
        wait_ready(daemon, log)
        copy_frames(files, spool, range(2))
        assert len({e["data"]["frame_id"] for e in
                    read_frames(broker.bootstrap, f"{prefix}.frames", 2, 120)}) == 2
        os.kill(pid, signal.SIGSTOP)  # frozen: connections stay open, nothing answers
        try:
            copy_frames(files, spool, range(2, 5))
            wait_for(lambda: _processed(state) == 5 * 7, 120,
                     what="3 frames analysed while the broker is frozen")
            assert outbox_pending(state) > 0  # nothing can have been acknowledged
            assert daemon.poll() is None
        finally:
            os.kill(pid, signal.SIGCONT)
        # a slow broker: frozen 1.5 s out of every 2 s while more frames arrive
        copy_frames(files, spool, range(5, 7))
        for _ in range(4):
            os.kill(pid, signal.SIGSTOP)
            time.sleep(1.5)
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.5)
        events = read_frames(broker.bootstrap, f"{prefix}.frames", 7, 120)
        wait_for(lambda: outbox_pending(state) == 0, 60, what="outbox drained")
        _stop(daemon, log)
    finally:
        if broker.running:
            os.kill(pid, signal.SIGCONT)
        kill(daemon)
        broker.close()
    expected = ledger_frame_ids(state)
    report = delivery_report(events, expected)
    record_outcome("frozen / slow broker", "SIGSTOP during 3 frames, then 4 x 1.5 s stutter",
                   report)
    assert len(expected) == 7
    assert report["lost"] == 0 and report["unexpected"] == 0 and report["unstable_ids"] == 0


def test_missing_topics_without_create_wait_in_outbox(tmp_path: Path, kafka_bootstrap: str,
                                                      untrained_package: Path,
                                                      m_flare_files: Path) -> None:
    files = frames_in_time_order(m_flare_files)
    spool, state = tmp_path / "spool", tmp_path / "state"
    spool.mkdir()
    prefix = f"rel.fault.notopic.{os.getpid()}"
    cfg = write_config(tmp_path / "cfg.yaml", state=state, bootstrap=kafka_bootstrap,
                       prefix=prefix, package=untrained_package, feeds=spool_feeds(spool))
    cfg.write_text(cfg.read_text().replace("  partitions: 2", "  partitions: 2\n"
                                                              "  create_topics: false"))
    log = tmp_path / "daemon.log"
    daemon = spawn("run", "-c", str(cfg), log=log)
    options = client_options(KafkaSettings(), [kafka_bootstrap])
    topics = list(topic_names(prefix).values())
    try:
        wait_ready(daemon, log)
        copy_frames(files, spool, range(2))
        wait_for(lambda: _processed(state) == 2 * 7, 120, what="2 frames analysed")
        wait_for(lambda: "kafka.create_topics is false" in log.read_text(), 60,
                 what="a clear error naming the missing topic and the setting")
        assert outbox_pending(state) >= 2 * 2
        admin = KafkaAdminClient(**options)
        try:
            assert not set(topics) & set(admin.list_topics())  # nothing auto-created
        finally:
            admin.close()
        ensure_topics(options, topics, 2, 1)  # the cluster's owners provision them
        events = read_frames(kafka_bootstrap, f"{prefix}.frames", 2, 120)
        wait_for(lambda: outbox_pending(state) == 0, 60, what="outbox drained")
        _stop(daemon, log)
    finally:
        kill(daemon)
    text = log.read_text()
    assert f"topic {prefix}.frames does not exist" in text
    expected = ledger_frame_ids(state)
    report = delivery_report(events, expected)
    record_outcome("topics missing, create_topics: false", "topics created after 2 frames",
                   report)
    assert len(expected) == 2
    assert report["lost"] == 0 and report["unexpected"] == 0 and report["unstable_ids"] == 0


def broker_pid(broker: LocalBroker) -> int:
    """The running broker's process id."""
    assert broker.pid is not None, "broker not running"
    return broker.pid
