"""The sealed vectors (``tests/vectors/sealed/``, protocol.md 2.9): v2 envelopes.

``trust.json`` is the signing-key directory (a signed trust list, pinned);
``seal-keys.json`` lists the recipients' X25519 seal keys with, since these
are test vectors, each private key (null once destroyed). A vector is applied
in three steps, and a refusal belongs to the step it happens in: *verify*
(anyone, no seal key), *ingest* (the hub, when ``ingest`` is true: a key
wrap for every addressed recipient), *open* (when ``recipient`` is not null:
unwrap with that recipient's private key of the key id its wrap names, and
check every sealed disclosure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.conformance.base import Result, compare, read_json
from hub.conformance.wire import accepted, kafka_headers
from hub.errors import Reason, SealError, TrmError
from hub.keys import KeyDirectory
from hub.trust import TrustList
from hub.wire import (
    DeliveredEvent,
    Envelope,
    check_cloudevents,
    require_every_wrap,
    unseal,
    verify,
    verify_attestation,
)

__all__ = ["KEY_FILES", "NAME", "check", "key_directory", "keyring", "outcome", "vector_files"]

NAME = "sealed"
KEY_FILES = ("trust.json", "seal-keys.json")


def key_directory(directory: Path) -> TrustList:
    """The set's ``trust.json``, verified as a first (pinned) trust list."""
    return TrustList.from_signed(read_json(directory / "trust.json"))


def vector_files(directory: Path) -> list[Path]:
    """Every vector file of the set, by name (the two key files are not vectors)."""
    return sorted(p for p in directory.glob("*.json") if p.name not in KEY_FILES)


def keyring(directory: Path, recipient: str) -> Callable[[str], X25519PrivateKey]:
    """``private_key(key_id)`` of ``recipient``, holding its keys of ``seal-keys.json``."""
    entries = read_json(directory / "seal-keys.json")["keys"]

    def private_key(key_id: str) -> X25519PrivateKey:
        for e in entries:
            if e["key_id"] == key_id and e["country"] == recipient:
                if e["private_key"] is None:
                    raise SealError(Reason.KEY_DESTROYED, f"seal key {key_id[:16]}... destroyed")
                return X25519PrivateKey.from_private_bytes(bytes.fromhex(e["private_key"]))
        raise SealError(Reason.SEAL_KEY_MISSING, f"no private seal key {key_id[:16]}...")

    return private_key


def outcome(vector: Mapping[str, Any], keys: KeyDirectory, directory: Path) -> dict[str, Any]:
    """What this implementation makes of one vector, in the shape of its ``expected``."""
    step = "verify"
    recipient = vector["recipient"]
    try:
        # As open_envelope, but the last attestation, if any, is checked for the
        # recipient that opens the copy even when none is required (a submission).
        envelope = Envelope.from_bytes(
            bytes.fromhex(vector["envelope"]), max_size=vector["max_size"]
        )
        event = verify(envelope, keys)
        headers = kafka_headers(vector)
        if headers is not None:
            check_cloudevents(headers, envelope.header)
        att = (
            verify_attestation(envelope, keys, recipient=recipient)
            if envelope.attestations
            else None
        )
        step = "ingest"
        if vector["ingest"]:
            require_every_wrap(event.envelope)
        step = "open"
        sealed_fields = sorted(event.sealed)
        if recipient is not None:
            event = unseal(event, recipient=recipient, private_key=keyring(directory, recipient))
    except TrmError as exc:
        return {"outcome": "rejected", "step": step, "reason": exc.reason.value}
    return accepted(DeliveredEvent(event, att)) | {
        "step": None,
        "sealed_fields": sealed_fields,
    }


def check(directory: Path) -> list[Result]:
    """Every sealed vector of ``directory`` against its ``expected``."""
    keys = key_directory(directory)
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        results.append(compare(path.name, vector["expected"], outcome(vector, keys, directory)))
    return results
