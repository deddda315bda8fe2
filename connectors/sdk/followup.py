"""Follow-up of a match hit from a country node (docs/protocol.md 13.4).

A hit names only the owner country, an opaque reference and a kind. To learn
who is behind it, the requester sends the owner a ``match_followup`` event
(:func:`request_followup`): the hit's reference and query id, its own case
reference and purpose, nothing about the person. The signed header's
``correlation_id`` is the hit's query id; the hub routes it under the
agreements like any event, so a country without a follow-up flow to the owner
is refused (EVENT_TYPE_NOT_ALLOWED or NO_AGREEMENT on its rejections topic).

At the owner, the request waits for a person: :func:`pending_followups` lists
what was received and not yet answered (no identity data in the list). The
person decides:

- :func:`approve` reads the registration kept in this node's vault under the
  reference (:meth:`NodeStore.match_registration`, the only place its
  plaintext is kept) and sends it in a ``match_followup_answer`` with decision
  APPROVED; the hub withholds every identity field the agreement in force does
  not allow, as for any event;
- :func:`decline` sends decision DECLINED with a reason, which it requires.

An answer is a reply (``reply_to_correlated``): its header's
``correlation_id`` is the request's event id and the hub delivers it only to
the request's producer. The requester reads its answers with
:func:`followup_answers`; one that answers no follow-up this node sent to
that owner is flagged (``requested`` False, reason NOT_ADDRESSED in the log)
and never counts as an answer.

Journal entries (``journal.jsonl``, no personal data): ``followup`` for a
request sent (event id, owner, reference, query id), ``followup_answer`` for
an answer sent (request id, answer id, decision).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.errors import OperationalError, Reason, RequestError
from hub.matching.messages import is_reference
from hub.topics import check_country
from hub.wire import HANDLING_CODES, PURPOSES, EventType
from hub.wire.vocab import shown

from .node import CountryNode
from .store import NodeStore
from .submission import Submission

__all__ = [
    "DECISIONS",
    "IDENTITY_FIELDS",
    "MAX_REASON",
    "FollowupAnswer",
    "FollowupRequest",
    "answered_requests",
    "answers_in",
    "approve",
    "decline",
    "followup_answers",
    "identity_of",
    "pending_followups",
    "pending_in",
    "request_followup",
]

log = logging.getLogger("trm.followup")

REQUEST: Final = EventType.MATCH_FOLLOWUP
ANSWER: Final = EventType.MATCH_FOLLOWUP_ANSWER
#: APPROVED, DECLINED: the answer schema's symbols.
DECISIONS: Final = ANSWER.symbols("decision")
#: The answer's fields that identify a person: sent only with APPROVED.
IDENTITY_FIELDS: Final = ("names", "birth_year", "phone_numbers", "documents")
#: A reason's limit (characters): a reason, not a file.
MAX_REASON: Final = 500
_UUID_LEN: Final = 36


def _now(node: CountryNode) -> int:
    """The node's clock (a fixed one in tests); CountryNode.now_ms() once matching lands."""
    return node._clock()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class FollowupRequest:
    """A follow-up request this node received: what a desk lists (no identity data).

    Attributes:
        event_id: the request's event id (what approve and decline name).
        requester: the country asking.
        reference: the hit's opaque reference (this node's registration).
        query_id: the query that found the hit (the header's correlation_id).
        match_kind: the hit's kind (phone, document, name), when disclosed.
        case_ref: the requester's case reference.
        purpose: the purpose the requester names.
        requested_at_ms: the request's signed creation time.
        agreement: ``id@version`` of the agreement it was delivered under.
    """

    event_id: str
    requester: str
    reference: str | None
    query_id: str | None
    match_kind: str | None
    case_ref: str | None
    purpose: str | None
    requested_at_ms: int
    agreement: str
    case_key: str
    handling: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FollowupRequest:
        """From an opened record's JSON form (:meth:`InboxRecord.to_json`, the vault's).

        Raises:
            OperationalError: CONFIG_INVALID for a vault record that is not one
                (the vault is this node's own; a damaged file is skipped).
        """
        fields = record.get("fields")
        header = (record.get(k) for k in ("event_id", "from", "case_key", "handling"))
        if (
            not isinstance(fields, Mapping)
            or not all(isinstance(v, str) for v in header)
            or (
                isinstance(record.get("created_at_ms"), bool)
                or not isinstance(record.get("created_at_ms"), int)
            )
        ):
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"vault record {shown(record.get('event_id'), 40)} is not an opened event",
            )
        return cls(
            event_id=str(record["event_id"]),
            requester=str(record["from"]),
            reference=_text(fields.get("reference")),
            query_id=_text(fields.get("query_id")) or _text(record.get("correlation_id")),
            match_kind=_text(fields.get("match_kind")),
            case_ref=_text(fields.get("case_ref")),
            purpose=_text(fields.get("purpose")) or _text(record.get("purpose")),
            requested_at_ms=int(record["created_at_ms"]),
            agreement=str(record.get("agreement", "")),
            case_key=str(record["case_key"]),
            handling=str(record["handling"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "from": self.requester,
            "reference": self.reference,
            "query_id": self.query_id,
            "kind": self.match_kind,
            "case_ref": self.case_ref,
            "purpose": self.purpose,
            "requested_at_ms": self.requested_at_ms,
            "agreement": self.agreement,
        }


@dataclass(frozen=True, slots=True)
class FollowupAnswer:
    """An answer this node received to a follow-up request.

    Attributes:
        event_id: the answer's event id.
        owner: the country that answered.
        request_event_id: the request it answers (the header's correlation_id).
        reference: the reference the request named, when disclosed.
        decision: APPROVED or DECLINED (None: withheld or missing).
        reason: the owner's reason, when given and disclosed.
        identity: the identity fields disclosed (names, birth_year, ...); empty
            unless ``requested`` and APPROVED (a decline's are never taken).
        withheld: the identity fields the hub withheld under the agreement.
        agreement: ``id@version`` it was delivered under.
        requested: False when it answers no follow-up this node sent to
            ``owner``: flagged, never to be taken as an answer.
    """

    event_id: str
    owner: str
    request_event_id: str | None
    reference: str | None
    decision: str | None
    reason: str | None
    decided_at_ms: int | None
    identity: Mapping[str, Any]
    withheld: tuple[str, ...]
    agreement: str
    requested: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "from": self.owner,
            "request_event_id": self.request_event_id,
            "reference": self.reference,
            "decision": self.decision,
            "reason": self.reason,
            "decided_at_ms": self.decided_at_ms,
            "identity": dict(self.identity),
            "withheld": list(self.withheld),
            "agreement": self.agreement,
            "requested": self.requested,
        }


# --- the requester -------------------------------------------------------------


async def request_followup(
    node: CountryNode,
    *,
    owner: str,
    reference: str,
    query_id: str,
    case_ref: str,
    purpose: str,
    match_kind: str | None = None,
    handling: str = "H2",
) -> str:
    """Ask ``owner`` for the record behind a hit; return the request's event id.

    Args:
        owner: the hit's owner country.
        reference: the hit's opaque reference.
        query_id: the hit's query id (the signed header's correlation_id).
        case_ref: this country's case reference (also the header's case key:
            the answer is filed under it).
        purpose: one of the protocol's purposes (the header's purpose too).
        match_kind: the hit's kind, if known.

    Raises:
        RequestError: BAD_REQUEST (naming what was expected) before anything
            is sent; UNKNOWN_COUNTRY.
        WireError, SealError, OperationalError: as :meth:`CountryNode.publish`.
    """
    owner = check_country(owner)
    problems = []
    if owner == node.country:
        problems.append(f"an owner other than {node.country} itself")
    if not is_reference(reference):
        problems.append("a match reference (32 lower-case hex digits)")
    if not isinstance(query_id, str) or len(query_id) != _UUID_LEN:
        problems.append("the hit's query id (a UUID)")
    if not case_ref:
        problems.append("a case reference")
    if purpose not in PURPOSES:
        problems.append(f"a purpose in {sorted(PURPOSES)}, got {shown(purpose, 40)}")
    if handling not in HANDLING_CODES:
        problems.append(f"handling in {sorted(HANDLING_CODES)}")
    if problems:
        raise RequestError(
            Reason.BAD_REQUEST,
            "follow-up: expected " + "; expected ".join(problems) + "; nothing was sent",
        )
    now = _now(node)
    submission = Submission(
        event_type=REQUEST,
        recipients=(owner,),
        purpose=purpose,
        handling=handling,
        case_key=case_ref,
        payload={
            "reference": reference,
            "query_id": query_id,
            "match_kind": match_kind,
            "case_ref": case_ref,
            "purpose": purpose,
            "requested_at": now,
        },
        correlation_id=query_id,
    )
    event_id = await node.publish(submission, created_at_ms=now)
    node.store.record(
        {
            "kind": "followup",
            "event_id": event_id,
            "owner": owner,
            "reference": reference,
            "query_id": query_id,
            "at_ms": now,
        }
    )
    log.info("follow-up %s of query %s sent to %s", event_id, query_id, owner)
    return event_id


def _sent_requests(store: NodeStore) -> dict[str, str]:
    """Follow-up requests this node sent: event id -> owner."""
    return {str(e["event_id"]): str(e["owner"]) for e in store.journal("followup")}


async def followup_answers(node: CountryNode) -> list[FollowupAnswer]:
    """The answers received to this node's follow-ups, oldest first (reads the inbox).

    New inbox records are opened and kept in the vault; nothing is marked
    seen. An answer to no follow-up this node sent to its producer comes back
    with ``requested`` False (and is logged NOT_ADDRESSED): never an answer.
    """
    await node.read_inbox()
    found = answers_in(node.store)
    for answer in found:
        if not answer.requested:
            log.warning(
                "follow-up answer %s from %s flagged %s: it answers no follow-up request "
                "this node sent to %s",
                answer.event_id,
                answer.owner,
                Reason.NOT_ADDRESSED,
                answer.owner,
            )
    return found


def answers_in(store: NodeStore) -> list[FollowupAnswer]:
    """The follow-up answers kept in ``store``'s vault, oldest first (logs nothing:
    a desk asks every few seconds)."""
    sent = _sent_requests(store)
    found = []
    for record in _vault_records(store, ANSWER.value):
        fields = record.get("fields")
        if not isinstance(fields, Mapping):
            continue  # a damaged vault file: nothing to take from it
        answered = _text(record.get("correlation_id"))
        named = _text(fields.get("request_event_id"))
        owner = str(record.get("from"))
        requested = answered is not None and sent.get(answered) == owner
        if named is not None and named != answered:
            requested = False  # the payload and the signed header disagree
        listed = record.get("withheld")
        withheld = {w for w in listed if isinstance(w, str)} if isinstance(listed, list) else set()
        decided = fields.get("decided_at")
        found.append(
            FollowupAnswer(
                event_id=str(record.get("event_id")),
                owner=owner,
                request_event_id=answered,
                reference=_text(fields.get("reference")),
                decision=_text(fields.get("decision")),
                reason=_text(fields.get("reason")),
                decided_at_ms=decided if isinstance(decided, int) else None,
                identity={k: fields[k] for k in IDENTITY_FIELDS if k in fields}
                if requested and fields.get("decision") == "APPROVED"
                else {},
                withheld=tuple(k for k in IDENTITY_FIELDS if k in withheld),
                agreement=str(record.get("agreement", "")),
                requested=requested,
            )
        )
    return found


# --- the owner -------------------------------------------------------------------


def _vault_records(store: NodeStore, event_type: str) -> list[dict[str, Any]]:
    """The opened records of one event type this node received, oldest first."""
    records = []
    for path in sorted(store.vault_dir.glob("*.json")) if store.vault_dir.is_dir() else ():
        record = store.opened(path.stem)
        # What this node sent is kept too (its own side of a case): not received.
        if record is None or record.get("direction") == "sent":
            continue
        if record.get("type") == event_type:
            records.append(record)

    def order(record: Mapping[str, Any]) -> tuple[int, str]:
        created = record.get("created_at_ms")
        return (created if isinstance(created, int) else 0, str(record.get("event_id")))

    return sorted(records, key=order)


def answered_requests(store: NodeStore) -> dict[str, str]:
    """Follow-up requests this node answered: request event id -> decision."""
    return {
        str(e["request_event_id"]): str(e["decision"]) for e in store.journal("followup_answer")
    }


def pending_in(store: NodeStore) -> list[FollowupRequest]:
    """The follow-up requests kept in ``store``'s vault and not yet answered, oldest first."""
    answered = answered_requests(store)
    found = []
    for record in _vault_records(store, REQUEST.value):
        try:
            request = FollowupRequest.from_record(record)
        except OperationalError as error:
            log.warning("follow-up request skipped: %s: %s", error.reason, error.detail)
            continue
        if request.event_id not in answered:
            found.append(request)
    return found


async def pending_followups(node: CountryNode) -> list[FollowupRequest]:
    """Follow-up requests received and not yet answered, oldest first (reads the inbox).

    New inbox records are opened and kept in the vault (where requests wait
    for a person); nothing is marked seen, so ``trm node inbox`` still shows them.
    """
    await node.read_inbox()
    return pending_in(node.store)


def _request(store: NodeStore, request_event_id: str) -> FollowupRequest:
    record = store.opened(request_event_id) if len(request_event_id) == _UUID_LEN else None
    if record is None or record.get("type") != REQUEST.value:
        raise RequestError(
            Reason.NOT_FOUND,
            f"expected the event id of a follow-up request this node received, "
            f"got {shown(request_event_id, 40)} (trm match pending lists them)",
        )
    decided = answered_requests(store).get(request_event_id)
    if decided is not None:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"follow-up request {request_event_id} was answered already ({decided}); "
            "nothing was sent",
        )
    return FollowupRequest.from_record(record)


def identity_of(registration: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's identity fields from a registration kept in the vault."""
    kind, value = registration.get("kind"), registration.get("value")
    out: dict[str, Any] = {}
    if not isinstance(value, str):
        return out
    if kind == "name":
        out["names"] = [value]
        year = registration.get("birth_year")
        if isinstance(year, int):
            out["birth_year"] = year
    elif kind == "phone":
        out["phone_numbers"] = [value]
    elif kind == "document":
        out["documents"] = [
            {"number": value, "issuing_state": _text(registration.get("issuing_state"))}
        ]
    return out


def _check_reason(reason: str | None, *, required: bool) -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise RequestError(Reason.BAD_REQUEST, "expected the reason to be text")
    text = (reason or "").strip()
    if required and not text:
        raise RequestError(
            Reason.BAD_REQUEST,
            "expected a reason for declining a follow-up (the requester is told why); "
            "nothing was sent",
        )
    if len(text) > MAX_REASON:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected a reason of at most {MAX_REASON} characters, got {len(text)}",
        )
    return text or None


async def _answer(
    node: CountryNode,
    request: FollowupRequest,
    decision: str,
    reason: str | None,
    identity: Mapping[str, Any],
) -> str:
    now = _now(node)
    submission = Submission(
        event_type=ANSWER,
        recipients=(request.requester,),
        purpose=request.purpose if request.purpose in PURPOSES else ANSWER.spec.default_purpose,
        handling=request.handling,
        case_key=request.case_key,
        payload={
            "request_event_id": request.event_id,
            "reference": request.reference,
            "decision": decision,
            "reason": reason,
            "decided_at": now,
            **identity,
        },
        correlation_id=request.event_id,
    )
    answer_id = await node.publish(submission, created_at_ms=now)
    node.store.record(
        {
            "kind": "followup_answer",
            "request_event_id": request.event_id,
            "answer_event_id": answer_id,
            "requester": request.requester,
            "decision": decision,
            "at_ms": now,
        }
    )
    log.info("follow-up %s from %s answered %s", request.event_id, request.requester, decision)
    return answer_id


async def approve(node: CountryNode, request_event_id: str, *, reason: str | None = None) -> str:
    """Send the registration behind the request's reference; return the answer's event id.

    The registration's plaintext comes from this node's vault
    (:meth:`NodeStore.match_registration`); the hub withholds what the
    agreement in force does not allow.

    Raises:
        RequestError: NOT_FOUND (no such request received, or no registration
            kept under its reference: expired or erased; decline it instead),
            BAD_REQUEST (answered already, a reason too long). Nothing is sent then.
        WireError, SealError, OperationalError: as :meth:`CountryNode.publish`.
    """
    request = _request(node.store, request_event_id)
    text = _check_reason(reason, required=False)
    registration = (
        node.store.match_registration(request.reference)
        if request.reference is not None and is_reference(request.reference)
        else None
    )
    if registration is None:
        raise RequestError(
            Reason.NOT_FOUND,
            f"expected a registration of {node.country} under the reference follow-up "
            f"{request.event_id} names; none is kept (expired or erased): decline it",
        )
    return await _answer(node, request, "APPROVED", text, identity_of(registration))


async def decline(node: CountryNode, request_event_id: str, *, reason: str) -> str:
    """Send a signed DECLINED answer with ``reason``; return its event id.

    Raises:
        RequestError: BAD_REQUEST without a reason (nothing is sent), or as
            :func:`approve`.
    """
    text = _check_reason(reason, required=True)
    request = _request(node.store, request_event_id)
    return await _answer(node, request, "DECLINED", text, {})
