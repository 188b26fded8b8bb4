"""KafkaPublisher against the real local broker (Tansu): delivery, outages, restarts.

Every check reads the messages back with an independent kafka-python consumer
(partitions assigned directly, no consumer group) and validates them against
the shipped schemas.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from monitor.models.provenance import UNDECLARED, ModelIdentity
from monitor.publish.envelope import CONTENT_TYPE, make_event, to_outbound, validate_event
from monitor.publish.kafka_client import client_options, ensure_topics, existing_topics, topic_names
from monitor.publish.local_broker import LocalBroker
from monitor.publish.outbox import OutboundMessage, Outbox, OutboxFull
from monitor.publish.producer import KafkaPublisher
from monitor.publish.settings import KafkaSettings, PublishSettings

pytestmark = pytest.mark.timeout(90)

SOURCE = "urn:sdo-monitor:test"
PROVENANCE = {"data": "synthetic", "source": "test", "start": None, "end": None}
FAST = PublishSettings(send_timeout_s=3.0, max_block_s=2.0, connect_timeout_s=1.0,
                       retry_backoff_min_s=0.1, retry_backoff_max_s=0.5, linger_ms=5,
                       idle_poll_s=0.5, drain_batch_messages=50)


@dataclass
class Recorder:
    """Collects what the publisher reports to its listener."""

    acked: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    delivered_ids: list[str] = field(default_factory=list)
    last_pending: int = -1

    def acknowledged(self, topic: str, count: int, latency_s: float) -> None:
        self.acked += count

    def delivered(self, messages: Sequence[OutboundMessage], acked_at: float) -> None:
        self.delivered_ids.extend(m.message_id for m in messages)

    def error(self, kind: str) -> None:
        self.errors.update([kind])

    def outbox_changed(self, pending: int, pending_bytes: int, oldest_age_s: float) -> None:
        self.last_pending = pending


def kafka_settings(prefix: str, **overrides: Any) -> KafkaSettings:
    return KafkaSettings(topic_prefix=prefix, request_timeout_s=2.0, **overrides)


#: the package every alert names (alert.v1 requires one)
MODEL = ModelIdentity("sdo-cnn", "1.0.0", "ab" * 32, UNDECLARED)


def events(prefix: str, n: int, tag: str) -> list[OutboundMessage]:
    """``n`` alerts of one rule (one key: order must hold) and ``n`` rejects."""
    out = []
    for i in range(n):
        alert = {"alert_id": f"{tag}-{i}", "rule": f"rule-{tag}", "state": "firing",
                 "severity": "warning", "noaa_scale": "R1", "started_at": "2024-05-10T12:00:00Z",
                 "resolved_at": None, "evidence_frames": [f"frame-{i}"],
                 "peak_probability": 0.7, "location": None, "message": f"alert {i}",
                 "model": MODEL.to_dict()}
        reject = {"path": f"/spool/{tag}-{i}.fits", "feed": "spool", "reason": "unreadable",
                  "detail": "truncated", "size_bytes": i, "sha256": None}
        out.append(to_outbound(make_event("alert", alert, source=SOURCE), prefix))
        out.append(to_outbound(make_event("input.rejected", reject, source=SOURCE), prefix))
    return out


def read_back(bootstrap: str, topics: list[str], expect_ids: set[str],
              timeout_s: float = 30.0) -> list[Any]:
    """All records of ``topics`` from the beginning, until every expected id was seen."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=5000)
    try:
        partitions = []
        deadline = time.monotonic() + timeout_s
        for topic in topics:
            while (found := consumer.partitions_for_topic(topic)) is None:
                assert time.monotonic() < deadline, f"topic {topic} never appeared"
                time.sleep(0.2)
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list[Any] = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if expect_ids <= {_id(r) for r in records}:
                break
        return records
    finally:
        consumer.close()


def _id(record: Any) -> str:
    return str(_json(record)["id"])


def _json(record: Any) -> dict[str, Any]:
    return json.loads(record.value)


def check_records(records: list[Any], sent: list[OutboundMessage]) -> None:
    """Schema-valid, right headers and keys; duplicates only with identical ids and bytes."""
    by_id = {m.message_id: m for m in sent}
    for record in records:
        event = _json(record)
        validate_event(event)
        original = by_id[event["id"]]
        assert record.value == original.value  # a duplicate is byte-identical, id included
        assert record.key == original.key and record.topic == original.topic
        assert dict(record.headers)["content-type"] == CONTENT_TYPE.encode()


def check_key_order(records: list[Any], sent: list[OutboundMessage]) -> None:
    """Per key, the first occurrences follow the publishing order."""
    position = {m.message_id: i for i, m in enumerate(sent)}
    seen: set[str] = set()
    last: dict[tuple[str, bytes], int] = {}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        mid = _id(record)
        if mid in seen:
            continue
        seen.add(mid)
        slot = (record.topic, record.key)
        assert position[mid] > last.get(slot, -1), f"{mid} overtook an earlier message"
        last[slot] = position[mid]


def producer_threads(client_id: str) -> list[str]:
    """kafka-python names each producer's sender thread ``<client_id>-network-thread``."""
    return [t.name for t in threading.enumerate() if t.name.startswith(client_id) and t.is_alive()]


def publisher_for(tmp_path: Path, prefix: str, bootstrap: str, settings: PublishSettings = FAST,
                  **kafka: Any) -> tuple[KafkaPublisher, Recorder]:
    recorder = Recorder()
    publisher = KafkaPublisher(settings, kafka_settings(prefix, **kafka),
                               tmp_path / "outbox.sqlite3", bootstrap=[bootstrap],
                               listener=recorder)
    return publisher, recorder


def test_publish_delivers_valid_events_in_key_order(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 25, "e2e")
    frame_data = {"frame_id": "f1", "t_obs": "2024-05-10T12:00:00Z", "inputs": [
        {"path": "/a.fits", "channel": 171, "t_obs": "2024-05-10T12:00:00Z", "quality": 0,
         "quality_flags": [], "sha256": "a" * 64}], "class_probabilities": {"M": 0.9},
        "predicted_class": "M", "irradiance": [], "model": {"name": "m", "version": "1",
                                                             "sha256": "b" * 64,
                                                             "provenance": PROVENANCE},
        "backend": "torch-cpu", "latencies_s": {"inference": 0.1}, "flags": []}
    sent.append(to_outbound(make_event("frame.analyzed", frame_data, source=SOURCE), prefix))

    async def scenario() -> tuple[int, int, Any]:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap,
                                            client_id=f"{prefix}-pub")
        await publisher.start()
        assert await publisher.publish(sent[:20]) == 20
        assert await publisher.publish(sent) == len(sent) - 20  # ids already there: skipped
        assert await publisher.wait_drained(30)
        health = publisher.health()
        left = await publisher.stop(5)
        assert recorder.errors == Counter()
        return recorder.acked, left, health

    acked, left, health = asyncio.run(scenario())
    assert (acked, left) == (len(sent), 0)
    assert producer_threads(f"{prefix}-pub") == []  # stop() closed the producer
    assert health.connected and health.producer_generation == 1 and health.pending == 0
    records = read_back(kafka_bootstrap, list(topic_names(prefix).values()),
                        {m.message_id for m in sent})
    assert sorted(_id(r) for r in records) == sorted(m.message_id for m in sent)  # exactly once
    check_records(records, sent)
    check_key_order(records, sent)
    partitions = {r.partition for r in records if r.topic == f"{prefix}.alerts"}
    assert len(partitions) == 1  # one rule: one key, one partition


def test_the_topics_exist_and_the_producer_is_connected_before_the_first_message(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    # The first frame after a start must not pay for connecting, creating the topics and
    # learning their partitions: the publisher does all three as soon as it starts.
    prefix = f"t{uuid.uuid4().hex[:8]}"
    options = client_options(kafka_settings(prefix), [kafka_bootstrap])

    async def scenario() -> tuple[Any, Counter[str]]:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap)
        await publisher.start()
        deadline = time.monotonic() + 20
        while not publisher.health().connected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        health = publisher.health()
        await publisher.stop(5)
        return health, recorder.errors

    health, errors = asyncio.run(scenario())
    assert health.connected and health.producer_generation == 1 and health.pending == 0
    assert errors == Counter() and health.last_error is None
    # an independent admin client sees every topic of the daemon, with nothing sent
    assert set(topic_names(prefix).values()) <= existing_topics(options)


def test_a_broker_not_there_at_start_is_reported_by_the_first_batch_only(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    nobody = LocalBroker()  # a port where no broker listens

    async def scenario() -> tuple[Any, Counter[str]]:
        publisher, recorder = publisher_for(tmp_path, prefix, nobody.bootstrap)
        await publisher.start()
        await asyncio.sleep(FAST.connect_timeout_s + 1.0)  # the quiet connect has failed
        health = publisher.health()
        await publisher.stop(1)
        return health, recorder.errors

    try:
        health, errors = asyncio.run(scenario())
    finally:
        nobody.close()
    # idle, nothing sent: not an outage (the readiness check relies on it)
    assert health.running and not health.connected
    assert errors == Counter() and health.last_error is None


def test_a_failed_priming_leaves_the_first_batch_to_do_it(
        kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fault kafka-python does not produce on demand: learning partitions raising
    # something unexpected. Priming is only a head start; the publisher must go on.
    from monitor.publish import delivery

    def fake_learn_partitions(producer: Any, topics: Sequence[str]) -> None:
        raise RuntimeError("fault injected into priming")

    monkeypatch.setattr(delivery, "learn_partitions", fake_learn_partitions)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 3, "prime")

    async def scenario() -> tuple[Any, Counter[str]]:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap)
        await publisher.start()
        await publisher.publish(sent)
        assert await publisher.wait_drained(30)
        health = publisher.health()
        await publisher.stop(5)
        return health, recorder.errors

    health, errors = asyncio.run(scenario())
    assert health.running and health.pending == 0
    assert errors == Counter()
    records = read_back(kafka_bootstrap, list(topic_names(prefix).values()),
                        {m.message_id for m in sent})
    assert {_id(r) for r in records} == {m.message_id for m in sent}


def test_broker_killed_mid_stream_and_restarted_empty(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 60, "kill")  # 120 messages, 60 of them on one key
    broker = LocalBroker().start()
    topics = list(topic_names(prefix).values())
    first = {m.message_id for m in sent[:20]}
    try:
        async def scenario() -> tuple[list[Any], set[str], int, Any, Any, Counter[str]]:
            publisher, recorder = publisher_for(tmp_path, prefix, broker.bootstrap,
                                                client_id=f"{prefix}-pub")
            await publisher.start()
            await publisher.publish(sent[:20])
            assert await publisher.wait_drained(20)
            # Read what the broker holds now: its in-memory storage forgets
            # acknowledged records on restart (a real cluster keeps them).
            before = await asyncio.get_running_loop().run_in_executor(
                None, read_back, broker.bootstrap, topics, first)
            # Freeze the broker so the next batch is sent but never acknowledged,
            # then kill it: messages in flight at the moment of the crash.
            assert broker._proc is not None
            os.kill(broker._proc.pid, signal.SIGSTOP)
            await publisher.publish(sent[20:30])
            await asyncio.sleep(0.3)
            pending_at_kill = publisher.health().pending
            broker.kill()
            for i in range(30, len(sent), 10):  # the stream goes on during the outage
                await publisher.publish(sent[i:i + 10])
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)
            during = publisher.health()
            # Same port, empty storage. Started on this thread on purpose: the
            # broker gets PR_SET_PDEATHSIG, which fires when the *thread* that
            # started it exits, so an executor thread would take it down later.
            broker.start()
            assert await publisher.wait_drained(40)
            after = publisher.health()
            assert await publisher.stop(5) == 0
            return before, set(recorder.delivered_ids), pending_at_kill, during, after, \
                recorder.errors

        before, delivered, pending_at_kill, during, after, errors = asyncio.run(scenario())
        records = read_back(broker.bootstrap, topics, {m.message_id for m in sent[20:]})
    finally:
        broker.close()
    assert producer_threads(f"{prefix}-pub") == []  # replaced producers were closed too
    assert pending_at_kill == 10
    assert not during.connected and during.pending == len(sent) - 20  # the outbox grew
    assert after.producer_generation > 1  # the producer that lived through it was replaced
    assert errors["producer_fatal"] + errors["timeout"] >= 1
    assert delivered == {m.message_id for m in sent}
    assert {_id(r) for r in before} == first
    assert {_id(r) for r in records} == {m.message_id for m in sent[20:]}  # none lost
    check_records(before + records, sent)  # duplicates, if any, are byte-identical
    check_key_order(records, sent)


def test_broker_down_at_start_outbox_grows_then_drains(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 6, "down")  # 12 messages
    broker = LocalBroker()  # port reserved, not started yet
    bounded = dataclasses.replace(FAST, outbox_max_messages=12)
    try:
        async def scenario() -> tuple[Counter[str], Any]:
            publisher, recorder = publisher_for(tmp_path, prefix, broker.bootstrap, bounded)
            await publisher.start()
            assert await publisher.publish(sent) == 12
            await asyncio.sleep(1.5)
            health = publisher.health()
            assert (health.connected, health.pending) == (False, 12)
            assert health.running and health.last_error and health.last_error.startswith("connect")
            extra = events(prefix, 1, "extra")
            with pytest.raises(OutboxFull):  # live mode: refused, the caller counts a drop
                await publisher.publish(extra[:1])
            # replay mode: waits for room instead
            waiting = asyncio.create_task(publisher.publish(extra, wait_for_space_s=60))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            broker.start()  # on this thread: see the note in the test above
            assert await waiting == 2
            assert await publisher.wait_drained(30)
            health = publisher.health()
            await publisher.stop(5)
            sent.extend(extra)
            return recorder.errors, health

        errors, health = asyncio.run(scenario())
        records = read_back(broker.bootstrap, list(topic_names(prefix).values()),
                            {m.message_id for m in sent})
    finally:
        broker.close()
    assert errors["connect"] >= 1 and errors["outbox_full"] == 1
    assert health.connected and health.producer_generation == 1
    assert {_id(r) for r in records} == {m.message_id for m in sent}
    check_records(records, sent)


def test_stop_keeps_unsent_messages_for_the_next_start(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 4, "stop")
    nobody = LocalBroker()  # a port where no broker listens

    async def offline() -> int:
        publisher, _ = publisher_for(tmp_path, prefix, nobody.bootstrap)
        await publisher.start()
        await publisher.publish(sent)
        return await publisher.stop(drain_timeout_s=0.5)

    assert asyncio.run(offline()) == len(sent)
    nobody.close()
    box = Outbox(tmp_path / "outbox.sqlite3")
    assert [m.message_id for m in box.pending()] == [m.message_id for m in sent]
    box.close()

    async def online() -> int:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap)
        await publisher.start()
        assert publisher.health().pending == len(sent)  # picked up from the file
        assert await publisher.wait_drained(30)
        await publisher.stop(5)
        return recorder.acked

    assert asyncio.run(online()) == len(sent)
    records = read_back(kafka_bootstrap, list(topic_names(prefix).values()),
                        {m.message_id for m in sent})
    assert {_id(r) for r in records} == {m.message_id for m in sent}


def test_missing_topic_without_creation_rights_waits_with_a_clear_error(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 2, "acl")
    alerts = [m for m in sent if m.topic.endswith(".alerts")]
    rejects = [m for m in sent if m.topic.endswith(".rejects")]
    options = client_options(kafka_settings(prefix), [kafka_bootstrap])
    ensure_topics(options, [f"{prefix}.rejects"], 1, 1)  # only one topic exists

    async def scenario() -> tuple[Counter[str], Any, Any]:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap,
                                            create_topics=False)
        await publisher.start()
        await publisher.publish(sent)
        deadline = time.monotonic() + 20
        while publisher.health().pending > len(alerts) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stuck = publisher.health()  # the other topic's messages went out meanwhile
        await asyncio.get_running_loop().run_in_executor(
            None, ensure_topics, options, [f"{prefix}.alerts"], 1, 1)  # an admin creates it
        assert await publisher.wait_drained(30)
        done = publisher.health()
        await publisher.stop(5)
        return recorder.errors, stuck, done

    errors, stuck, done = asyncio.run(scenario())
    assert stuck.pending == len(alerts) and "does not exist" in (stuck.last_error or "")
    assert errors["topic_missing"] >= 1 and done.pending == 0
    records = read_back(kafka_bootstrap, [f"{prefix}.alerts", f"{prefix}.rejects"],
                        {m.message_id for m in sent})
    assert {_id(r) for r in records} == {m.message_id for m in alerts + rejects}


def test_message_the_producer_can_never_send_goes_to_dead_letters(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    # Written while the limit was 1 MB, sent after it was lowered to 2 KB:
    # the producer refuses it for good, so it must not block the queue.
    prefix = f"t{uuid.uuid4().hex[:8]}"
    sent = events(prefix, 2, "big")
    huge = OutboundMessage("huge-1", f"{prefix}.rejects", b"k", b"x" * 100_000, time.time())
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.add([sent[0], huge, *sent[1:]])
    box.close()
    small = dataclasses.replace(FAST, max_message_bytes=2048, outbox_max_bytes=10**6)

    async def scenario() -> tuple[Counter[str], Any]:
        publisher, recorder = publisher_for(tmp_path, prefix, kafka_bootstrap, small)
        await publisher.start()
        assert await publisher.wait_drained(30)
        health = publisher.health()
        await publisher.stop(5)
        return recorder.errors, health

    errors, health = asyncio.run(scenario())
    assert errors["dead_letter"] == 1 and health.dead_letters == 1
    assert health.producer_generation == 1  # a bad message is not a bad producer
    records = read_back(kafka_bootstrap, list(topic_names(prefix).values()),
                        {m.message_id for m in sent})
    assert {_id(r) for r in records} == {m.message_id for m in sent}


def test_illegal_topic_names_are_refused_before_the_outbox(tmp_path: Path) -> None:
    async def scenario() -> int:
        publisher, _ = publisher_for(tmp_path, "x", "127.0.0.1:9")
        await publisher.start()
        try:
            with pytest.raises(ValueError, match="illegal Kafka topic"):
                await publisher.publish([OutboundMessage("a", "bad topic!", None, b"v", 0.0)])
            return publisher.health().pending
        finally:
            await publisher.stop(0.1)

    assert asyncio.run(scenario()) == 0


def test_unavailable_codec_is_a_configuration_error(tmp_path: Path) -> None:
    from kafka.codec import has_zstd
    if has_zstd():
        pytest.skip("zstandard is installed here, so zstd is a valid choice")
    with pytest.raises(ValueError, match="compression=zstd"):
        KafkaPublisher(PublishSettings(compression="zstd"), kafka_settings("x"),
                       tmp_path / "o.sqlite3", bootstrap=["127.0.0.1:9"])


def test_stop_while_a_producer_is_being_created_leaks_nothing(kafka_bootstrap: str,
                                                              tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"

    async def scenario() -> int:
        publisher, _ = publisher_for(tmp_path, prefix, kafka_bootstrap,
                                     client_id=f"{prefix}-pub")
        await publisher.start()
        await publisher.publish(events(prefix, 1, "early"))
        await asyncio.sleep(0.01)  # the drain task is connecting (or has just connected)
        return await publisher.stop(drain_timeout_s=0)

    left = asyncio.run(scenario())
    assert 0 <= left <= 2
    assert producer_threads(f"{prefix}-pub") == []
