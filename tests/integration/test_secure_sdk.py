"""The country SDK on the secure broker: its own credentials publish, borrowed ones do not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk.node import CountryNode
from connectors.sdk.submission import Submission
from hub.errors import OperationalError
from hub.home import StateDir
from hub.ops import security as ks
from hub.topics import HUB, Topics
from hub.wire import Envelope, EventType
from tests.support.kafka import read_topic
from tests.support.secure import secure_broker
from tests.support.world import HubWorld

pytestmark = [pytest.mark.kafka]

T = Topics("ss")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StateDir]]:
    with secure_broker(tmp_path_factory.mktemp("secure-sdk"), T) as running:
        yield running.bootstrap, running.state


async def _outbox(bootstrap: str, state: StateDir, country: str) -> list[str]:
    """Event ids in a country's outbox, read as the hub."""
    records = await read_topic(bootstrap, T.outbox(country), **ks.client_config(HUB, state=state))
    return [Envelope.from_bytes(r.value).header.event_id for r in records]


async def test_a_node_publishes_with_its_own_credentials_only(
    secure: tuple[str, StateDir], tmp_path: Path
) -> None:
    bootstrap, state = secure
    world = HubWorld(tmp_path / "world").build()
    # CN publishes its seal key with its own credentials; KH's node reads it with KH's.
    await world.provision_seal_keys(bootstrap, T, ks.client_config("CN", state=state))
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
