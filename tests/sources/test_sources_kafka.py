"""Kafka notification source against the real local broker (Tansu) and real files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fakes.harness import Collector, running
from fakes.jsoc_server import JsocServer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor.publish.kafka_client import client_options, ensure_topics
from monitor.publish.settings import KafkaSettings
from monitor.sources import (
    FileArrival,
    KafkaFeedSettings,
    make_notification,
    make_source,
    notification_key,
)
from monitor.sources.kafkafeed import KafkaNotificationSource

# Tansu: short group timings or the first join waits for the whole rebalance timeout.
GROUP_TIMINGS = {"session_timeout_s": 6.0, "heartbeat_interval_s": 1.0,
                 "max_poll_interval_s": 5.0}
T0 = datetime(2026, 6, 24, 20, 0, tzinfo=UTC)


def run(coro):
    return asyncio.run(coro)


def options(bootstrap: str) -> dict:
    return client_options(KafkaSettings(), [bootstrap])


def make_feed(topic: str, root: Path, group: str, **kwargs) -> KafkaFeedSettings:
    settings = KafkaFeedSettings(name="notices", topic=topic, group_id=group,
                                 path_roots=(root,), **GROUP_TIMINGS)
    return replace(settings, **kwargs)


def produce(bootstrap: str, messages: list[tuple[bytes | None, bytes, int | None]]) -> None:
    producer = KafkaProducer(**options(bootstrap), acks="all")
    for key, value, partition in messages:
        producer.send(messages_topic[0], key=key, value=value, partition=partition)
    producer.flush(timeout=30)
    producer.close()


messages_topic: list[str] = [""]  # set per test (produce() stays a plain function)


def committed(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    consumer = KafkaConsumer(**options(bootstrap), group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close(autocommit=False)


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.2)


def files(root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"AIA20260624_{i:04d}00_0171.fits"
        path.write_bytes(b"F" * (100 + i))
        paths.append(path)
    return paths


def test_notifications_are_committed_only_after_done_and_in_order(
        kafka_bootstrap: str, unique_topic: str, tmp_path: Path) -> None:
    ensure_topics(options(kafka_bootstrap), [unique_topic], 2, 1)
    messages_topic[0] = unique_topic
    group = f"g-{unique_topic}"
    a, b, c, d, e = files(tmp_path / "data", 5)
    outside = tmp_path / "elsewhere.fits"
    outside.write_bytes(b"x")
    note = lambda p, **kw: make_notification(path=str(p), **kw)[1]
    produce(kafka_bootstrap, [
        (None, note(a, t_obs=T0, wavelength=171), 0), (None, note(b), 0),
        (None, b"{not json", 0), (None, note(c), 0),
        (None, note(outside), 1), (None, note(d), 1)])
    source = KafkaNotificationSource(make_feed(unique_topic, tmp_path / "data", group),
                                     options(kafka_bootstrap))

    async def scenario() -> list[FileArrival]:
        collect = Collector()
        async with running(source, collect):
            arrivals = await collect.wait_count(4, timeout=40)
            by_path = {x.path.name: x for x in arrivals}
            first = by_path[a.name]
            assert first.t_obs == T0.timestamp() and first.wavelength == 171
            assert first.observation_key == "2026-06-24T20:00:00Z"
            assert (first.topic, first.partition, first.offset) == (unique_topic, 0, 0)
            # the rejected-path notice at the head of partition 1 is acked at once
            await eventually(lambda: committed(kafka_bootstrap, group, unique_topic, 1) == 1)
            assert committed(kafka_bootstrap, group, unique_topic, 0) is None
            await source.done(by_path[b.name], "processed")
            await asyncio.sleep(1.0)  # b is done but a is not: nothing may be committed
            assert committed(kafka_bootstrap, group, unique_topic, 0) is None
            await source.done(by_path[a.name], "processed")
            # a, b and the invalid message: offset 3 (c still pending)
            await eventually(lambda: committed(kafka_bootstrap, group, unique_topic, 0) == 3)
            await source.done(by_path[c.name], "rejected")
            await source.done(by_path[d.name], "duplicate")
            await eventually(lambda: committed(kafka_bootstrap, group, unique_topic, 0) == 4)
            await eventually(lambda: committed(kafka_bootstrap, group, unique_topic, 1) == 2)
        return collect.arrivals

    arrivals = run(scenario())
    assert sorted(x.path.name for x in arrivals) == sorted(p.name for p in (a, b, c, d))
    stats = source.stats()
    assert stats.ignored == {"not_json": 1, "path_not_allowed": 1}
    assert stats.outcomes == {"processed": 2, "rejected": 1, "duplicate": 1}
    assert c.exists()  # notified paths belong to the producer: never moved or deleted

    # A restarted instance in the same group resumes after the commits.
    produce(kafka_bootstrap, [(None, note(e), 1)])
    again = KafkaNotificationSource(make_feed(unique_topic, tmp_path / "data", group),
                                    options(kafka_bootstrap))

    async def resume() -> list[FileArrival]:
        collect = Collector()
        async with running(again, collect):
            await collect.wait_count(1, timeout=40)
            await asyncio.sleep(1.0)
        return collect.arrivals

    assert [x.path.name for x in run(resume())] == [e.name]


def test_in_flight_is_bounded_and_url_notifications_are_downloaded(
        kafka_bootstrap: str, unique_topic: str, tmp_path: Path) -> None:
    ensure_topics(options(kafka_bootstrap), [unique_topic], 1, 1)
    messages_topic[0] = unique_topic
    group = f"g-{unique_topic}"

    async def scenario() -> tuple[list[FileArrival], list[int], KafkaNotificationSource]:
        async with JsocServer(tmp_path / "jsoc") as server:
            archive = server.archive()
            urls = []
            for i in range(6):
                t = T0 + timedelta(minutes=3 * i)
                archive.publish(t, 193)
                urls.append(archive.url_for(t, 193).replace(
                    "http://127.0.0.1/", f"http://127.0.0.1:{server.port}/"))
            messages = [make_notification(url=u, t_obs=T0 + timedelta(minutes=3 * i),
                                          wavelength=193, cadence_s=180)
                        for i, u in enumerate(urls)]
            messages.append(make_notification(url="http://example.invalid/x.fits"))
            await asyncio.to_thread(produce, kafka_bootstrap,
                                    [(k, v, None) for k, v in messages])
            settings = make_feed(unique_topic, tmp_path / "unused", group,
                                 url_prefixes=(server.base_url,), spool=tmp_path / "spool",
                                 max_in_flight=2)
            source = make_source(settings, kafka_options=options(kafka_bootstrap))
            assert isinstance(source, KafkaNotificationSource)
            collect = Collector()
            counts = []
            async with running(source, collect):
                await collect.wait_count(2, timeout=40)
                await asyncio.sleep(1.5)
                counts.append(len(collect.arrivals))  # held at the bound
                for done_so_far in range(6):
                    await collect.wait_count(done_so_far + 1, timeout=20)
                    await source.done(collect.arrivals[done_so_far], "processed")
                await asyncio.sleep(0.5)
                counts.append(source.stats().in_flight)
            return collect.arrivals, counts, source

    arrivals, counts, source = run(scenario())
    assert counts == [2, 0]
    assert [a.observation_key for a in arrivals] == [
        (T0 + timedelta(minutes=3 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(6)]
    assert all(a.url and a.url.endswith(a.path.name) for a in arrivals)
    assert all(not a.path.exists() for a in arrivals)  # downloads deleted after processing
    assert source.stats().ignored == {"url_not_allowed": 1}


def test_two_instances_split_the_partitions_and_the_survivor_takes_over(
        kafka_bootstrap: str, unique_topic: str, tmp_path: Path) -> None:
    ensure_topics(options(kafka_bootstrap), [unique_topic], 4, 1)
    messages_topic[0] = unique_topic
    group = f"g-{unique_topic}"
    root = tmp_path / "data"
    root.mkdir()
    channels = (94, 171, 193)

    def frame_messages(first: int, count: int) -> list[tuple[bytes | None, bytes, None]]:
        out = []
        for i in range(first, first + count):
            t = T0 + timedelta(seconds=12 * i)
            for w in channels:
                path = root / f"aia.lev1.{w}A_{t:%Y-%m-%dT%H-%M-%S}.00Z.image_lev1.fits"
                path.write_bytes(b"x")
                key, value = make_notification(path=str(path), t_obs=t + timedelta(
                    seconds=channels.index(w)), wavelength=w)
                assert key == notification_key(t)  # every channel keyed by the frame slot
                out.append((key, value, None))
        return out

    a = KafkaNotificationSource(make_feed(unique_topic, root, group), options(kafka_bootstrap))
    b = KafkaNotificationSource(make_feed(unique_topic, root, group), options(kafka_bootstrap))
    processed: dict[str, list[FileArrival]] = {"a": [], "b": []}
    held: list[FileArrival] = []
    phase_one: dict[str, list[FileArrival]] = {}
    assignments: dict[str, list[int]] = {}

    async def scenario() -> None:
        hold = asyncio.Event()

        def worker(name: str, source: KafkaNotificationSource):
            async def emit(arrival: FileArrival) -> None:
                if name == "a" and hold.is_set():
                    held.append(arrival)  # instance a "hangs" on these: never done
                    return
                processed[name].append(arrival)
                await source.done(arrival, "processed")
            return emit

        total = lambda: len(processed["a"]) + len(processed["b"])
        async with running(b, worker("b", b)):
            async with running(a, worker("a", a)):
                await eventually(lambda: len(a.assigned_partitions()) == 2
                                 and len(b.assigned_partitions()) == 2, timeout=40)
                assignments.update(a=a.assigned_partitions(), b=b.assigned_partitions())
                await asyncio.to_thread(produce, kafka_bootstrap, frame_messages(0, 12))
                await eventually(lambda: total() == 36)
                phase_one.update({k: list(v) for k, v in processed.items()})
                hold.set()
                await asyncio.to_thread(produce, kafka_bootstrap, frame_messages(12, 12))
                await eventually(lambda: len(held) > 0 and total() + len(held) == 72)
            # a has stopped (left the group) with its held files never done
            await eventually(lambda: b.assigned_partitions() == [0, 1, 2, 3], timeout=40)
            await eventually(lambda: {(x.partition, x.offset) for x in held}
                             <= {(x.partition, x.offset) for x in processed["b"]}, timeout=40)

    run(scenario())
    assert sorted(assignments["a"] + assignments["b"]) == [0, 1, 2, 3]
    assert phase_one["a"] and phase_one["b"]  # both instances did part of the work
    owners: dict[str | None, set[str]] = {}
    for name, arrivals in phase_one.items():
        for x in arrivals:
            owners.setdefault(x.observation_key, set()).add(name)
    assert len(owners) == 12 and all(len(o) == 1 for o in owners.values())  # frames whole
    # every notification was processed (done) by someone; a's unfinished ones by b
    done_offsets = {(x.partition, x.offset) for x in processed["a"] + processed["b"]}
    assert len(done_offsets) == 72
    assert {x.path for x in held} <= {x.path for x in processed["b"]}
    assert a.stats().in_flight == len(held)  # a never finished them
