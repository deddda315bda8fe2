"""Trust lists for tests: one builder of a members' list, and lists that expire.

``members_trust(keys, hub_key, since_ms)`` is the signed document every test
world uses: each country's key as its root and producer key, the hub's key,
threshold 4, signed by every root.

``with_expiry(trust, expires_at_ms, root_keys)`` is ``trust`` with the same
keys and members but an expiry (None: none), re-signed by the given roots: a
list the verifiers accept, which is stale from ``expires_at_ms``. With
``version`` it is a renewal that chains to ``trust``.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.keys import KeyRole
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, TRUST_TYPE, KeySpec, TrustList, build_trust_document

__all__ = ["members_trust", "with_expiry"]


def members_trust(
    keys: Mapping[str, Ed25519PrivateKey],
    hub_key: Ed25519PrivateKey,
    since_ms: int,
    *,
    version: int = 1,
    threshold: int = 4,
    issued_at_ms: int | None = None,
    signers: list[Ed25519PrivateKey] | None = None,
) -> SignedDocument:
    """A trust list naming ``keys`` (root + producer) and ``hub_key``, valid from ``since_ms``."""
    specs = [
        KeySpec(cc, frozenset({KeyRole.ROOT, KeyRole.PRODUCER}), k.public_key(), since_ms)
        for cc, k in keys.items()
    ]
    specs.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), hub_key.public_key(), since_ms))
    return build_trust_document(
        specs,
        members={cc: cc for cc in keys},
        threshold=threshold,
        version=version,
        issued_at_ms=since_ms if issued_at_ms is None else issued_at_ms,
        signers=list(keys.values()) if signers is None else signers,
    )


def with_expiry(
    trust: TrustList,
    expires_at_ms: int | None,
    root_keys: Mapping[str, Ed25519PrivateKey],
    *,
    version: int | None = None,
) -> TrustList:
    """``trust`` expiring at ``expires_at_ms``, signed by every key in ``root_keys``."""
    body = {
        **trust.document.signed,
        "expires_at_ms": expires_at_ms,
        "version": trust.version if version is None else version,
    }
    doc = SignedDocument(TRUST_TYPE, body, ())
    for key in root_keys.values():
        doc = doc.with_signature(key)
    return TrustList.from_signed(doc.to_json(), previous=None if version is None else trust)
