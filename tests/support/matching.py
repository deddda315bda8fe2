"""Match messages for tests, fuzz seeds and the integration test: fixed keys, ids and clock."""

from __future__ import annotations

import hashlib

from hub.matching.messages import (
    HUB,
    Answer,
    Body,
    Evaluate,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
    Query,
    Refused,
    Register,
    Registered,
    seal_message,
)
from hub.matching.threshold import PartialEvaluation as Partial
from hub.wire.seal import new_event_id
from tests.support.wire import HUB_KEY, KH_KEY, T0, TH_KEY, counter_rng

REF = "0123456789abcdef0123456789abcdef"
SIGNER = {"TH": TH_KEY, "KH": KH_KEY, HUB: HUB_KEY}


def message_id(label: str, at_ms: int = T0) -> str:
    """A UUIDv7 at ``at_ms`` whose random part is fixed by ``label``."""
    return new_event_id(at_ms, counter_rng(f"id:{label}"))


def match_key(label: str | int) -> bytes:
    """A stand-in 64-byte match key (a threshold OPRF output)."""
    return hashlib.sha512(f"key:{label}".encode()).digest()


def element(label: str | int) -> bytes:
    """A stand-in 32-byte group element (never checked as one by the hub)."""
    return hashlib.sha256(f"element:{label}".encode()).digest()


def partial(label: str | int, index: int = 2) -> Partial:
    return Partial(index, element(f"p{label}"), hashlib.sha512(f"proof:{label}".encode()).digest())


QUERY_ID = message_id("query")

BODIES: dict[MatchMessageKind, Body] = {
    MatchMessageKind.REGISTER: Register(
        REF, "phone", (match_key(1), match_key(2)), "suspect", T0 + 10**9
    ),
    MatchMessageKind.REGISTERED: Registered(REF, T0 + 10**9),
    MatchMessageKind.EVALUATE: Evaluate(QUERY_ID, "investigation", (element(1), element(2))),
    MatchMessageKind.EVALUATION: Evaluation(
        QUERY_ID, (partial(1), partial(2)), 3, 100, "2026-01-01"
    ),
    MatchMessageKind.QUERY: Query(
        QUERY_ID, "name", (match_key(3),), "TH-2026-0042", "investigation"
    ),
    MatchMessageKind.ANSWER: Answer(QUERY_ID, True, "KH", REF, "phone"),
    MatchMessageKind.REFUSED: Refused("MATCH_CASE_REQUIRED", "expected a case_ref"),
}
PARTIES: dict[MatchMessageKind, tuple[str, str, str | None]] = {
    MatchMessageKind.REGISTER: ("TH", HUB, None),
    MatchMessageKind.REGISTERED: (HUB, "TH", message_id("asked")),
    MatchMessageKind.EVALUATE: ("TH", "KH", None),
    MatchMessageKind.EVALUATION: ("KH", "TH", message_id("asked")),
    MatchMessageKind.QUERY: ("TH", HUB, None),
    MatchMessageKind.ANSWER: (HUB, "TH", message_id("asked")),
    MatchMessageKind.REFUSED: (HUB, "TH", message_id("asked")),
}


def sample(kind: MatchMessageKind, *, at_ms: int = T0) -> MatchMessage:
    """One message of ``kind`` with the fixed parties and body above."""
    sender, recipient, correlation = PARTIES[kind]
    return MatchMessage.of(
        BODIES[kind],
        message_id=message_id(f"m:{kind}", at_ms),
        sender=sender,
        recipient=recipient,
        created_at_ms=at_ms,
        correlation_id=correlation,
    )


def sealed(message: MatchMessage) -> bytes:
    """``message`` signed by its sender's test key."""
    return seal_message(message, SIGNER[message.sender])
