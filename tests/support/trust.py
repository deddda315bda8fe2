"""Trust lists that expire, for tests of TRUST_EXPIRED (hub, node, CLI).

``with_expiry(trust, expires_at_ms, root_keys)`` is ``trust`` with the same
keys and members but an expiry (None: none), re-signed by the given roots: a
list the verifiers accept, which is stale from ``expires_at_ms``. With
``version`` it is a renewal that chains to ``trust``.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.signed_doc import SignedDocument
from hub.trust import TRUST_TYPE, TrustList

__all__ = ["with_expiry"]


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
