"""Shared test material for the hub's pure core: keys, a trust list, a fake policy."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.conformance import wire
from hub.decision import SourceRef
from hub.errors import Reason, SealError
from hub.keys import KeyDirectory, private_key_from_seed
from hub.pipeline import Decide, Limits, Outcome, Registry, process
from hub.policy import AgreementSet, Decision, Deliver, Refuse
from hub.state import HubState
from hub.topics import Topics
from hub.trust import TrustList
from hub.wire import (
    Envelope,
    EventType,
    RecipientKey,
    VerifiedEvent,
    cloudevents_headers,
    seal,
)
from hub.wire.sealing import is_sealed_quarantine, open_quarantined
from tests.support.trust import members_trust
from tests.support.wire import SEAL_KEYS

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000
COUNTRIES = ("KH", "CN", "LA", "MM", "TH", "VN")
KEYS: dict[str, Ed25519PrivateKey] = {
    cc: private_key_from_seed(bytes([i + 1]) * 32) for i, cc in enumerate(COUNTRIES)
}
HUB_KEY = private_key_from_seed(b"\x42" * 32)
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def trust_list() -> TrustList:
    doc = members_trust(KEYS, HUB_KEY, T0 - DAY)
    return TrustList.from_signed(doc.to_json(), previous=None)


# A loudly named stand-in for hub.policy.decide: (producer, recipient, type) -> fields.
UnsafeTestAgreements = dict[tuple[str, str, str], frozenset[str]]


def unsafe_fake_policy(agreements: UnsafeTestAgreements) -> Decide:
    """A ``decide`` that delivers what ``agreements`` lists, ignoring the real agreement set."""

    def fake_decide(
        event: VerifiedEvent, _signed: AgreementSet, _keys: KeyDirectory, _now_ms: int
    ) -> Sequence[Decision]:
        header = event.header
        out: list[Decision] = []
        for r in header.recipients:
            allowed = agreements.get((header.producer, r, header.event_type.value))
            if allowed is None:
                out.append(Refuse(r, Reason.NO_AGREEMENT, f"no agreement {header.producer}->{r}"))
            else:
                out.append(
                    Deliver(
                        r,
                        f"{header.producer}-{r}",
                        1,
                        allowed,
                        handling=header.handling,
                        retention_days=1,
                        withheld=event.disclosed - allowed,
                    )
                )
        return out

    return fake_decide


class TestSealKeys:
    """Every member's published seal key: the deterministic test keys of tests.support.wire."""

    def key_for(self, country: str, at_ms: int) -> RecipientKey:
        key = SEAL_KEYS.get(country)
        if key is None:
            raise SealError(Reason.SEAL_KEY_MISSING, f"no seal key of {country}")
        return key


def registry(agreements: UnsafeTestAgreements) -> Registry:
    return Registry(
        keys=trust_list(),
        agreements=AgreementSet(),
        decide=unsafe_fake_policy(agreements),
        version="t1",
        seal_keys=TestSealKeys(),
    )


def quarantined_original(value: bytes) -> bytes:
    """The bytes a quarantine copy keeps, opened as its producer would (tests know every key)."""
    if not is_sealed_quarantine(value):
        return value  # a sealed event, kept as it came
    by_id = {k.key_id: k.private for k in SEAL_KEYS.values()}
    return open_quarantined(value, by_id.__getitem__)


WIRE_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "wire"


def vector_field(vector: Mapping[str, Any], name: str) -> Any:
    """A wire vector's member, its Python literals (lists, maps) read back."""
    value = vector.get(name)
    return ast.literal_eval(value) if isinstance(value, str) and value[:1] in "[{" else value


def wire_vector_outcome(
    path: Path, topics: Topics
) -> tuple[dict[str, Any], bytes, Envelope | None, Outcome]:
    """A wire vector submitted to the hub's core as a producer would: its envelope
    (None where it does not parse), and what ``process`` made of it.

    Every agreement allows everything (only the vector's defect should show);
    the vector's own CloudEvents headers, else the envelope's.
    """
    vector = json.loads(path.read_text(encoding="utf-8"))
    raw = bytes.fromhex(vector["envelope"])
    headers = vector_field(vector, "kafka_headers")
    producer, created = "TH", 1_767_225_600_000
    envelope: Envelope | None = None
    try:
        envelope = Envelope.from_bytes(raw, max_size=int(vector["max_size"]))
        producer, created = envelope.header.producer, envelope.header.created_at_ms
        if headers is None:  # only the intended defect should show
            headers = cloudevents_headers(envelope.header)
    except Exception:
        headers = headers or []
    pairs = [(k, v.encode() if isinstance(v, str) else v) for k, v in headers]
    allow_all = {
        (producer, r, t.value): frozenset({"*"})
        for r in ("KH", "CN", "LA", "MM", "TH", "VN", "ZZ")
        for t in EventType
    }
    registry = Registry(
        keys=wire.key_directory(WIRE_VECTORS),
        agreements=AgreementSet(),
        decide=unsafe_fake_policy(allow_all),
        version="v",
        seal_keys=TestSealKeys(),
    )
    outcome = process(
        raw,
        pairs,
        SourceRef(topics.outbox(producer if len(producer) == 2 else "TH"), 0, 0),
        topics=topics,
        registry=registry,
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=created + 1000,
        limits=Limits(max_size=int(vector["max_size"])),
    )
    return vector, raw, envelope, outcome


def example(event_type: str) -> dict[str, Any]:
    from hub.wire import payload_from_json

    data = json.loads((EXAMPLES / f"{event_type}.json").read_text(encoding="utf-8"))
    return dict(payload_from_json(event_type, data))


def sealed(
    event_type: str = "referral",
    *,
    producer: str = "TH",
    recipients: tuple[str, ...] = ("KH",),
    sequence: int = 1,
    created_at_ms: int = T0,
    key: Ed25519PrivateKey | None = None,
    payload: dict[str, Any] | None = None,
    seal_to: Mapping[str, RecipientKey] | None = None,
    correlation_id: str | None = None,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An event's bytes and CloudEvents headers (sealed to ``seal_to``: protocol v2)."""
    env = seal(
        event_type,
        payload if payload is not None else example(event_type),
        producer=producer,
        key=key or KEYS[producer],
        recipients=recipients,
        purpose="repatriation",
        handling="H2",
        case_key="case-0001",
        sequence=sequence,
        created_at_ms=created_at_ms,
        seal_to=seal_to,
        correlation_id=correlation_id,
    )
    return env.to_bytes(), cloudevents_headers(env.header)
