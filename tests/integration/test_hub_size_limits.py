"""Size limits on the real broker: what an outbox accepts, the hub can always record.

Random bytes just over the hub's envelope limit and just under the outbox
topic's own limit (read from the broker) are refused OVERSIZED, both by the
reconciler (records committed before the worker ran, as a faulty commit would
leave them) and by the agent; the refusal, the decision and a quarantine copy
that opens to the original bytes are written; the worker stays healthy (no
failing reconciliation pass); the auditor's replay accounts for every record
(no DROP). A compressed record whose bytes are over the limit is refused by
the broker itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from connectors.cli.audit import read_replay_input, run_replay
from hub.audit.leaf import AuditLeaf
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.policy import AgreementSet
from hub.sealkeys import Keyring
from hub.topics import Topics
from hub.wire import DEFAULT_MAX_SIZE
from hub.wire.sealing import open_quarantined
from tests.support.kafka import commit_group_to_end, read_topic
from tests.support.nodes import HUB_KEY, node_seal_keys, trust_list
from tests.support.procs import TRM, Proc, wait_until

pytestmark = pytest.mark.kafka

HEADERS = [("ce_id", b"not-an-event"), ("content-type", b"application/octet-stream")]
KEY = b"case-size"


async def _topic_limit(bootstrap: str, topic: str) -> int:
    """The topic's max.message.bytes as the broker has it (set, or the broker's default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in described[0].resources[0][4]}
    return int(configs["max.message.bytes"])


def _value_just_under(limit: int) -> bytes:
    """Random bytes whose one-record batch (key, headers) is 16 bytes under ``limit``."""
    size = limit - DefaultRecordBatchBuilder.estimate_size_in_bytes(KEY, b"", HEADERS) - 16
    value = os.urandom(size)
    while DefaultRecordBatchBuilder.estimate_size_in_bytes(KEY, value, HEADERS) > limit - 16:
        value = value[:-1]  # the varint of the length may have grown by a byte
    return value


async def _write(bootstrap: str, topic: str, values: list[bytes], **options: Any) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=16 << 20, **options
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=KEY, headers=HEADERS)
    finally:
        await producer.stop()


def test_oversized_records_are_refused_recorded_and_replay_clean(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust = trust_list()
    trust_doc = json.dumps(trust.document.to_json()).encode()
    (home / "trust.json").write_bytes(trust_doc)
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, []))
    asyncio.run(node_seal_keys(kafka_bootstrap, topics, home, ["TH"]))
    monkeypatch.setenv("TRM_HUB_RECONCILE_S", "1")  # many passes within the test
    ns = topics.namespace
    hub = Proc(
        [TRM, "hub", "worker", "--bootstrap", kafka_bootstrap, "--namespace", ns,
         "--trust", str(home / "trust.json"), "--loglevel", "info"],
        home,
        "hub",
    )  # fmt: skip
    seq = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", kafka_bootstrap, "--namespace", ns,
         "--web-port", str(kafka_local.free_port()), "--every-leaves", "1", "--every-ms", "500"],
        home,
        "sequencer",
    )  # fmt: skip
    outbox = topics.outbox("TH")
    limit = asyncio.run(_topic_limit(kafka_bootstrap, outbox))
    # (bytes, written before the worker ran): the reconciler decides the first two
    records = [
        (os.urandom(DEFAULT_MAX_SIZE + 1), True),
        (_value_just_under(limit), True),
        (os.urandom(DEFAULT_MAX_SIZE + 1), False),
        (_value_just_under(limit), False),
    ]
    assert len(records[1][0]) > DEFAULT_MAX_SIZE  # the topic takes what the hub refuses
    asyncio.run(_write(kafka_bootstrap, outbox, [v for v, early in records if early]))
    asyncio.run(commit_group_to_end(kafka_bootstrap, outbox, f"trm-hub-{ns}"))
    hub.start()
    seq.start()
    try:
        asyncio.run(_write(kafka_bootstrap, outbox, [v for v, early in records if not early]))

        def rejections() -> list[Any]:
            return asyncio.run(read_topic(kafka_bootstrap, topics.rejections("TH")))

        wait_until(lambda: len(rejections()) >= 4, "four rejections", [hub, seq])
        refusals = [json.loads(r.value) for r in rejections()]
        assert [r["reason"] for r in refusals] == ["OVERSIZED"] * 4

        # The quarantine keeps the original bytes, sealed to TH: TH opens them.
        ring = Keyring.of(StateDir(home), "TH")
        copies = asyncio.run(read_topic(kafka_bootstrap, topics.quarantine))
        opened = {hashlib.sha256(open_quarantined(r.value, ring.private)).digest() for r in copies}
        assert opened == {hashlib.sha256(v).digest() for v, _early in records}

        # Every outbox record has its leaf, and the worker stays healthy meanwhile.
        def settled() -> bool:
            data = read_replay_input(kafka_bootstrap, topics)
            decided = {AuditLeaf.from_bytes(r.value).record.source for r in data.leaves}
            return len(data.outboxes) == 4 and all(r.where in decided for r in data.outboxes)

        wait_until(settled, "every record in the audit log", [hub, seq])
        time.sleep(5)  # several reconciliation passes, and the sequencer's last checkpoint
        hub.alive()
        log = hub.log.read_text(errors="replace")
        assert "reconciliation pass failed" not in log
        assert "MessageSizeTooLarge" not in log
        # the reconciler's two (below the group's commit: written before the worker ran)
        assert re.search(r"records below offset \d+ \(committed \d+\) have no decision", log)
        report = run_replay(kafka_bootstrap, topics, trust, AgreementSet())
        assert report.ok, [f.to_json() for f in report.findings][:10]
        assert [f.kind for f in report.findings if f.kind == "DROP"] == []

        # Bytes over the topic's limit, compressed to far less: the broker refuses them
        # (the outbox stores records uncompressed and checks the size after).
        bomb = b"\x00" * (4 * limit)
        with pytest.raises(KafkaError):
            asyncio.run(_write(kafka_bootstrap, outbox, [bomb], compression_type="gzip"))
    finally:
        seq.stop()
        hub.stop()
