"""The auditor's replay (pure): rebuild the log and check it against every topic.

Given what was read from Kafka — audit leaves and checkpoints, every outbox,
inbox, rejections topic and the quarantine — plus the trust list and the
agreements, :func:`replay` proves, without trusting the hub's operator:

- the tree rebuilt from the leaves matches every signed checkpoint, and each
  checkpoint extends the one before (else FORK);
- every outbox record has a decision (else DROP); every refusal reached the
  producer's rejections topic and the quarantine (else DROP);
- every inbox record is a delivery the log records, byte for byte (else
  INJECTION), verifies end to end — producer signature, disclosures, hub
  attestation — (else ALTERATION), and is not delivered twice (DUPLICATE);
- every delivered event has a valid producer signature in an outbox (else
  INJECTION), and the agreement in force at its creation time, re-applied to
  the original event, allows exactly what was delivered (else BEYOND_AGREEMENT);
- producer sequence numbers have no gaps (SEQUENCE_GAP: a warning, since the
  producer, not the hub, may have lost them).

Each finding names the topic, partition, offset and event id. Memory grows
with the number of distinct events (digests, not payloads).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.audit.leaf import AuditLeaf
from hub.audit.merkle import MerkleTree, verify_consistency
from hub.audit.note import Checkpoint, SignedNote, verify_note_signature
from hub.errors import TrmError
from hub.keys import KeyDirectory, KeyRole
from hub.policy import AgreementSet, Deliver, decide_one
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.wire import Envelope, verify, verify_attestation

__all__ = ["Finding", "Record", "ReplayInput", "Report", "replay"]

FAILING = (
    "DROP",
    "INJECTION",
    "ALTERATION",
    "DUPLICATE",
    "FORK",
    "BEYOND_AGREEMENT",
    "BAD_CHECKPOINT",
)
WARNING = ("SEQUENCE_GAP", "UNCHECKPOINTED")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as read."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    topic: str
    partition: int
    offset: int
    event_id: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "event_id": self.event_id,
            "detail": self.detail,
        }


@dataclass(slots=True)
class ReplayInput:
    """Everything read from the cluster, in topic order."""

    leaves: list[Record] = field(default_factory=list)
    checkpoints: list[Record] = field(default_factory=list)
    outboxes: list[Record] = field(default_factory=list)
    inboxes: list[Record] = field(default_factory=list)
    rejections: list[Record] = field(default_factory=list)
    quarantine: list[Record] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    leaves: int = 0
    checkpoints: int = 0
    checkpoint_size: int = 0
    root: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.kind in FAILING for f in self.findings)

    def add(self, kind: str, rec: Record | None, event_id: str, detail: str) -> None:
        self.findings.append(
            Finding(
                kind,
                rec.topic if rec else "",
                rec.partition if rec else -1,
                rec.offset if rec else -1,
                event_id,
                detail,
            )
        )

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.kind] += 1
        return dict(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "leaves": self.leaves,
            "checkpoints": self.checkpoints,
            "checkpoint_size": self.checkpoint_size,
            "root": self.root,
            "counts": self.counts,
            "discrepancies": self.summary(),
            "findings": [f.to_json() for f in self.findings],
        }


def _country(topic: str, suffix: str, topics: Topics) -> str | None:
    prefix = f"{topics.namespace}."
    if topic.startswith(prefix) and topic.endswith(suffix):
        cc = topic[len(prefix) : -len(suffix)]
        return cc if len(cc) == 2 else None
    return None


def replay(
    data: ReplayInput,
    *,
    trust: KeyDirectory,
    agreements: AgreementSet,
    topics: Topics,
    origin: str,
    hub_keys: Sequence[bytes],
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check everything; see the module docstring for what each finding means."""
    report = Report()
    tick = progress or (lambda _n: None)

    # 1. The tree, from the leaves in order; each decision once.
    tree = MerkleTree()
    leaves: list[tuple[Record, AuditLeaf]] = []
    seen_ids: dict[str, int] = {}
    for rec in data.leaves:
        try:
            leaf = AuditLeaf.from_bytes(rec.value)
        except TrmError as exc:
            report.add("INJECTION", rec, "", f"not an audit leaf: {exc.detail}")
            tree.append(rec.value)
            continue
        if leaf.decision_id in seen_ids:
            report.add(
                "DUPLICATE",
                rec,
                leaf.event_id,
                f"decision {leaf.decision_id} already at leaf {seen_ids[leaf.decision_id]}",
            )
        seen_ids[leaf.decision_id] = tree.size
        tree.append(rec.value)
        leaves.append((rec, leaf))
        tick(1)
    report.leaves = tree.size

    # 2. Checkpoints: signed by the hub, matching the rebuilt tree, each extending the last.
    last: Checkpoint | None = None
    for rec in data.checkpoints:
        try:
            note = SignedNote.from_bytes(rec.value)
            cp = Checkpoint.parse(note.text)
        except TrmError as exc:
            report.add("BAD_CHECKPOINT", rec, "", exc.detail)
            continue
        if cp.origin != origin:
            continue  # another log's checkpoint on the same topic: not ours to judge
        if not any(_signed(note, origin, k) for k in hub_keys):
            report.add(
                "BAD_CHECKPOINT",
                rec,
                "",
                f"expected the hub's signature on checkpoint size {cp.size}",
            )
            continue
        report.checkpoints += 1
        if cp.size > tree.size:
            report.add(
                "FORK",
                rec,
                "",
                f"checkpoint of size {cp.size} but the leaves topic holds only "
                f"{tree.size}: leaves were removed",
            )
        elif tree.root(cp.size) != cp.root:
            report.add(
                "FORK",
                rec,
                "",
                f"checkpoint root at size {cp.size} differs from the tree "
                "rebuilt from the leaves: the log was rewritten",
            )
        if last is not None:
            try:
                if cp.size >= last.size:
                    verify_consistency(
                        last.size,
                        cp.size,
                        last.root,
                        cp.root,
                        tree.consistency_proof(last.size, cp.size)
                        if cp.size <= tree.size and last.size > 0
                        else [],
                    )
                else:
                    report.add(
                        "FORK", rec, "", f"checkpoint size went back from {last.size} to {cp.size}"
                    )
            except TrmError as exc:
                report.add("FORK", rec, "", f"checkpoints {last.size} -> {cp.size}: {exc.detail}")
        if last is None or cp.size >= last.size:
            last = cp
    if last is not None:
        report.checkpoint_size = last.size
        report.root = last.root.hex()
        if last.size < tree.size:
            report.add(
                "UNCHECKPOINTED",
                None,
                "",
                f"{tree.size - last.size} leaves after the last "
                f"checkpoint (size {last.size}) are not yet signed by the hub",
            )
    elif tree.size:
        report.add("BAD_CHECKPOINT", None, "", f"no checkpoint covers the {tree.size} leaves")

    by_source: dict[str, list[AuditLeaf]] = defaultdict(list)
    delivered: dict[bytes, AuditLeaf] = {}
    delivered_to: dict[tuple[bytes, str], AuditLeaf] = {}
    for _rec, leaf in leaves:
        by_source[leaf.source].append(leaf)
        if leaf.kind in ("DELIVERED", "ACKNOWLEDGED") and leaf.delivered_digest:
            delivered[leaf.delivered_digest] = leaf
            delivered_to[(leaf.event_digest, leaf.recipient)] = leaf

    # 3. Outboxes: every record decided; remember each verified original event.
    originals: dict[bytes, Any] = {}
    sequences: dict[str, list[tuple[int, Record, str]]] = defaultdict(list)
    for rec in data.outboxes:
        tick(1)
        if not by_source.get(rec.where):
            report.add("DROP", rec, "", "an outbox record with no decision in the log")
        try:
            event = verify(Envelope.from_bytes(rec.value), trust)
        except TrmError:
            continue  # refused on ingest; its REJECTED leaf was checked above
        if _country(rec.topic, ".outbox", topics) != event.header.producer:
            continue
        originals.setdefault(event.envelope.event_digest, _PolicyView.of(event))
        sequences[event.header.producer].append((event.header.sequence, rec, event.header.event_id))

    for producer, seqs in sequences.items():
        numbers = sorted({s for s, _r, _e in seqs})
        for a, b in itertools.pairwise(numbers):
            if b > a + 1:
                rec = next(r for s, r, _e in seqs if s == b)
                report.add("SEQUENCE_GAP", rec, "", f"{producer}: sequence {a} then {b}")

    # 4. Inboxes: each record a logged delivery that verifies and obeys its agreement.
    per_inbox: dict[tuple[str, str], Record] = {}
    for rec in data.inboxes:
        tick(1)
        recipient = _country(rec.topic, ".inbox", topics) or "?"
        digest = hashlib.sha256(rec.value).digest()
        logged = delivered.get(digest)
        try:
            envelope = Envelope.from_bytes(rec.value)
            event_id = envelope.header.event_id
        except TrmError as exc:
            report.add("INJECTION", rec, "", f"not an envelope: {exc.detail}")
            continue
        if logged is None or logged.recipient != recipient:
            if (envelope.event_digest, recipient) in delivered_to:
                report.add(
                    "ALTERATION",
                    rec,
                    event_id,
                    "the bytes differ from the delivery the log records for this event",
                )
            else:
                report.add(
                    "INJECTION", rec, event_id, "an inbox record the audit log does not record"
                )
            continue
        key = (recipient, event_id)
        if key in per_inbox:
            report.add("DUPLICATE", rec, event_id, f"already delivered at {per_inbox[key].where}")
        per_inbox[key] = rec
        try:
            event = verify(envelope, trust)
            attestation = verify_attestation(envelope, trust)
        except TrmError as exc:
            report.add("ALTERATION", rec, event_id, f"{exc.reason}: {exc.detail}")
            continue
        original = originals.get(envelope.event_digest)
        if original is None:
            report.add(
                "INJECTION", rec, event_id, "no outbox record with a valid producer signature"
            )
            continue
        decision = decide_one(original, recipient, agreements, trust)
        got = set(event.disclosed)
        if not isinstance(decision, Deliver):
            report.add(
                "BEYOND_AGREEMENT",
                rec,
                event_id,
                f"delivered, but the agreement in force refuses: {decision.reason}",
            )
        elif not got <= decision.fields:
            extra = sorted(got - decision.fields)
            report.add(
                "BEYOND_AGREEMENT",
                rec,
                event_id,
                f"fields {extra} are outside {decision.agreement_ref}",
            )
        elif attestation_ref(attestation) not in ("", decision.agreement_ref):
            report.add(
                "BEYOND_AGREEMENT",
                rec,
                event_id,
                f"attested {attestation_ref(attestation)}, in force {decision.agreement_ref}",
            )

    # 5. Every delivered leaf has its inbox record, every refusal its rejection and quarantine copy.
    inbox_digests = {hashlib.sha256(r.value).digest() for r in data.inboxes}
    for rec, leaf in leaves:
        if (
            leaf.kind in ("DELIVERED", "ACKNOWLEDGED")
            and leaf.delivered_digest not in inbox_digests
        ):
            report.add(
                "DROP",
                rec,
                leaf.event_id,
                f"logged delivery to {leaf.recipient} is not in its inbox",
            )
    rejected_sources = _json_sources(data.rejections)
    quarantined = {_header(r, "trm-source") or "" for r in data.quarantine}
    quarantined_effects = {_header(r, "trm-effect") or "" for r in data.quarantine}
    for rec, leaf in leaves:
        if leaf.kind != "REJECTED":
            continue
        if (leaf.source, leaf.recipient) not in rejected_sources:
            report.add(
                "DROP",
                rec,
                leaf.event_id,
                f"refusal {leaf.reason} never reached {leaf.producer}'s rejections topic",
            )
        if leaf.source not in quarantined and not any(
            leaf.source in e for e in quarantined_effects
        ):
            report.add(
                "DROP", rec, leaf.event_id, "refused record's original bytes not in quarantine"
            )

    report.counts = {
        "outbox_records": len(data.outboxes),
        "inbox_records": len(data.inboxes),
        "rejections": len(data.rejections),
        "quarantined": len(data.quarantine),
        "delivered_leaves": sum(1 for _r, lf in leaves if lf.kind == "DELIVERED"),
        "rejected_leaves": sum(1 for _r, lf in leaves if lf.kind == "REJECTED"),
    }
    return report


# The payload fields the policy engine reads; the replay keeps only these per event.
_POLICY_FIELDS = ("is_child", "best_interest_assessment", "consent", "receiving_organisation")


@dataclass(frozen=True, slots=True)
class _PolicyView:
    """What ``decide`` needs of an original event, without its personal data."""

    header: Any
    fields: Mapping[str, Any]
    disclosed: frozenset[str]

    @classmethod
    def of(cls, event: Any) -> _PolicyView:
        kept = {k: event.fields[k] for k in _POLICY_FIELDS if k in event.fields}
        return cls(event.header, kept, event.disclosed)


def attestation_ref(attestation: Any) -> str:
    agreement = getattr(attestation, "agreement_id", "")
    version = getattr(attestation, "agreement_version", None)
    return f"{agreement}@{version}" if agreement and version is not None else ""


def _signed(note: SignedNote, origin: str, key: bytes) -> bool:
    try:
        verify_note_signature(note, origin, key)
    except TrmError:
        return False
    return True


def _header(rec: Record, name: str) -> str | None:
    for k, v in rec.headers:
        if k == name:
            return v.decode("utf-8", "replace")
    return None


def _json_sources(records: Iterable[Record]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in records:
        try:
            obj: Mapping[str, Any] = json.loads(r.value)
            out.add((str(obj.get("source", "")), str(obj.get("recipient", ""))))
        except (ValueError, AttributeError):
            continue
    return out


def hub_public_keys(
    trust: KeyDirectory, countries: Sequence[str] = COMMIT_COUNTRIES
) -> list[bytes]:
    """Every hub key the trust list names (any time): checkpoints may span rotations."""
    keys = getattr(trust, "keys", None)
    if isinstance(keys, Mapping):
        return [k.raw for k in keys.values() if KeyRole.HUB in k.roles]
    return []
