"""The kafka-python behaviours ``monitor.publish.kafka_adapter`` relies on, one test each,
against the real local broker: a client upgrade that changes one fails here."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from typing import Any

from kafka import KafkaProducer
from kafka.producer.future import RecordMetadata

from monitor.publish.kafka_adapter import (
    FATAL_ERRORS,
    close_producer,
    failed_for_good,
    on_delivery,
)
from monitor.publish.kafka_client import ensure_topics
from monitor.publish.local_broker import LocalBroker


def _producer(bootstrap: str, client_id: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=[bootstrap], client_id=client_id, acks="all",
                         enable_idempotence=True, max_in_flight_requests_per_connection=1,
                         linger_ms=0, request_timeout_ms=3000, delivery_timeout_ms=8000)


def _threads(client_id: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(client_id) and t.is_alive()]


def test_a_producer_that_outlived_its_broker_fails_for_good_and_reports_each_send() -> None:
    """The broker restarts with empty storage (its producer ids lost): the first send
    fails with UnknownProducerIdError, after which the producer is fatally broken."""
    client_id = f"adapter-{uuid.uuid4().hex[:6]}"
    broker = LocalBroker().start()
    reports: list[tuple[str, Any]] = []
    done = threading.Event()

    def report(message_id: str, outcome: Any) -> None:
        reports.append((message_id, outcome))
        done.set()

    try:
        ensure_topics({"bootstrap_servers": [broker.bootstrap]}, ["t"], 1, 1)
        producer = _producer(broker.bootstrap, client_id)
        on_delivery(producer.send("t", b"first", partition=0), report, "m1")
        assert done.wait(30)
        assert not failed_for_good(producer)
        broker.restart()  # same port, empty storage
        ensure_topics({"bootstrap_servers": [broker.bootstrap]}, ["t"], 1, 1)
        for i in (2, 3):
            done.clear()
            on_delivery(producer.send("t", f"m{i}".encode(), partition=0), report, f"m{i}")
            assert done.wait(30)
        assert failed_for_good(producer)
        close_producer(producer, 2.0)
    finally:
        broker.close()
    # the callback gets the id it was given, then the record metadata or the error
    assert [m for m, _ in reports] == ["m1", "m2", "m3"]
    assert isinstance(reports[0][1], RecordMetadata)
    assert isinstance(reports[1][1], FATAL_ERRORS)
    assert isinstance(reports[2][1], Exception)


def test_close_stops_the_sender_even_when_batches_cannot_complete() -> None:
    """A producer with a batch for a broker that is gone: ``close()`` cannot flush it;
    the sender thread must still end."""
    client_id = f"adapter-{uuid.uuid4().hex[:6]}"
    broker = LocalBroker().start()
    try:
        ensure_topics({"bootstrap_servers": [broker.bootstrap]}, ["t"], 1, 1)
        producer = _producer(broker.bootstrap, client_id)
        producer.send("t", b"ok", partition=0).get(timeout=30)
        assert broker._proc is not None
        os.kill(broker._proc.pid, signal.SIGSTOP)  # frozen: the next batch stays in flight
        producer.send("t", b"stuck", partition=0)
        assert _threads(client_id)
        close_producer(producer, 1.0)
        assert _threads(client_id) == []
    finally:
        broker.kill()
        broker.close()
