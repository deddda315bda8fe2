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

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.errors import PolicyError, Reason, TrmError
from hub.keys import KeyDirectory
from hub.pipeline import Decide, Registry
from hub.policy import AgreementSet, SignedAgreement, load_agreement
from hub.policy import decide as decide_policy
from hub.trust import TrustList
from hub.wire import VerifiedEvent

__all__ = [
    "UNSAFE_TEST_POLICY_ENV",
    "UnsafeTestPolicy",
    "agreement_key",
    "build_registry",
    "parse_agreement",
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


class _NoDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: times stay the strings that were signed."""


_NoDatesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _policy() -> Decide | None:
    """The loudly named test policy when its environment variable is set."""
    table_path = os.environ.get(UNSAFE_TEST_POLICY_ENV)
    if not table_path:
        return None
    table = json.loads(Path(table_path).read_text(encoding="utf-8"))
    return UnsafeTestPolicy(table)


def parse_agreement(blob: bytes, *, loaded_at_ms: int | None = None) -> SignedAgreement:
    """A signed agreement from its YAML bytes (signatures are checked by the engine).

    Raises:
        PolicyError: AGREEMENT_INVALID.
    """
    try:
        obj = yaml.load(blob.decode("utf-8"), Loader=_NoDatesLoader)  # noqa: S506
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PolicyError(Reason.AGREEMENT_INVALID, "expected a UTF-8 YAML agreement") from exc
    agreement = load_agreement(obj)
    return dataclasses.replace(agreement, loaded_at_ms=loaded_at_ms)


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
        return AgreementSet.of({(a.agreement.id, a.agreement.version): a for a in loaded}.values())


def build_registry(
    trust_blobs: Sequence[bytes],
    agreement_records: Sequence[tuple[bytes, int | None]],
    *,
    pinned: TrustList | None = None,
) -> Registry | None:
    """The registry in force, or None when no trust list is available yet."""
    trust = _trust_chain(trust_blobs, pinned)
    if trust is None:
        return None
    agreements = _agreement_set(agreement_records)
    decide: Decide = _policy() or decide_policy
    digest = hashlib.sha256(b"".join(sorted(b for b, _ in agreement_records))).hexdigest()[:16]
    return Registry(
        keys=trust,
        agreements=agreements,
        decide=decide,
        version=f"trust-v{trust.version}/agreements-{digest}",
    )
