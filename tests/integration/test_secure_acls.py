"""The broker itself keeps each country in its own lane (TLS + SCRAM + ACLs).

One secure broker for the module, provisioned exactly as ``trm kafka up
--secure`` does (hub.ops.security). Every refusal asserted here is
the broker's: the client sends the request and Kafka answers with an
authorization or authentication error.
"""

from __future__ import annotations

import asyncio
import ssl
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from hub.ops import security as ks
from hub.topics import ADMIN, AUDITOR, COMMIT_COUNTRIES, HUB, Topics
from tests.support.secure import SecureBroker, secure_broker

pytestmark = [pytest.mark.kafka]

T = Topics()  # the secure broker is this module's alone: production names
OTHERS = {cc: [o for o in COMMIT_COUNTRIES if o != cc] for cc in COMMIT_COUNTRIES}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("secure"), T) as running:
        yield running


def _cfg(broker: SecureBroker, who: str) -> dict[str, Any]:
    return ks.client_config(who, state=broker.state)


async def _producer(broker: SecureBroker, who: str, **kw: Any) -> AIOKafkaProducer:
    p = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, request_timeout_ms=10000, **kw, **_cfg(broker, who)
    )
    await p.start()
    return p


async def _refused_write(p: AIOKafkaProducer, topic: str) -> bool:
    try:
        await asyncio.wait_for(p.send_and_wait(topic, b"probe"), 15)
    except TopicAuthorizationFailedError:
        return True
    return False


async def _read_one(broker: SecureBroker, who: str, topic: str, group: str | None) -> bytes | None:
    """Subscribe and read one record; raise what the broker answered."""
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        **_cfg(broker, who),
    )
    try:
        await asyncio.wait_for(c.start(), 15)
        batch = await asyncio.wait_for(c.getmany(timeout_ms=5000), 20)
        for records in batch.values():
            return bytes(records[0].value)
        return None
    finally:
        await c.stop()


async def _refused_read(broker: SecureBroker, who: str, topic: str) -> bool:
    group = ks.group_prefix(who, T) + "probe" if who != HUB else ks.group_prefix(HUB, T)
    try:
        value = await _read_one(broker, who, topic, group)
    except TopicAuthorizationFailedError:
        return True
    assert value is None, f"{who} read a record from {topic}"
    return False


@pytest.fixture(scope="module")
async def seeded(broker: SecureBroker) -> SecureBroker:
    """One record in every topic, written by whoever may write it."""
    hub = await _producer(broker, HUB, acks="all", enable_idempotence=True)
    admin = await _producer(broker, ADMIN, acks="all")
    try:
        for cc in COMMIT_COUNTRIES:
            await hub.send_and_wait(T.inbox(cc), f"for {cc}".encode())
            await hub.send_and_wait(T.rejections(cc), f"refused {cc}".encode())
        for name in (T.quarantine, T.audit_leaves, T.audit_checkpoints, T.decisions):
            await hub.send_and_wait(name, b"hub")
        for name in (T.registry_trust, T.registry_agreements):
            await admin.send_and_wait(name, b"registry", key=b"k")
    finally:
        await hub.stop()
        await admin.stop()
    return broker


async def test_acls_on_the_broker_are_the_plan(broker: SecureBroker) -> None:
    admin = ks.client_config(ADMIN, state=broker.state)
    found = await ks.describe_acls(broker.bootstrap, admin)
    assert found == set(ks.acl_bindings(T))


async def test_each_country_writes_its_outbox_and_nothing_else(broker: SecureBroker) -> None:
    async def one(cc: str) -> list[str]:
        p = await _producer(broker, cc, acks="all", enable_idempotence=True)
        wrong = []
        try:
            await p.send_and_wait(T.outbox(cc), b"own outbox")  # allowed
            await p.send_and_wait(T.audit_checkpoints, b"cosigned")  # allowed: a witness
            forbidden = [T.outbox(o) for o in OTHERS[cc]]  # speaking as another country
            forbidden += [T.inbox(o) for o in COMMIT_COUNTRIES]  # forging a delivery
            forbidden += [T.rejections(cc), T.quarantine, T.decisions]
            forbidden += [T.audit_leaves, T.registry_trust]
            for topic in forbidden:
                if not await _refused_write(p, topic):
                    wrong.append(f"{cc} wrote {topic}")
        finally:
            await p.stop()
        return wrong

    results = await asyncio.gather(*(one(cc) for cc in COMMIT_COUNTRIES))
    assert [w for r in results for w in r] == []


async def test_each_country_reads_its_lane_and_nothing_else(seeded: SecureBroker) -> None:
    broker = seeded

    async def one(cc: str) -> list[str]:
        wrong = []
        group = ks.group_prefix(cc, T) + "inbox"
        if await _read_one(broker, cc, T.inbox(cc), group) != f"for {cc}".encode():
            wrong.append(f"{cc} could not read its inbox")
        if await _read_one(broker, cc, T.rejections(cc), group + "-r") != f"refused {cc}".encode():
            wrong.append(f"{cc} could not read its rejections")
        if await _read_one(broker, cc, T.audit_leaves, group + "-a") != b"hub":
            wrong.append(f"{cc} could not read the audit leaves")
        forbidden = [T.inbox(o) for o in OTHERS[cc]] + [T.rejections(o) for o in OTHERS[cc]]
        forbidden += [T.outbox(o) for o in COMMIT_COUNTRIES]  # only the hub reads outboxes
        forbidden += [T.quarantine, T.decisions]
        for topic in forbidden:
            if not await _refused_read(broker, cc, topic):
                wrong.append(f"{cc} read {topic}")
        return wrong

    results = await asyncio.gather(*(one(cc) for cc in COMMIT_COUNTRIES))
    assert [w for r in results for w in r] == []


async def test_a_country_cannot_use_another_countrys_consumer_group(seeded: SecureBroker) -> None:
    with pytest.raises(GroupAuthorizationFailedError):
        await _read_one(seeded, "KH", T.inbox("KH"), ks.group_prefix("TH", T) + "inbox")


async def test_the_hub_reads_outboxes_and_cannot_speak_for_a_country(broker: SecureBroker) -> None:
    p = await _producer(broker, HUB, acks="all", enable_idempotence=True)
    try:
        for cc in COMMIT_COUNTRIES:
            assert await _refused_write(p, T.outbox(cc)), cc
        assert await _refused_write(p, T.registry_trust)
    finally:
        await p.stop()
    value = await _read_one(broker, HUB, T.outbox("KH"), ks.group_prefix(HUB, T))
    assert value == b"own outbox"


async def test_the_auditor_reads_everything_and_writes_nothing(seeded: SecureBroker) -> None:
    broker = seeded
    group = ks.group_prefix(AUDITOR, T) + "replay"
    for topic in (T.inbox("VN"), T.rejections("LA"), T.quarantine, T.audit_leaves, T.outbox("KH")):
        assert await _read_one(broker, AUDITOR, topic, group + topic) is not None, topic
    # An idempotent producer needs WRITE somewhere; the auditor has none.
    with pytest.raises(ClusterAuthorizationFailedError):
        await _producer(broker, AUDITOR, acks="all", enable_idempotence=True)
    p = await _producer(broker, AUDITOR, acks=1)
    try:
        for topic in T.all():
            assert await _refused_write(p, topic), topic
    finally:
        await p.stop()


async def _connects(broker: SecureBroker, **cfg: Any) -> bool:
    p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=5000, **cfg)
    try:
        await asyncio.wait_for(p.start(), 20)
    except (KafkaConnectionError, ssl.SSLError, OSError):
        return False
    finally:
        await p.stop()
    return True


async def test_unauthenticated_and_wrong_password_clients_are_refused(broker: SecureBroker) -> None:
    good = _cfg(broker, "KH")
    assert await _connects(broker, **good)  # the control: right password connects
    assert not await _connects(broker)  # plaintext to the TLS port
    assert not await _connects(broker, security_protocol="SSL", ssl_context=good["ssl_context"])
    wrong = {**good, "sasl_plain_password": good["sasl_plain_password"][:-1] + "x"}
    assert not await _connects(broker, **wrong)
    stranger = {**good, "sasl_plain_username": "XX"}
    assert not await _connects(broker, **stranger)
    # Another country's user name with KH's password: SCRAM refuses it too.
    assert not await _connects(broker, **{**good, "sasl_plain_username": "th"})


async def test_a_client_that_does_not_trust_our_ca_will_not_talk(broker: SecureBroker) -> None:
    good = _cfg(broker, "KH")
    assert not await _connects(broker, **{**good, "ssl_context": ssl.create_default_context()})


def test_no_plaintext_listener_is_open(broker: SecureBroker) -> None:
    (path,) = broker.cluster.data_dir.glob("node*/server.properties")
    props: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            props[key] = value  # the last one wins, as in java.util.Properties
    listeners = dict(item.split("://") for item in props["listeners"].split(","))
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert {name: protocols[name] for name in listeners} == {
        "SECURE": "SASL_SSL",
        "CONTROLLER": "SSL",
    }
    assert all(addr.startswith("127.0.0.1:") for addr in listeners.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the keystore password
