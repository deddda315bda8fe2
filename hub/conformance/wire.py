"""The wire vectors (``tests/vectors/wire/``, protocol.md 2.8): unsealed (v1) envelopes.

``trust.json`` is the key directory, a signed trust list accepted as a pinned
first version (section 6.3). Every other file is one vector, applied in
order (``hub.wire.open_envelope``, what a node runs): parse with
``max_size``; verify (section 3.3); if ``kafka_headers`` is not null, the
CloudEvents check (section 5); the attestation check
(section 4) when ``recipient`` is not null (a node reading its inbox: at
least one attestation, the last for that recipient) or when the envelope
carries attestations (anyone else). The first refusal is the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.errors import TrmError
from hub.keys import KeyDirectory
from hub.trust import TrustList
from hub.wire import DeliveredEvent, open_envelope, payload_to_json

__all__ = ["NAME", "accepted", "check", "kafka_headers", "key_directory", "outcome", "vector_files"]

NAME = "wire"


def key_directory(directory: Path) -> TrustList:
    """The set's ``trust.json``, verified as a first (pinned) trust list."""
    return TrustList.from_signed(read_json(directory / "trust.json"))


def vector_files(directory: Path) -> list[Path]:
    """Every vector file of the set, by name (the key directory is not one)."""
    return sorted(p for p in directory.glob("*.json") if p.name != "trust.json")


def kafka_headers(vector: Mapping[str, Any]) -> list[tuple[str, bytes]] | None:
    """The vector's CloudEvents headers as Kafka gives them (values as bytes), or None."""
    pairs = vector["kafka_headers"]
    return None if pairs is None else [(k, v.encode("utf-8")) for k, v in pairs]


def outcome(vector: Mapping[str, Any], keys: KeyDirectory) -> dict[str, Any]:
    """What this implementation makes of one vector, in the shape of its ``expected``."""
    recipient = vector["recipient"]
    try:
        delivered = open_envelope(
            bytes.fromhex(vector["envelope"]),
            keys,
            kafka_headers=kafka_headers(vector),
            require_attestation=recipient is not None,
            max_size=vector["max_size"],
            recipient=recipient,
        )
    except TrmError as exc:
        return {"outcome": "rejected", "reason": exc.reason.value}
    return accepted(delivered)


def accepted(delivered: DeliveredEvent) -> dict[str, Any]:
    """An accepted vector's ``expected``: what was read, withheld and attested."""
    event, att = delivered.event, delivered.attestation
    return {
        "outcome": "accepted",
        "reason": None,
        "disclosed": payload_to_json(dict(sorted(event.fields.items()))),
        "withheld": sorted(event.withheld),
        "event_digest": event.envelope.event_digest.hex(),
        "attestation": None if att is None else att.to_json(),
    }


def check(directory: Path) -> list[Result]:
    """Every wire vector of ``directory`` against its ``expected``."""
    keys = key_directory(directory)
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        results.append(compare(path.name, vector["expected"], outcome(vector, keys)))
    return results
