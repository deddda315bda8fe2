"""Every event type end to end through the hub worker, under the EXAMPLE agreements.

Each recipient verifies what it got (producer signature, disclosures, hub
attestation) and gets exactly the fields the policy engine allows for it: the
hub's redaction and the engine agree, and nothing else arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from connectors.cli.audit import read_replay_input
from hub.audit.replay import Record
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.policy import Deliver, decide_one
from hub.topics import Topics
from hub.wire import (
    Envelope,
    cloudevents_headers,
    open_envelope,
    payload_from_json,
    seal,
    verify,
)
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    agreement_file,
    example_key,
    example_payload,
)
from tests.support.procs import TRM, Proc

pytestmark = pytest.mark.kafka

# (event type, producer, recipient, purpose, handling)
FLOWS = [
    ("referral", "TH", "KH", "repatriation", "H2"),
    ("handover_notice", "TH", "KH", "repatriation", "H2"),
    ("detention_notice", "TH", "KH", "victim_identification", "H2"),
    ("trafficker_alert", "VN", "LA", "investigation", "H1"),
    ("acknowledgement", "KH", "TH", "repatriation", "H2"),
]


async def _publish(bootstrap: str, topics: Topics, envs: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for env in envs:
            await producer.send_and_wait(
                topics.outbox(env.header.producer),
                env.to_bytes(),
                key=env.header.case_key.encode(),
                headers=list(cloudevents_headers(env.header)),
            )
    finally:
        await producer.stop()


def test_each_event_type_is_delivered_redacted_as_agreed(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    now = time.time_ns() // 1_000_000
    envs: list[Envelope] = []
    for i, (event_type, producer, recipient, purpose, handling) in enumerate(FLOWS):
        payload = dict(payload_from_json(event_type, example_payload(event_type)))
        if event_type == "handover_notice":  # a child: received by a named protection agency
            payload["receiving_organisation"] = {
                "id": "KH-MOSVY",
                "name": "Poipet transit centre",
                "kind": "government",
            }
        if event_type == "acknowledgement":  # Cambodia acknowledges the Thai referral
            payload["acknowledged_event_id"] = envs[0].header.event_id
            payload["acknowledged_event_digest"] = envs[0].event_digest
        envs.append(
            seal(
                event_type,
                payload,
                producer=producer,
                key=example_key(producer),
                recipients=[recipient],
                purpose=purpose,
                handling=handling,
                case_key=f"case-{i}",
                sequence=i + 1,
                created_at_ms=now,
            )
        )
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
    hub.start()

    def delivered_count(n: int) -> list[Record]:
        deadline = time.monotonic() + 120
        while True:
            hub.alive()
            inboxes = read_replay_input(kafka_bootstrap, topics).inboxes
            if len(inboxes) >= n or time.monotonic() > deadline:
                return inboxes
            time.sleep(1.0)

    try:
        # The acknowledgement goes last: the hub routes it to the referral's producer.
        asyncio.run(_publish(kafka_bootstrap, topics, envs[:-1]))
        delivered_count(len(FLOWS) - 1)
        asyncio.run(_publish(kafka_bootstrap, topics, envs[-1:]))
        inboxes = delivered_count(len(FLOWS))
    finally:
        hub.stop()
    by_event = {Envelope.from_bytes(r.value).header.event_id: r for r in inboxes}
    assert len(by_event) == len(inboxes) == len(FLOWS)
    for env, (event_type, _producer, recipient, _purpose, _handling) in zip(
        envs, FLOWS, strict=True
    ):
        rec = by_event[env.header.event_id]
        assert rec.topic == topics.inbox(recipient), event_type
        delivered = open_envelope(
            rec.value, TRUST, kafka_headers=list(rec.headers), require_attestation=True
        )
        original = verify(env, TRUST)
        decision = decide_one(original, recipient, AGREEMENTS, TRUST)
        assert isinstance(decision, Deliver), (event_type, decision)
        assert delivered.event.disclosed == decision.fields, event_type
        assert delivered.event.disclosed, event_type  # something useful arrived
        for name in delivered.event.disclosed:
            assert delivered.event.fields[name] == original.fields[name]  # withheld, never altered
        assert delivered.attestation is not None
        assert delivered.attestation.agreement_id == decision.agreement_id
