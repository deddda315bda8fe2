"""What every conformance vector set shares: one result per vector, and how files are read.

A vector set is a folder of ``tests/vectors/`` that a compatible node must
pass (``docs/protocol.md`` section 12). Each set has one module in this
package with ``check(directory) -> list[Result]``: it reads only the files of
that folder, computes with this implementation what the vector asks, and
compares it with the vector's ``expected``. The unit tests of a set and
``trm conformance`` call the same ``check``, so there is one home for how a
vector is applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Result", "compact", "compare", "read_json"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one vector: ``vector`` names it within its set."""

    vector: str
    passed: bool
    expected: str
    got: str


def compact(value: Any) -> str:
    """One line of JSON, keys sorted, for a result's ``expected`` and ``got``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compare(vector: str, expected: Any, got: Any) -> Result:
    """A result that passes exactly when ``got`` equals ``expected``."""
    return Result(
        vector=vector, passed=got == expected, expected=compact(expected), got=compact(got)
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_json(path: Path) -> Any:
    """A vector file: UTF-8 JSON, a duplicate key anywhere is an error."""
    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
