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
import importlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import Reason, TrmError
from hub.keys import KeyDirectory
from hub.pipeline import Decide, Registry
from hub.trust import TrustList
from hub.wire import VerifiedEvent

__all__ = [
    "UNSAFE_TEST_POLICY_ENV",
    "DenyAll",
    "UnsafeTestPolicy",
    "agreement_key",
    "build_registry",
    "trust_key",
]

log = logging.getLogger(__name__)

UNSAFE_TEST_POLICY_ENV = "TRM_UNSAFE_TEST_POLICY"


def trust_key(version: int) -> bytes:
    return f"trust/{version:010d}".encode()


def agreement_key(agreement_id: str, version: int) -> bytes:
    return f"{agreement_id}@{version}".encode()


@dataclass(frozen=True, slots=True)
class _Refuse:
    recipient: str
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class _Deliver:
    recipient: str
    agreement_id: str
    agreement_version: int
    fields: frozenset[str]


class DenyAll:
    """The policy when no agreement engine is available: refuse every recipient."""

    def __call__(
        self, event: VerifiedEvent, agreements: Any, keys: KeyDirectory, now_ms: int
    ) -> Sequence[Any]:
        return [
            _Refuse(r, Reason.NO_AGREEMENT, "no agreement engine loaded; deny by default")
            for r in event.header.recipients
        ]


class UnsafeTestPolicy:
    """A permissive stand-in for tests ONLY: a JSON table of allowed fields.

    ``{"TH>KH:referral": ["case_number", ...], ...}``. Enabled only through the
    environment variable ``TRM_UNSAFE_TEST_POLICY`` and logged loudly.
    """

    def __init__(self, table: Mapping[str, Iterable[str]]) -> None:
        self.table = {k: frozenset(v) for k, v in table.items()}
        log.warning("UNSAFE test policy in use: agreements are NOT checked")

    def __call__(
        self, event: VerifiedEvent, agreements: Any, keys: KeyDirectory, now_ms: int
    ) -> Sequence[Any]:
        h = event.header
        out: list[Any] = []
        for r in h.recipients:
            allowed = self.table.get(f"{h.producer}>{r}:{h.event_type.value}")
            if allowed is None:
                out.append(_Refuse(r, Reason.NO_AGREEMENT, f"no test agreement {h.producer}->{r}"))
            else:
                out.append(_Deliver(r, f"unsafe-test-{h.producer}-{r}", 1, allowed))
        return out


def _trust_chain(blobs: Sequence[bytes], pinned: TrustList | None) -> TrustList | None:
    docs: list[tuple[int, dict[str, Any]]] = []
    for blob in blobs:
        try:
            doc = json.loads(blob)
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


def _policy() -> tuple[Decide, Any]:
    """The real policy engine when ``hub.policy`` is there; else deny-all."""
    table_path = os.environ.get(UNSAFE_TEST_POLICY_ENV)
    if table_path:
        table = json.loads(Path(table_path).read_text(encoding="utf-8"))
        return UnsafeTestPolicy(table), None
    try:
        # Built in parallel by POLICY; until it lands the hub fails closed.
        policy: Any = importlib.import_module("hub.policy")
    except ImportError:
        log.error("hub.policy is not available: every recipient will be refused")
        return DenyAll(), None
    decide: Decide = policy.decide
    return decide, policy


def _agreement_set(module: Any, blobs: Sequence[bytes], keys: KeyDirectory) -> Any:
    if module is None:
        return None
    loaded = []
    for blob in blobs:
        try:
            loaded.append(module.load_agreement(blob))
        except TrmError as error:
            log.warning("registry: agreement refused: %s", error)
    try:
        return module.AgreementSet(loaded)
    except TypeError:
        return module.AgreementSet.from_agreements(loaded)


def build_registry(
    trust_blobs: Sequence[bytes],
    agreement_blobs: Sequence[bytes],
    *,
    pinned: TrustList | None = None,
) -> Registry | None:
    """The registry in force, or None when no trust list is available yet."""
    trust = _trust_chain(trust_blobs, pinned)
    if trust is None:
        return None
    decide, module = _policy()
    agreements = _agreement_set(module, agreement_blobs, trust)
    digest = hashlib.sha256(b"".join(sorted(agreement_blobs))).hexdigest()[:16]
    return Registry(
        keys=trust,
        agreements=agreements,
        decide=decide,
        version=f"trust-v{trust.version}/agreements-{digest}",
    )
