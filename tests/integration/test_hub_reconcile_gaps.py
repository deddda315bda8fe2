"""The reconciler settles an offset that holds no record instead of retrying it forever.

A producer that writes its outbox in a Kafka transaction leaves a commit
marker after its records: an offset below the group's commit that no
consumer is ever given, so no decision can name it. The reconciler decides
the record, settles the marker's offset, and does not warn about it on every
pass.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from tests.support.fault import partitions_of
from tests.support.kafka import commit_group_to_end, read_topic
from tests.support.nodes import HUB_KEY, trust_list
from tests.support.procs import TRM, Proc

pytestmark = pytest.mark.kafka


async def _write_in_a_transaction(bootstrap: str, topic: str, group_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="th-node-1")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"\xc3\x01not an envelope", key=b"case-tx")
    finally:
        await producer.stop()
    # The coordinator writes the commit marker after the transaction returns: wait
    # for it (record + marker = 2 offsets), or the commit below could stop short of it.
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await reader.start()
    try:
        parts = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
        deadline = time.monotonic() + 30
        while sum((await reader.end_offsets(parts)).values()) < 2:
            assert time.monotonic() < deadline, "the transaction's commit marker never came"
            await asyncio.sleep(0.1)
    finally:
        await reader.stop()
    # Commit the hub's group to the end (after the marker): only the reconciler sees it.
    await commit_group_to_end(bootstrap, topic, group_id)


def test_a_transaction_marker_is_settled_not_retried_forever(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, []))
    ns = topics.namespace
    asyncio.run(_write_in_a_transaction(kafka_bootstrap, topics.outbox("TH"), f"trm-hub-{ns}"))
    monkeypatch.setenv("TRM_HUB_RECONCILE_S", "1")
    hub = Proc(
        [TRM, "hub", "worker", "--bootstrap", kafka_bootstrap, "--namespace", ns,
         "--loglevel", "info"],
        tmp_path,
        "hub",
    )  # fmt: skip
    hub.start()
    try:
        deadline = time.monotonic() + 120
        refused: list[object] = []
        while not refused and time.monotonic() < deadline:
            hub.alive()
            refused = asyncio.run(read_topic(kafka_bootstrap, topics.rejections("TH")))
            time.sleep(1)
        assert len(refused) == 1, hub.log_tail()
        # Several reconcile passes (one a second) after the record was decided; on a
        # loaded machine a pass can come late, so wait for the settling line (60 s).
        settled = time.monotonic() + 60
        log = ""
        while "hold no record" not in log and time.monotonic() < settled:
            time.sleep(1)
            hub.alive()
            log = hub.log.read_text(errors="replace")
        time.sleep(3)  # and a few passes more: none may retry the marker's offset
        log = hub.log.read_text(errors="replace")
        assert "could not fetch offset" not in log, hub.log_tail()
        assert "hold no record" in log, hub.log_tail()
    finally:
        hub.stop()
