"""Hit/no-hit matching from a country node: register its own records, query the index.

Both operations start the same way, because no party can compute a match key
alone, the owner of a record included (docs/protocol.md 13.3):

1. the identifier becomes its match inputs (:func:`hub.matching.keys.match_inputs`:
   one for a phone number or a document, a few blocking keys for a name);
2. each input is blinded (RFC 9497 VOPRF mode), and one EVALUATE carrying the
   blinded elements goes, through the hub's request topic, to every other
   country that holds a share of the match key (the ceremony's public file;
   no member addresses itself, so a share holder asks the n - 1 others);
3. their EVALUATION messages come back on this country's match topic; each is
   verified (the signature, the sender is the evaluator asked, its share's
   index, one DLEQ proof per element against the public commitments); one
   that does not verify is refused and its evaluator named
   (MATCH_EVALUATION_FORGED), one that refuses (its budget: MATCH_BUDGET_EXHAUSTED)
   is noted with its reason;
4. as soon as ``threshold`` evaluators answered validly: combine, finalize:
   the match keys. Fewer within the timeout: MATCH_THRESHOLD_NOT_MET (or the
   refusal or forgery that caused it), naming who answered and who did not,
   and nothing else; nothing further is sent.

Then :func:`register` sends a REGISTER (a fresh random opaque reference, the
kind, the subject, the expiry) and keeps the registration's plaintext in this
node's vault only (``NodeStore.keep_match_registration``), for an approved
follow-up; :func:`query` sends a QUERY naming a case reference and a purpose
(refused here, before anything is sent, without either) and returns the hub's
ANSWER: hit (owner, reference, kind) or no hit.

The exchange is written against :class:`MatchChannel` (send a message, read
the replies); :class:`connectors.sdk.CountryNode` is the Kafka one, a test's
fake is another. Nothing here logs an identifier, an element or a key.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from hub.errors import MatchError, OperationalError, Reason, RequestError, TrmError, WireError
from hub.matching.ceremony import MatchPublic
from hub.matching.keys import MatchInput, MatchKind, match_inputs
from hub.matching.messages import (
    HUB,
    MATCH_KEY_SIZE,
    SUBJECTS,
    Answer,
    Evaluate,
    Evaluation,
    MatchMessage,
    Query,
    Refused,
    Register,
    Registered,
    new_reference,
)
from hub.matching.oprf import blind, finalize
from hub.matching.threshold import PartialEvaluation, combine, verify_partial
from hub.wire import new_event_id

if TYPE_CHECKING:
    from .store import NodeStore

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_EXPIRES_DAYS",
    "REGISTRATION_PURPOSE",
    "EvaluationTally",
    "MatchAnswer",
    "MatchChannel",
    "MatchReplies",
    "Registration",
    "check_justification",
    "evaluators_for",
    "match_keys",
    "query",
    "register",
]

log = logging.getLogger("trm.match")

# How long each step waits: the evaluations, then the hub's answer.
DEFAULT_TIMEOUT_S: Final = 20.0
# The purpose an EVALUATE names when the keys are for this country's own registration.
REGISTRATION_PURPOSE: Final[Mapping[str, str]] = {
    "suspect": "investigation",
    "victim": "victim_identification",
}
MAX_EXPIRES_DAYS: Final = 3650
_DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration the hub's index confirmed.

    Attributes:
        reference: the opaque random reference (what a hit shows the requester).
        kind: phone, document or name.
        expires_at_ms: when the index drops it.
        notes: evaluators whose answer was refused though enough others answered
            (``"MM: MATCH_EVALUATION_FORGED: ..."``).
    """

    reference: str
    kind: str
    expires_at_ms: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchAnswer:
    """The hub's answer to one query: hit (owner, reference, kind) or no hit.

    Attributes:
        query_id: the query's id (a follow-up's correlation id).
        notes: as :attr:`Registration.notes`.
    """

    hit: bool
    owner: str | None
    reference: str | None
    kind: str | None
    query_id: str
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """What ``trm match query --json`` prints."""
        return {
            "hit": self.hit,
            "owner": self.owner,
            "reference": self.reference,
            "kind": self.kind,
            "query_id": self.query_id,
        }


class MatchReplies(Protocol):
    """Verified match messages addressed to this country, from the moment it was opened."""

    async def next(self, timeout_s: float) -> MatchMessage | None:
        """The next one, or None when ``timeout_s`` passes first."""
        ...


class MatchChannel(Protocol):
    """What the exchange needs of a node (``CountryNode`` is the Kafka one)."""

    @property
    def country(self) -> str: ...

    def now_ms(self) -> int: ...

    @property
    def store(self) -> NodeStore:
        """Where this node keeps its own registrations in the clear (its vault)."""
        ...

    def match_public(self) -> MatchPublic:
        """The ceremony's public part (threshold, members, commitments)."""
        ...

    async def send_match(self, message: MatchMessage) -> None:
        """Sign ``message`` (this country is its sender) and hand it to the hub."""
        ...

    def match_replies(self) -> AbstractAsyncContextManager[MatchReplies]:
        """Open this country's match topic at its end: the replies to what is sent next."""
        ...


def _reason(code: str) -> Reason:
    try:
        return Reason(code)
    except ValueError:  # a code from a newer peer: still a refusal, labelled as such
        return Reason.BAD_REQUEST


def _names(countries: Sequence[str] | set[str]) -> str:
    return ", ".join(sorted(countries)) or "none"


@dataclass(slots=True)
class EvaluationTally:
    """The partial evaluations of one EVALUATE fan-out, as they arrive (pure: no I/O).

    Args:
        public: the ceremony's public part.
        query_id: the id every EVALUATE carried.
        blinded: the blinded elements, in order.
        asked: each EVALUATE's message id -> the evaluator it went to.
    """

    public: MatchPublic
    query_id: str
    blinded: tuple[bytes, ...]
    asked: Mapping[str, str]
    valid: dict[str, tuple[PartialEvaluation, ...]] = field(default_factory=dict)
    forged: dict[str, str] = field(default_factory=dict)
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def threshold(self) -> int:
        return int(self.public.threshold)

    @property
    def answered(self) -> set[str]:
        return set(self.valid) | set(self.forged) | set(self.refused)

    @property
    def done(self) -> bool:
        """Enough valid answers, or every evaluator asked has answered one way or another."""
        return len(self.valid) >= self.threshold or self.answered >= set(self.asked.values())

    def take(self, message: MatchMessage) -> bool:
        """Count one verified message; False when it is not a reply to this fan-out."""
        evaluator = self.asked.get(message.correlation_id or "")
        if evaluator is None:
            return False
        if evaluator in self.answered:
            return True  # a second reply: the first counts
        if message.sender == HUB and isinstance(message.body, Refused):
            self.refused[evaluator] = (message.body.reason, f"the hub: {message.body.detail}")
            return True
        if message.sender != evaluator:
            log.warning(
                "a reply to the request for %s came from %s: ignored", evaluator, message.sender
            )
            return True
        if isinstance(message.body, Refused):
            self.refused[evaluator] = (message.body.reason, message.body.detail)
        elif isinstance(message.body, Evaluation):
            partials = tuple(
                PartialEvaluation(p.index, p.evaluated, p.proof) for p in message.body.partials
            )
            problem = self._check(evaluator, message.body.query_id, partials)
            if problem is None:
                self.valid[evaluator] = partials
            else:
                self.forged[evaluator] = problem
                log.warning(
                    "evaluation of %s refused: %s", evaluator, Reason.MATCH_EVALUATION_FORGED
                )
        else:
            return False
        return True

    def _check(
        self, evaluator: str, query_id: str, partials: tuple[PartialEvaluation, ...]
    ) -> str | None:
        """Why ``evaluator``'s EVALUATION cannot be used, or None when every proof holds."""
        if query_id != self.query_id:
            return "it answers another query"
        if len(partials) != len(self.blinded):
            return (
                f"expected {len(self.blinded)} partial evaluations, one per element, "
                f"got {len(partials)}"
            )
        index = self.public.index_of(evaluator)
        for n, (element, partial) in enumerate(zip(self.blinded, partials, strict=True)):
            if partial.index != index:
                return f"element {n}: expected the index of its share, {index}, got {partial.index}"
            try:
                verify_partial(self.public.commitments, element, partial)
            except TrmError as error:
                return f"element {n}: {error.detail}"
        return None

    def evaluated(self) -> tuple[bytes, ...]:
        """The combined evaluation of each element, from the first ``threshold`` valid answers.

        Raises:
            TrmError: fewer than ``threshold`` valid answers: the reason of a
                refusal (the hub's first, then an evaluator's, e.g.
                MATCH_BUDGET_EXHAUSTED), else MATCH_EVALUATION_FORGED when
                one was forged, else MATCH_THRESHOLD_NOT_MET; the detail names
                who answered validly, who was refused or forged, who did not answer.
        """
        if len(self.valid) < self.threshold:
            raise self.shortfall()
        chosen = sorted(self.valid, key=self.public.index_of)[: self.threshold]
        return tuple(
            combine(self.public.commitments, element, [self.valid[c][n] for c in chosen])
            for n, element in enumerate(self.blinded)
        )

    def notes(self) -> tuple[str, ...]:
        """Each evaluator whose answer was not used for a reason, as a line (sorted)."""
        lines = [f"{c}: {Reason.MATCH_EVALUATION_FORGED}: {d}" for c, d in self.forged.items()]
        lines += [f"{c}: {code}: {d}" for c, (code, d) in self.refused.items()]
        return tuple(sorted(lines))

    def shortfall(self) -> MatchError:
        """The error of too few valid answers (see :meth:`evaluated`)."""
        silent = set(self.asked.values()) - self.answered
        parts = [
            f"expected {self.threshold} valid partial evaluations (of {len(self.asked)} "
            f"share holders); valid from: {_names(set(self.valid))}",
        ]
        if self.forged:
            parts.append(
                "forged (refused): "
                + "; ".join(f"{c} ({d})" for c, d in sorted(self.forged.items()))
            )
        if self.refused:
            parts.append(
                "refused by: "
                + "; ".join(f"{c} ({code}: {d})" for c, (code, d) in sorted(self.refused.items()))
            )
        parts.append(f"no answer from: {_names(silent)}")
        detail = "; ".join(parts)
        by_hub = [code for code, d in self.refused.values() if d.startswith("the hub: ")]
        if by_hub:
            return MatchError(_reason(by_hub[0]), detail)
        if self.refused:
            codes = sorted(code for code, _ in self.refused.values())
            return MatchError(_reason(codes[0]), detail)
        if self.forged:
            return MatchError(Reason.MATCH_EVALUATION_FORGED, detail)
        return MatchError(Reason.MATCH_THRESHOLD_NOT_MET, detail)


def _message(
    channel: MatchChannel, body: Evaluate | Query | Register, recipient: str
) -> MatchMessage:
    now = channel.now_ms()
    return MatchMessage.of(
        body, message_id=new_event_id(now), sender=channel.country, recipient=recipient,
        created_at_ms=now,
    )  # fmt: skip


def evaluators_for(public: MatchPublic, country: str) -> tuple[str, ...]:
    """Whom a country asks: every share holder but itself (no member addresses itself)."""
    return tuple(sorted(cc for cc in public.members if cc != country))


async def _evaluate(
    channel: MatchChannel,
    replies: MatchReplies,
    inputs: Sequence[MatchInput],
    *,
    query_id: str,
    purpose: str,
    timeout_s: float,
) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """The match key of each input, and the notes; see the module docstring, steps 2-4."""
    public = channel.match_public()
    blinds = [blind(i.input) for i in inputs]
    blinded = tuple(b for _, b in blinds)
    messages = [
        _message(channel, Evaluate(query_id=query_id, purpose=purpose, blinded=blinded), cc)
        for cc in evaluators_for(public, channel.country)
    ]
    tally = EvaluationTally(
        public, query_id, blinded, {m.message_id: m.recipient for m in messages}
    )
    if len(messages) < tally.threshold:  # fewer others than needed: ask nobody
        raise tally.shortfall()
    for message in messages:
        await channel.send_match(message)
    deadline = time.monotonic() + timeout_s
    while not tally.done:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        reply = await replies.next(left)
        if reply is not None:
            tally.take(reply)
    evaluated = tally.evaluated()
    keys = tuple(
        finalize(i.input, b, e) for i, (b, _), e in zip(inputs, blinds, evaluated, strict=True)
    )
    for note in tally.notes():
        log.warning("evaluator not used: %s", note)
    return keys, tally.notes()


async def _reply_to(
    replies: MatchReplies, message: MatchMessage, timeout_s: float, what: str
) -> MatchMessage:
    """The hub's reply to ``message``; a REFUSED raises with its reason."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        reply = await replies.next(left)
        if reply is None or reply.correlation_id != message.message_id or reply.sender != HUB:
            continue
        if isinstance(reply.body, Refused):
            raise TrmError(
                _reason(reply.body.reason), f"the hub refused the {what}: {reply.body.detail}"
            )
        return reply
    raise OperationalError(
        Reason.KAFKA_UNAVAILABLE,
        f"expected the hub's answer to the {what} within {timeout_s:g} s; none came "
        "(is the hub worker running? 'trm status')",
    )


def _inputs(  # noqa: PLR0917 - the identifier's parts, in their order everywhere
    channel: MatchChannel,
    kind: str,
    value: str,
    birth_year: int | None,
    issuing_state: str | None,
    record_country: str | None = None,
) -> tuple[MatchKind, tuple[MatchInput, ...]]:
    try:
        match_kind = MatchKind(kind)
    except ValueError:
        raise RequestError(
            Reason.MATCH_VALUE_INVALID,
            f"expected a kind of {', '.join(k.value for k in MatchKind)}, got {kind[:20]!r}",
        ) from None
    inputs = match_inputs(
        match_kind,
        value,
        country=record_country or channel.country,
        birth_year=birth_year,
        issuing_state=issuing_state,
    )
    return match_kind, inputs


async def match_keys(
    channel: MatchChannel,
    kind: str,
    value: str,
    *,
    purpose: str,
    birth_year: int | None = None,
    issuing_state: str | None = None,
    record_country: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[bytes, ...]:
    """The match keys of one identifier, computed with the share holders (steps 1-4).

    For a test or a benchmark; :func:`register` and :func:`query` take the same path.
    """
    _, inputs = _inputs(channel, kind, value, birth_year, issuing_state, record_country)
    async with channel.match_replies() as replies:
        keys, _ = await _evaluate(
            channel,
            replies,
            inputs,
            query_id=new_event_id(channel.now_ms()),
            purpose=purpose,
            timeout_s=timeout_s,
        )
    return keys


def check_justification(case_ref: str | None, purpose: str | None) -> None:
    """Refuse a query that does not name a valid case reference and purpose (nothing sent).

    The QUERY's own rules decide (``hub.matching.messages.Query``), so this
    refuses exactly what the hub would, before any evaluator spends budget.

    Raises:
        WireError: MATCH_CASE_REQUIRED saying which is missing or malformed.
    """
    missing = [n for n, v in (("a case reference", case_ref), ("a purpose", purpose)) if not v]
    if missing:
        raise WireError(
            Reason.MATCH_CASE_REQUIRED,
            f"expected a query to name {' and '.join(missing)}; nothing was sent",
        )
    # Placeholders for what the query will carry: only case_ref and purpose are judged.
    Query(
        new_event_id(0),
        MatchKind.PHONE.value,
        (bytes(MATCH_KEY_SIZE),),
        case_ref or "",
        purpose or "",
    )


async def query(
    node: MatchChannel,
    kind: str,
    value: str,
    *,
    case_ref: str,
    purpose: str,
    birth_year: int | None = None,
    issuing_state: str | None = None,
    record_country: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> MatchAnswer:
    """Does another country know this person? Hit (owner, reference, kind) or no hit.

    Args:
        node: this country's node (``CountryNode``).
        kind: ``phone``, ``document`` or ``name``.
        value: the identifier as written (personal data: never logged).
        case_ref: this country's case reference the query is made for.
        purpose: why (one of the protocol's purposes; logged by the hub).
        birth_year: for a name (a Thai Buddhist-era year is converted).
        issuing_state: for a document without a machine-readable zone.
        record_country: the country of the record the identifier comes from (a
            phone number's default region; a document's default issuing state);
            this country when None.
        timeout_s: how long to wait for the evaluations, then for the answer.

    Raises:
        WireError: MATCH_CASE_REQUIRED without a valid case reference or
            purpose (nothing sent).
        RequestError: MATCH_VALUE_INVALID for a value that does not normalise.
        TrmError: MATCH_THRESHOLD_NOT_MET, MATCH_EVALUATION_FORGED,
            MATCH_BUDGET_EXHAUSTED (see :meth:`EvaluationTally.evaluated`);
            the hub's refusal of the query, with its reason.
        OperationalError: KAFKA_UNAVAILABLE, or no answer from the hub in time.
    """
    check_justification(case_ref, purpose)
    match_kind, inputs = _inputs(node, kind, value, birth_year, issuing_state, record_country)
    query_id = new_event_id(node.now_ms())
    async with node.match_replies() as replies:
        keys, notes = await _evaluate(
            node, replies, inputs, query_id=query_id, purpose=purpose, timeout_s=timeout_s
        )
        message = _message(
            node,
            Query(
                query_id=query_id,
                match_kind=match_kind.value,
                keys=keys,
                case_ref=case_ref,
                purpose=purpose,
            ),
            HUB,
        )
        await node.send_match(message)
        reply = await _reply_to(replies, message, timeout_s, "query")
    body = reply.body
    if not isinstance(body, Answer) or body.query_id != query_id:
        raise OperationalError(
            Reason.INTERNAL_ERROR, f"expected the ANSWER to the query, got a {reply.kind}"
        )
    return MatchAnswer(
        hit=body.hit,
        owner=body.owner,
        reference=body.reference,
        kind=body.match_kind,
        query_id=body.query_id,
        notes=notes,
    )


async def register(
    node: MatchChannel,
    kind: str,
    value: str,
    *,
    birth_year: int | None = None,
    issuing_state: str | None = None,
    expires_days: int = 365,
    subject: str = "suspect",
    consent: bool = False,
    record_country: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    case_key: str | None = None,
) -> Registration:
    """Publish the match keys of one of this country's records to the hub's index.

    The keys are computed with the share holders as for a query (the owner
    cannot compute them alone either); the index keeps them with this country
    as owner, a fresh random reference, the kind, the subject and the expiry.
    The registration's plaintext is kept in this node's vault only (0600,
    ``NodeStore.match_registration(reference)``), for an approved follow-up.

    Args:
        subject: ``suspect``, or ``victim`` (the hub takes a victim only with
            ``consent`` or a rule that allows it).
        consent: the victim's recorded consent to be findable.
        record_country: as for :func:`query`.
        case_key: this node's case the record belongs to, if any. Kept in
            the registration file only (never sent): a follow-up of the
            registration then shows in that case, and if the person was handed
            over, both countries are told (``connectors.sdk.cases``).

    Raises:
        RequestError: MATCH_VALUE_INVALID; BAD_REQUEST for a subject or expiry
            out of range (nothing sent).
        TrmError: as :func:`query`; the hub's refusal, after which nothing is kept.
        OperationalError: KAFKA_UNAVAILABLE, or no confirmation in time (the
            plaintext is kept: the hub may hold the registration).
    """
    if subject not in SUBJECTS:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected a subject of {', '.join(sorted(SUBJECTS))}, got {subject[:20]!r}",
        )
    if not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected an expiry of 1 to {MAX_EXPIRES_DAYS} days, got {expires_days}",
        )
    match_kind, inputs = _inputs(node, kind, value, birth_year, issuing_state, record_country)
    reference = new_reference(secrets.token_bytes)
    async with node.match_replies() as replies:
        keys, notes = await _evaluate(
            node,
            replies,
            inputs,
            query_id=new_event_id(node.now_ms()),
            purpose=REGISTRATION_PURPOSE[subject],
            timeout_s=timeout_s,
        )
        now = node.now_ms()
        expires_at_ms = now + expires_days * _DAY_MS
        message = _message(
            node,
            Register(
                reference=reference,
                match_kind=match_kind.value,
                keys=keys,
                subject=subject,
                expires_at_ms=expires_at_ms,
                consent=consent,
            ),
            HUB,
        )
        # Kept before sending: a follow-up may come as soon as the index has it.
        node.store.keep_match_registration(
            reference,
            {
                "kind": match_kind.value,
                "value": value,
                "birth_year": birth_year,
                "issuing_state": issuing_state,
                "record_country": record_country or node.country,
                "subject": subject,
                "consent": consent,
                "registered_at_ms": now,
                "expires_at_ms": expires_at_ms,
                "case_key": case_key,
            },
        )
        try:
            await node.send_match(message)
            reply = await _reply_to(replies, message, timeout_s, "registration")
        except OperationalError:
            raise  # the outcome is unknown: the plaintext stays with its reference
        except TrmError:
            node.store.erase_match_registration(reference)
            raise
    body = reply.body
    if not isinstance(body, Registered) or body.reference != reference:
        raise OperationalError(
            Reason.INTERNAL_ERROR, f"expected REGISTERED for the reference, got a {reply.kind}"
        )
    return Registration(reference, match_kind.value, body.expires_at_ms, notes)
