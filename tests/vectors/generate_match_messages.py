#!/usr/bin/env python3
"""Generate the match message vectors in tests/vectors/match-messages/ (deterministic).

The wire vectors' fixed keys and trust list (tests/vectors/generate_wire.py),
fixed message ids and times: rerunning writes the same bytes, and
tests/unit/matching/test_match_message_vectors.py fails if the files drift.
One JSON file per vector::

    {"description": str, "wire": hex, "now_ms": int,
     "expected": {"outcome": "opened", "message": {...}}
               | {"outcome": "rejected", "reason": CODE}}

How a receiver applies them: docs/protocol.md section 13.3 (opening).

    python tests/vectors/generate_match_messages.py [--check]
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.conformance.match_messages import outcome
from hub.keys import key_id_of, raw_public
from hub.matching.messages import (
    HUB,
    MATCH_PAYLOAD_TYPE,
    Answer,
    Body,
    Evaluate,
    Evaluation,
    MatchMessage,
    PartialEvaluation,
    Query,
    Refused,
    Register,
    Registered,
    seal_message,
)
from hub.trust import TrustList
from hub.wire.codec import frame, part
from hub.wire.envelope import Signature, pae
from hub.wire.seal import new_event_id
from tests.vectors.generate_trust import check_or_write
from tests.vectors.generate_wire import KEYS, T0, render, trust_list

OUT = Path(__file__).resolve().parent / "match-messages"
NOW = T0 + 1000
REF = "00112233445566778899aabbccddeeff"


def _id(label: str) -> str:
    seed = hashlib.sha256(f"trm-vector-match:{label}".encode()).digest()
    return new_event_id(T0, lambda n: seed[:n])


def _bytes(label: str, n: int) -> bytes:
    return hashlib.sha512(f"trm-vector-match:{label}".encode()).digest()[:n]


QUERY_ID = _id("query")
BODIES: dict[str, tuple[Body, str, str, str | None]] = {
    "register": (
        Register(REF, "phone", (_bytes("k1", 64), _bytes("k2", 64)), "suspect", T0 + 86_400_000),
        "TH", HUB, None,
    ),
    "registered": (Registered(REF, T0 + 86_400_000), HUB, "TH", _id("register")),
    "evaluate": (Evaluate(QUERY_ID, "investigation", (_bytes("b1", 32),)), "TH", "KH", None),
    "evaluation": (
        Evaluation(
            QUERY_ID,
            (PartialEvaluation(2, _bytes("z", 32), _bytes("p", 64)),),
            1, 100, "2026-01-01",
        ),
        "KH", "TH", _id("evaluate"),
    ),
    "query": (
        Query(QUERY_ID, "name", (_bytes("k3", 64),), "TH-2026-1", "investigation"),
        "TH", HUB, None,
    ),
    "answer-hit": (Answer(QUERY_ID, True, "KH", REF, "name"), HUB, "TH", _id("query")),
    "answer-no-hit": (Answer(QUERY_ID, False), HUB, "TH", _id("query")),
    "refused": (Refused("MATCH_CASE_REQUIRED", "expected a case_ref"), HUB, "TH", _id("query")),
}  # fmt: skip
SIGNER = {"TH": KEYS["TH"], "KH": KEYS["KH"], HUB: KEYS["HUB"]}


def _message(name: str, **kw: Any) -> MatchMessage:
    body, sender, recipient, correlation = BODIES[name]
    return MatchMessage.of(
        body,
        message_id=_id(name),
        sender=kw.get("sender", sender),
        recipient=recipient,
        created_at_ms=kw.get("created_at_ms", T0),
        correlation_id=correlation,
    )


def _signed(message_bytes: bytes, label: str) -> bytes:
    key = KEYS[label]

    sig = Signature(
        key_id_of(raw_public(key.public_key())), key.sign(pae(MATCH_PAYLOAD_TYPE, message_bytes))
    )
    return frame(
        "match_signed",
        part("match_signed").encode({"message": message_bytes, "signature": sig.to_record()}),
    )


def _no_case_ref() -> bytes:
    rec = part("match_message").decode(_message("query").encode()[10:])
    rec["body"] = ("trm.match.v1.Query", {**rec["body"], "case_ref": ""})
    return _signed(frame("match_message", part("match_message").encode(rec)), "TH")


def build() -> dict[str, Any]:
    trust = TrustList.from_signed(trust_list(), previous=None)
    vectors: dict[str, tuple[str, bytes, int, str | None]] = {}
    for name, (_b, sender, _r, _c) in BODIES.items():
        vectors[f"good-{name}"] = (
            f"a {name} message signed by {sender}",
            seal_message(_message(name), SIGNER[sender]),
            NOW,
            None,
        )
    query = seal_message(_message("query"), KEYS["TH"])
    bad = {
        "bad-01-oversized": ("more than 16,384 bytes", b"\xc3\x01" + bytes(16_384), "OVERSIZED"),
        "bad-02-not-framed": ("no C3 01 marker", b"match", "MALFORMED_FRAME"),
        "bad-03-an-envelope-fingerprint": (
            "the envelope schema's frame",
            frame("envelope", query[10:]),
            "UNKNOWN_SCHEMA",
        ),
        "bad-04-trailing-byte": ("a byte after the record", query + b"\x00", "MALFORMED_AVRO"),
        "bad-05-signature-flipped": (
            "the last signature byte changed",
            query[:-1] + bytes([query[-1] ^ 1]),
            "BAD_SIGNATURE",
        ),
        "bad-06-unlisted-key": (
            "signed by a key not in the trust list",
            seal_message(_message("query"), KEYS["XX-unlisted"]),
            "UNKNOWN_KEY",
        ),
        "bad-07-revoked-key": (
            "signed by TH's key revoked before the receiver's clock",
            seal_message(_message("query"), KEYS["TH-revoked"]),
            "KEY_REVOKED",
        ),
        "bad-08-key-not-yet-valid": (
            "signed by TH's key valid only from a day later",
            seal_message(_message("query"), KEYS["TH-future"]),
            "KEY_NOT_VALID_AT_TIME",
        ),
        "bad-09-spoofed-sender": (
            "KH signs a query that says it is from TH",
            seal_message(_message("query"), KEYS["KH"]),
            "PRODUCER_MISMATCH",
        ),
        "bad-10-member-as-hub": (
            "TH signs an answer that says it is from the hub",
            seal_message(_message("answer-hit"), KEYS["TH"]),
            "PRODUCER_MISMATCH",
        ),
        "bad-11-no-case-ref": (
            "a validly signed query with an empty case_ref",
            _no_case_ref(),
            "MATCH_CASE_REQUIRED",
        ),
        "bad-12-from-the-future": (
            "created ten minutes after the receiver's clock",
            seal_message(_message("query", created_at_ms=NOW + 600_000), KEYS["TH"]),
            "CLOCK_SKEW",
        ),
    }
    for name, (description, wire, code) in bad.items():
        vectors[name] = (description, wire, NOW, code)
    built: dict[str, Any] = {"trust.json": trust_list()}
    for name, (description, wire, now_ms, reason) in sorted(vectors.items()):
        vector: dict[str, Any] = {"description": description, "wire": wire.hex(), "now_ms": now_ms}
        got = outcome(vector, trust)
        if reason is not None and got != {"outcome": "rejected", "reason": reason}:
            raise AssertionError(f"{name}: expected {reason}, this implementation says {got}")
        vector["expected"] = got
        built[f"{name}.json"] = vector
    return built


def main() -> int:
    built = build()
    if "--check" in sys.argv:
        return check_or_write(OUT, built, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in built.items():
        (OUT / name).write_text(render(content), encoding="utf-8")
    print(f"wrote {len(built)} files to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
