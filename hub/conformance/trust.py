"""The trust-list vectors (``tests/vectors/trust/``, docs/protocol.md section 6.7).

Each ``good-*``, ``bad-*`` or ``shape-*`` file holds ``previous`` (the version a
node holds, or null), the version offered as ``document`` (JSON) or
``document_text`` (the exact text), and ``expected``. ``previous`` is pinned:
verified as a first version. The offered version is verified against it
(section 6.3); the outcome is ``accepted`` with its version and digest, or
``rejected`` with the reason code of the first rule it breaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.errors import TrmError
from hub.trust import TrustList

__all__ = ["NAME", "check", "outcome", "vector_files"]

NAME = "trust"


def vector_files(directory: Path) -> list[Path]:
    """The vector files of a set folder (README.md and helper files excluded)."""
    return sorted(
        p for p in directory.glob("*.json") if p.name.startswith(("good-", "bad-", "shape-"))
    )


def _accepted(trust: TrustList) -> dict[str, Any]:
    return {
        "outcome": "accepted",
        "reason": None,
        "version": trust.version,
        "digest": trust.digest.hex(),
    }


def outcome(vector: dict[str, Any]) -> dict[str, Any]:
    """What this implementation makes of one trust vector, in the form of ``expected``."""
    try:
        previous = (
            TrustList.from_signed(vector["previous"]) if vector["previous"] is not None else None
        )
    except TrmError as error:  # a vector whose held version does not verify is itself wrong
        return {"outcome": "invalid previous", "reason": str(error.reason)}
    try:
        if "document_text" in vector:
            trust = TrustList.from_bytes(vector["document_text"].encode("utf-8"), previous=previous)
        else:
            trust = TrustList.from_signed(vector["document"], previous=previous)
    except TrmError as error:
        return {"outcome": "rejected", "reason": str(error.reason)}
    return _accepted(trust)


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory``."""
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        results.append(compare(path.stem, vector["expected"], outcome(vector)))
    return results
