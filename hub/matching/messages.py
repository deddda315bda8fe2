"""The signed messages of the hit/no-hit exchange (pure): records, sealing, opening.

Byte layout (Avro binary; "frame" = single-object encoding
``C3 01 || CRC-64-AVRO(PCF) || body``, as for envelopes)::

    wire      = frame(SignedMatchMessage{message: bytes, signature: Signature})
    message   = frame(MatchMessage{spec_version, kind, message_id, sender,
                                   recipient, correlation_id, created_at, body})
    signature = Ed25519(PAE(MATCH_PAYLOAD_TYPE, message))

``schemas/match_signed.avsc`` and ``schemas/match_message.avsc`` are the
schemas; ``docs/protocol.md`` section 13.3 is the normative text. A member signs
with its producer key (the key that signs its events), the hub with a hub key.

:func:`open_message` verifies before it decodes: size, the wrapper's frame,
the signing key (known, of the right role, valid now) and the signature over
the message bytes exactly as received; only then the message is decoded, its
sender matched to the key's owner, and every field checked. Each refusal is a
:class:`hub.errors.TrmError` with a reason code; no detail quotes a match key,
a blinded element or a reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import DeliveryError, Reason, TrmError, WireError
from hub.keys import KeyDirectory, KeyRole, ed25519_sign, signer_key_id
from hub.trust import HUB_OWNER
from hub.wire.codec import frame, part, unframe
from hub.wire.envelope import Signature, pae
from hub.wire.verify import check_key
from hub.wire.vocab import COUNTRY_CODE, PURPOSES, shown

from .keys import MatchKind
from .threshold import MAX_INDEX, PartialEvaluation

__all__ = [
    "BUDGET_DAY",
    "ELEMENT_SIZE",
    "HUB",
    "MATCH_KEY_SIZE",
    "MATCH_MAX_SIZE",
    "MATCH_PAYLOAD_TYPE",
    "MATCH_SPEC_VERSION",
    "MAX_AGE_MS",
    "MAX_FUTURE_MS",
    "MAX_KEYS",
    "PROOF_SIZE",
    "SUBJECTS",
    "Answer",
    "Body",
    "Evaluate",
    "Evaluation",
    "MatchMessage",
    "MatchMessageKind",
    "PartialEvaluation",
    "Query",
    "Refused",
    "Register",
    "Registered",
    "is_reference",
    "new_reference",
    "open_message",
    "seal_message",
]

MATCH_SPEC_VERSION: Final = 1
MATCH_PAYLOAD_TYPE: Final = "application/vnd.trm.match.v1+avro"
HUB: Final = "hub"  # the hub as a sender or recipient
MATCH_MAX_SIZE: Final = 16 * 1024  # the largest valid message is about 3 KiB
MATCH_KEY_SIZE: Final = 64  # a match key: the threshold OPRF's output (RFC 9497 Nh)
ELEMENT_SIZE: Final = 32  # a ristretto255 element (blinded or evaluated)
PROOF_SIZE: Final = 64  # a DLEQ proof: two scalars (RFC 9497 section 2.2)
MAX_KEYS: Final = 16  # keys in a REGISTER or QUERY, elements in an EVALUATE
MAX_PARTIALS: Final = MAX_KEYS
MAX_DETAIL: Final = 500
MAX_FUTURE_MS: Final = 5 * 60 * 1000  # the sender's clock runs ahead by more: refuse
MAX_AGE_MS: Final = 60 * 60 * 1000  # older on arrival: refuse (a query is answered at once)
SUBJECTS: Final = frozenset({"suspect", "victim"})
_MATCH_KINDS: Final = frozenset(k.value for k in MatchKind)

_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_REFERENCE = re.compile(r"[0-9a-f]{32}")
_CASE_REF = re.compile(r"[A-Za-z0-9._:~-]{1,128}")
BUDGET_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SIGNED = "match_signed"
_MESSAGE = "match_message"
_REASONS: Final = frozenset(r.value for r in Reason)


def _invalid(detail: str) -> WireError:
    return WireError(Reason.INVALID_PAYLOAD, detail)


def is_reference(text: object) -> bool:
    """True for an opaque reference: 32 lowercase hex digits."""
    return isinstance(text, str) and _REFERENCE.fullmatch(text) is not None


def new_reference(rng: Callable[[int], bytes]) -> str:
    """A fresh opaque reference: 128 random bits as 32 hex digits (``rng`` is os.urandom)."""
    return rng(16).hex()


def _check_count(name: str, items: Sequence[object]) -> None:
    if not 1 <= len(items) <= MAX_KEYS:
        raise _invalid(f"expected 1..{MAX_KEYS} {name}, got {len(items)}")


def _check_sizes(name: str, items: Sequence[bytes], size: int) -> None:
    _check_count(name, items)
    for i, item in enumerate(items):
        if not isinstance(item, bytes) or len(item) != size:
            got = len(item) if isinstance(item, bytes) else type(item).__name__
            raise _invalid(f"expected {name}[{i}] of {size} bytes, got {got}")
    if len(set(items)) != len(items):
        raise _invalid(f"expected distinct {name}, got one twice")


def _check_kind(match_kind: str) -> None:
    if match_kind not in _MATCH_KINDS:
        raise _invalid(f"expected match_kind in {sorted(_MATCH_KINDS)}, got {shown(match_kind)}")


def _check_reference(reference: str) -> None:
    if not is_reference(reference):
        raise _invalid(
            f"expected a reference of 32 lowercase hex digits, got {len(reference)} characters"
        )


def _check_uuid7(name: str, value: str) -> None:
    if not isinstance(value, str) or not _UUID7.fullmatch(value):
        raise _invalid(f"expected {name} to be a lowercase UUIDv7, got {shown(value)}")


def _case_required(detail: str) -> WireError:
    """A query without a case reference or a purpose."""
    return WireError(Reason.MATCH_CASE_REQUIRED, detail)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise _invalid(f"expected a purpose in {sorted(PURPOSES)}, got {shown(purpose)}")


# --- bodies -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    """Publish the match keys of one of the sender's own records (member to hub)."""

    reference: str
    match_kind: str
    keys: tuple[bytes, ...]
    subject: str
    expires_at_ms: int
    consent: bool = False  # a victim's recorded consent to be findable

    def __post_init__(self) -> None:
        _check_reference(self.reference)
        _check_kind(self.match_kind)
        _check_sizes("keys", self.keys, MATCH_KEY_SIZE)
        if self.subject not in SUBJECTS:
            raise _invalid(f"expected subject in {sorted(SUBJECTS)}, got {shown(self.subject)}")
        if self.expires_at_ms <= 0:
            raise _invalid(f"expected expires_at > 0, got {self.expires_at_ms}")

    def __repr__(self) -> str:  # the keys are pseudonyms of a person: not in logs
        return (
            f"Register(reference={self.reference!r}, match_kind={self.match_kind!r}, "
            f"keys=<{len(self.keys)}>, subject={self.subject!r}, "
            f"expires_at_ms={self.expires_at_ms}, consent={self.consent})"
        )


@dataclass(frozen=True, slots=True)
class Registered:
    """The hub took a registration into its index (hub to member)."""

    reference: str
    expires_at_ms: int

    def __post_init__(self) -> None:
        _check_reference(self.reference)


@dataclass(frozen=True, slots=True)
class Evaluate:
    """Ask one key-share holder to evaluate blinded elements (member to member)."""

    query_id: str
    purpose: str
    blinded: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_uuid7("query_id", self.query_id)
        _check_purpose(self.purpose)
        _check_sizes("blinded elements", self.blinded, ELEMENT_SIZE)

    def __repr__(self) -> str:
        return (
            f"Evaluate(query_id={self.query_id!r}, purpose={self.purpose!r}, "
            f"blinded=<{len(self.blinded)}>)"
        )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A key-share holder's partial evaluations and its budget for the requester."""

    query_id: str
    partials: tuple[PartialEvaluation, ...]
    budget_used: int
    budget_limit: int
    budget_day: str

    def __post_init__(self) -> None:
        _check_uuid7("query_id", self.query_id)
        _check_count("partial evaluations", self.partials)
        for i, p in enumerate(self.partials):
            if not 1 <= p.index <= MAX_INDEX:
                raise _invalid(f"expected partials[{i}].index in 1..{MAX_INDEX}, got {p.index}")
            if len(p.evaluated) != ELEMENT_SIZE or len(p.proof) != PROOF_SIZE:
                raise _invalid(
                    f"expected partials[{i}] of a {ELEMENT_SIZE}-byte element and a "
                    f"{PROOF_SIZE}-byte proof, got {len(p.evaluated)} and {len(p.proof)}"
                )
        if len({p.index for p in self.partials}) != 1:
            raise _invalid("expected every partial evaluation from one share index")
        if not 0 < self.budget_used <= self.budget_limit:
            raise _invalid(
                f"expected 0 < budget_used <= budget_limit, got {self.budget_used} "
                f"and {self.budget_limit}"
            )
        if not BUDGET_DAY.fullmatch(self.budget_day):
            raise _invalid(f"expected budget_day as YYYY-MM-DD, got {shown(self.budget_day)}")


@dataclass(frozen=True, slots=True)
class Query:
    """Look match keys up in the hub's index (member to hub)."""

    query_id: str
    match_kind: str
    keys: tuple[bytes, ...]
    case_ref: str
    purpose: str

    def __post_init__(self) -> None:
        _check_uuid7("query_id", self.query_id)
        _check_kind(self.match_kind)
        _check_sizes("keys", self.keys, MATCH_KEY_SIZE)
        if not isinstance(self.case_ref, str) or not _CASE_REF.fullmatch(self.case_ref):
            raise _case_required(
                "expected case_ref of 1-128 characters from [A-Za-z0-9._:~-], "
                f"got {len(self.case_ref) if isinstance(self.case_ref, str) else 'none'}"
            )
        if self.purpose not in PURPOSES:
            raise _case_required(
                f"expected a purpose in {sorted(PURPOSES)}, got {shown(self.purpose)}"
            )

    def __repr__(self) -> str:
        return (
            f"Query(query_id={self.query_id!r}, match_kind={self.match_kind!r}, "
            f"keys=<{len(self.keys)}>, case_ref={self.case_ref!r}, purpose={self.purpose!r})"
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """Hit (owner, reference, kind) or no hit, nothing else (hub to member)."""

    query_id: str
    hit: bool
    owner: str | None = None
    reference: str | None = None
    match_kind: str | None = None

    def __post_init__(self) -> None:
        _check_uuid7("query_id", self.query_id)
        named = (self.owner, self.reference, self.match_kind)
        if not self.hit:
            if named != (None, None, None):
                raise _invalid("expected no owner, reference or kind in a no-hit answer")
            return
        if self.owner is None or not COUNTRY_CODE.match(self.owner):
            raise _invalid(f"expected a hit's owner to be an alpha-2 code, got {shown(self.owner)}")
        _check_reference(self.reference or "")
        _check_kind(self.match_kind or "")


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal: a reason code and what was expected and what arrived."""

    reason: str
    detail: str

    def __post_init__(self) -> None:
        if self.reason not in _REASONS:
            raise _invalid(f"expected a reason code, got {shown(self.reason)}")
        if len(self.detail) > MAX_DETAIL:
            raise _invalid(f"expected a detail of at most {MAX_DETAIL} characters")

    @classmethod
    def of(cls, error: TrmError) -> Refused:
        """The refusal of ``error`` (its detail cut to the limit)."""
        return cls(str(error.reason), error.detail[:MAX_DETAIL])


Body = Register | Registered | Evaluate | Evaluation | Query | Answer | Refused


@unique
class MatchMessageKind(StrEnum):
    """What a match message is (the Avro enum ``MatchMessageKind``)."""

    REGISTER = "REGISTER"
    REGISTERED = "REGISTERED"
    EVALUATE = "EVALUATE"
    EVALUATION = "EVALUATION"
    QUERY = "QUERY"
    ANSWER = "ANSWER"
    REFUSED = "REFUSED"


_K = MatchMessageKind
# kind -> (body class, who sends it, who receives it, answers something)
# "member" is any alpha-2 code; a member never addresses itself.
_RULES: Final[dict[MatchMessageKind, tuple[type, str, str, bool]]] = {
    _K.REGISTER: (Register, "member", HUB, False),
    _K.REGISTERED: (Registered, HUB, "member", True),
    _K.EVALUATE: (Evaluate, "member", "member", False),
    _K.EVALUATION: (Evaluation, "member", "member", True),
    _K.QUERY: (Query, "member", HUB, False),
    _K.ANSWER: (Answer, HUB, "member", True),
    _K.REFUSED: (Refused, "any", "member", True),
}
_KIND_OF_BODY: Final = {rule[0]: kind for kind, rule in _RULES.items()}
_BODY_FIELDS: Final = {
    _K.REGISTER: frozenset({"reference", "match_kind", "keys", "subject", "expires_at", "consent"}),
    _K.REGISTERED: frozenset({"reference", "expires_at"}),
    _K.EVALUATE: frozenset({"query_id", "purpose", "blinded"}),
    _K.EVALUATION: frozenset({"query_id", "partials", "budget_used", "budget_limit", "budget_day"}),
    _K.QUERY: frozenset({"query_id", "match_kind", "keys", "case_ref", "purpose"}),
    _K.ANSWER: frozenset({"query_id", "hit", "owner", "reference", "match_kind"}),
    _K.REFUSED: frozenset({"reason", "detail"}),
}


def _party_ok(party: str, rule: str) -> bool:
    member = COUNTRY_CODE.match(party) is not None
    if rule == "member":
        return member
    if rule == HUB:
        return party == HUB
    return member or party == HUB


@dataclass(frozen=True, slots=True)
class MatchMessage:
    """One match message: who sends it to whom, what it answers, and its body."""

    kind: MatchMessageKind
    message_id: str
    sender: str
    recipient: str
    correlation_id: str | None
    created_at_ms: int
    body: Body

    def __post_init__(self) -> None:
        body_class, sends, receives, answers = _RULES[self.kind]
        if type(self.body) is not body_class:
            raise _invalid(
                f"expected a {body_class.__name__} body in a {self.kind}, "
                f"got {type(self.body).__name__}"
            )
        _check_uuid7("message_id", self.message_id)
        if not _party_ok(self.sender, sends) or not _party_ok(self.recipient, receives):
            raise _invalid(
                f"expected a {self.kind} from {sends} to {receives}, got from "
                f"{shown(self.sender)} to {shown(self.recipient)}"
            )
        if self.sender == self.recipient:
            raise _invalid(f"expected {self.sender} not to address itself")
        if answers:
            _check_uuid7("correlation_id", self.correlation_id or "")
        elif self.correlation_id is not None:
            raise _invalid(f"expected no correlation_id in a {self.kind}")
        if self.created_at_ms < 0:
            raise _invalid(f"expected created_at >= 0, got {self.created_at_ms}")

    @classmethod
    def of(
        cls,
        body: Body,
        *,
        message_id: str,
        sender: str,
        recipient: str,
        created_at_ms: int,
        correlation_id: str | None = None,
    ) -> MatchMessage:
        """A message of ``body``'s kind."""
        return cls(
            _KIND_OF_BODY[type(body)],
            message_id,
            sender,
            recipient,
            correlation_id,
            created_at_ms,
            body,
        )

    def encode(self) -> bytes:
        """The message bytes a sender signs (single-object encoding)."""
        return frame(_MESSAGE, part(_MESSAGE).encode(_to_record(self)))


# --- Avro records ---------------------------------------------------------------


def _body_record(body: Body) -> tuple[str, dict[str, Any]]:
    name = f"trm.match.v1.{type(body).__name__}"
    match body:
        case Register():
            rec = {
                "reference": body.reference,
                "match_kind": body.match_kind,
                "keys": list(body.keys),
                "subject": body.subject,
                "expires_at": body.expires_at_ms,
                "consent": body.consent,
            }
        case Registered():
            rec = {"reference": body.reference, "expires_at": body.expires_at_ms}
        case Evaluate():
            rec = {
                "query_id": body.query_id,
                "purpose": body.purpose,
                "blinded": list(body.blinded),
            }
        case Evaluation():
            rec = {
                "query_id": body.query_id,
                "partials": [
                    {"index": p.index, "evaluated": p.evaluated, "proof": p.proof}
                    for p in body.partials
                ],
                "budget_used": body.budget_used,
                "budget_limit": body.budget_limit,
                "budget_day": body.budget_day,
            }
        case Query():
            rec = {
                "query_id": body.query_id,
                "match_kind": body.match_kind,
                "keys": list(body.keys),
                "case_ref": body.case_ref,
                "purpose": body.purpose,
            }
        case Answer():
            rec = {
                "query_id": body.query_id,
                "hit": body.hit,
                "owner": body.owner,
                "reference": body.reference,
                "match_kind": body.match_kind,
            }
        case Refused():
            rec = {"reason": body.reason, "detail": body.detail}
    return name, rec


def _to_record(message: MatchMessage) -> dict[str, Any]:
    return {
        "spec_version": MATCH_SPEC_VERSION,
        "kind": str(message.kind),
        "message_id": message.message_id,
        "sender": message.sender,
        "recipient": message.recipient,
        "correlation_id": message.correlation_id,
        "created_at": message.created_at_ms,
        "body": _body_record(message.body),
    }


def _body_of(kind: MatchMessageKind, rec: dict[str, Any]) -> Body:
    match kind:
        case _K.REGISTER:
            return Register(
                rec["reference"],
                rec["match_kind"],
                tuple(rec["keys"]),
                rec["subject"],
                rec["expires_at"],
                rec["consent"],
            )
        case _K.REGISTERED:
            return Registered(rec["reference"], rec["expires_at"])
        case _K.EVALUATE:
            return Evaluate(rec["query_id"], rec["purpose"], tuple(rec["blinded"]))
        case _K.EVALUATION:
            if len(rec["partials"]) > MAX_PARTIALS:
                raise _invalid(f"expected at most {MAX_PARTIALS} partial evaluations")
            return Evaluation(
                rec["query_id"],
                tuple(
                    PartialEvaluation(p["index"], p["evaluated"], p["proof"])
                    for p in rec["partials"]
                ),
                rec["budget_used"],
                rec["budget_limit"],
                rec["budget_day"],
            )
        case _K.QUERY:
            return Query(
                rec["query_id"],
                rec["match_kind"],
                tuple(rec["keys"]),
                rec["case_ref"],
                rec["purpose"],
            )
        case _K.ANSWER:
            return Answer(
                rec["query_id"], rec["hit"], rec["owner"], rec["reference"], rec["match_kind"]
            )
        case _K.REFUSED:
            return Refused(rec["reason"], rec["detail"])


def _from_record(rec: dict[str, Any]) -> MatchMessage:
    if rec["spec_version"] != MATCH_SPEC_VERSION:
        raise WireError(
            Reason.UNSUPPORTED_VERSION,
            f"expected match spec_version {MATCH_SPEC_VERSION}, got {rec['spec_version']}",
        )
    kind = MatchMessageKind(rec["kind"])
    body_rec = rec["body"]
    # The body records have pairwise different field sets: they name the branch read.
    expected = _BODY_FIELDS[kind]
    if set(body_rec) != expected:
        raise _invalid(
            f"expected a {_RULES[kind][0].__name__} body in a {kind}, got a record of "
            f"fields {sorted(body_rec)}"
        )
    return MatchMessage(
        kind,
        rec["message_id"],
        rec["sender"],
        rec["recipient"],
        rec["correlation_id"],
        rec["created_at"],
        _body_of(kind, body_rec),
    )


# --- sealing and opening ----------------------------------------------------------


def seal_message(message: MatchMessage, signer: Ed25519PrivateKey) -> bytes:
    """The signed wire bytes of ``message``.

    ``signer`` is the sending member's producer key, or a hub key when the
    sender is ``"hub"`` (the receiver checks which).
    """
    message_bytes = message.encode()
    signature = Signature(
        signer_key_id(signer), ed25519_sign(signer, pae(MATCH_PAYLOAD_TYPE, message_bytes))
    )
    wire = {"message": message_bytes, "signature": signature.to_record()}
    return frame(_SIGNED, part(_SIGNED).encode(wire))


def _decode(name: str, data: bytes, what: str) -> dict[str, Any]:
    try:
        rec: dict[str, Any] = part(name).decode(unframe(name, data, what))
    except ValueError as exc:
        raise WireError(Reason.MALFORMED_AVRO, f"expected an Avro {what}: {exc}"[:300]) from exc
    return rec


def open_message(
    data: bytes,
    directory: KeyDirectory,
    *,
    now_ms: int,
    max_future_ms: int = MAX_FUTURE_MS,
    max_age_ms: int = MAX_AGE_MS,
) -> MatchMessage:
    """Verify ``data``, then decode it: the match message it carries.

    Order: size; the wrapper's frame and record; the signing key (listed, a
    producer key of a member or a hub key, not revoked and valid at
    ``now_ms``) and its signature over the message bytes as received; then
    the message's frame and record; its sender must be the key's owner; its
    fields must be valid; its ``created_at`` within the clock bounds.

    Raises:
        WireError: OVERSIZED, MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO,
            UNSUPPORTED_VERSION, INVALID_PAYLOAD, MATCH_CASE_REQUIRED.
        SignatureError: UNKNOWN_KEY, KEY_ROLE_NOT_ALLOWED, KEY_REVOKED,
            KEY_NOT_VALID_AT_TIME, BAD_SIGNATURE.
        DeliveryError: PRODUCER_MISMATCH (sender is not the key's owner),
            CLOCK_SKEW.
    """
    data = bytes(data)
    if len(data) > MATCH_MAX_SIZE:
        raise WireError(
            Reason.OVERSIZED,
            f"expected a match message of at most {MATCH_MAX_SIZE} bytes, got {len(data)}",
        )
    wrapper = _decode(_SIGNED, data, "signed match message")
    sig = wrapper["signature"]
    signature = Signature(sig["key_id"], sig["sig"])
    message_bytes: bytes = wrapper["message"]
    listed = directory.key(signature.key_id)
    owner = listed.country if listed is not None else None
    check_key(
        directory,
        signature,
        country=owner,
        role=KeyRole.HUB if owner == HUB_OWNER else KeyRole.PRODUCER,
        at_ms=now_ms,
        payload_type=MATCH_PAYLOAD_TYPE,
        payload=message_bytes,
        reason=Reason.BAD_SIGNATURE,
    )
    # Verified: the bytes are the signer's. Now what they say.
    rec = _decode(_MESSAGE, message_bytes, "match message")
    message = _from_record(rec)
    expected = HUB if owner == HUB_OWNER else owner
    if message.sender != expected:
        raise DeliveryError(
            Reason.PRODUCER_MISMATCH,
            f"expected sender {expected} (the signing key's owner), the message says "
            f"{shown(message.sender)}",
        )
    if message.created_at_ms > now_ms + max_future_ms:
        raise DeliveryError(
            Reason.CLOCK_SKEW,
            f"created {message.created_at_ms - now_ms} ms in the receiver's future; "
            f"at most {max_future_ms} ms is accepted",
        )
    if message.created_at_ms < now_ms - max_age_ms:
        raise DeliveryError(
            Reason.CLOCK_SKEW,
            f"created {now_ms - message.created_at_ms} ms before arrival; "
            f"at most {max_age_ms} ms is accepted",
        )
    return message
