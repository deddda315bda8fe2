"""Generate the policy vectors in ``tests/vectors/policy/`` (deterministic).

An agreement set and an event in, the decision per recipient out: the folder
holds a signed trust list, the signed agreements as the registry carries them
(YAML, with the time each record was loaded), and one file per vector; the
format and how to apply a vector are in ``hub/conformance/policy.py``, the
folder's README.md and ``docs/protocol.md`` section 7.5.

Fixed keys: Ed25519 seeds SHA-256("trm-vector-key:" + label) as
``generate_wire.py``; X25519 seal keys from the same formula (label
``policy-seal-<CC>``); salts, event ids and data keys from SHA-256 in counter
mode; the HPKE ephemeral keys from RFC 9180 ``DeriveKeyPair(SHA-256(
"trm-vector-eph:policy:" + label))``; a fixed clock. Rerunning this script
reproduces every file byte for byte, and ``tests/unit/policy/test_policy_vectors.py``
checks that it does.

Each vector names the outcome it is meant to show (``want``); the generator
judges the event with the engine and refuses to write a vector whose outcome
differs, so a change of the engine cannot silently rewrite the vectors.

Run from the repository root: ``python -m tests.vectors.generate_policy``
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from unittest import mock

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

import schemas
from hub.conformance.policy import (
    AGREEMENTS_FILE,
    TRUST_FILE,
    decision_json,
    judge,
    load_registry,
)
from hub.keys import KeyRole, key_id_of, private_key_from_seed
from hub.policy import AGREEMENT_TYPE, dump_agreement_yaml
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, KeySpec, build_trust_document
from hub.wire import payload_from_json, payload_to_json, seal
from hub.wire import sealing as wire_sealing
from hub.wire.vocab import POLICY_ATTRIBUTES
from tests.vectors.generate_wire import counter_rng

OUT: Final = Path(__file__).resolve().parent / "policy"
HPKE: Final = CipherSuite.new(
    KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305
)
HEADER: Final = "# TEST VECTOR AGREEMENT — NOT A REAL AGREEMENT BETWEEN GOVERNMENTS.\n"


def ms(text: str) -> int:
    """``2026-01-01T00:00:00Z`` or ``...00.999Z`` (UTC) as ms since the epoch."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(when.timestamp() * 1000)


def utc(at_ms: int) -> str:
    """RFC 3339 UTC with milliseconds."""
    when = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"


KEYS_FROM: Final = ms("2024-01-01T00:00:00Z")  # every key valid from here
LOADED: Final = ms("2024-06-01T00:00:00Z")  # when the registry took in the agreements
V3_LOADED: Final = ms("2027-02-01T00:00:00Z")  # ... but TH-KH-protection@3, loaded later
LA_ROOT_ROTATED: Final = ms("2026-07-01T00:00:00Z")  # LA's first root key ends here
MEMBERS: Final = {
    "CN": "China",
    "KH": "Cambodia",
    "LA": "Lao PDR",
    "MM": "Myanmar",
    "TH": "Thailand",
    "VN": "Viet Nam",
}


def _key(label: str) -> Ed25519PrivateKey:
    return private_key_from_seed(hashlib.sha256(b"trm-vector-key:" + label.encode()).digest())


ROOTS: Final = {cc: _key(f"policy-root-{cc}") for cc in MEMBERS if cc != "LA"}
LA_ROOT_1: Final = _key("policy-root-LA-1")  # valid until LA_ROOT_ROTATED
LA_ROOT_2: Final = _key("policy-root-LA-2")  # valid from LA_ROOT_ROTATED
PRODUCERS: Final = {cc: _key(f"policy-producer-{cc}") for cc in MEMBERS}
HUB_KEY: Final = _key("policy-hub")


@dataclass(frozen=True, slots=True)
class SealKey:
    """A recipient's X25519 seal key (``hub.wire.sealing.RecipientKey``)."""

    private: X25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.x25519().public_bytes_raw())

    def x25519(self) -> X25519PublicKey:
        return self.private.public_key()


SEAL_KEYS: Final = {
    cc: SealKey(
        X25519PrivateKey.from_private_bytes(
            hashlib.sha256(f"trm-vector-key:policy-seal-{cc}".encode()).digest()
        )
    )
    for cc in MEMBERS
}


def _rng(label: str) -> Callable[[int], bytes]:
    return counter_rng(f"policy:{label}")


@contextmanager
def _fixed_hpke(label: str) -> Iterator[None]:
    """``hub.wire`` seals with fixed HPKE ephemeral keys while this is open."""
    count = [0]

    def hpke_seal(public: X25519PublicKey, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
        count[0] += 1
        ikm = hashlib.sha256(f"trm-vector-eph:policy:{label}:{count[0]}".encode()).digest()
        eks = HPKE.kem.derive_key_pair(ikm)
        pkr = HPKE.kem.deserialize_public_key(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        enc, sender = HPKE.create_sender_context(pkr, info, eks=eks)
        return enc, sender.seal(plaintext)

    with mock.patch.object(wire_sealing, "hpke_seal", hpke_seal):
        yield


# --- the trust list ---------------------------------------------------------


def trust_document() -> dict[str, Any]:
    specs = [
        KeySpec(cc, frozenset({KeyRole.ROOT}), k.public_key(), KEYS_FROM) for cc, k in ROOTS.items()
    ]
    specs += [
        KeySpec(
            "LA", frozenset({KeyRole.ROOT}), LA_ROOT_1.public_key(), KEYS_FROM, LA_ROOT_ROTATED
        ),
        KeySpec("LA", frozenset({KeyRole.ROOT}), LA_ROOT_2.public_key(), LA_ROOT_ROTATED),
    ]
    specs += [
        KeySpec(cc, frozenset({KeyRole.PRODUCER}), k.public_key(), KEYS_FROM)
        for cc, k in PRODUCERS.items()
    ]
    specs.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), HUB_KEY.public_key(), KEYS_FROM))
    doc = build_trust_document(
        specs,
        members=MEMBERS,
        threshold=4,
        version=1,
        issued_at_ms=KEYS_FROM,
        signers=[*ROOTS.values(), LA_ROOT_1],
    )
    return doc.to_json()


# --- the agreements ----------------------------------------------------------
# fmt: off

REFERRAL_FACTS: Final = [
    "case_number",
    "referring_organisation",
    "receiving_organisation",
    "referred_at",
    "trafficking_status",
    "exploitation_types",
    "needs",
    "age_band",
    "sex",
    "is_child",
    "best_interest_assessment",
    "consent",
]
REFERRAL_ALL: Final = [f["name"] for f in schemas.load("referral")["fields"]]
DETENTION_ALL: Final = [f["name"] for f in schemas.load("detention_notice")["fields"]]
DETENTION_FACTS: Final = [
    "detaining_authority",
    "facility",
    "detained_since",
    "grounds",
    "victim_indicators",
    "screening_requested",
    "receiving_organisation",
    "age_band",
    "is_child",
    "consent",
]
ALERT_ALL: Final = [f["name"] for f in schemas.load("trafficker_alert")["fields"]]
PROTECTION: Final = ["victim_identification", "victim_protection", "repatriation",
                     "reintegration", "family_tracing"]
EVERY_PURPOSE: Final = [*PROTECTION, "investigation", "prosecution", "statistics"]
EVERY_HANDLING: Final = ["H0", "H1", "H2", "H3"]
CHILD_KH: Final = {
    "agencies": ["KH-MOSVY"],
    "kinds": ["child_protection"],
    "require_best_interest_assessment": True,
}


def _all_of(event_type: str) -> list[str]:
    return [f["name"] for f in schemas.load(event_type)["fields"]]


def _erasures(a: str, b: str, retention_days: int = 3650) -> list[dict[str, Any]]:
    """Both directions may ask for erasure and confirm it (no personal data)."""
    terms = {"purposes": EVERY_PURPOSE, "handling": EVERY_HANDLING,
             "retention_days": retention_days}
    return [
        {"from": s, "to": r, "event_types": {
            "erasure_request": terms | {"fields": _all_of("erasure_request")},
            "erasure_confirmation": terms | {"fields": _all_of("erasure_confirmation")},
        }}
        for s, r in ((a, b), (b, a))
    ]


def _ack(sender: str, recipient: str) -> dict[str, Any]:
    return {"from": sender, "to": recipient, "event_types": {"acknowledgement": {
        "purposes": PROTECTION, "handling": ["H1", "H2"],
        "fields": _all_of("acknowledgement"), "retention_days": 1095,
    }}}


def _body(  # noqa: PLR0917 - the head of an agreement, in its order
    agreement_id: str,
    version: int,
    title: str,
    parties: list[str],
    effective: tuple[str, str | None],
    flows: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "_type": AGREEMENT_TYPE,
        "id": agreement_id,
        "version": version,
        "title": title,
        "example": True,
        "parties": parties,
        "effective_from": effective[0],
        "effective_until": effective[1],
        "flows": flows,
    }


def _th_kh(version: int) -> dict[str, Any]:
    """TH-KH-protection: v1 (2025 → open), v2 (2026-2028), v3 (2027 only, loaded late)."""
    if version == 1:
        referral = {
            "purposes": ["victim_protection", "repatriation", "family_tracing"],
            "handling": ["H1", "H2"],
            "fields": [*REFERRAL_FACTS, "names", "date_of_birth", "citizenship"],
            "retention_days": 365,
            "consent": {"required": True, "without_consent": REFERRAL_FACTS},
            "child": CHILD_KH,
        }
        flows = [
            {"from": "TH", "to": "KH", "event_types": {
                "referral": referral,
                "handover_notice": {"purposes": ["repatriation"], "handling": ["H2"],
                                    "fields": ["case_number", "status", "planned_at"],
                                    "retention_days": 365},
            }},
            _ack("KH", "TH"),
        ]
        return _body("TH-KH-protection", 1, "Thailand-Cambodia victim referral (test vector)",
                     ["TH", "KH"], ("2025-01-01T00:00:00Z", None), flows)
    referral = {
        "purposes": PROTECTION,
        "handling": ["H1", "H2"],
        "fields": REFERRAL_ALL if version == 2 else [f for f in REFERRAL_ALL if f != "notes"],
        "retention_days": 1095 if version == 2 else 730,
        "consent": {"required": True, "without_consent": REFERRAL_FACTS},
        "child": CHILD_KH,
    }
    detention = {
        "purposes": ["victim_identification", "victim_protection"],
        "handling": ["H1", "H2"],
        "fields": DETENTION_ALL,
        "retention_days": 365,
        "consent": {"required": True, "without_consent": DETENTION_FACTS},
    }
    flows = [
        {"from": "TH", "to": "KH", "event_types": {
            "referral": referral, "detention_notice": detention}},
        _ack("KH", "TH"),
        *_erasures("TH", "KH"),
    ]
    effective = (
        ("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z")
        if version == 2
        else ("2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    )
    return _body("TH-KH-protection", version, "Thailand-Cambodia victim referral (test vector)",
                 ["TH", "KH"], effective, flows)


def _th_la() -> dict[str, Any]:
    flows = [
        {"from": "TH", "to": "LA", "event_types": {"referral": {
            "purposes": ["repatriation"], "handling": ["H1", "H2"],
            "fields": [*REFERRAL_FACTS, "names", "date_of_birth", "citizenship"],
            "retention_days": 365,
            "consent": {"required": True, "without_consent": []},
        }}},
        _ack("LA", "TH"),
        *_erasures("TH", "LA"),
    ]
    return _body("TH-LA-protection", 1, "Thailand-Lao PDR victim referral (test vector)",
                 ["TH", "LA"], ("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z"), flows)


def _th_mm() -> dict[str, Any]:
    flows = [
        {"from": "TH", "to": "MM", "event_types": {
            "referral": {
                "purposes": PROTECTION, "handling": ["H2"],
                "fields": [*REFERRAL_FACTS, "names"], "retention_days": 180,
                "require_sealed": True,
                "child": {"kinds": ["child_protection"],
                          "require_best_interest_assessment": False},
            },
            "detention_notice": {
                "purposes": ["victim_identification"], "handling": ["H2"],
                "fields": DETENTION_ALL, "retention_days": 90,
                "consent": {"required": False, "without_consent": DETENTION_FACTS},
            },
        }},
        *_erasures("TH", "MM"),
    ]
    return _body("TH-MM-protection", 1, "Thailand-Myanmar victim referral (test vector)",
                 ["TH", "MM"], ("2026-01-01T00:00:00Z", None), flows)


def _mekong() -> dict[str, Any]:
    """Three parties: referrals for investigation; TH→LA has terms of its own."""
    flows = [
        {"from": "any", "to": "any", "event_types": {"referral": {
            "purposes": ["investigation"], "handling": ["H0", "H1"],
            "fields": ["case_number", "exploitation_types", "trafficking_status"],
            "retention_days": 3650,
        }}},
        {"from": "TH", "to": "LA", "event_types": {"referral": {
            "purposes": ["investigation"], "handling": ["H1"],
            "fields": ["case_number"], "retention_days": 1825,
        }}},
    ]
    return _body("MEKONG-investigation", 1, "Three-country investigation (test vector)",
                 ["TH", "KH", "LA"], ("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
                 flows)


def _vn_kh(name: str) -> dict[str, Any]:
    if name == "police":
        terms = {"purposes": ["investigation", "prosecution"], "handling": ["H0", "H1", "H2"],
                 "fields": ["case_number", "exploitation_types", "names"], "retention_days": 3650}
    else:
        terms = {"purposes": ["investigation", "repatriation", "victim_protection"],
                 "handling": ["H1", "H2"], "retention_days": 1095,
                 "fields": ["case_number", "needs", "names", "age_band", "sex", "is_child",
                            "receiving_organisation"]}
    flows = [{"from": "VN", "to": "KH", "event_types": {"referral": terms}}]
    return _body(f"VN-KH-{name}", 1, f"Viet Nam-Cambodia {name} (test vector)", ["VN", "KH"],
                 ("2026-01-01T00:00:00Z", None), flows)


def _bilateral(agreement_id: str, a: str, b: str) -> dict[str, Any]:
    flows = [{"from": a, "to": b, "event_types": {"referral": {
        "purposes": PROTECTION, "handling": ["H1", "H2"],
        "fields": REFERRAL_FACTS, "retention_days": 365,
    }}}]
    return _body(agreement_id, 1, f"{a}-{b} victim referral (test vector)", [a, b],
                 ("2026-01-01T00:00:00Z", None), flows)


def _baseline() -> dict[str, Any]:
    alerts = {"purposes": ["investigation", "prosecution"], "handling": ["H0", "H1", "H2"],
              "fields": [f for f in ALERT_ALL if f != "notes"], "retention_days": 730}
    erasure = {"purposes": EVERY_PURPOSE, "handling": EVERY_HANDLING, "retention_days": 3650}
    flows = [{"from": "any", "to": "any", "event_types": {
        "trafficker_alert": alerts,
        "erasure_request": erasure | {"fields": _all_of("erasure_request")},
        "erasure_confirmation": erasure | {"fields": _all_of("erasure_confirmation")},
    }}]
    return _body("COMMIT-baseline", 1, "COMMIT baseline among all six members (test vector)",
                 sorted(MEMBERS), ("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
                 flows)


# fmt: on


def _signed(body: dict[str, Any], signers: list[Ed25519PrivateKey]) -> SignedDocument:
    doc = SignedDocument(AGREEMENT_TYPE, body, ())
    for key in signers:
        doc = doc.with_signature(key)
    return doc


@dataclass(frozen=True, slots=True)
class Record:
    """One record of ``<ns>.registry.agreements`` and why it is there."""

    doc: SignedDocument
    loaded_at_ms: int
    note: str

    @property
    def key(self) -> str:
        return f"{self.doc.signed['id']}@{self.doc.signed['version']}"


def records() -> list[Record]:
    th_kh = [ROOTS["TH"], ROOTS["KH"]]
    # LA signs with both its root keys, except VN-LA-protection: with the first only.
    la_roots = [LA_ROOT_1, LA_ROOT_2]
    tampered = _signed(_bilateral("CN-VN-protection", "VN", "CN"), [ROOTS["CN"], ROOTS["VN"]])
    changed = json.loads(json.dumps(dict(tampered.signed)))
    changed["flows"][0]["event_types"]["referral"]["handling"].append("H3")
    tampered = SignedDocument(AGREEMENT_TYPE, changed, tampered.signatures)
    return [
        Record(_signed(_th_kh(1), th_kh), LOADED, "2025 → open; a handover_notice flow"),
        Record(_signed(_th_kh(2), th_kh), LOADED, "2026 → 2029; consent, child"),
        Record(_signed(_th_kh(3), th_kh), V3_LOADED, "2027 → 2028, loaded 2027-02-01"),
        Record(
            _signed(_th_la(), [ROOTS["TH"], *la_roots]),
            LOADED,
            "2026 → 2029; consent required, nothing without it",
        ),
        Record(
            _signed(_th_mm(), [ROOTS["TH"], ROOTS["MM"]]),
            LOADED,
            "require_sealed; child by kind; consent not required",
        ),
        Record(
            _signed(_mekong(), [ROOTS["TH"], ROOTS["KH"], *la_roots]),
            LOADED,
            "three parties; an 'any' flow and a TH→LA flow",
        ),
        Record(
            _signed(_vn_kh("police"), [ROOTS["VN"], ROOTS["KH"]]),
            LOADED,
            "same parties as VN-KH-protection, earlier id",
        ),
        Record(
            _signed(_vn_kh("protection"), [ROOTS["VN"], ROOTS["KH"]]),
            LOADED,
            "same parties as VN-KH-police",
        ),
        Record(
            _signed(_bilateral("VN-LA-protection", "VN", "LA"), [ROOTS["VN"], LA_ROOT_1]),
            LOADED,
            "LA signed with the root key that ends 2026-07-01",
        ),
        Record(
            _signed(_bilateral("CN-MM-protection", "CN", "MM"), [ROOTS["CN"]]),
            LOADED,
            "signed by CN only",
        ),
        Record(tampered, LOADED, "H3 added to VN→CN referral handling after both signed"),
        Record(
            _signed(_baseline(), [*ROOTS.values(), *la_roots]),
            LOADED,
            "all six; 2026 → 2031; alerts and erasures",
        ),
    ]


# --- the events --------------------------------------------------------------


def _example(event_type: str) -> dict[str, Any]:
    path = schemas.SCHEMA_DIR / "examples" / f"{event_type}.json"
    obj: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return obj


NGO: Final = {"id": "KH-NGO-1", "name": "Example NGO", "kind": "ngo"}
CHILD_NGO: Final = {
    "id": "KH-NGO-7",
    "name": "Example child protection NGO",
    "kind": "child_protection",
}
MOSVY: Final = {"id": "KH-MOSVY", "name": "Example ministry", "kind": "government"}
ADULT: Final = {"is_child": False, "age_band": "AGE_30_38", "best_interest_assessment": None}


def _consent(status: str, *scope: str) -> dict[str, Any]:
    given = status == "GIVEN"
    return {
        "status": status,
        "given_by": "self" if given else None,
        "recorded_at": 1767124800000 if given else None,
        "scope": list(scope),
    }


GIVEN: Final = {"consent": _consent("GIVEN")}


@dataclass(frozen=True, slots=True)
class Case:
    """One vector: the event to seal, when it is decided, and the outcome meant."""

    name: str
    description: str
    event_type: str
    producer: str
    recipients: tuple[str, ...]
    purpose: str
    handling: str
    created: str  # RFC 3339 UTC, milliseconds allowed
    want: Mapping[str, str]  # recipient -> "id@version" (deliver) or a reason code
    changes: Mapping[str, Any] = field(default_factory=dict)  # JSON values; None drops
    sealed: bool = False
    decided: str | None = None  # default: one second after created
    check: Callable[[dict[str, Any]], bool] | None = None  # an extra claim on the decisions
    only: tuple[str, ...] | None = None  # keep only these fields of the payload


def _fields(recipient: str, decisions: dict[str, Any]) -> set[str]:
    got = next(d for d in decisions["decisions"] if d["recipient"] == recipient)
    return set(got["fields"])


def _only(allowed: list[str], recipient: str = "KH") -> Callable[[dict[str, Any]], bool]:
    return lambda d: _fields(recipient, d) <= set(allowed)


def _has(name: str, recipient: str = "KH") -> Callable[[dict[str, Any]], bool]:
    return lambda d: name in _fields(recipient, d)


def cases() -> list[Case]:
    r, tk = "referral", ("KH",)
    v1, v2, v3 = "TH-KH-protection@1", "TH-KH-protection@2", "TH-KH-protection@3"
    c = Case
    # fmt: off
    return [
        # --- event time: which version is in force at the event's creation --------
        c("time-01-before-any-version", "TH→KH referral 1 ms before TH-KH v1 takes effect: "
          "an agreement between them exists, none in force", r, "TH", tk, "repatriation", "H2",
          "2024-12-31T23:59:59.999Z", {"KH": "AGREEMENT_NOT_IN_FORCE"}, GIVEN),
        c("time-02-at-v1-start", "at v1's effective_from exactly: v1 (names, date of birth, "
          "citizenship; never identity documents or notes)", r, "TH", tk, "repatriation", "H2",
          "2025-01-01T00:00:00.000Z", {"KH": v1}, GIVEN,
          check=lambda d: not _fields("KH", d) & {"identity_documents", "notes"}),
        c("time-03-before-v2-start", "1 ms before v2's effective_from: still v1", r, "TH", tk,
          "repatriation", "H2", "2025-12-31T23:59:59.999Z", {"KH": v1}, GIVEN),
        c("time-04-at-v2-start", "at v2's effective_from: v2, the higher version in force "
          "(v1 is in force too)", r, "TH", tk, "repatriation", "H2", "2026-01-01T00:00:00.000Z",
          {"KH": v2}, GIVEN, check=_has("notes")),
        c("time-05-v3-not-yet-loaded", "created in v3's window but decided before the registry "
          "loaded v3 (2027-02-01): v3 does not count, v2 decides", r, "TH", tk, "repatriation",
          "H2", "2027-01-15T00:00:00.000Z", {"KH": v2}, GIVEN, check=_has("notes")),
        c("time-06-v3-loaded", "the same event decided after v3 was loaded: v3 (no notes, "
          "retention 730)", r, "TH", tk, "repatriation", "H2", "2027-01-15T00:00:00.000Z",
          {"KH": v3}, GIVEN, decided="2027-02-01T00:00:00.000Z",
          check=lambda d: "notes" not in _fields("KH", d)),
        c("time-07-loaded-later-never-changes-earlier-events", "created in 2026, decided after "
          "v3 was loaded: v3 is not in force at the creation time, v2 decides", r, "TH", tk,
          "repatriation", "H2", "2026-06-01T00:00:00.000Z", {"KH": v2}, GIVEN,
          decided="2027-06-01T00:00:00.000Z"),
        c("time-08-v3-expired", "at v3's effective_until (2028-01-01): v3 has lapsed, v2 "
          "applies again", r, "TH", tk, "repatriation", "H2", "2028-01-01T00:00:00.000Z",
          {"KH": v2}, GIVEN),
        c("time-09-before-v2-end", "1 ms before v2's effective_until: v2", r, "TH", tk,
          "repatriation", "H2", "2028-12-31T23:59:59.999Z", {"KH": v2}, GIVEN),
        c("time-10-at-v2-end", "at v2's effective_until: v2 has lapsed, open-ended v1 decides",
          r, "TH", tk, "repatriation", "H2", "2029-01-01T00:00:00.000Z", {"KH": v1}, GIVEN),
        c("time-11-only-version-expired", "TH-LA has one version, ending 2029-01-01: refused "
          "at that instant", r, "TH", ("LA",), "repatriation", "H2", "2029-01-01T00:00:00.000Z",
          {"LA": "AGREEMENT_NOT_IN_FORCE"}, GIVEN),
        c("time-12-only-version-last-ms", "TH-LA 1 ms before its end: delivered (no notes, no "
          "documents: not in its allowlist)", r, "TH", ("LA",), "repatriation", "H2",
          "2028-12-31T23:59:59.999Z", {"LA": "TH-LA-protection@1"}, GIVEN,
          check=lambda d: "notes" not in _fields("LA", d)),
        c("time-13-flow-only-in-superseded-version", "handover_notice TH→KH in 2026: only v1 "
          "has that flow, and v2 supersedes v1", "handover_notice", "TH", tk, "repatriation",
          "H2", "2026-03-01T00:00:00.000Z", {"KH": "AGREEMENT_NOT_IN_FORCE"}),
        c("time-14-flow-in-version-in-force", "handover_notice TH→KH in 2025: v1 is the "
          "version in force", "handover_notice", "TH", tk, "repatriation", "H2",
          "2025-06-01T00:00:00.000Z", {"KH": v1}),
        c("time-15-baseline-not-yet", "trafficker alert VN→KH 1 ms before the baseline (and "
          "every VN-KH agreement) takes effect", "trafficker_alert", "VN", tk, "investigation",
          "H1", "2025-12-31T23:59:59.999Z", {"KH": "AGREEMENT_NOT_IN_FORCE"}),
        # --- every reason ---------------------------------------------------------
        c("reason-01-no-agreement", "trafficker alert VN→PH: PH is party to no agreement",
          "trafficker_alert", "VN", ("PH",), "investigation", "H1", "2026-03-01T00:00:00.000Z",
          {"PH": "NO_AGREEMENT"}),
        c("reason-02-event-type-not-allowed", "referral LA→MM: only the baseline names both, "
          "and it has no referral flow", r, "LA", ("MM",), "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"MM": "EVENT_TYPE_NOT_ALLOWED"}),
        c("reason-03-purpose-not-allowed", "trafficker alert for statistics", "trafficker_alert",
          "VN", tk, "statistics", "H1", "2026-03-01T00:00:00.000Z", {"KH": "PURPOSE_NOT_ALLOWED"}),
        c("reason-04-handling-not-allowed", "trafficker alert H3", "trafficker_alert", "VN", tk,
          "investigation", "H3", "2026-03-01T00:00:00.000Z", {"KH": "HANDLING_NOT_ALLOWED"}),
        c("reason-05-handling-h1-to-mm", "TH→MM referral with H1: the flow allows H2 only "
          "(handling is judged before sealing)", r, "TH", ("MM",), "repatriation", "H1",
          "2026-03-01T00:00:00.000Z", {"MM": "HANDLING_NOT_ALLOWED"}, ADULT),
        c("reason-06-sealing-required", "TH→MM referral as a v1 event: the flow has "
          "require_sealed", r, "TH", ("MM",), "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"MM": "SEALING_REQUIRED"}, ADULT),
        c("reason-07-sealed-to-mm", "the same referral sealed (v2): delivered; the hub saw only "
          "the policy attributes and the sealed fields' labels", r, "TH", ("MM",),
          "repatriation", "H2", "2026-03-01T00:00:00.000Z", {"MM": "TH-MM-protection@1"},
          ADULT, sealed=True, check=_has("names", "MM")),
        c("reason-08-consent-required", "TH→LA referral, consent REFUSED: the flow lets "
          "nothing go without consent", r, "TH", ("LA",), "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"LA": "CONSENT_REQUIRED"},
          {"consent": _consent("REFUSED")}),
        c("reason-09-agreement-unsigned", "referral CN→MM: CN-MM-protection lacks MM's "
          "signature", r, "CN", ("MM",), "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"MM": "AGREEMENT_UNSIGNED"}, ADULT),
        c("reason-10-agreement-bad-signature", "referral VN→CN: CN-VN-protection was changed "
          "after both signed", r, "VN", ("CN",), "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"CN": "AGREEMENT_BAD_SIGNATURE"}, ADULT),
        c("reason-11-signer-root-valid", "referral VN→LA 1 ms before LA's signing root key "
          "ends: delivered", r, "VN", ("LA",), "repatriation", "H2",
          "2026-06-30T23:59:59.999Z", {"LA": "VN-LA-protection@1"}, ADULT),
        c("reason-12-signer-root-ended", "referral VN→LA at the end of LA's signing root key: "
          "LA's signature is by no root valid at the event's creation", r, "VN", ("LA",),
          "repatriation", "H2", "2026-07-01T00:00:00.000Z", {"LA": "AGREEMENT_UNSIGNED"}, ADULT),
        # --- consent --------------------------------------------------------------
        c("consent-01-given-no-scope", "consent GIVEN with an empty scope: every allowed field "
          "the producer disclosed", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2}, ADULT | GIVEN, check=_has("names")),
        c("consent-02-refused", "consent REFUSED: only the without_consent fields (no names, no "
          "documents)", r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2}, ADULT | {"consent": _consent("REFUSED")}, check=_only(REFERRAL_FACTS)),
        c("consent-03-not-asked", "consent NOT_ASKED: only the without_consent fields", r, "TH",
          tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z", {"KH": v2},
          ADULT | {"consent": _consent("NOT_ASKED")}, check=_only(REFERRAL_FACTS)),
        c("consent-04-not-disclosed", "no consent disclosed: only the without_consent fields",
          r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z", {"KH": v2},
          ADULT | {"consent": None}, check=_only(REFERRAL_FACTS)),
        c("consent-05-scope-purpose-covers", "scope [repatriation, family_tracing], purpose "
          "repatriation: covered", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2},
          ADULT | {"consent": _consent("GIVEN", "repatriation", "family_tracing")},
          check=_has("names")),
        c("consent-06-scope-other-purpose", "scope [repatriation, family_tracing], purpose "
          "reintegration: not covered, without_consent fields only", r, "TH", tk,
          "reintegration", "H2", "2026-03-01T00:00:00.000Z", {"KH": v2},
          ADULT | {"consent": _consent("GIVEN", "repatriation", "family_tracing")},
          check=_only(REFERRAL_FACTS)),
        c("consent-07-scope-country-covers", "scope [KH] (a country, no purpose): covers any "
          "purpose to KH", r, "TH", tk, "reintegration", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2}, ADULT | {"consent": _consent("GIVEN", "KH")}, check=_has("names")),
        c("consent-08-scope-other-country", "scope [repatriation, LA] to KH: the purpose is "
          "named but KH is not", r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2}, ADULT | {"consent": _consent("GIVEN", "repatriation", "LA")},
          check=_only(REFERRAL_FACTS)),
        c("consent-09-per-recipient", "scope [repatriation, KH] to KH and LA: KH gets "
          "everything, for LA consent does not cover it and its flow has no without_consent "
          "fields", r, "TH", ("KH", "LA"), "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2, "LA": "CONSENT_REQUIRED"},
          ADULT | {"consent": _consent("GIVEN", "repatriation", "KH")}, check=_has("names")),
        c("consent-10-detention-not-asked", "detention notice, consent NOT_ASKED: no personal "
          "identifiers, no notes", "detention_notice", "TH", tk, "victim_identification", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2}, {"consent": _consent("NOT_ASKED")},
          check=_only(DETENTION_FACTS)),
        c("consent-11-not-required", "detention notice TH→MM, consent REFUSED, but the flow's "
          "consent.required is false: every allowed field", "detention_notice", "TH", ("MM",),
          "victim_identification", "H2", "2026-03-01T00:00:00.000Z",
          {"MM": "TH-MM-protection@1"}, {"consent": _consent("REFUSED")},
          check=_has("names", "MM")),
        c("consent-12-scope-country-is-two-capitals", "scope [repatriation, la] to KH: 'la' "
          "is not two capitals A-Z, so it is a purpose, not a country; no country is named "
          "and the purpose is: covered", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2},
          ADULT | {"consent": _consent("GIVEN", "repatriation", "la")}, check=_has("names")),
        # --- children -------------------------------------------------------------
        c("child-01-named-agency", "a child to KH-MOSVY (named by id; kind government) with a "
          "best-interest assessment", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2}, GIVEN | {"receiving_organisation": MOSVY}),
        c("child-02-allowed-kind", "a child to an organisation of kind child_protection", r,
          "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z", {"KH": v2},
          GIVEN | {"receiving_organisation": CHILD_NGO}),
        c("child-03-other-organisation", "a child to an NGO neither named nor of an allowed "
          "kind", r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": "CHILD_PROTECTION"}, GIVEN | {"receiving_organisation": NGO}),
        c("child-04-no-assessment", "a child to KH-MOSVY with no best-interest assessment", r,
          "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": "CHILD_PROTECTION"},
          GIVEN | {"receiving_organisation": MOSVY, "best_interest_assessment": None}),
        c("child-05-undisclosed-counts-as-child", "is_child not disclosed, to an NGO: treated "
          "as a child (deny by default)", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": "CHILD_PROTECTION"},
          GIVEN | {"is_child": None, "best_interest_assessment": None,
                   "receiving_organisation": NGO}),
        c("child-06-undisclosed-meets-child-rule", "is_child not disclosed, to KH-MOSVY with an "
          "assessment: the child conditions hold", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2},
          GIVEN | {"is_child": None, "receiving_organisation": MOSVY}),
        c("child-07-adult-to-ngo", "is_child false: no child conditions, an NGO with no "
          "assessment is fine", r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2}, GIVEN | ADULT | {"receiving_organisation": NGO}),
        c("child-08-organisation-undisclosed", "a child with no receiving organisation "
          "disclosed", r, "TH", tk, "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": "CHILD_PROTECTION"}, GIVEN | {"receiving_organisation": None}),
        c("child-09-assessment-not-required", "a sealed child referral TH→MM to a "
          "child_protection organisation without an assessment: that flow does not require "
          "one", r, "TH", ("MM",), "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"MM": "TH-MM-protection@1"},
          {"receiving_organisation": CHILD_NGO, "best_interest_assessment": None}, sealed=True),
        c("child-10-kind-only-rule", "a sealed child referral TH→MM to a government body: "
          "that flow allows kind child_protection only", r, "TH", ("MM",), "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"MM": "CHILD_PROTECTION"},
          {"receiving_organisation": MOSVY}, sealed=True),
        # --- which agreement: candidates' order, flows' specificity ----------------
        c("order-01-fewest-parties-then-id", "VN→KH referral for investigation: VN-KH-police "
          "and VN-KH-protection both allow it; same number of parties, police comes first by "
          "id; its fields only, never added up", r, "VN", tk, "investigation", "H1",
          "2026-03-01T00:00:00.000Z", {"KH": "VN-KH-police@1"}, ADULT,
          check=_only(["case_number", "exploitation_types", "names"])),
        c("order-02-next-candidate", "VN→KH referral for repatriation: police refuses the "
          "purpose, protection delivers", r, "VN", tk, "repatriation", "H1",
          "2026-03-01T00:00:00.000Z", {"KH": "VN-KH-protection@1"}, ADULT, check=_has("needs")),
        c("order-03-multilateral-after-bilateral", "TH→KH referral for investigation: TH-KH "
          "v2 (2 parties) refuses the purpose, MEKONG-investigation (3) delivers its own fields",
          r, "TH", tk, "investigation", "H1", "2026-03-01T00:00:00.000Z",
          {"KH": "MEKONG-investigation@1"}, GIVEN,
          check=_only(["case_number", "exploitation_types", "trafficking_status"])),
        c("order-04-specific-flow-decides", "TH→LA referral for investigation H1: MEKONG's "
          "TH→LA flow (no 'any') decides, not its any→any flow", r, "TH", ("LA",),
          "investigation", "H1", "2026-03-01T00:00:00.000Z", {"LA": "MEKONG-investigation@1"},
          GIVEN, check=_only(["case_number"], "LA")),
        c("order-05-most-telling-refusal", "TH→LA referral for investigation H0: TH-LA refuses "
          "the purpose, MEKONG's TH→LA flow the handling (its any→any flow, which allows H0, "
          "is not tried); every candidate refused, the higher-ranked reason is given", r, "TH",
          ("LA",), "investigation", "H0", "2026-03-01T00:00:00.000Z",
          {"LA": "HANDLING_NOT_ALLOWED"}, GIVEN),
        c("order-06-multilateral-any-flow", "KH→LA referral for investigation: only MEKONG "
          "names both; its any→any flow", r, "KH", ("LA",), "investigation", "H0",
          "2026-03-01T00:00:00.000Z", {"LA": "MEKONG-investigation@1"}, GIVEN),
        c("order-07-nothing-allowed-disclosed", "VN→KH referral for investigation disclosing "
          "only needs, sex and interpreter_needed: VN-KH-police decides, and none of its fields "
          "is disclosed; still a delivery, with no fields", r, "VN", tk, "investigation", "H1",
          "2026-03-01T00:00:00.000Z", {"KH": "VN-KH-police@1"},
          only=("needs", "sex", "interpreter_needed"), check=lambda d: not _fields("KH", d)),
        # --- several recipients, erasures -----------------------------------------
        c("multi-01-alert-to-four", "trafficker alert VN→KH, LA, PH, TH: three under the "
          "baseline, PH refused; decisions in the header's order", "trafficker_alert", "VN",
          ("KH", "LA", "PH", "TH"), "investigation", "H1", "2026-03-01T00:00:00.000Z",
          {"KH": "COMMIT-baseline@1", "LA": "COMMIT-baseline@1", "PH": "NO_AGREEMENT",
           "TH": "COMMIT-baseline@1"}),
        c("multi-02-erasure-to-three", "erasure request TH→KH, LA, MM: each under its "
          "bilateral agreement (fewer parties than the baseline)", "erasure_request", "TH",
          ("KH", "LA", "MM"), "victim_protection", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2, "LA": "TH-LA-protection@1", "MM": "TH-MM-protection@1"}),
        c("multi-03-erasure-confirmation", "erasure confirmation KH→TH under TH-KH v2",
          "erasure_confirmation", "KH", ("TH",), "victim_protection", "H2",
          "2026-03-02T00:00:00.000Z", {"TH": v2}),
        c("multi-04-erasure-baseline", "erasure request LA→MM: the baseline covers erasures "
          "among all members", "erasure_request", "LA", ("MM",), "investigation", "H1",
          "2026-03-01T00:00:00.000Z", {"MM": "COMMIT-baseline@1"}),
        c("multi-05-erasure-before-any", "erasure request TH→KH in 2024: no agreement in force",
          "erasure_request", "TH", tk, "victim_protection", "H2", "2024-06-01T00:00:00.000Z",
          {"KH": "AGREEMENT_NOT_IN_FORCE"}),
        c("multi-06-sealed-two-recipients", "a sealed referral TH→KH, LA with consent scoped "
          "to KH: KH gets every allowed label, LA is refused CONSENT_REQUIRED", r, "TH",
          ("KH", "LA"), "repatriation", "H2", "2026-03-01T00:00:00.000Z",
          {"KH": v2, "LA": "CONSENT_REQUIRED"},
          {"consent": _consent("GIVEN", "repatriation", "KH")}, sealed=True,
          check=_has("notes")),
        c("multi-07-sealed-consent-refused", "a sealed referral TH→KH, consent REFUSED: only "
          "the without_consent labels", r, "TH", tk, "repatriation", "H2",
          "2026-03-01T00:00:00.000Z", {"KH": v2}, {"consent": _consent("REFUSED")},
          sealed=True, check=_only(REFERRAL_FACTS)),
    ]
    # fmt: on


def _payload(case: Case) -> dict[str, Any]:
    obj = _example(case.event_type)
    if case.only is not None:
        obj = {k: v for k, v in obj.items() if k in case.only}
    for name, value in case.changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return payload_from_json(case.event_type, obj)


def _seal(case: Case) -> bytes:
    created = ms(case.created)
    with _fixed_hpke(case.name):
        envelope = seal(
            case.event_type,
            _payload(case),
            producer=case.producer,
            key=PRODUCERS[case.producer],
            recipients=case.recipients,
            purpose=case.purpose,
            handling=case.handling,
            case_key=f"case-{case.name}",
            sequence=1,
            created_at_ms=created,
            rng=_rng(case.name),
            seal_to={r: SEAL_KEYS[r] for r in case.recipients} if case.sealed else None,
        )
    return envelope.to_bytes()


def _wanted(decision: dict[str, Any]) -> str:
    return str(decision["agreement"] if decision["outcome"] == "deliver" else decision["reason"])


def render(content: Any) -> str:
    return json.dumps(content, indent=1, ensure_ascii=False) + "\n"


def _readme(cases_: list[Case], recs: list[Record]) -> str:
    lines = [
        "# Policy vectors",
        "",
        "Generated by `tests/vectors/generate_policy.py`; do not edit. How to apply them is",
        "normative in `docs/protocol.md` section 7.5; `hub/conformance/policy.py` applies them.",
        "",
        "- `trust.json`: the signed trust list (section 6), version 1, pinned. Its root keys",
        "  signed the agreements (LA has two: the first ends 2026-07-01T00:00:00Z), its",
        "  producer keys the events.",
        "- `agreements.json`: the records of `<ns>.registry.agreements`: `key`",
        "  (`<id>@<version>`), `loaded_at_ms` (when the registry took the record in) and",
        "  `file`, the record's value (signed agreement YAML, section 7).",
        "- one file per vector: `event` (the envelope, hex), `decided_at_ms`, `expected`",
        "  (`decisions`: one per addressed recipient, in the header's order), and for people",
        "  only `intermediate` (the header fields, the policy attributes in the clear, the",
        "  agreement records loaded by the decision time).",
        "",
        "To apply a vector: parse and verify `event` against `trust.json` (every event",
        "verifies); take the records of `agreements.json` with `loaded_at_ms <=",
        "decided_at_ms`; decide each addressed recipient (section 7.3) and compare with",
        "`expected.decisions`: a delivery is `agreement` (`id@version`), `fields` (sorted) and",
        "`retention_days`; a refusal is its `reason`.",
        "",
        "## Agreements",
        "",
        "| record | loaded | note |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{r.key}` | {utc(r.loaded_at_ms)} | {r.note} |" for r in recs]
    lines += ["", "## Vectors", "", "| vector | outcome | what it shows |", "| --- | --- | --- |"]
    for case in cases_:
        outcome = ", ".join(f"{k}: {v}" for k, v in case.want.items())
        lines.append(f"| `{case.name}` | {outcome} | {case.description} |")
    return "\n".join(lines) + "\n"


def build() -> dict[str, str]:
    """Every file of the folder: relative path -> text."""
    files: dict[str, str] = {TRUST_FILE: render(trust_document())}
    recs = records()
    rows = []
    for rec in recs:
        path = f"agreements/{rec.key}.yaml"
        files[path] = dump_agreement_yaml(rec.doc, header=HEADER)
        rows.append({"key": rec.key, "loaded_at_ms": rec.loaded_at_ms, "file": path})
    files[AGREEMENTS_FILE] = render(
        {
            "description": (
                "The records of <ns>.registry.agreements: key, when the registry loaded the "
                "record, and the file holding its value (signed agreement YAML)."
            ),
            "records": rows,
        }
    )
    registry = load_registry_from(files)
    all_cases = cases()
    names = [c.name for c in all_cases]
    if len(set(names)) != len(names):
        raise SystemExit("two vectors share a name")
    for case in all_cases:
        data = _seal(case)
        created = ms(case.created)
        decided = created + 1000 if case.decided is None else ms(case.decided)
        event, decisions = judge(registry, data, decided)
        got = {"decisions": [decision_json(d) for d in decisions]}
        meant = {d["recipient"]: _wanted(d) for d in got["decisions"]}
        if meant != dict(case.want):
            raise SystemExit(f"{case.name}: meant {dict(case.want)}, the engine gives {meant}")
        if case.check is not None and not case.check(got):
            raise SystemExit(f"{case.name}: the extra claim fails for {got}")
        header = event.header
        files[f"{case.name}.json"] = render(
            {
                "description": case.description,
                "event": data.hex(),
                "decided_at_ms": decided,
                "expected": got,
                "intermediate": {
                    "spec_version": header.spec_version,
                    "event_type": str(header.event_type),
                    "producer": header.producer,
                    "recipients": list(header.recipients),
                    "purpose": header.purpose,
                    "handling": header.handling,
                    "created_at_ms": header.created_at_ms,
                    "created_at": utc(header.created_at_ms),
                    "decided_at": utc(decided),
                    "policy_attributes": payload_to_json(
                        {k: v for k, v in sorted(event.fields.items()) if k in POLICY_ATTRIBUTES}
                    ),
                    "disclosed": sorted(event.disclosed),
                    "agreements_loaded": [r.key for r in recs if r.loaded_at_ms <= decided],
                },
            }
        )
    files["README.md"] = _readme(all_cases, recs)
    return files


def load_registry_from(files: Mapping[str, str]) -> Any:
    """The registry of the files about to be written (read back as a verifier would)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        return load_registry(root)


def write(out: Path, built: Mapping[str, str]) -> None:
    """Write every file into ``out``, removing stale ones."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.json"), *out.glob("agreements/*.yaml")]:
        if stale.relative_to(out).as_posix() not in built:
            stale.unlink()
    for name, text in built.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(built)} files to {out}", file=sys.stderr)


def main() -> None:
    write(OUT, build())


if __name__ == "__main__":
    main()
