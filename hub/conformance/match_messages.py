"""The match message vectors (``tests/vectors/match-messages/``, docs/protocol.md 13.3).

``trust.json`` in the folder is the trust list (the wire vectors' own: TH and
KH members, a hub key, a revoked and a not-yet-valid TH key). Each ``good-*``
or ``bad-*`` file holds ``wire`` (the message's bytes, hex), ``now_ms`` (the
receiver's clock) and ``expected``: ``opened`` with every field of the
message (bytes as hex), or ``rejected`` with the reason code of the first
step of section 13.3's opening order it fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.conformance.trust import vector_files
from hub.errors import TrmError
from hub.keys import KeyDirectory
from hub.matching.messages import Evaluation, MatchMessage, open_message
from hub.trust import TrustList

__all__ = ["NAME", "TRUST_LIST", "check", "outcome", "rendered"]

NAME = "match-messages"
TRUST_LIST = "trust.json"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def rendered(message: MatchMessage) -> dict[str, Any]:
    """A message as the vectors write it: its fields, the body's by name, bytes as hex."""
    body = message.body
    if isinstance(body, Evaluation):
        fields: dict[str, Any] = {
            "query_id": body.query_id,
            "partials": [
                {"index": p.index, "evaluated": p.evaluated.hex(), "proof": p.proof.hex()}
                for p in body.partials
            ],
            "budget_used": body.budget_used,
            "budget_limit": body.budget_limit,
            "budget_day": body.budget_day,
        }
    else:
        fields = {name: _plain(getattr(body, name)) for name in body.__slots__}
    return {
        "kind": str(message.kind),
        "message_id": message.message_id,
        "sender": message.sender,
        "recipient": message.recipient,
        "correlation_id": message.correlation_id,
        "created_at_ms": message.created_at_ms,
        "body": fields,
    }


def outcome(vector: dict[str, Any], keys: KeyDirectory) -> dict[str, Any]:
    """What this implementation makes of one vector, in the form of ``expected``."""
    try:
        message = open_message(bytes.fromhex(vector["wire"]), keys, now_ms=vector["now_ms"])
    except TrmError as error:
        return {"outcome": "rejected", "reason": str(error.reason)}
    return {"outcome": "opened", "message": rendered(message)}


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory``, against its ``trust.json``."""
    trust = TrustList.from_bytes((directory / TRUST_LIST).read_bytes())
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        results.append(compare(path.stem, vector["expected"], outcome(vector, trust)))
    return results
