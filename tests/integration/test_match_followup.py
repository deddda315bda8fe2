"""Follow-up of a match hit, end to end on the real broker, under the EXAMPLE agreements.

Viet Nam owns three registrations (a recruiter's name with a year of birth, a
phone number, a passport number); Thailand had hits on all three. Under
``TH-VN-matching@1`` Thailand asks Viet Nam to follow up on each: Viet Nam's
pending list shows them (no identity data in it); Viet Nam approves the name,
and Thailand receives exactly the fields the agreement allows, verified from
the bytes in its inbox (producer signature, hub attestation); Viet Nam declines
the phone with a reason, and Thailand receives the signed decline; Viet Nam
approves the passport, and the hub withholds its number (the agreement does
not allow documents). Cambodia, with no follow-up flow to Viet Nam, is refused
by the hub (EVENT_TYPE_NOT_ALLOWED). An answer that answers no request of
Thailand's is delivered by the agreements alone but flagged by Thailand's node
and never taken as an answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk import CountryNode, Rejection, Submission
from connectors.sdk.followup import (
    FollowupAnswer,
    FollowupRequest,
    approve,
    decline,
    followup_answers,
    pending_followups,
    request_followup,
)
from hub.errors import Reason, RequestError
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import EventType, open_envelope
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    agreement_file,
    example_key,
)
from tests.support.kafka import read_topic
from tests.support.nodes import node_seal_keys
from tests.support.procs import Worker, wait_for

pytestmark = pytest.mark.kafka

NAME = "Nguyễn Văn Đức"
PHONE = "+84912345678"
REF_NAME = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
REF_PHONE = "b2c3d4e5f60718293a4b5c6d7e8f90a1"
REF_DOC = "c3d4e5f60718293a4b5c6d7e8f90a1b2"
DOC = "C1234567"
QUERY_1 = "019b71a0-2400-7a3c-9d3e-000000000001"
QUERY_2 = "019b71a0-2400-7a3c-9d3e-000000000002"
QUERY_3 = "019b71a0-2400-7a3c-9d3e-000000000003"
QUERY_4 = "019b71a0-2400-7a3c-9d3e-000000000004"


def _allowed_answer_fields() -> frozenset[str]:
    """What TH-VN-matching@1 lets Viet Nam disclose to Thailand in an answer."""
    (entry,) = [a for a in AGREEMENTS.entries if a.agreement.id == "TH-VN-matching"]
    flows = entry.agreement.flows_for("VN", "TH", "match_followup_answer")
    return frozenset(f for flow in flows for f in flow.fields)


async def test_follow_up_approved_declined_refused_and_flagged(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    await provision_registry(kafka_bootstrap, topics, trust_doc, blobs)
    countries = ("TH", "VN", "KH")
    roots = {cc: tmp_path / cc.lower() for cc in countries}
    keys = {cc: example_key(cc) for cc in countries}
    await node_seal_keys(kafka_bootstrap, topics, roots, countries, keys=keys, trust=TRUST)
    worker = Worker(kafka_bootstrap, topics, home)
    worker.start()
    nodes = {
        cc: CountryNode(
            cc, keys[cc], TRUST, kafka_bootstrap, topics=topics, state=StateDir(roots[cc])
        )
        for cc in countries
    }
    th, vn, kh = nodes["TH"], nodes["VN"], nodes["KH"]
    # What matching's register keeps in the owner's vault (connectors.sdk.matching).
    vn.store.keep_match_registration(
        REF_NAME, {"kind": "name", "value": NAME, "birth_year": 1988, "issuing_state": None}
    )
    vn.store.keep_match_registration(
        REF_PHONE, {"kind": "phone", "value": PHONE, "birth_year": None, "issuing_state": None}
    )
    vn.store.keep_match_registration(
        REF_DOC, {"kind": "document", "value": DOC, "birth_year": None, "issuing_state": "VN"}
    )

    def pending() -> Callable[[], Awaitable[list[FollowupRequest]]]:
        async def read() -> list[FollowupRequest]:
            found = await pending_followups(vn)
            return found if len(found) >= 3 else []

        return read

    def answers(n: int) -> Callable[[], Awaitable[list[FollowupAnswer]]]:
        async def read() -> list[FollowupAnswer]:
            found = await followup_answers(th)
            return found if len(found) >= n else []

        return read

    def refused(node: CountryNode) -> Callable[[], Awaitable[list[Rejection]]]:
        async def read() -> list[Rejection]:
            return [r async for r in node.rejections()]

        return read

    try:
        async with th:
            first = await request_followup(
                th, owner="VN", reference=REF_NAME, query_id=QUERY_1,
                case_ref="TH-DSI-2026-0147", purpose="investigation", match_kind="name",
            )  # fmt: skip
            second = await request_followup(
                th, owner="VN", reference=REF_PHONE, query_id=QUERY_2,
                case_ref="TH-DSI-2026-0148", purpose="investigation", match_kind="phone",
            )  # fmt: skip
            third = await request_followup(
                th, owner="VN", reference=REF_DOC, query_id=QUERY_4,
                case_ref="TH-DSI-2026-0150", purpose="prosecution", match_kind="document",
            )  # fmt: skip

        # Viet Nam's desk: both requests wait for a person; no identity data in the list.
        listed = await wait_for(pending(), [worker], "the three follow-ups at VN")
        assert [(r.event_id, r.requester, r.reference, r.query_id) for r in listed] == [
            (first, "TH", REF_NAME, QUERY_1),
            (second, "TH", REF_PHONE, QUERY_2),
            (third, "TH", REF_DOC, QUERY_4),
        ]
        assert listed[0].case_ref == "TH-DSI-2026-0147"
        assert listed[0].agreement == "TH-VN-matching@1"
        shown = json.dumps([r.to_json() for r in listed], ensure_ascii=False)
        for secret in (NAME, PHONE, DOC):
            assert secret not in shown

        with pytest.raises(RequestError) as no_reason:
            await decline(vn, second, reason="  ")
        assert no_reason.value.reason is Reason.BAD_REQUEST
        assert "expected a reason" in no_reason.value.detail

        async with vn:
            approved = await approve(vn, first, reason="open investigation VN-C03-2026-11")
            declined = await decline(vn, second, reason="the registration is under review")
            documents = await approve(vn, third)
            with pytest.raises(RequestError) as twice:
                await approve(vn, first)
            assert twice.value.reason is Reason.BAD_REQUEST
            assert "answered already (APPROVED)" in twice.value.detail
        assert await pending_followups(vn) == []

        got = await wait_for(answers(3), [worker], "the three answers at TH")
        by_id = {a.event_id: a for a in got}
        yes, no = by_id[approved], by_id[declined]
        assert yes.requested
        assert no.requested
        assert (yes.owner, yes.request_event_id, yes.decision) == ("VN", first, "APPROVED")
        assert yes.identity["names"] == [NAME]
        assert yes.identity["birth_year"] == 1988
        assert set(yes.identity) == {"names", "birth_year"}  # a name's registration
        assert "documents" in yes.withheld
        # Viet Nam sent the document; the agreement withholds document numbers.
        doc = by_id[documents]
        assert (doc.decision, doc.request_event_id, doc.identity) == ("APPROVED", third, {})
        assert "documents" in doc.withheld
        assert (no.decision, no.reason, no.request_event_id) == (
            "DECLINED", "the registration is under review", second,
        )  # fmt: skip
        assert not any(no.identity.values())

        # End to end from the bytes in Thailand's inbox: VN's signature, the hub's
        # attestation for TH, exactly the fields the agreement allows of those VN filled.
        allowed = _allowed_answer_fields()
        assert "documents" not in allowed
        filled = {"request_event_id", "reference", "decision", "reason", "decided_at"}
        expect = {approved: filled | {"names", "birth_year"}, documents: filled - {"reason"}}
        checked = set()
        for record in await read_topic(kafka_bootstrap, topics.inbox("TH")):
            delivered = open_envelope(
                record.value,
                TRUST,
                kafka_headers=list(record.headers or ()),
                require_attestation=True,
                recipient="TH",
            )
            header = delivered.event.header
            if header.event_id not in expect:
                continue
            assert header.producer == "VN"
            assert header.event_type is EventType.MATCH_FOLLOWUP_ANSWER
            assert header.correlation_id == (first if header.event_id == approved else third)
            assert delivered.attestation is not None
            assert delivered.attestation.agreement_id == "TH-VN-matching"
            assert set(delivered.attestation.fields) == expect[header.event_id]
            assert set(delivered.attestation.fields) <= allowed
            checked.add(header.event_id)
        assert checked == set(expect)

        # Cambodia has no follow-up flow to Viet Nam: the hub refuses it.
        async with kh:
            stray = await request_followup(
                kh, owner="VN", reference=REF_NAME, query_id=QUERY_3,
                case_ref="KH-2026-9", purpose="investigation",
            )  # fmt: skip
        (rejection,) = await wait_for(refused(kh), [worker], "KH's refusal")
        assert (rejection.event_id, rejection.recipient) == (stray, "VN")
        assert rejection.reason == Reason.EVENT_TYPE_NOT_ALLOWED
        assert "match_followup" in rejection.detail

        # An answer to no request of Thailand's: delivered (the hub knows no request
        # to hold it to), flagged by Thailand's node, its identity data not taken.
        unasked: dict[str, Any] = {
            "request_event_id": QUERY_3,
            "reference": REF_NAME,
            "decision": "APPROVED",
            "names": [NAME],
            "decided_at": 1767232800000,
        }
        async with vn:
            loose = await vn.publish(
                Submission(
                    EventType.MATCH_FOLLOWUP_ANSWER, ("TH",), "investigation", "H2",
                    "TH-DSI-2026-0149", unasked, correlation_id=QUERY_3,
                )
            )  # fmt: skip
        got = await wait_for(answers(4), [worker], "the unrequested answer at TH")
        (flagged,) = [a for a in got if a.event_id == loose]
        assert not flagged.requested
        assert flagged.identity == {}
        assert [a.event_id for a in got if a.requested] == [approved, declined, documents]
        assert await pending_followups(kh) == []
    finally:
        worker.stop()
