"""Conformance: the vector sets a compatible node passes (docs/protocol.md section 12).

Each set is a folder of ``tests/vectors/`` and one module of this package
whose ``check(directory)`` applies every vector of that folder with this
implementation (``hub.conformance.base``). :data:`SETS` lists them in the
order the specification builds up: the wire format, sealing, trust lists,
seal-key sets, agreements, the audit log and its Merkle tree, the match
inputs, the matching OPRF and its threshold split, the match messages. ``trm conformance DIR``
runs them; a foreign team runs the same folders against its own
implementation.

Pure: reads files, computes, compares. No Kafka, no clock, no network.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.conformance.base import Result
from hub.errors import OperationalError, Reason, TrmError

__all__ = ["SETS", "Result", "SetReport", "VectorSet", "run"]


@dataclass(frozen=True, slots=True)
class VectorSet:
    """One set: its folder under the vectors directory, what it covers, its checker."""

    folder: str
    covers: str
    module: str

    def checker(self) -> Callable[[Path], list[Result]]:
        check: Callable[[Path], list[Result]] = importlib.import_module(self.module).check
        return check


SETS: tuple[VectorSet, ...] = (
    VectorSet(
        "wire", "v1 envelopes, headers, disclosures, attestations (2-5)", "hub.conformance.wire"
    ),
    VectorSet(
        "sealed", "v2 sealed envelopes: verify, ingest, open (2.9)", "hub.conformance.sealed"
    ),
    VectorSet(
        "trust",
        "trust lists: strict reading, thresholds, chaining, roots at a time (6.1-6.5)",
        "hub.conformance.trust",
    ),
    VectorSet(
        "seal-keys",
        "seal-key sets: signer, shape, rollback, destroyed keys (6.6)",
        "hub.conformance.seal_keys",
    ),
    VectorSet(
        "policy",
        "agreements and the decision per recipient: consent, children, time (7)",
        "hub.conformance.policy",
    ),
    VectorSet(
        "audit",
        "audit leaves, the tree, checkpoints, cosignatures, extensions, proofs (9)",
        "hub.conformance.audit",
    ),
    VectorSet(
        "rfc9162-merkle",
        "transparency-dev's RFC 9162 and subtree proof vectors (9.2)",
        "hub.conformance.merkle",
    ),
    VectorSet(
        "matching",
        "match inputs: phones, documents and zones, romanised names; pairs (13.1)",
        "hub.conformance.matching",
    ),
    VectorSet(
        "rfc9497-oprf",
        "RFC 9497 A.1.1 ristretto255-SHA512: OPRF, VOPRF, POPRF byte for byte (13.2)",
        "hub.conformance.rfc9497",
    ),
    VectorSet(
        "threshold-oprf",
        "the 3-of-6 split of RFC 9497's key: shares, partials, proofs, combination (13.2)",
        "hub.conformance.threshold_oprf",
    ),
    VectorSet(
        "match-messages",
        "signed match messages: every kind opened, every refusal of the opening order (13.3)",
        "hub.conformance.match_messages",
    ),
)


@dataclass(frozen=True, slots=True)
class SetReport:
    """The results of one set; ``missing`` when its folder is not in the vectors directory."""

    vector_set: VectorSet
    results: tuple[Result, ...]
    missing: bool = False

    @property
    def passed(self) -> bool:
        return not self.missing and bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if not r.passed)


def run(root: Path, names: Sequence[str] = ()) -> list[SetReport]:
    """Apply every set (or those named) found under ``root``; a set's absence is a failure.

    Raises:
        OperationalError: CONFIG_INVALID for a name that is no set, or a root that is no folder.
    """
    known = {s.folder: s for s in SETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected vector sets among {sorted(known)}, got {unknown}",
        )
    if not root.is_dir():
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a folder of vector sets, got {str(root)!r}"
        )
    chosen = [known[n] for n in names] if names else list(SETS)
    reports = []
    for vector_set in chosen:
        folder = root / vector_set.folder
        if not folder.is_dir():
            reports.append(SetReport(vector_set, (), missing=True))
            continue
        try:
            results = tuple(vector_set.checker()(folder))
        except TrmError as exc:  # the set's own key files are refused
            results = (Result("(set)", False, "valid key files", exc.reason.value),)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            # a vector file that cannot be read as its set's format fails the set
            results = (Result("(set)", False, "readable vector files", type(exc).__name__),)
        reports.append(SetReport(vector_set, results))
    return reports
