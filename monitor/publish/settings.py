"""Settings of the publishing layer: the Kafka connection, the outbox bounds and the
producer tuning (the ``kafka:`` and ``publish:`` sections of the config).

Stdlib only, so ``monitor.config`` can validate them without importing kafka.
:class:`KafkaSettings` is how every Kafka client of the daemon connects (producer,
notification consumer, admin); :class:`PublishSettings` is what is specific to
getting messages out reliably.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["KafkaSettings", "LocalBrokerSettings", "PublishSettings"]


@dataclass(frozen=True)
class PublishSettings:
    """How the daemon keeps and sends its outgoing messages (YAML key ``publish``)."""

    outbox_file: str = field(
        default="outbox.sqlite3",
        metadata={"doc": "outbox database file name inside service.state_dir"})
    outbox_max_messages: int = field(
        default=200_000, metadata={
            "ge": 1, "doc": "messages the outbox may hold before publishing fails with "
                            "OutboxFull (about a day of frames at 12 s cadence, 4 messages each)"})
    outbox_max_bytes: int = field(
        default=2 * 1024**3, metadata={
            "ge": 1024, "doc": "payload bytes (keys + values) the outbox may hold"})
    outbox_synchronous: Literal["FULL", "NORMAL"] = field(
        default="FULL", metadata={
            "doc": "SQLite synchronous mode: FULL survives power loss (one fsync per "
                   "publish call, cheap at frame cadence); NORMAL survives only process crashes"})
    max_message_bytes: int = field(
        default=1_000_000, metadata={
            "ge": 1024, "le": 100_000_000,
            "doc": "largest message value accepted (Kafka's default message.max.bytes is ~1 MB)"})
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = field(
        default="gzip", metadata={
            "doc": "producer compression codec; snappy/lz4/zstd need their Python package"})
    linger_ms: int = field(
        default=5, metadata={"ge": 0, "le": 10_000,
                             "doc": "how long the producer waits to fill a batch (the outbox "
                                    "drain already hands it many messages at once)"})
    batch_bytes: int = field(
        default=256 * 1024, metadata={"ge": 1024, "doc": "producer batch size per partition"})
    drain_batch_messages: int = field(
        default=500, metadata={
            "ge": 1, "le": 100_000,
            "doc": "messages read from the outbox and sent before waiting for their acks"})
    send_timeout_s: float = field(
        default=30.0, metadata={
            "gt": 0, "doc": "a batch not acknowledged within this time counts as failed "
                            "(kafka-python delivery_timeout_ms)"})
    max_block_s: float = field(
        default=5.0, metadata={
            "gt": 0, "doc": "how long one send may wait for metadata (broker down, topic "
                            "missing) before failing the batch"})
    connect_timeout_s: float = field(
        default=5.0, metadata={"gt": 0, "doc": "bootstrap timeout when (re)creating clients"})
    retry_backoff_min_s: float = field(
        default=0.5, metadata={"gt": 0, "doc": "first wait after a failed batch"})
    retry_backoff_max_s: float = field(
        default=30.0, metadata={"gt": 0, "doc": "longest wait between retries (doubles up to it)"})
    replace_after_failures: int = field(
        default=3, metadata={
            "ge": 1, "le": 100,
            "doc": "consecutive failed batches after which the producer is closed and replaced, "
                   "even if its error did not look fatal"})
    idle_poll_s: float = field(
        default=5.0, metadata={"gt": 0, "doc": "outbox re-check interval when nothing is pending"})

    def check(self) -> list[tuple[str, str]]:
        issues = []
        if self.retry_backoff_max_s < self.retry_backoff_min_s:
            issues.append(("retry_backoff_max_s", "must be >= retry_backoff_min_s"))
        if self.outbox_max_bytes < self.max_message_bytes:
            issues.append(("outbox_max_bytes", "must be >= max_message_bytes"))
        if not self.outbox_file or "/" in self.outbox_file:
            issues.append(("outbox_file", "must be a plain file name (it lives in state_dir)"))
        return issues


@dataclass(frozen=True)
class LocalBrokerSettings:
    """The bundled Kafka-compatible broker (Tansu), used when no cluster is named."""

    port: int = field(default=0, metadata={"ge": 0, "le": 65535, "doc": "0 picks a free port"})
    start_timeout_s: float = field(default=20.0, metadata={"gt": 0})


@dataclass(frozen=True)
class KafkaSettings:
    """The operations center's Kafka cluster, or the local broker when empty."""

    bootstrap_servers: tuple[str, ...] = field(
        default=(), metadata={"doc": "host:port list; empty starts the bundled local broker"})
    topic_prefix: str = field(default="sdo", metadata={"doc": "topics are <prefix>.frames etc."})
    client_id: str = "sdo-monitor"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = field(
        default=None, metadata={"doc": "environment variable holding the SASL password"})
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    request_timeout_s: float = field(default=30.0, metadata={"gt": 0})
    create_topics: bool = field(
        default=True, metadata={"doc": "create missing topics at start (needs ACL to do so)"})
    partitions: int = field(default=3, metadata={"ge": 1, "le": 1000})
    replication_factor: int = field(default=1, metadata={"ge": 1, "le": 10})
    local: LocalBrokerSettings = field(default_factory=LocalBrokerSettings)

    def check(self) -> list[tuple[str, str]]:
        issues = []
        for i, server in enumerate(self.bootstrap_servers):
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                issues.append((f"bootstrap_servers[{i}]", f"must be host:port, got {server!r}"))
        if not self.topic_prefix or not all(c.isalnum() or c in "._-" for c in self.topic_prefix):
            issues.append(("topic_prefix", "must be non-empty letters, digits, '.', '_' or '-'"))
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                issues.append(("sasl_mechanism", f"is required with {self.security_protocol}"))
            if not self.sasl_username:
                issues.append(("sasl_username", f"is required with {self.security_protocol}"))
            if not (self.sasl_password_env or self.sasl_password_file):
                issues.append(("sasl_password_env", ("a SASL password must come from "
                                                     "sasl_password_env or sasl_password_file")))
        if self.sasl_password_env and self.sasl_password_file:
            issues.append(("sasl_password_file", "set sasl_password_env or _file, not both"))
        return issues

    @property
    def uses_local_broker(self) -> bool:
        return not self.bootstrap_servers
