"""The case book: one node's side of every case, from its own store (contract D, issue 15).

A node keeps the plaintext of what it sent and of what it opened
(:class:`NodeStore`); the case book reads them, groups them by case key and
hands them to the pure core (:mod:`hub.cases`), which builds each case's
timeline, its state and what is overdue::

    book = CaseBook.of_store(node.store, "KH")
    for case in book.cases(now_ms):          # newest activity first
        ...
    book.timeline("case-1")                  # oldest first, sent and received
    book.overdue(now_ms)                     # soonest due first

Recording a status (:func:`record_status`) checks the change against the
country's previous status of the case (a skip or a backward change needs a
reason: TRANSITION_REASON_REQUIRED) and sends a ``case_update``; a follow-up
visit is :func:`report_reintegration`; each overdue item (and each suspected
re-trafficking) is sent once to the country that owns it as a ``case_alert``
by :func:`send_alerts`. The follow-up schedule is the agreements' (the flow of
``case_update`` between the two countries of the handover), 3, 6 and 12
months otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hub.cases import (
    DEFAULT_ACK_DEADLINE_MS,
    DEFAULT_FOLLOW_UP_MONTHS,
    RECEIVED,
    SENT,
    AlertKind,
    CaseEvent,
    CaseStatus,
    CaseSummary,
    OverdueItem,
    TimelineEntry,
    alerts,
    case_schedule,
    case_state,
    check_follow_up_months,
    check_transition,
    is_status,
    open_steps,
    summarise,
    timeline,
)
from hub.errors import Reason, RequestError, TrmError
from hub.matching.messages import is_reference
from hub.topics import check_country
from hub.wire import EventType

from .store import NodeStore
from .submission import DEFAULT_HANDLING, Submission, key_fields

if TYPE_CHECKING:
    from hub.policy.agreement import Agreement

    from .node import CountryNode

__all__ = [
    "ALERT_JOURNAL",
    "CaseBook",
    "CaseSummary",
    "OverdueItem",
    "TimelineEntry",
    "record_status",
    "report_reintegration",
    "send_alerts",
]

log = logging.getLogger("trm.cases")

#: The journal kind of an alert sent (one per item key: sent once).
ALERT_JOURNAL: Final = "case_alert"
# The types a case book reads (the rest of the store, e.g. trafficker alerts, is not a case).
_CASE_TYPES: Final = frozenset(
    {
        "referral",
        "handover_notice",
        "acknowledgement",
        "detention_notice",
        "case_update",
        "reintegration_report",
        "case_alert",
    }
)


def _left_empty(
    record: Mapping[str, Any], country: str, agreements: Sequence[Agreement]
) -> tuple[str, ...]:
    """Of a received record's withheld fields, those its agreement's flow discloses.

    The hub discloses every field the flow lists that the producer filled, so
    one of those missing was left empty (null) by the producer: e.g. a report's
    ``follow_up_number``, null for an extra visit. The flow is the one the
    policy engine takes (one naming both countries before one for any party);
    under a consent rule that may narrow what went, nothing is known empty.
    """
    withheld = record.get("withheld") or ()
    ref = record.get("agreement")
    if not withheld or not isinstance(ref, str):
        return ()
    agreement = next((a for a in agreements if a.ref == ref), None)
    if agreement is None:
        return ()
    flow = agreement.flow_for(str(record.get("from", "")), country, str(record.get("type")))
    if flow is None:
        return ()
    if flow.consent is not None and flow.consent.required:
        return ()
    return tuple(sorted(str(w) for w in withheld if w in flow.fields))


def _event(
    record: Mapping[str, Any], country: str, agreements: Sequence[Agreement] = ()
) -> CaseEvent | None:
    """A vault record as a case event (None: not one a case book reads)."""
    event_type = record.get("type")
    if event_type not in _CASE_TYPES:
        return None
    fields = record.get("fields")
    return CaseEvent.from_record(
        record,
        country,
        summary=key_fields(str(event_type), fields if isinstance(fields, Mapping) else {}),
        empty=_left_empty(record, country, agreements) if record.get("from") != country else (),
    )


def _sightings(
    store: NodeStore, requests: Iterable[Mapping[str, Any]]
) -> list[tuple[CaseEvent, str]]:
    """Match follow-up requests received for a registration made for a case, with its key.

    The case key is in the registration file only (0600, this node's own), never
    sent: a registration names it when it was made for one of this node's cases.
    """
    out = []
    for record in requests:
        fields = record.get("fields")
        reference = fields.get("reference") if isinstance(fields, Mapping) else None
        created = record.get("created_at_ms")
        if not is_reference(reference) or not isinstance(created, int):
            continue
        registration = store.match_registration(str(reference))
        case_key = registration.get("case_key") if registration else None
        if not isinstance(case_key, str):
            continue
        request = CaseEvent(
            event_id=str(record.get("event_id", "")),
            event_type="match_followup",
            producer=str(record.get("from", "")),
            recipients=tuple(str(r) for r in record.get("to") or ()),
            created_at_ms=created,
            direction=RECEIVED,
            case_key=str(record.get("case_key", "")),
            summary={"seen": "in a match follow-up"},
        )
        out.append((request, case_key))
    return out


def _journal_acks(store: NodeStore, country: str, held: set[str]) -> list[CaseEvent]:
    """This node's acknowledgements from its journal, for those not kept in the vault.

    Acknowledgements sent before a node kept what it sent are known from the
    journal only (event id, status, time: no personal data).
    """
    out = []
    for e in store.journal("ack"):
        ack_id = str(e.get("ack_event_id", ""))
        target = str(e.get("event_id", ""))
        at = e.get("at_ms")
        if not ack_id or ack_id in held or not isinstance(at, int):
            continue
        entry = store.vault_entry(target)
        if entry is None:
            continue
        out.append(
            CaseEvent(
                event_id=ack_id,
                event_type="acknowledgement",
                producer=country,
                recipients=(entry.producer,),
                created_at_ms=at,
                direction=SENT,
                case_key=entry.case_key,
                fields={"acknowledged_event_id": target, "status": str(e.get("status"))},
                correlation_id=target,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CaseBook:
    """Every case one node holds events of, as of when it was read.

    Attributes:
        country: the node's country.
        events: per case key, the case's events (sent and received).
        follow_up_months: the schedule where no agreement held names one.
        agreements: the agreements the node holds (for their schedules).
        ack_deadline_ms: how long a recipient has to acknowledge a notice.
        sightings: (this node's case key, a match follow-up request received)
            for each request naming a registration made for one of its cases:
            the requester looked up a person of that case.
    """

    country: str
    events: Mapping[str, tuple[CaseEvent, ...]]
    follow_up_months: tuple[int, ...] = DEFAULT_FOLLOW_UP_MONTHS
    agreements: tuple[Agreement, ...] = ()
    ack_deadline_ms: int = DEFAULT_ACK_DEADLINE_MS
    sightings: tuple[tuple[str, CaseEvent], ...] = ()

    @classmethod
    def of_store(
        cls,
        store: NodeStore,
        country: str,
        *,
        follow_up_months: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS,
        agreements: Iterable[Agreement] = (),
        ack_deadline_ms: int = DEFAULT_ACK_DEADLINE_MS,
    ) -> CaseBook:
        """Read every kept event of ``store`` (erased cases are gone from it).

        Raises:
            RequestError: BAD_REQUEST for a schedule that is not one.
            OperationalError: CONFIG_INVALID for a vault file that is not JSON.
        """
        cc = check_country(country)
        months = tuple(follow_up_months)
        check_follow_up_months(months)
        held_agreements = tuple(agreements)
        grouped: dict[str, list[CaseEvent]] = {}
        requests: list[Mapping[str, Any]] = []
        for entry in store.entries():
            record = store.opened(entry.event_id)
            if record is None:
                continue
            if record.get("type") == "match_followup" and entry.producer != cc:
                requests.append(record)
            event = _event(record, cc, held_agreements)
            if event is not None:
                grouped.setdefault(entry.case_key, []).append(event)
        sightings = []
        for request, case_key in _sightings(store, requests):
            if case_key in grouped:  # a follow-up of a person of one of this node's cases
                grouped[case_key].append(request.of_case(case_key))
                sightings.append((case_key, request))
        held = {e.event_id for events in grouped.values() for e in events}
        for ack in _journal_acks(store, cc, held):
            grouped.setdefault(ack.case_key, []).append(ack)
        return cls(
            cc,
            {k: tuple(v) for k, v in grouped.items()},
            months,
            held_agreements,
            ack_deadline_ms,
            tuple(sightings),
        )

    @classmethod
    def of_node(cls, node: CountryNode, **kwargs: Any) -> CaseBook:
        """The case book of ``node``'s store, with the agreements in its state directory."""
        return cls.of_store(
            node.store, node.country, agreements=node.agreements().values(), **kwargs
        )

    def case_keys(self) -> list[str]:
        return sorted(self.events)

    def schedule(self, case_key: str) -> tuple[int, ...]:
        """The follow-up schedule of a case: its handover's agreement's, else the default."""
        state = case_state(case_key, self.events.get(case_key, ()), self.country)
        return case_schedule(state, self.country, self.agreements, self.follow_up_months)

    def _events(self, case_key: str) -> tuple[CaseEvent, ...]:
        found = self.events.get(case_key)
        if found is None:
            raise RequestError(
                Reason.NOT_FOUND, f"expected a case this node holds events of; {self.country} "
                "holds none of that case key"
            )  # fmt: skip
        return found

    def cases(self, now_ms: int) -> list[CaseSummary]:
        """Every case, newest activity first."""
        out = [
            summarise(
                case_state(key, events, self.country),
                events,
                self.country,
                now_ms,
                follow_up_months=self.schedule(key),
                ack_deadline_ms=self.ack_deadline_ms,
            )
            for key, events in self.events.items()
        ]
        return sorted(out, key=lambda c: (-c.last_event_ms, c.case_key))

    def summary(self, case_key: str, now_ms: int) -> CaseSummary:
        """One case as :meth:`cases` lists it.

        Raises:
            RequestError: NOT_FOUND when this node holds nothing of the case.
        """
        events = self._events(case_key)
        return summarise(
            case_state(case_key, events, self.country),
            events,
            self.country,
            now_ms,
            follow_up_months=self.schedule(case_key),
            ack_deadline_ms=self.ack_deadline_ms,
        )

    def timeline(self, case_key: str) -> list[TimelineEntry]:
        """Every event of the case this node holds, oldest first (empty: none)."""
        events = self.events.get(case_key, ())
        return timeline(events, follow_ups=len(self.schedule(case_key)))

    def pending(self, case_key: str) -> list[OverdueItem]:
        """Every step of the case still awaited, due or not, soonest due first."""
        events = self.events.get(case_key, ())
        return open_steps(
            case_state(case_key, events, self.country),
            events,
            self.country,
            follow_up_months=self.schedule(case_key),
            ack_deadline_ms=self.ack_deadline_ms,
        )

    def alerts(self, now_ms: int) -> list[OverdueItem]:
        """Overdue steps and suspected re-trafficking of every case, soonest first."""
        out: list[OverdueItem] = []
        for key, events in self.events.items():
            out.extend(
                alerts(
                    key,
                    events,
                    self.country,
                    now_ms,
                    follow_up_months=self.schedule(key),
                    ack_deadline_ms=self.ack_deadline_ms,
                )
            )
        out.extend(self._told_requesters())
        return sorted(out, key=lambda s: (s.due_at_ms, s.kind, s.case_key, s.event_id, s.owner))

    def _told_requesters(self) -> list[OverdueItem]:
        """A match follow-up of a person handed over before: the requester must be told.

        Under the requester's own case key and about its own request, so that
        nothing of this node's case (its key, the handover) leaves with it.
        """
        out = []
        for case_key, request in self.sightings:
            state = case_state(case_key, self.events[case_key], self.country)
            handed = state.handed_over_ms
            if handed is None or request.created_at_ms <= handed:
                continue
            out.append(
                OverdueItem(
                    request.case_key,
                    AlertKind.RETRAFFICKING_SUSPECTED.value,
                    request.event_id,
                    request.created_at_ms,
                    request.producer,
                    "the person behind this match follow-up was handed over between two "
                    "countries before: re-trafficking suspected",
                )
            )
        return out

    def may_tell(self, item: OverdueItem) -> bool:
        """Whether an alert of ``item`` may go to its owner: a country already in the case.

        An owner is named by another country's update; one that holds no event of
        the case (as far as this node knows) would learn of the case from the
        alert alone, so it is shown here, never told. A requester told of a match
        follow-up is in its own case: the producer of the request.
        """
        if item.owner == self.country:
            return False
        events = self.events.get(item.case_key, ())
        if any(item.owner in (e.producer, *e.recipients) for e in events):
            return True
        return any(
            request.event_id == item.event_id and request.producer == item.owner
            for _, request in self.sightings
        )

    def overdue(self, now_ms: int) -> list[OverdueItem]:
        """The overdue steps of every case, soonest due first (no re-trafficking items)."""
        return [a for a in self.alerts(now_ms) if a.kind != AlertKind.RETRAFFICKING_SUSPECTED]

    def last_status(self, case_key: str) -> tuple[str | None, int | None]:
        """This country's last recorded status of the case and its follow-up number."""
        mine = [
            e
            for e in self.events.get(case_key, ())
            if e.event_type == "case_update"
            and e.producer == self.country
            and is_status(e.str_field("status"))
        ]
        if not mine:
            return None, None
        last = max(mine, key=lambda e: (e.changed_at_ms, e.created_at_ms, e.event_id))
        return last.str_field("status"), last.int_field("follow_up_number")

    def alert_status(self, item: OverdueItem, now_ms: int) -> str | None:
        """The ``case_status`` an alert of ``item`` carries: this country's own status of the case.

        Never another country's: an alert must not pass on what a third country
        told this node. None when this country has none, and for a requester
        told of a match follow-up (it gets no status of this node's case).
        """
        if item.case_key not in self.events:
            return None
        status = self.summary(item.case_key, now_ms).status_by_country.get(self.country)
        return status if is_status(status) else None

    def referral_event_id(self, case_key: str) -> str | None:
        """The first referral of the case this node holds."""
        referrals = [e for e in self.events.get(case_key, ()) if e.event_type == "referral"]
        first = min(referrals, key=lambda e: (e.created_at_ms, e.event_id), default=None)
        return first.event_id if first is not None else None


async def record_status(
    node: CountryNode,
    case_key: str,
    status: str,
    *,
    to: Sequence[str],
    transition_reason: str | None = None,
    next_due_ms: int | None = None,
    next_step_owner: str | None = None,
    follow_up_number: int | None = None,
    related_event_id: str | None = None,
    changed_at_ms: int | None = None,
    handling: str = DEFAULT_HANDLING,
    unsealed: bool = False,
) -> str:
    """Record a new status of the case and send it as a ``case_update``; return its event id.

    The change is checked against this country's previous status of the case
    (from its own store): a skip or a backward change needs a reason.

    Raises:
        RequestError: TRANSITION_REASON_REQUIRED (nothing sent), BAD_REQUEST for
            a status, reason, number or country that is not one.
        TrmError: whatever :meth:`CountryNode.publish` raises.
    """
    book = CaseBook.of_node(node)
    previous, previous_number = book.last_status(case_key)
    if case_key in book.events:  # a re-trafficking this node noticed counts as its status
        seen = book.summary(case_key, node.now_ms()).status_by_country.get(node.country)
        if seen == CaseStatus.RETRAFFICKING_SUSPECTED:
            previous, previous_number = seen, None
    transition = check_transition(
        previous,
        status,
        transition_reason,
        previous_follow_up=previous_number,
        follow_up=follow_up_number,
        follow_ups=len(book.schedule(case_key)),
    )
    if next_step_owner is not None:
        check_country(next_step_owner)
    now = node.now_ms()
    payload: dict[str, Any] = {
        "status": transition.new.value,
        "previous_status": previous,
        "changed_at": changed_at_ms if changed_at_ms is not None else now,
        "transition_reason": transition.reason.value if transition.reason else None,
        "next_due_at": next_due_ms,
        "next_step_owner": next_step_owner,
        "follow_up_number": transition.follow_up_number,
        "referral_event_id": book.referral_event_id(case_key),
        "related_event_id": related_event_id,
    }
    submission = Submission(
        event_type=EventType.CASE_UPDATE,
        recipients=tuple(to),
        purpose=EventType.CASE_UPDATE.spec.default_purpose,
        handling=handling,
        case_key=case_key,
        payload=payload,
    )
    return await node.publish(submission, created_at_ms=now, unsealed=unsealed)


async def report_reintegration(
    node: CountryNode,
    case_key: str,
    *,
    to: Sequence[str],
    visit_number: int,
    visited_at_ms: int,
    services_received: Sequence[str],
    living_situation: str,
    risk_level: str,
    follow_up_number: int | None = None,
    in_education_or_work: bool | None = None,
    needs_further_support: bool | None = None,
    next_visit_due_ms: int | None = None,
    organisation: Mapping[str, str] | None = None,
    handling: str = DEFAULT_HANDLING,
    unsealed: bool = False,
) -> str:
    """Send a follow-up visit's ``reintegration_report`` (no free text); return its event id.

    Raises:
        WireError: INVALID_PAYLOAD naming a value that is not one of the schema's.
        TrmError: whatever :meth:`CountryNode.publish` raises.
    """
    payload: dict[str, Any] = {
        "visit_number": visit_number,
        "follow_up_number": follow_up_number,
        "visited_at": visited_at_ms,
        "services_received": list(services_received),
        "living_situation": living_situation,
        "risk_level": risk_level,
        "in_education_or_work": in_education_or_work,
        "needs_further_support": needs_further_support,
        "next_visit_due_at": next_visit_due_ms,
        "reporting_organisation": dict(organisation) if organisation else None,
    }
    submission = Submission(
        event_type=EventType.REINTEGRATION_REPORT,
        recipients=tuple(to),
        purpose=EventType.REINTEGRATION_REPORT.spec.default_purpose,
        handling=handling,
        case_key=case_key,
        payload=payload,
    )
    return await node.publish(submission, unsealed=unsealed)


async def send_alerts(
    node: CountryNode, *, now_ms: int | None = None, unsealed: bool = False
) -> list[tuple[OverdueItem, str]]:
    """Send each alert of the node's case book once, as a ``case_alert`` to the step's owner.

    An item this node owns itself, or owned by a country that holds nothing of
    the case (:meth:`CaseBook.may_tell`), is shown, not sent. Each sent item is
    journaled (its key, the alert's event id: no personal data) and never sent
    again. A refusal of one alert (e.g. no seal key for its recipient) is
    logged by reason code and the others still go.

    Args:
        now_ms: the time the book is judged at (default: the node's clock); the
            alerts themselves are created at the node's clock, as every event.

    Returns:
        (item, alert event id) for each alert sent now.

    Raises:
        OperationalError: KAFKA_UNAVAILABLE (the rest are sent on the next run).
    """
    now = now_ms if now_ms is not None else node.now_ms()
    book = CaseBook.of_node(node)
    done = {str(e.get("key")) for e in node.store.journal(ALERT_JOURNAL)}
    sent: list[tuple[OverdueItem, str]] = []
    for item in book.alerts(now):
        if item.key in done or not book.may_tell(item):
            continue
        events = {e.event_id: e for e in book.events.get(item.case_key, ())}
        about = events.get(item.event_id)
        status = book.alert_status(item, now)
        if about is None and item.kind == AlertKind.RETRAFFICKING_SUSPECTED:
            about_type: str | None = "match_followup"
        else:
            about_type = about.event_type if about is not None else None
        submission = Submission(
            event_type=EventType.CASE_ALERT,
            recipients=(item.owner,),
            purpose=EventType.CASE_ALERT.spec.default_purpose,
            handling=DEFAULT_HANDLING,
            case_key=item.case_key,
            payload={
                "kind": item.kind,
                "about_event_id": item.event_id,
                "about_event_type": about_type,
                "due_at": item.due_at_ms,
                "detected_at": now,
                "follow_up_number": item.follow_up_number,
                "step_owner": item.owner,
                "case_status": status,
            },
        )
        try:
            alert_id = await node.publish(submission, unsealed=unsealed)
        except TrmError as error:
            if error.reason is Reason.KAFKA_UNAVAILABLE:
                raise
            log.warning("case alert %s not sent: %s", item.kind, error.reason)
            continue
        node.store.record(
            {"kind": ALERT_JOURNAL, "key": item.key, "alert_event_id": alert_id, "at_ms": now}
        )
        done.add(item.key)
        sent.append((item, alert_id))
    return sent
