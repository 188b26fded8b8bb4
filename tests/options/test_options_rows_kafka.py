"""Options of ``kafka`` and ``publish``: each changes how the daemon talks to Kafka.

Publishing probes run :class:`monitor.publish.producer.KafkaPublisher` (or its
:class:`~monitor.publish.delivery.ProducerSession`) against the session's
local broker, or against a port nothing listens on, and read what happened:
records and partitions on the broker, batches acknowledged, messages refused
by the outbox, connection attempts. The connection options are read where
the daemon turns them into kafka-python's arguments
(:func:`monitor.publish.kafka_client.client_options`, shared by every client)
and, for files, where ``check-config`` and ``run`` look for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from kafka import KafkaConsumer
from kafka.errors import NotLeaderForPartitionError
from optionrows import Row, scratch

from monitor.config import Config
from monitor.preflight import file_problems
from monitor.publish.delivery import ProducerSession
from monitor.publish.kafka_client import client_options
from monitor.publish.local_broker import BrokerError, LocalBroker, free_port
from monitor.publish.outbox import OutboundMessage, Outbox, OutboxError
from monitor.publish.producer import KafkaPublisher
from monitor.publish.settings import KafkaSettings, PublishSettings

BROKER: list[str] = []  # the session's broker (set by the fixture below)
DEAD = ["127.0.0.1:9"]  # nothing listens there
FAST = PublishSettings(retry_backoff_min_s=0.05, retry_backoff_max_s=0.2, idle_poll_s=0.1,
                       connect_timeout_s=0.3, send_timeout_s=5.0)


@pytest.fixture(autouse=True)
def _broker(kafka_bootstrap: str) -> None:
    BROKER[:] = [kafka_bootstrap]


def message(topic: str, i: int, size: int = 100) -> OutboundMessage:
    return OutboundMessage(f"m-{uuid.uuid4().hex}-{i}", topic, b"k", b"v" * size, time.time())


class Heard:
    """A publish listener that keeps what it hears."""

    def __init__(self) -> None:
        self.acks: list[int] = []
        self.errors: list[str] = []

    def acknowledged(self, topic: str, count: int, latency_s: float) -> None:
        self.acks.append(count)

    def delivered(self, messages: Any, acked_at: float) -> None:
        pass

    def error(self, kind: str) -> None:
        self.errors.append(kind)

    def outbox_changed(self, pending: int, pending_bytes: int, oldest_age_s: float) -> None:
        pass


def publishing(publish: PublishSettings, kafka: KafkaSettings, bootstrap: list[str],
               n: int, *, wait_s: float = 10.0, size: int = 100,
               add_behind: bool = False) -> dict[str, Any]:
    """Publish ``n`` messages to a fresh topic; what the outbox, broker and listener saw."""
    topic = f"opt-{uuid.uuid4().hex[:10]}"
    path = scratch("options-outbox-") / "outbox.sqlite3"
    heard = Heard()

    async def main() -> dict[str, Any]:
        publisher = KafkaPublisher(publish, kafka, path, bootstrap=bootstrap, topics=[topic],
                                   listener=heard)
        await publisher.start()
        accepted, refused = 0, None
        try:
            if add_behind:  # another writer of the same outbox file (a restart's leftovers)
                await asyncio.sleep(0.3)
                other = Outbox(path)
                try:
                    other.add([message(topic, i, size) for i in range(n)])
                finally:
                    other.close()
                accepted = n
                deadline = time.monotonic() + wait_s  # the publisher was not told: it polls
                while sum(heard.acks) < n and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
            else:
                for i in range(n):
                    try:
                        await publisher.publish([message(topic, i, size)])
                        accepted += 1
                    except OutboxError as exc:
                        refused = type(exc).__name__
                        break
            drained = (sum(heard.acks) if add_behind  # acknowledged by the broker
                       else await publisher.wait_drained(wait_s))
        finally:
            await publisher.stop(0)
        return {"accepted": accepted, "refused": refused, "drained": drained,
                "acks": heard.acks, "errors": heard.errors, "topic": topic}

    return asyncio.run(main())


def partitions(topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=BROKER)
    try:
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def producer_config(field: str, value: Any, key: str) -> Any:
    """A setting of the kafka-python producer the publisher creates."""
    session = ProducerSession(dataclasses.replace(FAST, **{field: value}), KafkaSettings(),
                              ["t"], lambda kind, error: None, bootstrap=BROKER)

    async def main() -> Any:
        session.open()
        try:
            producer = await session.ensure_producer()
            return producer.config[key] if key in producer.config else session.options[key]
        finally:
            await session.close(1.0)

    return asyncio.run(main())


def replacements(after: int) -> int:
    """Producers created after two batches failed with a retriable broker error."""
    session = ProducerSession(dataclasses.replace(FAST, replace_after_failures=after),
                              KafkaSettings(), ["t"], lambda kind, error: None, bootstrap=BROKER)

    async def main() -> int:
        session.open()
        try:
            for _ in range(2):
                producer = await session.ensure_producer()
                batch = [message("t", 0)]
                await session.settle(producer, batch,
                                     {batch[0].message_id: NotLeaderForPartitionError()})
            await session.ensure_producer()
            return session.generation
        finally:
            await session.close(1.0)

    return asyncio.run(main())


def connection(field: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The kafka-python arguments every client of the daemon is created with."""
    settings = dataclasses.replace(KafkaSettings(bootstrap_servers=("k:9092",)),
                                   **{**(base or {}), field: value})
    with mock.patch.dict("os.environ", {"OPT_PW_A": "secret-a", "OPT_PW_B": "secret-b"}):
        return client_options(settings)


@functools.cache
def _files() -> dict[str, str]:
    tmp = scratch("options-certs-")
    names = ("ca.pem", "cert.pem", "key.pem", "pw", "pw2")
    for name in names:
        (tmp / name).write_text(f"{name}-content\n")
    return {name: str(tmp / name) for name in names}


def ssl_file(field: str, value: str) -> tuple[Any, ...]:
    """What the client gets, and what ``check-config``/``run`` say about the file."""
    path = _files().get(value, f"/nonexistent/{value}")
    settings = KafkaSettings(bootstrap_servers=("k:9093",), security_protocol="SSL",
                             **{field: Path(path)})
    problems = [issue.path for issue in file_problems(Config(kafka=settings))]
    return client_options(settings).get(field), problems


def bootstrap(value: str) -> bool:
    """Whether the publisher's session gets a producer (it bootstraps from these servers)."""
    servers = tuple(BROKER) if value == "session" else tuple(DEAD)
    session = ProducerSession(dataclasses.replace(FAST, connect_timeout_s=0.5),
                              KafkaSettings(bootstrap_servers=servers), ["t"],
                              lambda kind, error: None)

    async def main() -> bool:
        session.open()
        try:
            return await session.ensure_producer() is not None
        finally:
            await session.close(1.0)

    return asyncio.run(main())


def replication(value: int) -> Any:
    """The replication the publisher's session asks the broker for when it creates a topic
    (Tansu, the test broker, keeps one copy whatever is asked: a spy on the admin client
    reads the request on its way out)."""
    from kafka import KafkaAdminClient

    session = ProducerSession(FAST, KafkaSettings(replication_factor=value), [],
                              lambda kind, error: None, bootstrap=BROKER)
    create = KafkaAdminClient.create_topics

    async def main() -> Any:
        session.open()
        try:
            with mock.patch.object(KafkaAdminClient, "create_topics", autospec=True,
                                   side_effect=create) as spy:
                await session.prepare_topics({f"opt-{uuid.uuid4().hex[:10]}"})
            return [t.replication_factor for call in spy.call_args_list for t in call.args[1]]
        finally:
            await session.close(1.0)

    return asyncio.run(main())


def local_port(value: str) -> bool:
    port = free_port("127.0.0.1") if value == "chosen" else 0
    with LocalBroker(port, 20.0) as broker:
        return broker.port == port


def start_timeout(value: float) -> str:
    """A broker binary that never answers (a fault provoked on purpose): how long
    the start waits before it gives up, as the error says."""
    fake = scratch("options-tansu-") / "silent-tansu"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    with mock.patch.dict("os.environ", {"SDO_MONITOR_TANSU": str(fake)}):
        try:
            LocalBroker(0, value).start()
        except BrokerError as exc:
            return str(exc).split(" (")[0]
    return "started"


def synchronous(value: str) -> int:
    path = scratch("options-sync-") / "outbox.sqlite3"
    outbox = Outbox(path, synchronous=value)
    try:  # the pragma lives on the outbox's own connection
        return outbox._db.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        outbox.close()


def drain(value: float) -> tuple[int, bool]:
    """Stopping with one message the dead broker never takes: what is left, and whether the
    stop waited (the daemon stops its publisher with ``service.drain_timeout_s``)."""
    path = scratch("options-drain-") / "outbox.sqlite3"

    async def main() -> tuple[int, bool]:
        publisher = KafkaPublisher(dataclasses.replace(FAST, connect_timeout_s=0.2),
                                   KafkaSettings(), path, bootstrap=DEAD, topics=["t"])
        await publisher.start()
        await publisher.publish([message("t", 0)])
        started = time.monotonic()
        left = await publisher.stop(value)
        return left, time.monotonic() - started >= 1.0

    return asyncio.run(main())


def _p(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return functools.partial(fn, *args, **kwargs)


def _published(field: str, value: Any, pick: str, n: int = 6, **kwargs: Any) -> Any:
    dead = kwargs.pop("dead", False)
    result = publishing(dataclasses.replace(FAST, **{field: value}), KafkaSettings(),
                        DEAD if dead else BROKER, n, **kwargs)
    return result[pick]


def _partitions(value: int) -> int:
    result = publishing(FAST, KafkaSettings(partitions=value), BROKER, 1)
    return partitions(result["topic"])


def _reconnects(value: float) -> bool:
    """Several connection attempts within 1.2 s to a dead address, or one."""
    publish = dataclasses.replace(FAST, retry_backoff_min_s=value, connect_timeout_s=0.1)
    errors = publishing(publish, KafkaSettings(), DEAD, 1, wait_s=1.2)["errors"]
    return errors.count("connect") >= 3


SASL = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
        "sasl_username": "mon", "sasl_password_env": "OPT_PW_A"}
ROWS = [
    Row("kafka.bootstrap_servers", "session", "dead", bootstrap),
    Row("kafka.client_id", "sdo-monitor", "site-a", _p(connection, "client_id")),
    Row("kafka.request_timeout_s", 30.0, 5.0, _p(connection, "request_timeout_s")),
    Row("kafka.security_protocol", "PLAINTEXT", "SASL_PLAINTEXT",
        _p(connection, "security_protocol", base={k: v for k, v in SASL.items()
                                                  if k != "security_protocol"})),
    Row("kafka.sasl_mechanism", "PLAIN", "SCRAM-SHA-512", _p(connection, "sasl_mechanism",
                                                             base=SASL)),
    Row("kafka.sasl_username", "mon", "other", _p(connection, "sasl_username", base=SASL)),
    Row("kafka.sasl_password_env", "OPT_PW_A", "OPT_PW_B",
        _p(connection, "sasl_password_env", base=SASL)),
    Row("kafka.sasl_password_file", "pw", "pw2",
        lambda name: connection("sasl_password_file", Path(_files()[name]),
                                base={**SASL, "sasl_password_env": None})),
    Row("kafka.ssl_cafile", "ca.pem", "missing.pem", _p(ssl_file, "ssl_cafile")),
    Row("kafka.ssl_certfile", "cert.pem", "missing.pem", _p(ssl_file, "ssl_certfile")),
    Row("kafka.ssl_keyfile", "key.pem", "missing.pem", _p(ssl_file, "ssl_keyfile")),
    Row("kafka.partitions", 1, 3, _partitions),
    Row("service.drain_timeout_s", 0.1, 1.5, drain),
    Row("kafka.replication_factor", 1, 2, replication),
    Row("kafka.local.port", "any", "chosen", local_port),
    Row("kafka.local.start_timeout_s", 0.2, 0.6, start_timeout),
    Row("publish.outbox_max_messages", 200_000, 3, _p(_published, "outbox_max_messages",
                                                      pick="accepted", dead=True, wait_s=0)),
    Row("publish.outbox_max_bytes", 2**31, 350, _p(_published, "outbox_max_bytes",
                                                   pick="accepted", dead=True, wait_s=0)),
    Row("publish.max_message_bytes", 1_000_000, 1000,
        _p(_published, "max_message_bytes", pick="refused", n=1, size=2000, dead=True,
           wait_s=0)),
    Row("publish.outbox_synchronous", "FULL", "NORMAL", synchronous),
    Row("publish.drain_batch_messages", 500, 2, _p(_published, "drain_batch_messages",
                                                   pick="acks", add_behind=True)),
    Row("publish.idle_poll_s", 0.1, 60.0, _p(_published, "idle_poll_s", pick="drained",
                                              add_behind=True, wait_s=1.2)),
    Row("publish.retry_backoff_min_s", 0.05, 3.0, _reconnects),
    Row("publish.retry_backoff_max_s", 0.2, 4.0,
        _p(producer_config, "retry_backoff_max_s", key="reconnect_backoff_max_ms")),
    Row("publish.replace_after_failures", 1, 3, replacements),
    Row("publish.compression", "gzip", "none",
        _p(producer_config, "compression", key="compression_type")),
    Row("publish.linger_ms", 5, 50, _p(producer_config, "linger_ms", key="linger_ms")),
    Row("publish.batch_bytes", 262_144, 16_384, _p(producer_config, "batch_bytes",
                                                   key="batch_size")),
    Row("publish.max_block_s", 5.0, 1.0, _p(producer_config, "max_block_s", key="max_block_ms")),
    Row("publish.send_timeout_s", 30.0, 120.0,
        _p(producer_config, "send_timeout_s", key="delivery_timeout_ms")),
    Row("publish.connect_timeout_s", 5.0, 2.0,
        _p(producer_config, "connect_timeout_s", key="bootstrap_timeout_ms")),
]


ELSEWHERE = {
    # create_topics: false and the messages wait in the outbox, nothing auto-created
    "kafka.create_topics": "tests/reliability/test_reliability_faults_broker.py::"
                           "test_missing_topics_without_create_wait_in_outbox",
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_option_changes_behaviour(row: Row) -> None:
    row.check()
