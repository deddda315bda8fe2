"""The country SDK on the secure broker: its own credentials publish, borrowed ones do not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.sdk.node import CountryNode
from connectors.sdk.submission import Submission
from hub.errors import OperationalError
from hub.home import StateDir
from hub.ops import broker as kafka_local
from hub.ops import security as ks
from hub.topics import Topics
from hub.wire import Envelope, EventType
from tests.fault.hub_world import HubWorld

pytestmark = [pytest.mark.kafka]

T = Topics("ss")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StateDir]]:
    state = StateDir(tmp_path_factory.mktemp("secure-sdk"))
    setup = ks.provision_secure(state, topics=T)
    cluster = kafka_local.LocalCluster(
        state.kafka,
        nodes=1,
        extra_properties=setup.broker_properties,
        format_args=setup.format_args,
        client_listener=ks.CLIENT_LISTENER,
        client_config=setup.admin_config,
        heap="384m",
    )
    cluster.start()
    try:
        asyncio.run(
            kafka_local.create_topics(cluster.bootstrap, T.plan(), client_config=setup.admin_config)
        )
        setup.finish_sync(cluster.bootstrap)
        yield cluster.bootstrap, state
    finally:
        cluster.stop()


async def _outbox(bootstrap: str, state: StateDir, country: str) -> list[str]:
    """Event ids in a country's outbox, read as the hub."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, **ks.client_config(ks.HUB, state=state))
    await c.start()
    try:
        name = T.outbox(country)
        parts = [TopicPartition(name, p) for p in await _partitions(c, name)]
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        batch = await c.getmany(timeout_ms=3000)
        return [Envelope.from_bytes(r.value).header.event_id for rs in batch.values() for r in rs]
    finally:
        await c.stop()


async def _partitions(c: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = c.partitions_for_topic(topic)
        if found:
            return set(found)
        await c._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no partitions for {topic}")


async def test_a_node_publishes_with_its_own_credentials_only(
    secure: tuple[str, StateDir], tmp_path: Path
) -> None:
    bootstrap, state = secure
    world = HubWorld(tmp_path / "world").build()
    alert = Submission(
        EventType.TRAFFICKER_ALERT, ("CN",), "investigation", "H2", "case-1", world.payload
    )
    kh = CountryNode(
        "KH",
        world.keys["KH"],
        world.trust,
        bootstrap,
        topics=T,
        state=StateDir(tmp_path / "kh"),
        client_config=ks.client_config("KH", state=state),
    )
    async with kh:
        event_id = await kh.publish(alert)
    assert await _outbox(bootstrap, state, "KH") == [event_id]

    # TH's node software holding KH's Kafka credentials: the broker refuses TH's outbox.
    th = CountryNode(
        "TH",
        world.keys["TH"],
        world.trust,
        bootstrap,
        topics=T,
        state=StateDir(tmp_path / "th"),
        client_config=ks.client_config("KH", state=state),
    )
    async with th:
        with pytest.raises(OperationalError) as refused:
            await th.publish(alert)
    assert "TopicAuthorizationFailed" in refused.value.detail
    assert await _outbox(bootstrap, state, "TH") == []
