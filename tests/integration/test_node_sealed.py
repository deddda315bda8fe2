"""Sealed by default, through the real hub worker and audit sequencer on the real broker.

A Thai referral of a Cambodian child goes out sealed (protocol v2) and opens at
Cambodia's node with the right values, while the outbox and inbox records hold
none of them; a producer that commits to one plaintext and encrypts another is
delivered by the hub (it cannot tell), refused by Cambodia (SEAL_MISMATCH),
and answered once with a signed REJECTED acknowledgement that reaches
Thailand's inbox and the audit log (an ACKNOWLEDGED leaf); no seal key means
nothing sent (SEAL_KEY_MISSING); a destroyed epoch key makes the event
unreadable (KEY_DESTROYED, no answer: not the producer's fault); ``unsealed``
still sends v1 end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from connectors.cli.audit import read_replay_input
from connectors.sdk import CountryNode, InboxRecord, Submission
from hub.audit.leaf import AuditLeaf
from hub.decision import DecisionKind
from hub.errors import Reason, SealError
from hub.home import StateDir
from hub.keys import signer_key_id, write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import (
    SEALED_VERSION,
    Disclosure,
    Envelope,
    EventType,
    Header,
    SealedDisclosure,
    Signature,
    cloudevents_headers,
    new_event_id,
    pae,
    payload_fields,
)
from hub.wire.codec import payload_codec
from hub.wire.sealing import seal_disclosures
from hub.wire.vocab import HEADER_PAYLOAD_TYPE
from tests.support.canary import Canaries, scan_records
from tests.support.hub import HUB_KEY, KEYS, example, trust_list
from tests.support.kafka import read_topic
from tests.support.nodes import node_seal_keys
from tests.support.policy import agreement_from_table
from tests.support.procs import TRM, Proc, Worker, wait_for

pytestmark = pytest.mark.kafka

NAME = "សុខ ស្រីពៅ"  # the child's name in Khmer script
BIRTH = "2009-04-17"
PASSPORT = "AA7741259"  # a Thai passport number
CANARIES = Canaries(NAME, BIRTH, PASSPORT)
POLICY = {
    "TH>KH:referral": payload_fields("referral"),
    "KH>TH:acknowledgement": payload_fields("acknowledgement"),
}


def _referral(case_key: str) -> Submission:
    payload = {
        **example("referral"),
        "date_of_birth": BIRTH,
        "identity_documents": [
            {"kind": "PASSPORT", "number": PASSPORT, "issuing_country": "TH", "expires_on": None}
        ],
    }
    return Submission(
        EventType.REFERRAL,
        ("KH",),
        "repatriation",
        "H2",
        case_key,
        json.loads(json.dumps(payload)),  # the JSON form a desk sends
    )


def _plain(name: str, value: Any) -> Disclosure:
    return Disclosure.build(
        os.urandom(16), name, payload_codec("referral").codecs[name].encode(value)
    )


def _lying_referral(node: CountryNode, kh_key: Any, case_key: str) -> Envelope:
    """TH commits to ``sex: FEMALE`` and encrypts ``sex: MALE``: signed, every part listed."""
    now = time.time_ns() // 1_000_000
    event_id = new_event_id(now)
    truth, other = _plain("sex", "FEMALE"), _plain("sex", "MALE")
    (s,), wraps = seal_disclosures(
        [other], event_id=event_id, seal_to={"KH": kh_key}, rng=os.urandom
    )
    lying = SealedDisclosure.build(s.field, truth.digest, s.nonce, s.ciphertext)
    codec = payload_codec("referral")
    decoys = [os.urandom(32) for _ in range(len(codec.fields))]
    header = Header(
        spec_version=SEALED_VERSION,
        event_id=event_id,
        event_type=EventType.REFERRAL,
        payload_schema=codec.sha256,
        producer="TH",
        sequence=node.store.reserve_sequence(),
        created_at_ms=now,
        recipients=("KH",),
        purpose="repatriation",
        handling="H2",
        case_key=case_key,
        correlation_id=None,
        disclosure_digests=tuple(sorted([lying.digest, *(w.digest for w in wraps), *decoys])),
    )
    header_bytes = header.encode()
    signature = Signature(
        signer_key_id(KEYS["TH"]), KEYS["TH"].sign(pae(HEADER_PAYLOAD_TYPE, header_bytes))
    )
    return Envelope.assemble(
        header_bytes, signature, [], sealed=[lying], key_wraps=list(wraps), header=header
    )


async def test_sealed_by_default_and_a_lying_producer_is_answered(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust = trust_list()
    agreement = agreement_from_table(POLICY, KEYS, agreement_id="TH-KH")
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(trust.document.to_json()).encode(), [agreement]
    )
    roots = {"TH": tmp_path / "th", "KH": tmp_path / "kh"}
    directory = await node_seal_keys(
        kafka_bootstrap, topics, roots, ["TH", "KH"], keys=KEYS, trust=trust
    )
    worker = Worker(kafka_bootstrap, topics, home)
    sequencer = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", kafka_bootstrap,
         "--namespace", topics.namespace, "--web-port", str(kafka_local.free_port()),
         "--every-ms", "1000", "--every-leaves", "10"],
        home,
        "sequencer",
    )  # fmt: skip
    worker.start()
    sequencer.start()
    procs: list[Proc] = [worker, sequencer]
    th = CountryNode(
        "TH", KEYS["TH"], trust, kafka_bootstrap, topics=topics, state=StateDir(roots["TH"])
    )
    kh = CountryNode(
        "KH", KEYS["KH"], trust, kafka_bootstrap, topics=topics, state=StateDir(roots["KH"])
    )

    async def kh_new() -> list[InboxRecord]:
        return [r async for r in kh.inbox()]

    try:
        # 1. Sealed by default: the values open at KH and are nowhere in the topics.
        async with th:
            sealed_id = await th.publish(_referral("case-sealed"))
        (record,) = await wait_for(kh_new, procs, "the sealed referral")
        assert record.event_id == sealed_id
        assert record.fields["names"][0]["full_name"] == NAME
        assert record.fields["date_of_birth"] == BIRTH
        assert record.fields["identity_documents"][0]["number"] == PASSPORT
        assert record.fields["is_child"] is True
        outbox = await read_topic(kafka_bootstrap, topics.outbox("TH"))
        inbox = await read_topic(kafka_bootstrap, topics.inbox("KH"))
        assert [Envelope.from_bytes(r.value).header.spec_version for r in outbox] == [2]
        assert [Envelope.from_bytes(r.value).is_sealed for r in inbox] == [True]
        assert scan_records(outbox + inbox, CANARIES.patterns()) == set()
        assert th.store.journal("sent")[-1]["sealed"] is True

        # 2. No seal key for a recipient: refused, nothing sent, no sequence number used.
        before = th.store.last_sequence()
        to_la = Submission(EventType.REFERRAL, ("LA",), "repatriation", "H2", "case-la", {})
        with pytest.raises(SealError) as missing:
            await th.publish(to_la)
        assert missing.value.reason is Reason.SEAL_KEY_MISSING
        assert "LA" in missing.value.detail
        with pytest.raises(SealError):
            await th.check(to_la)
        assert th.store.last_sequence() == before
        assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 1

        # 3. A producer lying inside the ciphertext: delivered (the hub cannot tell),
        # refused by KH, answered once with a signed REJECTED acknowledgement.
        liar = _lying_referral(
            th, directory.key_for("KH", time.time_ns() // 1_000_000), "case-liar"
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.outbox("TH"), liar.to_bytes(), key=b"case-liar",
                headers=cloudevents_headers(liar.header),
            )  # fmt: skip
        finally:
            await producer.stop()

        async def kh_refusals() -> list[Any]:
            assert [r async for r in kh.inbox()] == []  # never yielded as an event
            return [f for f in kh.refused if f.event_id == liar.header.event_id]

        (refusal,) = await wait_for(kh_refusals, procs, "KH's refusal of the lying referral")
        assert refusal.reason is Reason.SEAL_MISMATCH
        assert "sex" in refusal.detail
        assert "MALE" not in refusal.detail
        assert refusal.answer is not None
        # Read again from the start: refused again, answered no second time.
        kh.refused.clear()
        assert [r.event_id async for r in kh.inbox(include_seen=True, mark_seen=False)] == [
            sealed_id
        ]
        assert [(f.reason, f.answer) for f in kh.refused] == [(Reason.SEAL_MISMATCH, None)]
        kh_out = await read_topic(kafka_bootstrap, topics.outbox("KH"))
        answers = [Envelope.from_bytes(r.value).header for r in kh_out]
        assert [(h.event_id, h.correlation_id, h.spec_version) for h in answers] == [
            (refusal.answer, liar.header.event_id, SEALED_VERSION)
        ]
        assert [e["status"] for e in kh.store.journal("ack")] == ["REJECTED"]

        async def th_new() -> list[InboxRecord]:
            return [r async for r in th.inbox()]

        (nack,) = await wait_for(th_new, procs, "the REJECTED acknowledgement at TH")
        assert nack.event_id == refusal.answer
        assert nack.producer == "KH"
        assert nack.correlation_id == liar.header.event_id
        assert nack.fields["status"] == "REJECTED"
        assert nack.fields["reason"].startswith("SEAL_MISMATCH: ")
        assert nack.fields["acknowledged_event_id"] == liar.header.event_id
        rejection = nack.rejection
        assert rejection is not None
        assert (rejection.event_id, rejection.recipient, rejection.reason) == (
            liar.header.event_id,
            "KH",
            "SEAL_MISMATCH",
        )

        async def acknowledged_leaf() -> list[AuditLeaf]:
            data = await asyncio.to_thread(read_replay_input, kafka_bootstrap, topics)
            leaves = [AuditLeaf.from_bytes(r.value) for r in data.leaves]
            return [
                leaf
                for leaf in leaves
                if leaf.record.kind is DecisionKind.ACKNOWLEDGED
                and leaf.record.event_id == refusal.answer
            ]

        (leaf,) = await wait_for(acknowledged_leaf, procs, "the ACKNOWLEDGED leaf")
        assert (leaf.record.producer, leaf.record.recipient) == ("KH", "TH")

        # 4. Unsealed (interop, asked for): a v1 event end to end, readable on the way.
        async with th:
            plain_id = await th.publish(_referral("case-plain"), unsealed=True)
        (plain,) = await wait_for(kh_new, procs, "the unsealed referral")
        assert plain.event_id == plain_id
        assert plain.fields["names"][0]["full_name"] == NAME
        outbox = await read_topic(kafka_bootstrap, topics.outbox("TH"))
        v1 = Envelope.from_bytes(outbox[-1].value)
        assert (v1.header.event_id, v1.header.spec_version, v1.is_sealed) == (plain_id, 1, False)
        # what --unsealed means
        assert scan_records(outbox[-1:], CANARIES.patterns()) == set(CANARIES.values)

        # 5. KH's epoch key destroyed (crypto-shredding): the sealed referral can never
        # be opened again; the v1 one still can; nobody is answered.
        new_key = kh.keyring.rotate(time.time_ns() // 1_000_000)
        held = kh.keyring.keys()
        old = next(k for k in held if k.key_id != new_key.key_id)
        assert old.not_after_ms is not None
        kh.keyring.destroy(old.key_id, old.not_after_ms)
        kh.refused.clear()
        again = [r.event_id async for r in kh.inbox(include_seen=True, mark_seen=False)]
        assert again == [plain_id]
        by_event = {f.event_id: (f.reason, f.answer) for f in kh.refused}
        assert by_event[sealed_id] == (Reason.KEY_DESTROYED, None)
        assert len(await read_topic(kafka_bootstrap, topics.outbox("KH"))) == 1
        worker.alive()
    finally:
        await th.stop()
        await kh.stop()
        worker.stop()
        sequencer.stop()
