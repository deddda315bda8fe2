"""What a node's inbox and rejections yield: frozen, typed, JSON-ready records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.errors import Reason, RequestError
from hub.textdoc import parse_json
from hub.wire import DeliveredEvent, payload_to_json

from .submission import key_fields

__all__ = [
    "RECIPIENT_SOURCE",
    "WITHHELD",
    "InboxPass",
    "InboxRecord",
    "InboxRefusal",
    "Rejection",
    "Withheld",
]

# ``Rejection.source`` of a recipient's refusal (a REJECTED acknowledgement),
# as opposed to the hub's (a topic position).
RECIPIENT_SOURCE: Final = "recipient"


class Withheld:
    """Marks a field the hub withheld (or the producer never filled): not blank, withheld."""

    _instance: Withheld | None = None

    def __new__(cls) -> Withheld:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "WITHHELD"

    def __bool__(self) -> bool:
        return False


WITHHELD: Final = Withheld()


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """One verified, attested event delivered to this node.

    ``fields`` holds the disclosed payload fields in their JSON form;
    ``withheld`` names every schema field that is not disclosed.
    """

    event_id: str
    event_type: str
    producer: str
    recipients: tuple[str, ...]
    created_at_ms: int
    case_key: str
    purpose: str
    handling: str
    correlation_id: str | None
    sequence: int
    fields: Mapping[str, Any]
    withheld: tuple[str, ...]
    event_digest: str
    agreement: str
    attested_at_ms: int
    partition: int
    offset: int

    @classmethod
    def from_delivered(cls, delivered: DeliveredEvent, partition: int, offset: int) -> InboxRecord:
        event = delivered.event
        h = event.header
        att = delivered.attestation
        if att is None:  # open_envelope(require_attestation=True) never returns this
            raise RequestError(Reason.BAD_ATTESTATION, "expected a hub attestation, found none")
        return cls(
            event_id=h.event_id,
            event_type=h.event_type.value,
            producer=h.producer,
            recipients=tuple(h.recipients),
            created_at_ms=h.created_at_ms,
            case_key=h.case_key,
            purpose=h.purpose,
            handling=h.handling,
            correlation_id=h.correlation_id,
            sequence=h.sequence,
            fields=payload_to_json(event.fields),
            withheld=tuple(sorted(event.withheld)),
            event_digest=event.envelope.event_digest.hex(),
            agreement=f"{att.agreement_id}@{att.agreement_version}",
            attested_at_ms=att.attested_at_ms,
            partition=partition,
            offset=offset,
        )

    def get(self, name: str) -> Any:
        """A field's value, or :data:`WITHHELD` when it was not disclosed."""
        if name in self.fields:
            return self.fields[name]
        if name in self.withheld:
            return WITHHELD
        raise KeyError(name)

    @property
    def summary(self) -> dict[str, str]:
        return key_fields(self.event_type, self.fields)

    @property
    def rejection(self) -> Rejection | None:
        """A REJECTED acknowledgement as the recipient's :class:`Rejection` of our event.

        A recipient that could not open one of this node's events (SEAL_MISMATCH)
        answers so; None for any other record.
        """
        if self.event_type != "acknowledgement" or self.fields.get("status") != "REJECTED":
            return None
        target = self.fields.get("acknowledged_event_id") or self.correlation_id or ""
        text = self.fields.get("reason")
        code, _, detail = str(text).partition(": ") if isinstance(text, str) else ("", "", "")
        return Rejection(
            event_id=str(target),
            producer=self.recipients[0] if len(self.recipients) == 1 else "",
            recipient=self.producer,
            reason=code or "REJECTED",
            detail=detail or "(the reason was not disclosed)",
            source=f"{RECIPIENT_SOURCE} acknowledgement {self.event_id}",
        )

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``trm node inbox --json``, the gateway)."""
        return {
            "event_id": self.event_id,
            "type": self.event_type,
            "from": self.producer,
            "to": list(self.recipients),
            "created_at_ms": self.created_at_ms,
            "case_key": self.case_key,
            "purpose": self.purpose,
            "handling": self.handling,
            "correlation_id": self.correlation_id,
            "sequence": self.sequence,
            "fields": dict(self.fields),
            "withheld": list(self.withheld),
            "event_digest": self.event_digest,
            "agreement": self.agreement,
            "attested_at_ms": self.attested_at_ms,
        }


@dataclass(frozen=True, slots=True)
class InboxRefusal:
    """An inbox record that did not verify or open: kept as a value, never yielded as an event.

    ``event_id`` is set when the record verified but did not open;
    ``answer`` is the id of the REJECTED acknowledgement sent to its producer
    (None: not the producer's fault, or answered before).
    """

    partition: int
    offset: int
    reason: Reason
    detail: str
    event_id: str | None = None
    answer: str | None = None


@dataclass(frozen=True, slots=True)
class InboxPass:
    """One read of the inbox to its end (:meth:`CountryNode.read_inbox`), nothing marked yet.

    Show ``records``, then hand the pass to :meth:`CountryNode.mark_shown`: only
    then are they marked seen and the cursor moved past everything read, so an
    output that fails half way shows them all again next time.

    Attributes:
        records: the new events (every one with ``include_seen``), oldest first.
        refused: the records of this pass that did not verify or open.
        next_offsets: per partition, the offset after the last record read.
    """

    records: tuple[InboxRecord, ...]
    refused: tuple[InboxRefusal, ...]
    next_offsets: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one of this node's events was refused for one recipient.

    By the hub (``<ns>.<CC>.rejections``), or by the recipient itself when it
    could not open the event (:attr:`InboxRecord.rejection`; ``source``
    starts with :data:`RECIPIENT_SOURCE`).
    """

    event_id: str
    producer: str
    recipient: str
    reason: str
    detail: str
    source: str

    @classmethod
    def from_bytes(cls, data: bytes) -> Rejection:
        """Parse a record of ``<ns>.<CC>.rejections``.

        Raises:
            RequestError: BAD_REQUEST if it is not the hub's rejection JSON.
        """
        try:
            obj = parse_json(data, what="rejection record")
        except RequestError as exc:
            raise RequestError(exc.reason, f"expected rejection JSON: {exc.detail}") from exc
        if not isinstance(obj, dict):
            raise RequestError(Reason.BAD_REQUEST, "expected a rejection object")
        try:
            return cls(**{k: str(obj.get(k, "")) for k in cls.__dataclass_fields__})
        except TypeError as exc:  # pragma: no cover - fields are all filled above
            raise RequestError(Reason.BAD_REQUEST, f"expected rejection fields: {exc}") from exc

    def to_json(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "producer": self.producer,
            "recipient": self.recipient,
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
        }
