"""What a desk sees (pure): notices with status and due time, and overdue alerts.

Follow-up of the event types registered as awaiting an acknowledgement
(``hub/wire/eventtypes.py``), today the handover notice: it is due for
acknowledgement at ``created_at + deadline``, or at its registered due field
(a handover's ``planned_at``) if that is earlier (a handover must not happen
unannounced); the rule is the case lifecycle's
(:func:`hub.cases.acknowledgement_due_at`), so the desk and the case book agree.
Both desks watch the same deadline from their own side: the receiving desk
sees the notices it has not acknowledged, the sending desk sees the notices it sent that no
acknowledgement has come back for. Either way an overdue notice becomes an
alert on that desk's page and ``GET /api/alerts``.

Referrals (``GET /api/referrals``) are listed from both sides: those received,
with the acknowledgement this desk sent, and those sent (the node's journal),
with each recipient's acknowledgement or refusal. Any event this desk holds,
received or sent, has a detail (:meth:`DeskView.detail_json`): the header as
the node opened it, every disclosed field, what the agreement withheld, the
acknowledgements and refusals, and the payload schema the page reads the
fields with (enum labels, dates). A sent event's fields are the plaintext the
node kept in its vault, when it kept them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import schemas
from connectors.sdk import ACK_STATUSES, InboxRecord, NodeStore, Rejection, key_fields
from hub.cases import acknowledgement_due_at, due_at
from hub.wire import EventType

__all__ = ["ACK_STATUSES", "DeskView", "NoticeStatus", "payload_schema"]

#: The event type a desk lists under Referrals.
REFERRAL: Final = "referral"


def payload_schema(event_type: str) -> dict[str, Any] | None:
    """The payload's Avro schema (JSON) of a registered type, or None."""
    if event_type not in EventType:
        return None
    try:
        return schemas.load(event_type)
    except KeyError:
        return None


def _followed(event_type: object) -> bool:
    """A desk follows the types registered as awaiting an acknowledgement."""
    return event_type in EventType and EventType(str(event_type)).spec.awaits_acknowledgement


def _title(event_type: object) -> str:
    return EventType(str(event_type)).spec.title if event_type in EventType else "event"


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    status: str  # AWAITING_ACK or an acknowledgement status
    due_at_ms: int | None
    overdue: bool


@dataclass(slots=True)
class DeskView:
    """The gateway's in-memory picture of one country's traffic."""

    country: str
    deadline_ms: int
    records: dict[str, InboxRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    acks_sent: dict[str, str] = field(default_factory=dict)  # event id -> status we sent
    acks_received: dict[str, str] = field(default_factory=dict)  # our event id -> status
    sent: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # our journal entries
    # Every event this country sent (journal entries), and per event the
    # acknowledgements that came back: country -> (status, acknowledged at ms).
    sent_events: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    acks_by: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    acks_sent_at: dict[str, int] = field(default_factory=dict)  # event id -> when we acked
    # Recipients' refusals of our events (their REJECTED acknowledgements).
    refused_by_recipients: list[Rejection] = field(default_factory=list)
    # The hub's refusals of our events, in the order read, each once.
    rejections: list[Rejection] = field(default_factory=list)
    refused: dict[str, list[Rejection]] = field(default_factory=dict)  # our event id -> refusals
    _rejections_seen: set[Rejection] = field(default_factory=set)

    def add_rejection(self, rejection: Rejection) -> None:
        """A record of this country's rejections topic (read again after a reconnection)."""
        if rejection in self._rejections_seen:
            return
        self._rejections_seen.add(rejection)
        self.rejections.append(rejection)
        self.refused.setdefault(rejection.event_id, []).append(rejection)

    def add(self, record: InboxRecord) -> None:
        if record.event_id in self.records:
            return
        if record.event_type == "erasure_request":
            # The node erased what it held of the case: the desk forgets it too.
            gone = [
                i
                for i, r in self.records.items()
                if r.case_key == record.case_key and r.producer == record.producer
            ]
            for event_id in gone:
                del self.records[event_id]
                self.order.remove(event_id)
        self.records[record.event_id] = record
        self.order.append(record.event_id)
        rejection = record.rejection
        if rejection is not None:
            self.refused_by_recipients.append(rejection)
        if record.event_type == "acknowledgement":
            target = record.fields.get("acknowledged_event_id") or record.correlation_id
            status = str(record.fields.get("status") or "RECEIVED")
            if isinstance(target, str):
                self.acks_received[target] = status
                at = record.fields.get("acknowledged_at")
                at_ms = at if isinstance(at, int) else record.created_at_ms
                self.acks_by.setdefault(target, {})[record.producer] = (status, at_ms)

    def load_journal(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for e in entries:
            if e.get("kind") == "ack":
                self.acks_sent[str(e["event_id"])] = str(e["status"])
                if isinstance(e.get("at_ms"), int):
                    self.acks_sent_at[str(e["event_id"])] = int(e["at_ms"])
            elif e.get("kind") == "sent":
                self.sent_events[str(e["event_id"])] = e
                if _followed(e.get("type")):
                    self.sent[str(e["event_id"])] = e

    def due_at(self, created_at_ms: int, planned_at_ms: Any) -> int:
        """A sent notice's due time from its journal entry (the rule is hub.cases')."""
        return due_at(created_at_ms, self.deadline_ms, planned_at_ms)

    def status_of(self, record: InboxRecord, now_ms: int) -> NoticeStatus:
        done = self.acks_sent.get(record.event_id)
        if not _followed(record.event_type):
            return NoticeStatus(done or "NEW", None, False)
        due = acknowledgement_due_at(
            record.event_type, record.created_at_ms, record.fields, self.deadline_ms
        )
        if due is None:  # a followed type always has a due time
            return NoticeStatus(done or "NEW", None, False)
        if done is not None:
            return NoticeStatus(done, due, False)
        return NoticeStatus("AWAITING_ACK", due, now_ms >= due)

    def record_json(self, record: InboxRecord, now_ms: int) -> dict[str, Any]:
        st = self.status_of(record, now_ms)
        return {
            **record.to_json(),
            "summary": record.summary,
            "status": st.status,
            "due_at_ms": st.due_at_ms,
            "overdue": st.overdue,
        }

    def listing(self, now_ms: int, event_type: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        return [
            self.record_json(self.records[i], now_ms)
            for i in reversed(self.order)
            if event_type is None or self.records[i].event_type == event_type
        ]

    def sent_json(self, now_ms: int) -> list[dict[str, Any]]:
        """The notices this country sent, newest first.

        ``refused`` lists the hub's refusals (recipient "" for the whole
        event); a notice is awaited only from the recipients that neither
        refused nor acknowledged it (the rule of :meth:`_sent_status`).
        """
        out = []
        for event_id, e in self.sent.items():
            created = int(e.get("created_at_ms", 0))
            due = self.due_at(created, e.get("planned_at_ms"))
            refusals = self.refused.get(event_id, [])
            to = [str(cc) for cc in e.get("to") or []]
            status, awaited = self._sent_status(event_id, to, str(e.get("type")))
            out.append(
                {
                    "event_id": event_id,
                    "type": e.get("type"),
                    "to": to,
                    "case_key": e.get("case_key"),
                    "created_at_ms": created,
                    "status": status,
                    "due_at_ms": due,
                    "overdue": status == "AWAITING_ACK" and now_ms >= due,
                    "awaited_from": awaited,
                    "refused": [
                        {"recipient": r.recipient, "reason": r.reason, "detail": r.detail}
                        for r in refusals
                    ],
                }
            )
        return sorted(out, key=lambda x: -int(x["created_at_ms"]))

    def alerts(self, now_ms: int) -> list[dict[str, Any]]:
        """Overdue handover notices, from both sides of this desk."""
        alerts: list[dict[str, Any]] = []
        for rec in self.records.values():
            st = self.status_of(rec, now_ms)
            if st.overdue:
                alerts.append(
                    {
                        "kind": "OVERDUE_ACK",
                        "side": "receiving",
                        "type": rec.event_type,
                        "event_id": rec.event_id,
                        "case_key": rec.case_key,
                        "counterpart": rec.producer,
                        "due_at_ms": st.due_at_ms,
                        "message": f"{_title(rec.event_type)} from {rec.producer} not acknowledged "
                        "by this desk before its due time",
                    }
                )
        for s in self.sent_json(now_ms):
            if s["overdue"]:
                alerts.append(
                    {
                        "kind": "OVERDUE_ACK",
                        "side": "sending",
                        "type": s["type"],
                        "event_id": s["event_id"],
                        "case_key": s["case_key"],
                        "counterpart": ",".join(s["awaited_from"]),
                        "due_at_ms": s["due_at_ms"],
                        "message": f"{_title(s['type'])} to {','.join(s['awaited_from'])} "
                        "not acknowledged before its due time",
                    }
                )
        return sorted(alerts, key=lambda a: int(a["due_at_ms"]))

    # --- referrals and the detail of one event ------------------------------------

    def _sent_status(
        self, event_id: str, to: list[str], kind: str = REFERRAL
    ) -> tuple[str, list[str]]:
        """A sent event's status and the recipients it is still awaited from.

        A type a desk acknowledges (a referral, a notice) is awaited until each
        recipient acknowledged or refused it; any other is SENT.
        """
        refusals = self.refused.get(event_id, [])
        gone = {r.recipient for r in refusals}
        got = self.acks_by.get(event_id, {})
        awaited = [] if "" in gone else [cc for cc in to if cc not in gone and cc not in got]
        if "" in gone or (refusals and not awaited and not got):
            return "REFUSED", awaited
        status = self.acks_received.get(event_id)
        if status is None and kind != REFERRAL and not _followed(kind):
            return "SENT", []
        return status or "AWAITING_ACK", awaited

    def _refusals_of(self, event_id: str) -> list[dict[str, str]]:
        found = [*self.refused.get(event_id, [])]
        found += [r for r in self.refused_by_recipients if r.event_id == event_id]
        return [
            {"recipient": r.recipient, "reason": r.reason, "detail": r.detail, "source": r.source}
            for r in found
        ]

    def _acks_of(self, event_id: str) -> list[dict[str, Any]]:
        return [
            {"country": cc, "status": status, "at_ms": at}
            for cc, (status, at) in sorted(self.acks_by.get(event_id, {}).items())
        ]

    def referrals(self, now_ms: int) -> dict[str, list[dict[str, Any]]]:
        """Referrals received (with the acknowledgement sent) and sent (with the
        acknowledgements back and the refusals), newest first."""
        received = [
            {
                **self.record_json(self.records[i], now_ms),
                "direction": "received",
                "acknowledged_at_ms": self.acks_sent_at.get(i),
            }
            for i in reversed(self.order)
            if self.records[i].event_type == REFERRAL
        ]
        sent: list[dict[str, Any]] = []
        for event_id, e in self.sent_events.items():
            if e.get("type") != REFERRAL:
                continue
            to = [str(cc) for cc in e.get("to") or []]
            status, awaited = self._sent_status(event_id, to)
            sent.append(
                {
                    "event_id": event_id,
                    "type": REFERRAL,
                    "direction": "sent",
                    "from": self.country,
                    "to": to,
                    "case_key": e.get("case_key"),
                    "created_at_ms": int(e.get("created_at_ms", 0)),
                    "status": status,
                    "awaited_from": awaited,
                    "acknowledgements": self._acks_of(event_id),
                    "refused": self._refusals_of(event_id),
                }
            )
        sent.sort(key=lambda x: -int(x["created_at_ms"]))
        return {"received": received, "sent": sent}

    def detail_json(self, event_id: str, store: NodeStore, now_ms: int) -> dict[str, Any] | None:
        """Everything this desk holds of one event, received or sent; None if nothing."""
        record = self.records.get(event_id)
        if record is not None:
            out = self.record_json(record, now_ms)
            ours = self.acks_sent.get(event_id)
            acks = []
            if ours is not None:
                acks.append(
                    {
                        "country": self.country,
                        "status": ours,
                        "at_ms": self.acks_sent_at.get(event_id),
                    }
                )
            return {
                **out,
                "direction": "received",
                "acknowledgements": acks,
                "refused": [],
                "fields_kept": True,
                "schema": payload_schema(record.event_type),
            }
        e = self.sent_events.get(event_id)
        if e is None:
            return None
        kept = store.opened(event_id) or {}
        to = [str(cc) for cc in e.get("to") or []]
        kind = str(e.get("type"))
        status, awaited = self._sent_status(event_id, to, kind)
        created = int(e.get("created_at_ms", 0))
        due = self.due_at(created, e.get("planned_at_ms")) if _followed(kind) else None
        return {
            "event_id": event_id,
            "type": kind,
            "direction": "sent",
            "from": self.country,
            "to": to,
            "created_at_ms": created,
            "case_key": e.get("case_key"),
            "correlation_id": e.get("correlation_id"),
            "sequence": e.get("sequence"),
            "purpose": kept.get("purpose"),
            "handling": kept.get("handling"),
            "agreement": kept.get("agreement"),
            "event_digest": kept.get("event_digest"),
            "fields": dict(kept.get("fields") or {}),
            "withheld": list(kept.get("withheld") or []),
            "fields_kept": bool(kept),
            "summary": key_fields(kind, kept.get("fields") or {}) if kind in EventType else {},
            "status": status,
            "due_at_ms": due,
            "overdue": due is not None and status == "AWAITING_ACK" and now_ms >= due,
            "awaited_from": awaited,
            "acknowledgements": self._acks_of(event_id),
            "refused": self._refusals_of(event_id),
            "schema": payload_schema(kind),
        }
