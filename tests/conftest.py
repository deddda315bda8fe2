"""Shared fixtures: a real Apache Kafka broker, started by the project itself.

``kafka_bootstrap`` starts one KRaft node on free loopback ports for the whole
session (or uses ``$TRM_KAFKA_BOOTSTRAP``), creates the project's ``trm``
topics, and stops it at the end. Under pytest-xdist (``make test`` runs two
processes) each process is a session of its own, with a broker of its own unless
``$TRM_KAFKA_BOOTSTRAP`` names one. A broker that cannot start fails every test
that asked for it: nothing here skips.

Tests that write to topics use their own namespace (``topics`` fixture or
``hub.topics.Topics("t...")``) so tests sharing the broker never see each
other's records.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.ops import broker as kafka_local
from hub.topics import Topics


def own_ports() -> None:
    """Give this pytest-xdist worker a part of the port pool of its own.

    ``free_port`` never gives a port twice within one process, but two workers cannot see
    each other's picks: a port one has picked for a broker or a web server that is not
    listening yet (or is restarted on it) could be picked by the other. Each worker takes
    its own slice; the processes its tests start inherit it through the environment.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    if not worker.startswith("gw") or os.environ.get("TRM_FREE_PORTS"):  # as port_pool reads it
        return
    index, count = int(worker[2:]), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    pool = kafka_local.port_pool()
    size = len(pool) // count
    start = pool.start + index * size
    os.environ["TRM_FREE_PORTS"] = f"{start}-{start + size}"


own_ports()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real single-node Kafka broker (session-wide)."""
    external = os.environ.get("TRM_KAFKA_BOOTSTRAP")
    if external:
        asyncio.run(kafka_local.create_topics(external, Topics().plan()))
        yield external
        return
    cluster = kafka_local.LocalCluster(tmp_path_factory.mktemp("kafka1"), nodes=1)
    cluster.start()  # raises (the test errors) if the broker cannot start
    try:
        asyncio.run(kafka_local.create_topics(cluster.bootstrap, Topics().plan()))
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture
def kafka_cluster3(tmp_path: Path) -> Iterator[kafka_local.LocalCluster]:
    """A fresh 3-node KRaft cluster (RF 3, min.insync 2) for one test; stopped after."""
    cluster = kafka_local.LocalCluster(tmp_path / "kafka3", nodes=3, heap="384m")
    cluster.start(timeout_s=180)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def new_topics() -> Callable[[], Topics]:
    """A factory of fresh topic namespaces (``t`` + 8 hex digits)."""
    return lambda: Topics("t" + uuid.uuid4().hex[:8])


@pytest.fixture
async def topics(kafka_bootstrap: str, new_topics: Callable[[], Topics]) -> Topics:
    """A fresh namespace with every project topic created on the session broker."""
    names = new_topics()
    await kafka_local.create_topics(kafka_bootstrap, names.plan())
    return names
