"""The match-input vectors (``tests/vectors/matching/``, docs/protocol.md section 13.1).

``records.json`` holds identifiers as people write them, each with the exact
canonical input bytes (hex, in order) it must give or the reason it is
refused; ``pairs.json`` the pairs that must match (share an input) and must
not. One result per record and one per pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.errors import TrmError
from hub.matching.keys import match_inputs

__all__ = ["NAME", "check", "outcome"]

NAME = "matching"


def outcome(record: dict[str, Any]) -> dict[str, Any]:
    """What this implementation makes of one record, in the form of its ``expected``."""
    try:
        inputs = match_inputs(
            record["kind"],
            record["value"],
            country=record["country"],
            birth_year=record["birth_year"],
            issuing_state=record["issuing_state"],
        )
    except TrmError as error:
        return {"outcome": "rejected", "reason": error.reason.value}
    return {"outcome": "accepted", "inputs": [m.input.hex() for m in inputs]}


def check(directory: Path) -> list[Result]:
    """One result per record of ``records.json`` and per pair of ``pairs.json``."""
    results = []
    got: dict[str, dict[str, Any]] = {}
    for record in read_json(directory / "records.json"):
        got[record["id"]] = outcome(record)
        results.append(
            compare(f"records.json#{record['id']}", record["expected"], got[record["id"]])
        )
    for pair in read_json(directory / "pairs.json"):
        a, b = got[pair["a"]], got[pair["b"]]
        shared = set(a.get("inputs", ())) & set(b.get("inputs", ()))
        results.append(
            compare(
                f"pairs.json#{pair['a']}~{pair['b']}",
                pair["expected"],
                "match" if shared else "no match",
            )
        )
    return results
