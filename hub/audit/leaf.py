"""Audit leaves: the Avro form of one hub decision, the bytes the Merkle tree hashes.

The hub writes decision records (:class:`hub.decision.DecisionRecord`, JSON on
the internal decisions topic); the single sequencer wraps each in an
:class:`AuditLeaf` with its decision id (Avro single-object encoding of
``schemas/audit_leaf.avsc``), appends it to the tree and to
``<ns>.audit.leaves``. The free-text ``detail`` of a refusal is deliberately
not in the leaf: it goes to the producer's rejections topic only, so nothing in
the public log can carry personal data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.decision import DecisionKind, DecisionRecord
from hub.errors import AuditError, Reason, WireError
from hub.wire.codec import encode, frame, parsed, part, unframe

__all__ = ["AuditLeaf"]

_SCHEMA = "audit_leaf"


@dataclass(frozen=True, slots=True)
class AuditLeaf:
    """One decision in the log: its decision id and the record as the log holds it.

    ``record`` carries no ``detail`` and its ``fields`` are sorted (what the
    Avro form keeps), so a leaf read back from its bytes equals the leaf written.
    """

    decision_id: str
    record: DecisionRecord

    def __init__(self, decision_id: str, record: DecisionRecord) -> None:
        object.__setattr__(self, "decision_id", decision_id)  # the constructor written out: D26
        object.__setattr__(self, "record", record)

    @property
    def event_digest(self) -> bytes:
        return bytes.fromhex(self.record.event_digest)

    @property
    def delivered_digest(self) -> bytes:
        return bytes.fromhex(self.record.delivered_digest)

    def to_bytes(self) -> bytes:
        r = self.record
        avro = {
            "decision_id": self.decision_id,
            "kind": str(r.kind),
            "event_id": r.event_id,
            "producer": r.producer,
            "recipient": r.recipient,
            "event_digest": self.event_digest,
            "delivered_digest": self.delivered_digest,
            "fields": sorted(r.fields),
            "agreement": r.agreement,
            "reason": r.reason,
            "source": r.source,
            "decided_at_ms": r.decided_at_ms,
            "registry": r.registry,
        }
        return frame(_SCHEMA, encode(parsed(_SCHEMA), avro))

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditLeaf:
        """The leaf of these bytes.

        Raises:
            AuditError: CHECKPOINT_INVALID if ``data`` is not an audit leaf.
        """
        try:
            rec = part(_SCHEMA).decode(unframe(_SCHEMA, data, "audit leaf"))
        except (ValueError, WireError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected an audit leaf: {exc}"[:300]
            ) from exc
        return cls(
            rec["decision_id"],
            DecisionRecord(
                kind=DecisionKind(rec["kind"]),
                event_id=rec["event_id"],
                producer=rec["producer"],
                recipient=rec["recipient"],
                event_digest=bytes(rec["event_digest"]).hex(),
                delivered_digest=bytes(rec["delivered_digest"]).hex(),
                fields=tuple(rec["fields"]),
                agreement=rec["agreement"],
                reason=rec["reason"],
                detail="",
                source=rec["source"],
                decided_at_ms=int(rec["decided_at_ms"]),
                registry=rec["registry"],
            ),
        )

    @classmethod
    def of(cls, decision_id: str, record: DecisionRecord) -> AuditLeaf:
        """The leaf of a decision record: without its ``detail``, fields sorted."""
        return cls(
            decision_id, dataclasses.replace(record, detail="", fields=tuple(sorted(record.fields)))
        )

    @classmethod
    def from_decision(cls, decision_id: str, record: Mapping[str, Any] | bytes) -> AuditLeaf:
        """The leaf of a hub decision record (the JSON the hub writes to its decisions topic).

        Raises:
            AuditError: CHECKPOINT_INVALID if ``record`` is not a decision record.
        """
        parsed_record = (
            DecisionRecord.from_json_bytes(record)
            if isinstance(record, bytes)
            else DecisionRecord.from_mapping(record)
        )
        return cls.of(decision_id, parsed_record)
