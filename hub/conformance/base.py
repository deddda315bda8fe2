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

from hub.signed_doc import parse_json

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


def read_json(path: Path) -> Any:
    """A vector file, read as strictly as a signed document (:func:`hub.signed_doc.parse_json`).

    Raises:
        ValueError: not UTF-8 JSON, or a member name twice in one object.
    """
    return parse_json(path.read_bytes())
