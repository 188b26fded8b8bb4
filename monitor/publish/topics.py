"""Which topics a batch may go to: created (or found) once, missing ones held back a while.

With ``kafka.create_topics`` on, the daemon's topics are created with the
configured partitions and replication along with the first batch (never by
a metadata request with the broker's defaults). With it off, a missing topic
is reported, and its messages wait in the outbox while other topics go on;
after ``publish.retry_backoff_max_s`` the topic is looked up again (an
administrator may have created it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from monitor.logs import get_logger
from monitor.publish.kafka_client import ensure_topics, existing_topics
from monitor.publish.settings import KafkaSettings

__all__ = ["TopicGate"]

log = get_logger(__name__)


class TopicGate:
    """The topics known to exist, and those found missing that we may not create.

    Parameters
    ----------
    kafka : KafkaSettings
        Topic creation, partitions, replication.
    options : dict
        kafka-python client options.
    topics : list of str
        The daemon's own topics, created along with the first batch.
    report : callable(kind, error)
        Told ``topic_setup`` (the broker could not be asked) and ``topic_missing``.
    backoff_s : float
        How long a missing topic is held back before it is looked up again.
    """

    def __init__(self, kafka: KafkaSettings, options: dict[str, Any], topics: list[str],
                 report: Callable[[str, object], None], backoff_s: float) -> None:
        self.kafka = kafka
        self._options = options
        self.topics = tuple(topics)
        self._report = report
        self._backoff_s = backoff_s
        self._ready: set[str] = set()
        self._blocked: set[str] = set()
        self._blocked_until = 0.0

    def blocked(self) -> set[str]:
        """Topics found missing that we may not create; forgotten after the backoff."""
        if self._blocked and time.monotonic() >= self._blocked_until:
            self._blocked.clear()  # look again: an admin may have created them
        return self._blocked

    def forget(self) -> None:
        """Look every topic up again (a broker that lost its state lost its topics too)."""
        self._ready.clear()

    async def prepare(self, topics: set[str], executor: Executor) -> set[str] | None:
        """Make sure ``topics`` exist; returns those still missing (None: the broker failed).

        The admin calls run on ``executor`` (the publisher's kafka-python thread).
        """
        needed = topics - self._ready
        if not needed:
            return set()
        loop = asyncio.get_running_loop()
        k = self.kafka
        try:
            if k.create_topics:
                wanted = sorted(set(self.topics) | needed)
                created = await loop.run_in_executor(
                    executor, ensure_topics, self._options, wanted, k.partitions,
                    k.replication_factor)
                if created:
                    log.info("topics created", topics=",".join(created))
                self._ready.update(wanted)
                return set()
            existing = await loop.run_in_executor(executor, existing_topics, self._options)
        except Exception as exc:  # noqa: BLE001 - broker down, no ACL...: retry later
            self._report("topic_setup", exc)
            return None
        missing = needed - existing
        self._ready.update(needed & existing)
        if missing:
            self._blocked |= missing
            self._blocked_until = time.monotonic() + self._backoff_s
        for topic in sorted(missing):
            self._report("topic_missing", f"topic {topic} does not exist and "
                                          "kafka.create_topics is false: create it or allow "
                                          "creation; its messages wait in the outbox")
        return missing
