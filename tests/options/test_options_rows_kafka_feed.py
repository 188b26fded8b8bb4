"""Options of a ``kind: kafka`` feed, against the session's local broker and real files.

Three feeds run one after the other (variants A, B, C below), each on its own
topic holding the same six notifications; the variants differ in several
options at once and each row reads only what its own option decides (which
feed name arrivals carry, which notified paths and URLs get through, where
downloads land and go, which group committed), so one broker session serves
all of them. A row's ``a`` and ``b`` name the two variants it compares (the
consumer's group settings likewise: ``CONSUMER_VARIANTS``).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fakes.harness import Collector, running
from fakes.jsoc_server import JsocServer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from optionrows import Row, scratch

from monitor.publish.kafka_client import client_options, ensure_topics
from monitor.publish.settings import KafkaSettings
from monitor.sources import KafkaFeedSettings, make_notification, make_source

GROUP_TIMINGS = {"session_timeout_s": 6.0, "heartbeat_interval_s": 1.0,
                 "max_poll_interval_s": 5.0}
BROKER: list[str] = []  # set by the fixture below (rows are plain functions)
FILE_171 = "AIA20260624_195100_0171.fits"
FILE_193 = "AIA20260624_195100_0193.fits"


@pytest.fixture(autouse=True)
def _broker(kafka_bootstrap: str) -> None:
    BROKER[:] = [kafka_bootstrap]


def _variant(name: str, tmp: Path, base_url: str) -> KafkaFeedSettings:
    tag = uuid.uuid4().hex[:8]
    common = dict(topic=f"opt-{name}-{tag}", group_id=f"g-{name}-{tag}", **GROUP_TIMINGS)
    if name in ("A", "C"):
        return KafkaFeedSettings(
            name="na", channels=(171, 193), path_roots=(tmp / "A", tmp / "common"),
            url_prefixes=(base_url + "A/", base_url + "common/"), spool=tmp / "spoolA",
            after_processing="move" if name == "A" else "keep", **common)
    return KafkaFeedSettings(
        name="nb", channels=(171,), path_roots=(tmp / "B", tmp / "common"),
        url_prefixes=(base_url + "B/", base_url + "common/"), spool=tmp / "spoolB",
        after_processing="move", done_dir=tmp / "doneB", **common)


@functools.cache
def run(name: str) -> dict[str, Any]:
    """Run variant ``name`` over the six notifications; what it did."""
    tmp = scratch(f"options-kafka-{name}-")
    for d in ("A", "B", "common", "jsoc/A", "jsoc/B", "jsoc/common"):
        (tmp / d).mkdir(parents=True)
    for d in ("A", "B"):
        (tmp / d / FILE_171).write_bytes(b"F" * 100)
        (tmp / "jsoc" / d / f"{d}_{FILE_171}").write_bytes(b"F" * 100)
    (tmp / "common" / FILE_193).write_bytes(b"F" * 100)
    (tmp / "jsoc" / "common" / FILE_171).write_bytes(b"F" * 100)
    options = client_options(KafkaSettings(), BROKER)

    async def main() -> dict[str, Any]:
        async with JsocServer(tmp / "jsoc") as server:
            feed = _variant(name, tmp, server.base_url)
            ensure_topics(options, [feed.topic], 1, 1)
            notices = [make_notification(path=str(tmp / "A" / FILE_171), wavelength=171),
                       make_notification(path=str(tmp / "B" / FILE_171), wavelength=171),
                       make_notification(path=str(tmp / "common" / FILE_193), wavelength=193),
                       make_notification(url=f"{server.base_url}A/A_{FILE_171}",
                                         wavelength=171),
                       make_notification(url=f"{server.base_url}B/B_{FILE_171}",
                                         wavelength=171),
                       make_notification(url=f"{server.base_url}common/{FILE_171}",
                                         wavelength=171)]
            await asyncio.to_thread(_produce, options, feed.topic, notices)
            source = make_source(feed, kafka_options=options)
            collect = Collector()
            async with running(source, collect):
                expect = 4 if feed.name == "na" else 3
                await collect.wait_count(expect, timeout=40)
                for arrival in collect.arrivals:
                    await source.done(arrival, "processed")
                await asyncio.sleep(0.5)  # the consumer thread commits after its poll
            arrivals = collect.arrivals
            groups = [g for g in (run_groups() | {feed.group_id})
                      if await asyncio.to_thread(_committed, options, g, feed.topic)]
            return {
                "feeds": {a.feed for a in arrivals},
                "topics": {a.topic for a in arrivals},
                "emitted": sorted(f"url:{'/'.join(a.url.rsplit('/', 2)[-2:])}" if a.url
                                  else f"path:{a.path.relative_to(tmp)}" for a in arrivals),
                "download_dirs": sorted({a.path.parent.name for a in arrivals if a.url}),
                "downloads": sorted(str(p.relative_to(tmp)) for d in ("spoolA", "spoolB",
                                                                       "doneB")
                                    for p in (tmp / d).rglob("*.fits")),
                "groups": sorted(groups),
            }

    return asyncio.run(main())


def run_groups() -> set[str]:
    return {"sdo-monitor"}  # the default group: what an ignored group_id would use


def _produce(options: dict[str, Any], topic: str,
             notices: list[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(**options, acks="all")
    for key, value in notices:
        producer.send(topic, key=key, value=value, partition=0)
    producer.flush(timeout=30)
    producer.close()


def _committed(options: dict[str, Any], group: str, topic: str) -> int | None:
    consumer = KafkaConsumer(**options, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close(autocommit=False)


CONSUMER_VARIANTS = {
    "a": {"auto_offset_reset": "earliest", **GROUP_TIMINGS},
    "b": {"auto_offset_reset": "latest", "session_timeout_s": 10.0,
          "heartbeat_interval_s": 2.0, "max_poll_interval_s": 9.0},
}


@functools.cache
def consumer_args(variant: str) -> dict[str, Any]:
    """The arguments of the consumer a running feed creates with the variant's settings (the
    group timings only act on rebalances of a broker under load, which a test cannot time
    honestly): a spy on kafka-python's consumer reads them on their way in."""
    feed = KafkaFeedSettings(name="n", topic=f"opt-{uuid.uuid4().hex[:8]}",
                             path_roots=(Path("/"),), **CONSUMER_VARIANTS[variant])
    source = make_source(feed, kafka_options=client_options(KafkaSettings(), BROKER))
    created: list[dict[str, Any]] = []
    init = KafkaConsumer.__init__

    def spy(self: KafkaConsumer, *args: Any, **kwargs: Any) -> None:
        created.append(kwargs)
        init(self, *args, **kwargs)

    async def main() -> None:
        async with running(source, Collector()):
            for _ in range(100):
                if created:
                    break
                await asyncio.sleep(0.05)

    with mock.patch.object(KafkaConsumer, "__init__", spy):
        asyncio.run(main())
    return created[0]


def _consumer(key: str) -> Any:
    return lambda variant: consumer_args(variant)[key]


def _seen(key: str) -> Any:
    return lambda variant: run(variant)[key]


def _emitted(prefix: str) -> Any:
    return lambda variant: [e for e in run(variant)["emitted"] if e.startswith(prefix)]


ROWS = [
    Row("feeds[kafka].name", "A", "B", _seen("feeds")),
    Row("feeds[kafka].topic", "A", "B", _seen("topics")),
    Row("feeds[kafka].group_id", "A", "B", _seen("groups")),
    Row("feeds[kafka].channels", "A", "B", _emitted("path:common/")),
    Row("feeds[kafka].path_roots", "A", "B", _emitted("path:")),
    Row("feeds[kafka].url_prefixes", "A", "B", _emitted("url:")),
    Row("feeds[kafka].spool", "A", "B", _seen("download_dirs")),
    Row("feeds[kafka].after_processing", "A", "C", _seen("downloads")),
    Row("feeds[kafka].done_dir", "A", "B",
        lambda v: [d.rsplit("/", 2)[-2] for d in run(v)["downloads"] if "/done" in d
                   or d.startswith("doneB")]),
    Row("feeds[kafka].auto_offset_reset", "a", "b", _consumer("auto_offset_reset")),
    Row("feeds[kafka].session_timeout_s", "a", "b", _consumer("session_timeout_ms")),
    Row("feeds[kafka].heartbeat_interval_s", "a", "b", _consumer("heartbeat_interval_ms")),
    Row("feeds[kafka].max_poll_interval_s", "a", "b", _consumer("max_poll_interval_ms")),
]

ELSEWHERE = {
    # max_in_flight=2 holds the feed at 2 of 6 notices (the default 64 would not)
    "feeds[kafka].max_in_flight": "tests/sources/test_sources_kafka.py::"
                                  "test_in_flight_is_bounded_and_url_notifications_are_downloaded",
}


@pytest.mark.parametrize("row", ROWS, ids=[r.path for r in ROWS])
def test_kafka_feed_option_changes_behaviour(row: Row) -> None:
    row.check()
