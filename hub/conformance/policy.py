"""The policy vectors (``tests/vectors/policy/``): an agreement set and an event → decisions.

The folder holds everything a policy decision depends on (``docs/protocol.md``
section 7.5):

- ``trust.json``: a signed trust list (section 6), the first version, pinned;
  its root keys signed the agreements, its producer keys the events.
- ``agreements.json``: the records of ``<ns>.registry.agreements``, each
  ``{"key": "<id>@<version>", "loaded_at_ms": int, "file": "agreements/..."}``;
  ``file`` is the record's value, the signed agreement YAML, byte for byte.
- one JSON file per vector: ``event`` (the envelope, hex), ``decided_at_ms``
  and ``expected.decisions``, one per addressed recipient in the header's
  order: ``{"recipient", "outcome": "deliver", "agreement": "<id>@<version>",
  "fields": [sorted], "retention_days"}`` or ``{"recipient", "outcome":
  "refuse", "reason": CODE}``.

Applying a vector: parse and verify the envelope against the trust list (it
always verifies), then decide at ``decided_at_ms`` counting only the records
with ``loaded_at_ms <= decided_at_ms``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.policy import AgreementSet, Decision, Deliver, decide, parse_agreement
from hub.trust import TrustList
from hub.wire import Envelope, VerifiedEvent, verify

__all__ = [
    "AGREEMENTS_FILE",
    "NAME",
    "TRUST_FILE",
    "Registry",
    "check",
    "decision_json",
    "judge",
    "load_registry",
    "vector_files",
]

NAME = "policy"
TRUST_FILE = "trust.json"
AGREEMENTS_FILE = "agreements.json"
_NOT_VECTORS = frozenset({TRUST_FILE, AGREEMENTS_FILE})


@dataclasses.dataclass(frozen=True, slots=True)
class Registry:
    """The trust list and every agreement record of a vector folder."""

    trust: TrustList
    agreements: AgreementSet


def load_registry(directory: Path) -> Registry:
    """``trust.json`` and ``agreements.json`` with the YAML files they name.

    Raises:
        TrustError, PolicyError: the folder's trust list or an agreement is malformed.
    """
    trust = TrustList.from_signed(read_json(directory / TRUST_FILE))
    records = read_json(directory / AGREEMENTS_FILE)["records"]
    loaded = []
    for record in records:
        # the record's value, parsed as the hub's registry parses it
        signed = parse_agreement(
            (directory / record["file"]).read_bytes(),
            loaded_at_ms=record["loaded_at_ms"],
            where=record["file"],
        )
        if signed.agreement.ref != record["key"]:
            raise ValueError(f"record {record['key']} holds {signed.agreement.ref}")
        loaded.append(signed)
    return Registry(trust, AgreementSet.of(loaded))


def vector_files(directory: Path) -> list[Path]:
    """The vector files of the folder, by name."""
    return sorted(p for p in directory.glob("*.json") if p.name not in _NOT_VECTORS)


def decision_json(decision: Decision) -> dict[str, Any]:
    """A decision in the vectors' form (``expected.decisions`` items)."""
    if isinstance(decision, Deliver):
        return {
            "recipient": decision.recipient,
            "outcome": "deliver",
            "agreement": decision.agreement_ref,
            "fields": sorted(decision.fields),
            "retention_days": decision.retention_days,
        }
    return {"recipient": decision.recipient, "outcome": "refuse", "reason": str(decision.reason)}


def judge(
    registry: Registry, envelope_bytes: bytes, decided_at_ms: int
) -> tuple[VerifiedEvent, Sequence[Decision]]:
    """Verify the event and decide it as the hub does at ``decided_at_ms``."""
    event = verify(Envelope.from_bytes(envelope_bytes), registry.trust)
    return event, decide(event, registry.agreements, registry.trust, decided_at_ms)


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory``: its decisions against ``expected``."""
    registry = load_registry(directory)
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        try:
            _, decisions = judge(
                registry, bytes.fromhex(vector["event"]), int(vector["decided_at_ms"])
            )
            got: Any = {"decisions": [decision_json(d) for d in decisions]}
        except Exception as error:
            got = {"error": f"{type(error).__name__}: {error}"}
        results.append(compare(path.stem, vector["expected"], got))
    return results
