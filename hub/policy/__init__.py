"""Bilateral and multilateral agreements as signed policy, and the pure engine.

``load_agreement_file`` reads a signed YAML agreement; ``AgreementSet`` holds
every version; ``decide`` judges one verified event for each addressed
recipient. ``docs/agreements.md`` is the reference for the format.
"""

from __future__ import annotations

from hub.policy.agreement import (
    AGREEMENT_TYPE,
    ANY_PARTY,
    Agreement,
    AgreementSet,
    ChildRule,
    ConsentRule,
    Flow,
    SignedAgreement,
    agreement_schema,
    dump_agreement_yaml,
    leading_comments,
    load_agreement,
    load_agreement_file,
    parse_agreement,
    parse_time_ms,
)
from hub.policy.engine import (
    POLICY_FIELDS,
    Decision,
    Deliver,
    EventLike,
    Refuse,
    decide,
    decide_one,
    decide_remembered,
)

__all__ = [
    "AGREEMENT_TYPE",
    "ANY_PARTY",
    "POLICY_FIELDS",
    "Agreement",
    "AgreementSet",
    "ChildRule",
    "ConsentRule",
    "Decision",
    "Deliver",
    "EventLike",
    "Flow",
    "Refuse",
    "SignedAgreement",
    "agreement_schema",
    "decide",
    "decide_one",
    "decide_remembered",
    "dump_agreement_yaml",
    "leading_comments",
    "load_agreement",
    "load_agreement_file",
    "parse_agreement",
    "parse_time_ms",
    "resign_agreement",
    "sign_agreement",
]


def sign_agreement(agreement: SignedAgreement, key: object) -> SignedAgreement:
    """``agreement`` also signed by ``key`` (an Ed25519 private key of a party's root)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("expected an Ed25519 private key")
    return SignedAgreement(agreement.agreement, agreement.document.with_signature(key))


def resign_agreement(agreement: SignedAgreement, keys: object) -> SignedAgreement:
    """``agreement`` with its signatures replaced by those of ``keys`` (an iterable of keys)."""
    from hub.signed_doc import SignedDocument  # noqa: PLC0415

    doc = SignedDocument(agreement.document.doc_type, agreement.document.signed, ())
    fresh = SignedAgreement(agreement.agreement, doc)
    for key in keys:  # type: ignore[attr-defined]
        fresh = sign_agreement(fresh, key)
    return fresh
