"""Audit leaves: the Avro form of one hub decision, the bytes the Merkle tree hashes.

The hub writes decision records (``hub.pipeline.DecisionRecord``, JSON on the
internal decisions topic); the single sequencer turns each into an
:class:`AuditLeaf` (Avro single-object encoding of ``schemas/audit_leaf.avsc``),
appends it to the tree and to ``<ns>.audit.leaves``. The free-text ``detail``
of a refusal is deliberately not in the leaf: it goes to the producer's
rejections topic only, so nothing in the public log can carry personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.errors import AuditError, Reason, WireError
from hub.wire.codec import decode_exact, encode, frame, parsed, unframe

__all__ = ["KINDS", "AuditLeaf"]

KINDS = ("INGESTED", "DELIVERED", "REJECTED", "ACKNOWLEDGED")
_SCHEMA = "audit_leaf"


@dataclass(frozen=True, slots=True)
class AuditLeaf:
    """One decision in the log."""

    decision_id: str
    kind: str
    event_id: str
    producer: str
    recipient: str
    event_digest: bytes
    delivered_digest: bytes
    fields: tuple[str, ...]
    agreement: str
    reason: str
    source: str
    decided_at_ms: int
    registry: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a kind in {KINDS}, got {self.kind!r}"
            )

    def to_bytes(self) -> bytes:
        record = {
            "decision_id": self.decision_id,
            "kind": self.kind,
            "event_id": self.event_id,
            "producer": self.producer,
            "recipient": self.recipient,
            "event_digest": self.event_digest,
            "delivered_digest": self.delivered_digest,
            "fields": sorted(self.fields),
            "agreement": self.agreement,
            "reason": self.reason,
            "source": self.source,
            "decided_at_ms": self.decided_at_ms,
            "registry": self.registry,
        }
        return frame(_SCHEMA, encode(parsed(_SCHEMA), record))

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditLeaf:
        try:
            rec = decode_exact(parsed(_SCHEMA), unframe(_SCHEMA, data, "audit leaf"))
        except (ValueError, WireError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected an audit leaf: {exc}"[:300]
            ) from exc
        return cls(
            decision_id=rec["decision_id"],
            kind=rec["kind"],
            event_id=rec["event_id"],
            producer=rec["producer"],
            recipient=rec["recipient"],
            event_digest=bytes(rec["event_digest"]),
            delivered_digest=bytes(rec["delivered_digest"]),
            fields=tuple(rec["fields"]),
            agreement=rec["agreement"],
            reason=rec["reason"],
            source=rec["source"],
            decided_at_ms=int(rec["decided_at_ms"]),
            registry=rec["registry"],
        )

    @classmethod
    def from_decision(cls, decision_id: str, record: Mapping[str, Any] | bytes) -> AuditLeaf:
        """The leaf of a hub decision record (the JSON the hub writes to its decisions topic)."""
        obj: Mapping[str, Any] = json.loads(record) if isinstance(record, bytes) else record
        try:
            return cls(
                decision_id=decision_id,
                kind=str(obj["kind"]),
                event_id=str(obj["event_id"]),
                producer=str(obj["producer"]),
                recipient=str(obj["recipient"]),
                event_digest=bytes.fromhex(str(obj["event_digest"])),
                delivered_digest=bytes.fromhex(str(obj["delivered_digest"])),
                fields=tuple(sorted(str(f) for f in obj["fields"])),
                agreement=str(obj["agreement"]),
                reason=str(obj["reason"]),
                source=str(obj["source"]),
                decided_at_ms=int(obj["decided_at_ms"]),
                registry=str(obj["registry"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a hub decision record: {exc!r}"[:300]
            ) from exc

    @property
    def source_parts(self) -> tuple[str, int, int] | None:
        """(topic, partition, offset) of the input, if it has that form."""
        topic, _, rest = self.source.rpartition("/")
        t2, _, part = topic.rpartition("/")
        try:
            return (t2, int(part), int(rest))
        except ValueError:
            return None
