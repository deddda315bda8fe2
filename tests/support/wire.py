"""Shared fixtures for the wire tests: fixed keys, a static key directory, payloads."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.errors import Reason, SealError
from hub.keys import KeyRole, PublicKey, key_id_of, private_key_from_seed, raw_public
from hub.wire import Envelope, seal

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def seeded_key(label: str) -> Ed25519PrivateKey:
    return private_key_from_seed(hashlib.sha256(b"trm-test-key:" + label.encode()).digest())


def public_of(
    key: Ed25519PrivateKey,
    country: str,
    roles: frozenset[KeyRole],
    *,
    not_before_ms: int = 0,
    not_after_ms: int | None = None,
    revoked_at_ms: int | None = None,
) -> PublicKey:
    raw = raw_public(key.public_key())
    return PublicKey(
        key_id_of(raw), country, roles, raw, not_before_ms, not_after_ms, revoked_at_ms
    )


@dataclass(frozen=True)
class StaticKeys:
    """An in-memory key directory (implements hub.keys.KeyDirectory)."""

    listed: Sequence[PublicKey]

    def key(self, key_id: str) -> PublicKey | None:
        return next((k for k in self.listed if k.key_id == key_id), None)

    def keys_for(self, country: str, role: KeyRole, at_ms: int) -> Sequence[PublicKey]:
        return [
            k for k in self.listed if k.country == country and role in k.roles and k.valid_at(at_ms)
        ]


TH_KEY = seeded_key("TH")
KH_KEY = seeded_key("KH")
HUB_KEY = seeded_key("HUB")
PRODUCER = frozenset({KeyRole.PRODUCER, KeyRole.ROOT})
KEYS = StaticKeys(
    [
        public_of(TH_KEY, "TH", PRODUCER),
        public_of(KH_KEY, "KH", PRODUCER),
        public_of(HUB_KEY, "HUB", frozenset({KeyRole.HUB})),
    ]
)


def counter_rng(label: str = "rng") -> Callable[[int], bytes]:
    """Deterministic random bytes (SHA-256 in counter mode)."""
    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            state["n"] += 1
            out += hashlib.sha256(f"{label}:{state['n']}".encode()).digest()
        return out[:n]

    return rng


REFERRAL: dict[str, Any] = {
    "case_number": "TH-2026-0042",
    "referring_organisation": {
        "id": "TH-DSDW-BKK",
        "name": "กรมพัฒนาสังคมและสวัสดิการ",
        "kind": "government",
    },
    "receiving_organisation": {"id": "KH-MOSVY", "name": "ក្រសួងសង្គមកិច្ច", "kind": "government"},
    "referred_at": T0 - 3_600_000,
    "trafficking_status": "ACTUAL",
    "exploitation_types": ["FORCED_LABOUR", "ONLINE_SCAM_COMPOUND"],
    "needs": ["SHELTER", "PSYCHOSOCIAL", "FAMILY_TRACING"],
    "names": [
        {"full_name": "សុខ ស្រីពៅ", "lang": "km-Khmr", "given": "ស្រីពៅ", "family": "សុខ"},
        {"full_name": "Sok Sreypov", "lang": "km-Latn", "given": "Sreypov", "family": "Sok"},
    ],
    "date_of_birth": "2009-04",
    "sex": "FEMALE",
    "citizenship": ["KH"],
    "languages": ["km", "th"],
    "interpreter_needed": True,
    "is_child": True,
    "best_interest_assessment": {
        "assessed_at": T0 - 86_400_000,
        "assessed_by": "TH-DSDW-BKK",
        "summary": None,
    },
    "consent": {
        "status": "GIVEN",
        "given_by": "guardian",
        "recorded_at": T0 - 7_200_000,
        "scope": ["repatriation"],
    },
}


def sealed(
    payload: dict[str, Any] | None = None,
    *,
    event_type: str = "referral",
    key: Ed25519PrivateKey = TH_KEY,
    producer: str = "TH",
    recipients: Sequence[str] = ("KH",),
    created_at_ms: int = T0,
    rng_label: str = "rng",
    **kwargs: Any,
) -> Envelope:
    return seal(
        event_type,
        REFERRAL if payload is None else payload,
        producer=producer,
        key=key,
        recipients=recipients,
        purpose=kwargs.pop("purpose", "repatriation"),
        handling=kwargs.pop("handling", "H2"),
        case_key=kwargs.pop("case_key", "case-7f3a"),
        sequence=kwargs.pop("sequence", 1),
        created_at_ms=created_at_ms,
        rng=counter_rng(rng_label),
        **kwargs,
    )


@dataclass(frozen=True)
class TestSealKey:
    """A recipient's seal key pair for wire tests (nodes use ``hub.sealkeys``)."""

    private: X25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def x25519(self) -> X25519PublicKey:
        return self.private.public_key()


def seal_key(label: str) -> TestSealKey:
    """A deterministic X25519 seal key (its private key from SHA-256 of the label)."""
    seed = hashlib.sha256(f"trm-test-seal:{label}".encode()).digest()
    return TestSealKey(X25519PrivateKey.from_private_bytes(seed))


SEAL_KEYS = {c: seal_key(c) for c in ("KH", "LA", "MM", "TH", "VN", "CN")}


def private_keys(country: str) -> Callable[[str], X25519PrivateKey]:
    """``private_key(key_id)`` for ``unseal``: the test seal key of ``country``."""
    own = SEAL_KEYS[country]

    def private_key(key_id: str) -> X25519PrivateKey:
        if key_id != own.key_id:
            raise SealError(Reason.SEAL_KEY_MISSING, f"no seal key {key_id[:16]}...")
        return own.private

    return private_key


def sealed_v2(
    payload: dict[str, Any] | None = None,
    *,
    recipients: Sequence[str] = ("KH",),
    **kwargs: Any,
) -> Envelope:
    """A sealed (v2) event, sealed to the test seal keys of ``recipients``."""
    return sealed(
        payload,
        recipients=recipients,
        seal_to={r: SEAL_KEYS[r] for r in recipients},
        **kwargs,
    )
