"""The policy engine: edges, properties and tampering against the EXAMPLE agreements.

The vectors (tests/vectors/policy/, applied by hub.conformance.policy) are
checked in test_policy_vectors.py; here they also feed the properties below.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import schemas
from connectors.cli.agreements import load_directory
from hub.conformance import policy as policy_vectors
from hub.conformance.base import read_json
from hub.errors import PolicyError, Reason
from hub.keys import KeyRole
from hub.policy import (
    POLICY_FIELDS,
    AgreementSet,
    Deliver,
    Refuse,
    agreement_schema,
    decide,
    decide_one,
    decide_remembered,
    load_agreement,
    load_agreement_file,
    parse_time_ms,
    resign_agreement,
)
from hub.trust import TrustList, load_trust_file
from hub.wire import Envelope, VerifiedEvent, payload_fields, seal, verify
from tests.support.examples import AGREEMENTS_DIR, example_key, example_payload
from tests.support.wire import SEAL_KEYS

TRUST = load_trust_file(AGREEMENTS_DIR / "example-trust.json")
AGREEMENTS = load_directory(AGREEMENTS_DIR)
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "policy"
REGISTRY = policy_vectors.load_registry(VECTORS)
VECTOR_FILES = policy_vectors.vector_files(VECTORS)


def sealed(  # noqa: PLR0917 - mirrors the header fields a case names
    event_type: str,
    producer: str,
    recipients: list[str],
    purpose: str,
    handling: str,
    created_ms: int,
    payload: dict[str, Any] | None = None,
) -> VerifiedEvent:
    envelope = seal(
        event_type,
        example_payload(event_type) if payload is None else payload,
        producer=producer,
        key=example_key(producer),
        recipients=recipients,
        purpose=purpose,
        handling=handling,
        case_key="case-vector",
        sequence=1,
        created_at_ms=created_ms,
    )
    return verify(envelope, TRUST)


def _with(path: str, mutate: Any, *, sign: bool = True) -> AgreementSet:
    signed = load_agreement_file(AGREEMENTS_DIR / path)
    obj = copy.deepcopy(signed.document.to_json())
    mutate(obj["signed"])
    changed = load_agreement(obj)
    if sign:
        changed = resign_agreement(changed, [example_key(p) for p in changed.agreement.parties])
    others = [a for a in AGREEMENTS.entries if a.agreement.id != signed.agreement.id]
    return AgreementSet.of([*others, changed])


T = parse_time_ms("2026-03-01T00:00:00Z", "t")


def test_consent_required_when_nothing_may_go_without_it() -> None:
    def no_fallback(body: dict[str, Any]) -> None:
        body["flows"][0]["event_types"]["referral"]["consent"]["without_consent"] = []

    agreements = _with("th-kh-protection.v2.yaml", no_fallback)
    payload = example_payload("referral")
    payload["consent"] = {"status": "REFUSED", "given_by": None, "recorded_at": None, "scope": []}
    event = sealed("referral", "TH", ["KH"], "repatriation", "H2", T, payload)
    (decision,) = decide(event, agreements, TRUST, T)
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.CONSENT_REQUIRED


def test_a_flow_that_requires_sealing_refuses_a_v1_event_and_takes_a_sealed_one() -> None:
    def sealed_only(body: dict[str, Any]) -> None:
        body["flows"][0]["event_types"]["referral"]["require_sealed"] = True

    agreements = _with("th-kh-protection.v2.yaml", sealed_only)
    plain = sealed("referral", "TH", ["KH"], "repatriation", "H2", T)
    (decision,) = decide(plain, agreements, TRUST, T)
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.SEALING_REQUIRED
    assert "v1" in decision.detail
    envelope = seal(
        "referral",
        example_payload("referral"),
        producer="TH",
        key=example_key("TH"),
        recipients=["KH"],
        purpose="repatriation",
        handling="H2",
        case_key="case-vector",
        sequence=1,
        created_at_ms=T,
        seal_to={"KH": SEAL_KEYS["KH"]},
    )
    (delivered,) = decide(verify(envelope, TRUST), agreements, TRUST, T)
    assert isinstance(delivered, Deliver)
    # Withholding by label works on sealed fields as on clear ones.
    assert "names" in delivered.fields or "names" in delivered.withheld
    (unchanged,) = decide(plain, AGREEMENTS, TRUST, T)  # the sample agreement does not require it
    assert isinstance(unchanged, Deliver)


def test_text_changed_after_signing_is_refused() -> None:
    def widen(body: dict[str, Any]) -> None:
        body["flows"][0]["event_types"]["referral"]["handling"].append("H0")

    agreements = _with("th-kh-protection.v2.yaml", widen, sign=False)
    event = sealed("referral", "TH", ["KH"], "repatriation", "H0", T)
    (decision,) = decide(event, agreements, TRUST, T)
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.AGREEMENT_BAD_SIGNATURE
    # The same change, signed by only one party, is unsigned by the other.
    one = _with("th-kh-protection.v2.yaml", widen, sign=False)
    entry = next(a for a in one.entries if a.agreement.ref == "TH-KH-protection@2")
    only_th = resign_agreement(entry, [example_key("TH")])
    partial = AgreementSet.of([a for a in one.entries if a is not entry] + [only_th])
    (decision,) = decide(event, partial, TRUST, T)
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.AGREEMENT_UNSIGNED
    assert "KH" in decision.detail


def test_a_later_version_never_changes_an_earlier_event() -> None:
    event = sealed(
        "referral", "TH", ["KH"], "repatriation", "H2", parse_time_ms("2025-06-01T00:00:00Z", "t")
    )
    before = decide(event, AGREEMENTS, TRUST, T)

    def v3_everything(body: dict[str, Any]) -> None:
        body["version"] = 3
        body["effective_from"] = "2027-01-01T00:00:00Z"
        body["effective_until"] = None

    later = _with("th-kh-protection.v2.yaml", v3_everything)
    later = AgreementSet.of([*AGREEMENTS.entries, *later.entries])
    assert decide(event, later, TRUST, T) == before


def test_only_agreements_loaded_by_now_count() -> None:
    event = sealed("trafficker_alert", "VN", ["KH"], "investigation", "H1", T)
    loaded_later = AgreementSet.of(
        a if a.agreement.id != "COMMIT-baseline" else type(a)(a.agreement, a.document, T + 5000)
        for a in AGREEMENTS.entries
    )
    (before,) = decide(event, loaded_later, TRUST, T + 4999)
    (after,) = decide(event, loaded_later, TRUST, T + 5000)
    assert isinstance(before, Refuse)
    assert isinstance(after, Deliver)


def test_a_key_revoked_before_the_event_unsigns_the_agreement() -> None:
    from hub.trust import revoke_key

    kh_root = next(k for k in TRUST.roots() if k.country == "KH")
    doc = revoke_key(TRUST, kh_root.key_id, revoked_at_ms=T - 1)
    for cc in ("TH", "LA", "MM", "VN"):
        doc = doc.with_signature(example_key(cc))
    revoked = TrustList.from_signed(doc, previous=TRUST)
    event = sealed("referral", "TH", ["KH"], "repatriation", "H2", T)
    (decision,) = decide(event, AGREEMENTS, revoked, T)
    assert isinstance(decision, Refuse)
    assert decision.reason is Reason.AGREEMENT_UNSIGNED
    assert revoked.keys_for("KH", KeyRole.ROOT, T) == ()


def test_decide_is_deterministic_and_order_preserving() -> None:
    event = sealed("trafficker_alert", "VN", ["TH", "KH", "LA"], "investigation", "H1", T)
    first = decide(event, AGREEMENTS, TRUST, T)
    assert [d.recipient for d in first] == list(event.header.recipients)
    assert all(decide(event, AGREEMENTS, TRUST, T) == first for _ in range(3))


class _Reads(Mapping[str, Any]):
    """A payload that notes every field the engine looks up."""

    def __init__(self, fields: Mapping[str, Any], read: set[str]) -> None:
        self._fields, self._read = fields, read

    def __getitem__(self, name: str) -> Any:
        self._read.add(name)
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        self._read.add("<every field>")  # iterating would read fields nobody declared
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass(frozen=True)
class _View:
    header: Any
    fields: Mapping[str, Any]
    disclosed: frozenset[str]


def _vector(path: Path) -> tuple[VerifiedEvent, int]:
    """A vector's event, verified against the vectors' trust list, and its decision time."""
    vector = read_json(path)
    event = verify(Envelope.from_bytes(bytes.fromhex(vector["event"])), REGISTRY.trust)
    return event, int(vector["decided_at_ms"])


def test_the_engine_reads_exactly_the_payload_fields_it_declares() -> None:
    """POLICY_FIELDS is what the replay keeps of each original to judge it again."""
    read: set[str] = set()
    agreements, trust = REGISTRY.agreements, REGISTRY.trust
    for path in VECTOR_FILES:
        event, now = _vector(path)
        watched = _View(event.header, _Reads(event.fields, read), event.disclosed)
        kept = {k: v for k, v in event.fields.items() if k in POLICY_FIELDS}
        only_declared = _View(event.header, kept, event.disclosed)
        full = decide(event, agreements, trust, now)
        assert decide(watched, agreements, trust, now) == full
        assert decide(only_declared, agreements, trust, now) == full, path.stem
    assert read <= POLICY_FIELDS, f"the engine read {sorted(read - POLICY_FIELDS)}, undeclared"
    assert read == POLICY_FIELDS, f"declared but never read: {sorted(POLICY_FIELDS - read)}"


def _referral_terms(body: dict[str, Any]) -> dict[str, Any]:
    terms: dict[str, Any] = body["flows"][0]["event_types"]["referral"]
    return terms


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.update(version=0), "version"),
        (lambda b: b.update(effective_from="2026-01-01"), "effective_from"),
        (lambda b: b["flows"][0].update(to="PH"), "flows"),
        (
            lambda b: b["flows"][0]["event_types"]["referral"]["fields"].append("shoe_size"),
            "shoe_size",
        ),
        (
            lambda b: b["flows"][0]["event_types"]["referral"].update(purposes=["curiosity"]),
            "purposes",
        ),
        (lambda b: b.update(effective_until="2025-01-01T00:00:00Z"), "effective_until"),
        (lambda b: b.pop("parties"), "parties"),
    ],
)
def test_invalid_agreements_name_the_path(mutate: Any, where: str) -> None:
    signed = load_agreement_file(AGREEMENTS_DIR / "th-kh-protection.v2.yaml")
    obj = copy.deepcopy(signed.document.to_json())
    mutate(obj["signed"])
    with pytest.raises(PolicyError) as info:
        load_agreement(obj, where="th-kh.yaml")
    assert info.value.reason is Reason.AGREEMENT_INVALID
    assert where in info.value.detail
    assert "th-kh.yaml" in info.value.detail


def test_yaml_dates_stay_the_signed_strings(tmp_path: Path) -> None:
    text = (AGREEMENTS_DIR / "th-la-protection.yaml").read_text(encoding="utf-8")
    unquoted = text.replace("'2026-01-01T00:00:00Z'", "2026-01-01T00:00:00Z")
    assert unquoted != text
    path = tmp_path / "a.yaml"
    path.write_text(unquoted, encoding="utf-8")
    again = load_agreement_file(path)
    assert (
        again.document.canonical()
        == load_agreement_file(AGREEMENTS_DIR / "th-la-protection.yaml").document.canonical()
    )
    assert yaml.safe_load(unquoted)  # plain YAML would turn it into a datetime


REFERRAL_FIELDS = payload_fields("referral")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kept=st.sets(st.sampled_from(REFERRAL_FIELDS)),
    allow=st.sets(st.sampled_from(REFERRAL_FIELDS)),
    purpose=st.sampled_from(["repatriation", "family_tracing", "investigation", "reintegration"]),
    consent=st.sampled_from(["GIVEN", "REFUSED", "NOT_ASKED", None]),
    child=st.sampled_from([True, False, None]),
)
def test_no_field_outside_the_allowlist_is_ever_delivered(
    kept: set[str], allow: set[str], purpose: str, consent: str | None, child: bool | None
) -> None:
    def narrow(body: dict[str, Any]) -> None:
        terms = body["flows"][0]["event_types"]["referral"]
        terms["fields"] = sorted(allow)
        terms["consent"]["without_consent"] = sorted(
            allow & set(terms["consent"]["without_consent"])
        )

    agreements = _with("th-kh-protection.v2.yaml", narrow)
    payload = {k: v for k, v in example_payload("referral").items() if k in kept}
    payload["is_child"] = child
    payload["consent"] = (
        None
        if consent is None
        else {"status": consent, "given_by": None, "recorded_at": None, "scope": []}
    )
    event = sealed("referral", "TH", ["KH"], purpose, "H2", T, payload)
    (decision,) = decide(event, agreements, TRUST, T)
    if isinstance(decision, Deliver):
        assert decision.fields <= allow
        assert decision.fields <= event.disclosed
        assert decision.agreement_ref == "TH-KH-protection@2"
        if consent != "GIVEN":
            narrowed = next(
                a for a in agreements.entries if a.agreement.ref == "TH-KH-protection@2"
            )
            flow = narrowed.agreement.flows_for("TH", "KH", "referral")[0]
            assert flow.consent is not None
            assert decision.fields <= flow.consent.without_consent


def _uncached(event: VerifiedEvent, agreements: AgreementSet, now: int) -> tuple[Any, ...]:
    known = agreements.known_at(now)
    recipients = list(dict.fromkeys(event.header.recipients))
    return tuple(decide_one(event, r, known, TRUST) for r in recipients)


def test_a_remembered_delivery_is_not_reused_across_a_load_time() -> None:
    # Deliver first (remembered), then a moment before the load: must be refused.
    event = sealed("trafficker_alert", "VN", ["KH"], "investigation", "H1", T)
    loaded_later = AgreementSet.of(
        a if a.agreement.id != "COMMIT-baseline" else type(a)(a.agreement, a.document, T + 5000)
        for a in AGREEMENTS.entries
    )
    (after,) = decide(event, loaded_later, TRUST, T + 5000)
    (before,) = decide(event, loaded_later, TRUST, T + 4999)
    assert isinstance(after, Deliver)
    assert isinstance(before, Refuse)


_EDGES = sorted(
    {a.agreement.effective_from_ms for a in REGISTRY.agreements.entries}
    | {a.agreement.effective_until_ms or 0 for a in REGISTRY.agreements.entries}
    | {a.loaded_at_ms or 0 for a in REGISTRY.agreements.entries}
    | {k.not_before_ms for k in REGISTRY.trust.keys.values()}
    | {k.not_after_ms or 0 for k in REGISTRY.trust.keys.values()}
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(VECTOR_FILES),
    edge=st.sampled_from(_EDGES),
    shift=st.sampled_from([-1, 0, 1, 86_400_000]),
)
def test_the_memo_answers_as_the_engine_judging_afresh(path: Path, edge: int, shift: int) -> None:
    """Every vector event, decided at and around each load time and boundary, twice."""
    event, decided = _vector(path)
    agreements, trust = REGISTRY.agreements, REGISTRY.trust
    for now in (decided, edge + shift, edge + shift + 1):
        known = agreements.known_at(now)
        fresh = tuple(decide_one(event, r, known, trust) for r in event.header.recipients)
        assert decide(event, agreements, trust, now) == fresh
        assert decide(event, agreements, trust, now) == fresh  # the second from the memo
    _remembered_as_judged(event, agreements, trust)


def _remembered_as_judged(event: Any, agreements: AgreementSet, trust: TrustList) -> None:
    """The replay's judgement by every version held: remembered, it answers as judged afresh."""
    for r in event.header.recipients:
        fresh = decide_one(event, r, agreements, trust)
        assert decide_remembered(event, r, agreements, trust) == fresh
        assert decide_remembered(event, r, agreements, trust) == fresh  # from the memo


# Event shapes over the EXAMPLE agreements, sealed at and around each boundary.
_SHAPES = [
    ("referral", "TH", ["KH"], "repatriation", "H2"),
    ("referral", "TH", ["LA"], "repatriation", "H2"),
    ("referral", "TH", ["MM"], "repatriation", "H1"),
    ("referral", "LA", ["MM"], "repatriation", "H2"),
    ("detention_notice", "TH", ["KH"], "victim_identification", "H2"),
    ("trafficker_alert", "VN", ["KH", "LA", "TH"], "investigation", "H1"),
    ("erasure_request", "TH", ["KH", "LA", "MM"], "victim_protection", "H2"),
]
_EXAMPLE_EDGES = sorted(
    {a.agreement.effective_from_ms for a in AGREEMENTS.entries}
    | {a.agreement.effective_until_ms or 0 for a in AGREEMENTS.entries}
    | {k.not_before_ms for k in TRUST.keys.values()}
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(_SHAPES),
    edge=st.sampled_from(_EXAMPLE_EDGES),
    shift=st.sampled_from([-1, 0, 1, 86_400_000]),
    is_child=st.sampled_from([None, True, False]),
)
def test_the_memo_answers_as_the_engine_for_events_created_at_the_edges(
    shape: tuple[str, str, list[str], str, str], edge: int, shift: int, is_child: bool | None
) -> None:
    event_type, producer, recipients, purpose, handling = shape
    payload = example_payload(event_type)
    if "is_child" in payload:
        payload["is_child"] = is_child
    at = edge + shift
    assume(bool(TRUST.keys_for(producer, KeyRole.PRODUCER, at)))  # else no event to judge
    event = sealed(event_type, producer, recipients, purpose, handling, at, payload)
    for now in (at, at + 1, T):
        fresh = _uncached(event, AGREEMENTS, now)
        assert decide(event, AGREEMENTS, TRUST, now) == fresh
        assert decide(event, AGREEMENTS, TRUST, now) == fresh  # the second from the memo
    _remembered_as_judged(event, AGREEMENTS, TRUST)


def _policy_variants() -> list[dict[str, Any]]:
    """Referral payloads that differ only in their policy attributes' values."""
    base = example_payload("referral")
    consent = base["consent"]
    variants: list[dict[str, Any]] = []
    for is_child in (True, False, None):
        for status, scope in [
            *((s, scope) for s in ("GIVEN", "REFUSED", "NOT_ASKED") for scope in (0, 1)),
            (None, 0),
        ]:
            payload = copy.deepcopy(base)
            payload["is_child"] = is_child
            if status is None:
                payload["consent"] = None
            else:
                scopes = (consent["scope"], ["repatriation"])
                payload["consent"] = {**consent, "status": status, "scope": scopes[scope]}
            variants.append(payload)
    organisation = copy.deepcopy(base)
    organisation["receiving_organisation"] = {**base["receiving_organisation"], "kind": "ngo"}
    variants.append(organisation)
    no_assessment = copy.deepcopy(base)
    no_assessment["best_interest_assessment"] = None
    variants.append(no_assessment)
    return variants


def test_the_memo_tells_apart_events_whose_policy_values_differ() -> None:
    """One after another through the memo, events that differ only in a policy
    attribute's value are each decided as the engine decides them afresh: the
    memo keys on the values' exact bytes (hub.wire.verify), never confusing two."""
    variants = _policy_variants()
    assert len({json.dumps(v, sort_keys=True) for v in variants}) == len(variants) == 23
    events = [
        sealed("referral", "TH", ["KH", "LA"], "repatriation", "H2", T, payload)
        for payload in variants
    ]
    assert all(hasattr(e.fields, "exact") for e in events)  # the bytes key, not _frozen
    outcomes = set()
    for _ in range(2):  # the second round from the memo
        for event in events:
            fresh = _uncached(event, AGREEMENTS, T)
            assert decide(event, AGREEMENTS, TRUST, T) == fresh
            outcomes.add(fresh)
    assert len(outcomes) > 2  # the variants are judged differently, so a mix-up would show


def test_the_agreement_schema_is_published_where_the_spec_says() -> None:
    published = schemas.SCHEMA_DIR / "agreement.schema.json"
    on_disk = json.loads(published.read_text(encoding="utf-8"))
    assert on_disk["$id"] == agreement_schema()["$id"] == "urn:trm-hub:schema:agreement:v1"
    assert "enum" not in on_disk["$defs"]["event_type"]  # the registry adds it when loading
    root = Path(__file__).resolve().parents[3]
    for doc in ("docs/protocol.md", "docs/agreements.md"):
        text = (root / doc).read_text(encoding="utf-8")
        assert "schemas/agreement.schema.json" in text, doc
        assert "urn:trm-hub:schema:agreement:v1" in text, doc
    assert not (root / "hub" / "data" / "agreement.schema.json").exists()


def test_the_flow_naming_both_countries_goes_before_one_for_any_party() -> None:
    def narrower_th_to_kh(doc: dict[str, Any]) -> None:
        flows = doc["flows"]
        alert = copy.deepcopy(flows[0]["event_types"]["trafficker_alert"])
        alert["fields"] = ["kind", "urgency"]
        alert["retention_days"] = 30
        flows.append({"from": "TH", "to": "KH", "event_types": {"trafficker_alert": alert}})

    changed = _with("commit-baseline.yaml", narrower_th_to_kh, sign=False)
    (baseline,) = [a for a in changed.entries if a.agreement.id == "COMMIT-baseline"]
    agreement = baseline.agreement
    assert len(agreement.flows_for("TH", "KH", "trafficker_alert")) == 2
    flow = agreement.flow_for("TH", "KH", "trafficker_alert")
    assert flow is not None
    assert (flow.sender, flow.recipient, flow.retention_days) == ("TH", "KH", 30)
    other = agreement.flow_for("KH", "TH", "trafficker_alert")  # only 'any' covers it
    assert other is not None
    assert (other.sender, other.recipient) == ("any", "any")
    assert agreement.flow_for("TH", "TH", "trafficker_alert") is None
    assert agreement.flow_for("TH", "KH", "referral") is None  # bilateral agreements only
