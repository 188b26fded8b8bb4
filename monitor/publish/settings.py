"""Settings of the publishing layer: the outbox bounds and the Kafka producer tuning.

Stdlib only, so ``monitor.config`` can validate them without importing kafka.
Connection and security settings live in :class:`monitor.config.KafkaSettings`;
this class holds what is specific to getting messages out reliably.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["PublishSettings"]


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
