"""The registry: trust list versions and agreements, read from compacted topics.

Record keys in ``<ns>.registry.trust`` are ``trust/<version:010d>`` and values the
signed trust-list JSON; keys in ``<ns>.registry.agreements`` are
``<agreement id>@<version>`` and values the signed agreement YAML. Compaction
keeps every version (each has its own key), so an event is judged by the
version in force at its creation time.

Trust versions are chained (each must be signed by a threshold of the previous
version's roots); a version that does not chain is logged and ignored, so a
forged record in the topic cannot swap a key. The chain starts at the hub's
pinned trust file when one is given, else at the first version (TOFU).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from hub.errors import TrmError
from hub.pipeline import Decide, Registry
from hub.policy import AgreementSet, SignedAgreement, parse_agreement
from hub.policy import decide as decide_policy
from hub.sealkeys import SealKeyDirectory
from hub.signed_doc import parse_json
from hub.trust import TrustList

__all__ = [
    "agreement_key",
    "build_registry",
    "trust_key",
]

log = logging.getLogger(__name__)


def trust_key(version: int) -> bytes:
    return f"trust/{version:010d}".encode()


def agreement_key(agreement_id: str, version: int) -> bytes:
    return f"{agreement_id}@{version}".encode()


def _trust_chain(blobs: Sequence[bytes], pinned: TrustList | None) -> TrustList | None:
    docs: list[tuple[int, dict[str, Any]]] = []
    for blob in blobs:
        try:
            doc = parse_json(blob)  # strict: a member name twice is refused
            docs.append((int(doc["signed"]["version"]), doc))
        except (ValueError, KeyError, TypeError):
            log.warning("registry: ignoring a trust record that is not a signed trust list")
    current = pinned
    for version, doc in sorted(docs, key=lambda d: d[0]):
        if current is not None and version <= current.version:
            continue
        try:
            current = TrustList.from_signed(doc, previous=current)
        except TrmError as error:
            log.warning("registry: trust version %s refused: %s", version, error)
    return current


def _agreement_set(records: Sequence[tuple[bytes, int | None]]) -> AgreementSet:
    loaded = []
    for blob, ts in records:
        try:
            loaded.append(parse_agreement(blob, loaded_at_ms=ts))
        except TrmError as error:
            log.warning("registry: agreement refused: %s", error)
    try:
        return AgreementSet.of(loaded)
    except TrmError as error:  # two texts for one version: keep the first of each
        log.warning("registry: %s", error)
        first: dict[tuple[str, int], SignedAgreement] = {}
        for a in loaded:
            first.setdefault((a.agreement.id, a.agreement.version), a)
        return AgreementSet.of(first.values())


def build_registry(
    trust_blobs: Sequence[bytes],
    agreement_records: Sequence[tuple[bytes, int | None]],
    *,
    seal_key_blobs: Sequence[bytes] = (),
    pinned: TrustList | None = None,
) -> Registry | None:
    """The registry in force, or None while no trust list has been published.

    ``pinned`` (the hub's own ``trust.json``) anchors the chain of published
    versions but does not stand in for a publication: only a published trust
    list says that the agreements published with it are there (provisioning
    writes it last: ``hub.ops.provision.registry_records``).

    ``seal_key_blobs`` are the records of ``<ns>.registry.seal-keys``: the
    producers' published seal keys, to which the quarantine seals refused bytes.
    """
    if not trust_blobs:
        return None
    trust = _trust_chain(trust_blobs, pinned)
    if trust is None:
        return None
    agreements = _agreement_set(agreement_records)
    seal_keys, refused = SealKeyDirectory.from_documents(seal_key_blobs, trust)
    for error in refused:
        log.warning("registry: seal-key set refused: %s", error.reason)
    # Always the real engine: there is no switch that turns agreements off.
    decide: Decide = decide_policy
    digest = hashlib.sha256(b"".join(sorted(b for b, _ in agreement_records))).hexdigest()[:16]
    return Registry(
        keys=trust,
        agreements=agreements,
        decide=decide,
        version=f"trust-v{trust.version}/agreements-{digest}",
        seal_keys=seal_keys,
    )
