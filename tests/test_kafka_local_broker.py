"""The local broker and the Kafka client options, against the real Tansu broker."""

from __future__ import annotations

import json
import os
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor.publish.kafka_client import client_options, ensure_topics
from monitor.publish.local_broker import BrokerError, LocalBroker, find_tansu
from monitor.publish.settings import KafkaSettings

# Tansu: short poll interval or the first join waits long
CONSUMER_GROUP_TIMINGS = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000,
                          "heartbeat_interval_ms": 1000}


def test_produce_idempotent_and_consume_through_a_group(kafka_bootstrap: str,
                                                        unique_topic: str) -> None:
    options = client_options(KafkaSettings(), [kafka_bootstrap])
    created = ensure_topics(options, [unique_topic], partitions=3, replication_factor=1)
    assert created == [unique_topic]
    assert ensure_topics(options, [unique_topic], 3, 1) == []  # idempotent

    producer = KafkaProducer(**options, acks="all", enable_idempotence=True,
                             value_serializer=lambda v: json.dumps(v).encode())
    sent = [{"frame_id": f"f{i}", "n": i} for i in range(20)]
    futures = [producer.send(unique_topic, value=m, key=m["frame_id"].encode()) for m in sent]
    producer.flush(timeout=30)
    metadata = [f.get(timeout=10) for f in futures]
    producer.close()
    assert {m.partition for m in metadata} <= {0, 1, 2}
    assert len({m.partition for m in metadata}) > 1  # keys spread over the partitions

    consumer = KafkaConsumer(unique_topic, **options, group_id=f"g-{unique_topic}",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=4000, **CONSUMER_GROUP_TIMINGS)
    received = []
    deadline = time.monotonic() + 60
    while len(received) < len(sent) and time.monotonic() < deadline:
        received.extend(json.loads(m.value) for m in consumer)
    consumer.commit()
    committed = consumer.committed(TopicPartition(unique_topic, metadata[0].partition))
    consumer.close()
    assert sorted(received, key=lambda m: m["n"]) == sent
    assert committed is not None and committed > 0


def test_restart_forgets_everything(unique_topic: str) -> None:
    with LocalBroker() as broker:
        options = client_options(KafkaSettings(), [broker.bootstrap])
        ensure_topics(options, [unique_topic], 1, 1)
        broker.restart()
        assert broker.running
        # memory storage: the topic is gone, so it is created again
        assert ensure_topics(options, [unique_topic], 1, 1) == [unique_topic]


def test_stop_leaves_no_process_and_frees_the_port() -> None:
    broker = LocalBroker().start()
    pid = broker.pid
    assert pid is not None
    broker.close()
    assert not broker.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again = LocalBroker(port=broker.port).start()  # the same port is free again
    try:
        assert again.running
    finally:
        again.close()


def test_bad_override_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SDO_MONITOR_TANSU", str(tmp_path / "nope"))
    with pytest.raises(BrokerError, match="SDO_MONITOR_TANSU"):
        find_tansu()


def test_broker_that_cannot_start_reports_its_log(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path) -> None:
    fake = tmp_path / "fake-tansu"  # a fake broker that exits at once: a fault we provoke
    fake.write_text("#!/bin/sh\necho 'cannot bind' >&2\nexit 7\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SDO_MONITOR_TANSU", str(fake))
    with pytest.raises(BrokerError, match="exited with 7.*cannot bind"):
        LocalBroker(start_timeout_s=5).start()


def test_sasl_options_take_the_password_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PW_TEST", "s3cret")
    settings = KafkaSettings(bootstrap_servers=("k:9093",), security_protocol="SASL_SSL",
                             sasl_mechanism="SCRAM-SHA-512", sasl_username="mon",
                             sasl_password_env="KAFKA_PW_TEST")
    options = client_options(settings)
    assert options["sasl_plain_password"] == "s3cret"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["bootstrap_servers"] == ["k:9093"]
