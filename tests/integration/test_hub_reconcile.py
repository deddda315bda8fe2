"""A committed outbox record the agent never saw is still decided (the reconciler).

Faust has been seen to commit past records around rebalances. Here the group's
offsets are committed to the end before the worker ever runs, the worst case:
without the reconciler every one of these events would be lost silently.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from connectors.cli.audit import read_replay_input
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import Envelope, cloudevents_headers, seal
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    agreement_file,
    example_key,
    example_payload,
)
from tests.support.kafka import commit_group_to_end
from tests.support.procs import TRM, Proc

pytestmark = pytest.mark.kafka


async def _publish_and_commit(bootstrap: str, topics: Topics, n: int) -> list[Envelope]:
    now = time.time_ns() // 1_000_000
    envs = [
        seal(
            "trafficker_alert",
            example_payload("trafficker_alert"),
            producer="VN",
            key=example_key("VN"),
            recipients=["KH"],
            purpose="investigation",
            handling="H1",
            case_key=f"alert-{i}",
            sequence=i + 1,
            created_at_ms=now,
        )
        for i in range(n)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for env in envs:
            await producer.send(
                topics.outbox("VN"),
                env.to_bytes(),
                key=env.header.case_key.encode(),
                headers=list(cloudevents_headers(env.header)),
            )
        await producer.flush()
    finally:
        await producer.stop()
    # Commit the group's offsets to the end, as a faulty commit would (the worker
    # is not running yet).
    await commit_group_to_end(bootstrap, topics.outbox("VN"), f"trm-hub-{topics.namespace}")
    return envs


def test_records_committed_but_never_processed_are_decided(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    envs = asyncio.run(_publish_and_commit(kafka_bootstrap, topics, 12))
    os.environ["TRM_HUB_RECONCILE_S"] = "1"
    hub = Proc(
        [
            TRM,
            "hub",
            "worker",
            "--bootstrap",
            kafka_bootstrap,
            "--namespace",
            topics.namespace,
            "--web-port",
            str(kafka_local.free_port()),
        ],
        tmp_path,
        "hub",
    )
    try:
        hub.start()
        deadline = time.monotonic() + 120
        while True:
            hub.alive()
            data = read_replay_input(kafka_bootstrap, topics)
            delivered = [Envelope.from_bytes(r.value).header.event_id for r in data.inboxes]
            if len(delivered) >= len(envs) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert sorted(delivered) == sorted(e.header.event_id for e in envs)
        assert "have no decision" in hub.log.read_text(errors="replace")
    finally:
        os.environ.pop("TRM_HUB_RECONCILE_S", None)
        hub.stop()
