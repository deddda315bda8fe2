"""The seal-key set vectors (``tests/vectors/seal-keys/``, docs/protocol.md section 6.7).

``trust.json`` in the folder is the trust list every vector is checked
against; it is pinned (verified as a first version, section 6.3). Each
``good-*``, ``bad-*`` or ``shape-*`` file holds ``previous`` (the set held for
the country, or null; verified against the trust list alone), the set offered
as ``document`` (JSON) or ``document_text`` (the exact text), and ``expected``:
``accepted`` with country, version and digest, or ``rejected`` with the reason
code of the first rule of section 6.6 it breaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.conformance.trust import vector_files
from hub.errors import TrmError
from hub.keys import KeyDirectory
from hub.sealkeys import SealKeySet
from hub.trust import TrustList

__all__ = ["NAME", "TRUST_LIST", "check", "outcome"]

NAME = "seal-keys"
TRUST_LIST = "trust.json"


def outcome(vector: dict[str, Any], trust: KeyDirectory) -> dict[str, Any]:
    """What this implementation makes of one seal-key vector, in the form of ``expected``."""
    try:
        previous = (
            SealKeySet.from_signed(vector["previous"], trust)
            if vector["previous"] is not None
            else None
        )
    except TrmError as error:  # a vector whose held set does not verify is itself wrong
        return {"outcome": "invalid previous", "reason": str(error.reason)}
    offered = (
        vector["document_text"].encode("utf-8") if "document_text" in vector else vector["document"]
    )
    try:
        found = SealKeySet.from_signed(offered, trust, previous=previous)
    except TrmError as error:
        return {"outcome": "rejected", "reason": str(error.reason)}
    return {
        "outcome": "accepted",
        "reason": None,
        "country": found.country,
        "version": found.version,
        "digest": found.digest.hex(),
    }


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory``, against its ``trust.json``."""
    trust = TrustList.from_bytes((directory / TRUST_LIST).read_bytes())
    results = []
    for path in vector_files(directory):
        vector = read_json(path)
        results.append(compare(path.stem, vector["expected"], outcome(vector, trust)))
    return results
