"""The auditor's replay (pure): rebuild the log and check it against every topic.

Given what was read from Kafka — audit leaves and checkpoints, every outbox,
inbox, rejections topic and the quarantine — plus the trust list and the
agreements, :func:`replay` proves, without trusting the hub's operator:

- the tree rebuilt from the leaves matches every signed checkpoint, and each
  checkpoint extends the one before (else FORK);
- every outbox record has a decision (else DROP); every logged delivery is in
  its recipient's own inbox, byte for byte (else DROP; a copy in another
  member's inbox does not count); every refusal reached the producer's
  rejections topic and the quarantine (else DROP);
- every inbox record is a delivery the log records, byte for byte (else
  INJECTION), verifies end to end — producer signature, disclosures, hub
  attestation — (else ALTERATION), and is not delivered twice (DUPLICATE; a
  byte-identical second copy is REDELIVERY, a warning: an at-least-once re-send
  after a crash that discloses nothing new, dropped by the recipient by event id);
- every delivered event has a valid producer signature in an outbox (else
  INJECTION), and the agreement in force at its creation time, re-applied to
  the original event, allows exactly what was delivered (else BEYOND_AGREEMENT);
- producer sequence numbers have no gaps (SEQUENCE_GAP: a warning, since the
  producer, not the hub, may have lost them);
- the hit/no-hit exchange (docs/protocol.md 13.3, 13.4): every delivered
  ``match_followup_answer`` answers a ``match_followup`` request its recipient
  sent to its producer, delivered (else FOLLOWUP_UNASKED); every delivered
  ``match_followup`` request, its signed ``correlation_id`` a query id, had a
  logged hit for that query, its producer the querier and its recipient the
  hit's owner (else FOLLOWUP_WITHOUT_HIT); no evaluator relayed more
  evaluations to one requester on one day than the signed budget limit it
  states (else OVER_BUDGET). Match decisions are not events: they are kept
  out of the delivery and refusal checks above;
- every erasure request delivered to a recipient is answered: CONFIRMED (an
  erasure confirmation from that recipient, its ``correlation_id`` the
  request's event id, was delivered back to the requester), else PENDING, or
  OVERDUE once ``now`` is past the request's ``created_at`` plus
  :data:`ERASURE_DUE_DAYS` (ERASURE_OVERDUE: a warning). All of it is read from
  the signed headers of verified outbox records and the log: nothing is opened.

Each finding names the topic, partition, offset and event id. Each topic is
read once, as a stream; what must be remembered between topics goes to
temporary files (the tree's levels, and an SQLite index of digests, names and
offsets — never payloads), so memory stays flat however long the log is.
What the inbox pass looks up and writes is keyed by event id first, then
digest: ids are UUIDv7 in their producers' time order, so those accesses walk
the index in order and its small page cache holds what they touch, where
random digests made each one a page read once the index outgrew the cache.

Cost: the floor is the cryptography. For an alert delivered to two
recipients (3 leaves, 1 outbox and 2 inbox records) the replay runs 3
Ed25519 verifies — the producer signature on the outbox record and the hub
attestation on each delivered copy; a copy whose header, signature and
disclosures are byte for byte those of the verified outbox record is not
verified again (:class:`_Signed` says why that is the same check) — and about
61 SHA-256 over about 12.7 kB: every disclosure's digest and the event digest
of each envelope as it is parsed, each inbox record's digest, and the tree's
3 leaf and about 3 node hashes (``tests/bench/bench_replay.py`` counts them).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hub.audit.flows import (
    ACK_DUE_MS,
    ACK_TIMES_CAP,
    FLOW_LEAVES_CAP,
    AckTime,
    FlowCount,
    Flows,
    ack_summary,
    month_start_ms,
)
from hub.audit.leaf import AuditLeaf
from hub.audit.merkle import MerkleTree, leaf_hash
from hub.audit.note import (
    COSIGNATURE_V1,
    Checkpoint,
    SignedNote,
    note_key_id,
    signed_by_any,
    verify_cosignature,
)
from hub.audit.witness import verify_extension
from hub.decision import DELIVERY_KINDS, EFFECT_HEADER, DecisionKind, DecisionRecord, EffectId
from hub.errors import Reason, RequestError, TrmError
from hub.keys import KeyDirectory, KeyRole
from hub.policy import POLICY_FIELDS, AgreementSet, Deliver, decide_remembered
from hub.topics import COMMIT_COUNTRIES, QUARANTINE_RETENTION_MS, Topics
from hub.wire import (
    DELIVERED_MAX_SIZE,
    Envelope,
    EventType,
    VerifiedEvent,
    verify,
    verify_attestation,
)

__all__ = [
    "ALL_TIME",
    "ERASURE_DUE_DAYS",
    "ERASURE_DUE_MS",
    "FINDING_MEANINGS",
    "LINKED_MAX",
    "LINKS_PER_COUNT",
    "NONE",
    "Erasure",
    "Finding",
    "LeafFilter",
    "Record",
    "ReplayInput",
    "ReplaySource",
    "Report",
    "replay",
    "window_of",
    "window_select",
]

#: A replay's window with both ends open: every decision time (ms since the epoch).
ALL_TIME: Final = (0, 2**63 - 1)

# How long a recipient has to confirm an erasure request (docs/protocol.md 9.6).
# An auditor cannot read a sealed request's own due_at, so it counts from the
# signed created_at.
ERASURE_DUE_DAYS: Final = 30
ERASURE_DUE_MS: Final = ERASURE_DUE_DAYS * 86_400_000
_ERASURE_KINDS: Final = {
    EventType.ERASURE_REQUEST: "request",
    EventType.ERASURE_CONFIRMATION: "confirmation",
}

# The follow-up's event types (helper "followup" registers them in hub.wire.eventtypes).
_FOLLOWUP_KINDS: Final = {
    "match_followup": "request",
    "match_followup_answer": "answer",
}

FAILING = (
    "FOLLOWUP_UNASKED",
    "FOLLOWUP_WITHOUT_HIT",
    "OVER_BUDGET",
    "DROP",
    "INJECTION",
    "ALTERATION",
    "DUPLICATE",
    "FORK",
    "BEYOND_AGREEMENT",
    "BAD_CHECKPOINT",
)
WARNING = ("SEQUENCE_GAP", "UNCHECKPOINTED", "REDELIVERY", "ERASURE_OVERDUE")
# What each finding means, in words for the auditor's page (one line each).
FINDING_MEANINGS: Final = {
    "FOLLOWUP_UNASKED": "a follow-up answer was delivered that answers no follow-up request",
    "FOLLOWUP_WITHOUT_HIT": "a follow-up request names a query for which the log holds no hit",
    "OVER_BUDGET": "an evaluator answered more evaluations in a day than its signed limit",
    "DROP": "something that must exist is missing: an outbox record with no decision, a "
    "logged delivery not in the inbox, or a refusal that never reached the producer or the "
    "quarantine",
    "INJECTION": "a record the log does not account for: an inbox record no decision "
    "delivered, a delivery with no signed original, or a leaf that is not a leaf",
    "ALTERATION": "an inbox record whose bytes differ from the delivery the log records, or "
    "that does not verify",
    "DUPLICATE": "the same decision logged twice, or an event delivered twice with different bytes",
    "FORK": "a signed checkpoint the rebuilt tree does not give: the log was rewritten or "
    "shortened",
    "BEYOND_AGREEMENT": "a delivery the agreement in force at the event's creation does not "
    "allow (the event type, a field, or the agreement named)",
    "BAD_CHECKPOINT": "a checkpoint that does not parse or is not signed by the hub, or no "
    "checkpoint at all",
    "SEQUENCE_GAP": "a producer's sequence numbers skip: the producer, not the hub, may have "
    "lost events",
    "UNCHECKPOINTED": "leaves after the last signed checkpoint: the next checkpoint will cover "
    "them",
    "REDELIVERY": "a byte-identical second copy of a delivery (an at-least-once re-send); it "
    "discloses nothing new",
    "ERASURE_OVERDUE": "an erasure request not confirmed within its due time",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as read."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes,
        headers: tuple[tuple[str, bytes], ...] = (),
        timestamp_ms: int = 0,
    ) -> None:
        object.__setattr__(self, "topic", topic)  # the constructor written out: D26
        object.__setattr__(self, "partition", partition)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "timestamp_ms", timestamp_ms)

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


@dataclass(frozen=True, slots=True)
class Erasure:
    """One erasure request as delivered to one recipient, and whether it was answered.

    ``status`` is CONFIRMED (the recipient's erasure confirmation reached the
    requester), OVERDUE (none, and the replay's ``now`` is past ``due_at_ms``)
    or PENDING. Whether the answer says ERASED, NOTHING_HELD or REFUSED is in
    its sealed payload, for the requester to read.
    """

    request_event_id: str
    case_key: str
    requester: str
    recipient: str
    requested_at_ms: int
    due_at_ms: int
    status: str
    confirmation_event_id: str | None
    confirmed_at_ms: int | None
    topic: str
    partition: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "request_event_id": self.request_event_id,
            "case_key": self.case_key,
            "requester": self.requester,
            "recipient": self.recipient,
            "requested_at_ms": self.requested_at_ms,
            "due_at_ms": self.due_at_ms,
            "status": self.status,
            "confirmation_event_id": self.confirmation_event_id,
            "confirmed_at_ms": self.confirmed_at_ms,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
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
    erasures: list[Erasure] = field(default_factory=list)
    flows: Flows = field(default_factory=lambda: Flows((), ()))
    # Bounded: one row per group (agreement, corridor, type, reason), never per leaf.
    sharing: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    matching: dict[str, Any] = field(default_factory=dict)
    unacknowledged: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_log: dict[str, Any] = field(default_factory=dict)
    linked_leaves: list[dict[str, Any]] = field(default_factory=list)  # at most LINKED_MAX

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

    def erasure_summary(self) -> dict[str, int]:
        """How many (request, recipient) pairs are CONFIRMED, PENDING, OVERDUE."""
        out = dict.fromkeys(("CONFIRMED", "PENDING", "OVERDUE"), 0)
        for e in self.erasures:
            out[e.status] += 1
        return out

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
            "erasure_due_days": ERASURE_DUE_DAYS,
            "erasure_counts": self.erasure_summary(),
            "erasures": [e.to_json() for e in self.erasures],
            "flows": self.flows.to_json(),
            "ack_due_ms": ACK_DUE_MS,
            "ack_summary": ack_summary(self.flows.ack_times),
            # No deadline from a referral to its handover: days are normal there.
            "handover_summary": ack_summary(self.flows.handover_times, due_ms=None),
            "unacknowledged": self.unacknowledged,
            "sharing": self.sharing,
            "refusals": self.refusals,
            "matching": self.matching,
            "checkpoint_log": self.checkpoint_log,
            "linked_leaves": self.linked_leaves,
        }


def _country(topic: str, suffix: str, topics: Topics) -> str | None:
    prefix = f"{topics.namespace}."
    if topic.startswith(prefix) and topic.endswith(suffix):
        cc = topic[len(prefix) : -len(suffix)]
        return cc if len(cc) == 2 else None
    return None


class ReplaySource(Protocol):
    """What :func:`replay` reads: six record streams, each iterated once, in this order.

    :class:`ReplayInput` holds lists; the CLI passes iterables that read Kafka
    as they are iterated, so nothing is held whole.
    """

    @property
    def leaves(self) -> Iterable[Record]: ...
    @property
    def checkpoints(self) -> Iterable[Record]: ...
    @property
    def outboxes(self) -> Iterable[Record]: ...
    @property
    def inboxes(self) -> Iterable[Record]: ...
    @property
    def rejections(self) -> Iterable[Record]: ...
    @property
    def quarantine(self) -> Iterable[Record]: ...


_SCHEMA = """
CREATE TABLE leaf(
  idx INTEGER PRIMARY KEY, decision_id TEXT, kind TEXT, event_id TEXT,
  producer TEXT, recipient TEXT, event_digest BLOB, delivered_digest BLOB,
  reason TEXT, source TEXT, topic TEXT, part INTEGER, off INTEGER,
  logged INTEGER,  -- a delivery the log records: DELIVERED or ACKNOWLEDGED
  decided INTEGER,  -- decided_at_ms
  agreement TEXT, registry TEXT,
  fset INTEGER,  -- the leaf's fields, interned (fieldset.id); NULL for a match decision
  facts TEXT);  -- a match decision's fields (JSON list); NULL otherwise
CREATE TABLE fieldset(id INTEGER PRIMARY KEY, fields TEXT);  -- JSON list, sorted
CREATE TABLE outbox(topic TEXT, part INTEGER, off INTEGER, src TEXT);
CREATE TABLE original(  -- rows in outbox order; the signed header's names and times
  digest BLOB, view BLOB, event_id TEXT, producer TEXT, etype TEXT, created INTEGER,
  corr TEXT, case_key TEXT, fset INTEGER);  -- fset: the fields the event discloses
-- Keyed by event id first: ids are UUIDv7, in the producer's time order, so the
-- inserts and the inbox pass's lookups walk this index in order (a digest is
-- random, and each lookup by it was a page read once the index outgrew the
-- cache). The digest decides the event id, so this is unique by digest too.
CREATE UNIQUE INDEX original_id ON original(event_id, digest);
CREATE TABLE checkpoint(  -- each hub-signed checkpoint of this log, first seen
  size INTEGER, root BLOB, at INTEGER, topic TEXT, part INTEGER, off INTEGER,
  PRIMARY KEY(size, root)) WITHOUT ROWID;
CREATE TABLE cosignature(  -- witness signature lines on those checkpoints
  size INTEGER, root BLOB, witness TEXT, key_id TEXT, signed_at INTEGER, verified INTEGER,
  PRIMARY KEY(size, root, witness, key_id)) WITHOUT ROWID;
CREATE TABLE seq(producer TEXT, sequence INTEGER, topic TEXT, part INTEGER, off INTEGER);
CREATE TABLE inbox_seen(
  recipient TEXT, event_id TEXT, at TEXT, digest BLOB,
  PRIMARY KEY(recipient, event_id)) WITHOUT ROWID;
CREATE TABLE inbox(  -- each distinct inbox record ('' for the id of one that does not parse)
  recipient TEXT, event_id TEXT, digest BLOB,
  PRIMARY KEY(recipient, event_id, digest)) WITHOUT ROWID;
CREATE TABLE rejected(src TEXT, recipient TEXT, PRIMARY KEY(src, recipient)) WITHOUT ROWID;
CREATE TABLE quarantined(src TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE erasure(  -- verified erasure requests and confirmations, from their headers
  kind TEXT, event_id TEXT, digest BLOB UNIQUE, producer TEXT, correlation_id TEXT,
  case_key TEXT, created INTEGER, topic TEXT, part INTEGER, off INTEGER);
CREATE INDEX erasure_answers ON erasure(correlation_id, producer) WHERE kind = 'confirmation';
CREATE TABLE match(  -- decisions about match messages (MatchFacts): no key, no element
  idx INTEGER, kind TEXT, message TEXT, event_id TEXT, producer TEXT, recipient TEXT,
  query_id TEXT, hit TEXT, owner TEXT, budget_used INTEGER, budget_limit INTEGER,
  budget_day TEXT, topic TEXT, part INTEGER, off INTEGER);
CREATE TABLE followup(  -- verified follow-up requests and answers, from their headers
  kind TEXT, event_id TEXT, digest BLOB UNIQUE, producer TEXT, correlation_id TEXT,
  topic TEXT, part INTEGER, off INTEGER);
"""
# Built after the leaves are in: one sort instead of an index update per insert.
_LEAF_INDEXES = """
CREATE INDEX leaf_source ON leaf(source);
CREATE INDEX leaf_delivered ON leaf(event_id, recipient, delivered_digest) WHERE logged;
CREATE INDEX leaf_event ON leaf(event_digest, recipient) WHERE logged;
"""

# Built after the outbox pass, for the joins that find an original by its digest alone.
_ORIGINAL_INDEXES = "CREATE INDEX original_digest ON original(digest);"


class _Index:
    """The replay's cross-reference tables, on disk: memory stays flat as the log grows.

    SQLite in an unnamed temporary directory, no journal and no fsync (a
    scratch file: a crash just means replaying again), its page cache capped.
    Everything runs in one transaction on a file only this process opens
    (exclusive locking): a statement in autocommit takes and drops the file's
    locks (fcntl) and writes its pages out, and those were a fifth of a
    replay's time once the leaves were in.
    """

    # Small: what is read at random (by digest: the later joins) gains nothing from a
    # bigger cache, which holds pages the OS's file cache holds anyway, and the inbox
    # pass walks its indexes in event-id (time) order; measured, 4 MiB replays
    # 100,000 events as fast as 32 MiB and keeps the peak flat in the log's length.
    CACHE_KIB: Final = 4 * 1024
    BATCH: Final = 5000  # rows inserted at a time

    def __init__(self, directory: str | None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="trm-replay-", dir=directory)
        self.db = sqlite3.connect(os.path.join(self._dir.name, "index.db"), isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=FILE",
            "locking_mode=EXCLUSIVE",
            f"cache_size=-{self.CACHE_KIB}",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.script(_SCHEMA)
        self._rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        # inbox_seen rows (recipient, event_id) -> (where, digest) not yet inserted
        self._first: dict[tuple[str, str], tuple[str, bytes]] = {}
        # One id per distinct set of field names (a handful per event type and
        # agreement: what the policy allows), so a leaf row holds an int, not a list.
        self._fieldsets: dict[tuple[str, ...], int] = {}
        self.event_types: set[str] = set()  # of the verified outbox records (a few names)

    def fieldset(self, fields: Iterable[str]) -> int:
        """The id of this set of field names (interned; the ``fieldset`` table maps it back)."""
        key = tuple(sorted(fields))
        found = self._fieldsets.get(key)
        if found is None:
            found = len(self._fieldsets) + 1
            self._fieldsets[key] = found
            self.db.execute("INSERT INTO fieldset VALUES (?, ?)", (found, json.dumps(key)))
        return found

    def script(self, sql: str) -> None:
        """Run several statements, then go on in a transaction (``executescript`` commits)."""
        self.db.executescript(sql)
        self.db.execute("BEGIN")

    def add(self, sql: str, row: tuple[Any, ...]) -> None:
        """Insert later, in a batch (for rows nothing looks up before :meth:`flush`)."""
        batch = self._rows[sql]
        batch.append(row)
        if len(batch) >= self.BATCH:
            self.db.executemany(sql, batch)
            batch.clear()

    def flush(self) -> None:
        for sql, batch in self._rows.items():
            self.db.executemany(sql, batch)
            batch.clear()
        self._insert_first()

    def first_copy(
        self, recipient: str, event_id: str, at: str, digest: bytes, *, stored: bool
    ) -> tuple[str, bytes] | None:
        """Where the first logged inbox copy of this event to this recipient was, and
        its digest; or None, and this copy is noted as the first.

        ``stored``: ``inbox_seen`` holds one (the caller's lookup asked). A new first
        copy waits in memory with the batch of rows not yet inserted.
        """
        key = (recipient, event_id)
        pending = self._first.get(key)
        if pending is not None:
            return pending
        if stored:
            found: tuple[str, bytes] = self.one(
                "SELECT at, digest FROM inbox_seen WHERE recipient = ? AND event_id = ?", key
            )
            return found
        self._first[key] = (at, digest)
        if len(self._first) >= self.BATCH:
            self._insert_first()
        return None

    def _insert_first(self) -> None:
        self.db.executemany(
            "INSERT INTO inbox_seen VALUES (?, ?, ?, ?)",
            [(*key, at, digest) for key, (at, digest) in self._first.items()],
        )
        self._first.clear()

    def one(self, sql: str, args: tuple[Any, ...]) -> Any:
        return self.db.execute(sql, args).fetchone()

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()


def replay(
    data: ReplaySource,
    *,
    trust: KeyDirectory,
    agreements: AgreementSet,
    topics: Topics,
    origin: str,
    hub_keys: Sequence[bytes],
    progress: Callable[[int], None] | None = None,
    scratch_dir: str | None = None,
    window: tuple[int, int] | None = None,
    now_ms: int | None = None,
    select: LeafFilter | None = None,
    on_leaf: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Check everything; see the module docstring for what each finding means.

    Each of ``data``'s streams is read once, in the order of
    :class:`ReplaySource`. What must be remembered between them (the tree's
    levels, and per leaf, outbox and inbox record a few digests and names) is
    kept in temporary files under ``scratch_dir``, so memory does not grow
    with the log; only the findings do.

    ``window`` (ms, half-open): the caller passes only inbox records stamped
    in it, and outbox records stamped from its start on (those after it hold
    the acknowledgements of what was delivered in it). Only the outbox records
    stamped in it must have a decision, and only decisions made in it must
    have their inbox record, rejection and quarantine copy. What the report
    counts (flows, sharing, refusals, acknowledgement times, unacknowledged
    deliveries) is the decisions made in it; an acknowledgement of one of
    them counts wherever it is in the log. The tree and every checkpoint are
    always checked whole.

    ``now_ms``: the moment the erasure report is judged at (the caller reads
    the clock); an unanswered request older than :data:`ERASURE_DUE_DAYS` is
    OVERDUE. None judges none overdue (each unanswered one is PENDING). It also
    says which quarantine copies may be gone: the quarantine keeps them
    :data:`hub.topics.QUARANTINE_RETENTION_MS`, so a refusal decided earlier
    than that before ``now_ms`` need not have one (None: every refusal must).

    Then the numbers an auditor presents, from the same index: the flows
    (:class:`hub.audit.flows.Flows`), what each agreement shared and withheld,
    refusals by reason, the matching exchange, the checkpoints with their
    witnesses, and the leaves the report links to with their inclusion proofs.
    ``select``/``on_leaf``: each leaf the filter selects is passed to
    ``on_leaf`` (``trm audit leaves``), streamed, never gathered.
    """
    report = Report()
    tick = progress or (lambda _n: None)
    span = window or ALL_TIME
    index = _Index(scratch_dir)
    tree = MerkleTree.spilled(scratch_dir)
    try:
        _leaves(data.leaves, tree, index, report, tick)
        _checkpoints(data.checkpoints, tree, origin, hub_keys, report, index, trust)
        _outboxes(data.outboxes, index, topics, trust, tick, span)
        _inboxes(data.inboxes, index, topics, trust, agreements, report, tick)
        for rec in data.rejections:
            try:
                obj: Mapping[str, Any] = json.loads(rec.value)
                row = (str(obj.get("source", "")), str(obj.get("recipient", "")))
            except (ValueError, AttributeError):
                continue
            index.add("INSERT OR IGNORE INTO rejected VALUES (?, ?)", row)
        for rec in data.quarantine:
            source = _header(rec, "trm-source")
            if source is None:  # the effect id names the source
                source = _quarantined_source(_header(rec, EFFECT_HEADER) or "")
            index.add("INSERT OR IGNORE INTO quarantined VALUES (?)", (source,))
        index.flush()
        _missing(
            index,
            report,
            span,
            copies_since_ms=0 if now_ms is None else now_ms - QUARANTINE_RETENTION_MS,
        )
        _erasures(index, report, now_ms)
        _matches(index, report)
        report.counts = _counts(index)
        _sharing(index, report, window)
        _ack_times(index, report, span)
        _unacknowledged(index, report, now_ms, span)
        _matching(index, report)
        _checkpoint_log(index, report, tree)
        _proofs(index, report, tree)
        if select is not None and on_leaf is not None:
            for detail in select_leaves(index, select):
                on_leaf(detail)
    finally:
        tree.close()
        index.close()
    return report


def _leaves(
    leaves: Iterable[Record],
    tree: MerkleTree,
    index: _Index,
    report: Report,
    tick: Callable[[int], None],
) -> None:
    """1. The tree, from the leaves in order; each decision once.

    Rows go in in batches, in leaf order; a decision id seen before is found
    afterwards in one sorted pass (not one index probe per leaf), reported at
    its place in the stream and its row dropped, as if never inserted.
    """
    insert = "INSERT INTO leaf VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    found: list[tuple[int, Finding]] = []  # (tree position, finding): stream order
    for rec in leaves:
        tick(1)
        try:
            leaf = AuditLeaf.from_bytes(rec.value)
        except TrmError as exc:
            found.append(
                (
                    tree.size,
                    Finding(
                        "INJECTION",
                        rec.topic,
                        rec.partition,
                        rec.offset,
                        "",
                        f"not an audit leaf: {exc.detail}",
                    ),
                )
            )
            tree.append(rec.value)
            continue
        at = tree.size
        tree.append(rec.value)
        d = leaf.record
        try:
            facts = d.match
        except TrmError:
            facts = None
        if facts is not None:
            index.add(
                "INSERT INTO match VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    str(d.kind),
                    facts.message,
                    d.event_id,
                    d.producer,
                    d.recipient,
                    facts.query_id,
                    facts.hit,
                    facts.owner,
                    facts.budget_used,
                    facts.budget_limit,
                    facts.budget_day,
                    *_at(rec),
                ),
            )
        row = (
            at,
            leaf.decision_id,
            # A match decision is not about an event: its kind is kept apart so the
            # delivery and refusal checks pass it by (its duplicates are still found).
            f"MATCH_{d.kind}" if facts is not None else str(d.kind),
            d.event_id,
            d.producer,
            d.recipient,
            leaf.event_digest,
            leaf.delivered_digest or None,
            d.reason,
            d.source,
            rec.topic,
            rec.partition,
            rec.offset,
            facts is None and d.kind in DELIVERY_KINDS and bool(d.delivered_digest),
            d.decided_at_ms,
            d.agreement,
            d.registry,
            index.fieldset(d.fields) if facts is None else None,
            json.dumps(d.fields) if facts is not None else None,
        )
        index.add(insert, row)
    index.flush()
    again = index.db.execute(
        "SELECT idx, event_id, decision_id, topic, part, off, first FROM ("
        "  SELECT idx, event_id, decision_id, topic, part, off,"
        "    MIN(idx) OVER (PARTITION BY decision_id) AS first FROM leaf)"
        " WHERE idx > first ORDER BY idx"
    ).fetchall()
    for at, event_id, decision_id, topic, part, off, first in again:
        detail = f"decision {decision_id} already at leaf {first}"
        found.append((at, Finding("DUPLICATE", topic, part, off, event_id, detail)))
    index.db.executemany("DELETE FROM leaf WHERE idx = ?", [(row[0],) for row in again])
    report.findings.extend(f for _at, f in sorted(found, key=lambda pair: pair[0]))
    report.leaves = tree.size
    index.script(_LEAF_INDEXES)


def _checkpoints(  # noqa: PLR0917 - the pass's inputs
    checkpoints: Iterable[Record],
    tree: MerkleTree,
    origin: str,
    hub_keys: Sequence[bytes],
    report: Report,
    index: _Index,
    trust: KeyDirectory,
) -> None:
    """2. Checkpoints: signed by the hub, matching the rebuilt tree, each extending the last.

    Each hub-signed checkpoint is remembered once (size, root, where first seen)
    with the witness signature lines it carries, each checked against the
    witness keys the trust list gives that country at the cosignature's time.
    """
    last: Checkpoint | None = None
    for rec in checkpoints:
        try:
            note = SignedNote.from_bytes(rec.value)
            cp = Checkpoint.parse(note.text)
        except TrmError as exc:
            report.add("BAD_CHECKPOINT", rec, "", exc.detail)
            continue
        if cp.origin != origin:
            continue  # another log's checkpoint on the same topic: not ours to judge
        if not signed_by_any(note, origin, hub_keys):
            report.add(
                "BAD_CHECKPOINT",
                rec,
                "",
                f"expected the hub's signature on checkpoint size {cp.size}",
            )
            continue
        report.checkpoints += 1
        index.db.execute(
            "INSERT OR IGNORE INTO checkpoint VALUES (?, ?, ?, ?, ?, ?)",
            (cp.size, cp.root, rec.timestamp_ms, *_at(rec)),
        )
        for cosig in _cosignatures(note, origin, trust):
            index.db.execute(
                "INSERT OR IGNORE INTO cosignature VALUES (?, ?, ?, ?, ?, ?)",
                (cp.size, cp.root, *cosig),
            )
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
            # The proof the leaves give (none when they do not reach cp: already a FORK).
            proof = (
                tree.consistency_proof(last.size, cp.size)
                if 0 < last.size < cp.size <= tree.size
                else []
            )
            try:
                verify_extension(last, cp, proof)
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


def _cosignatures(
    note: SignedNote, origin: str, trust: KeyDirectory
) -> Iterator[tuple[str, str, int, bool]]:
    """(witness, key id hex, signed at in s, verified) for each witness line of ``note``.

    A line is a cosignature (C2SP tlog-cosignature: a key id, an 8-byte time,
    a signature) by the country it names; it verifies if a witness key the
    trust list gives that country at that time signed it.
    """
    for sig in note.signatures:
        if sig.name == origin or len(sig.body) != 72:
            continue
        signed_at = int.from_bytes(sig.body[:8], "big")
        verified = False
        try:
            keys = trust.keys_for(sig.name, KeyRole.WITNESS, signed_at * 1000)
        except TrmError:
            keys = ()
        for key in keys:
            if note_key_id(sig.name, key.raw, COSIGNATURE_V1) != sig.key_id:
                continue
            try:
                verify_cosignature(note, sig.name, key.raw)
            except TrmError:
                continue
            verified = True
            break
        yield sig.name, sig.key_id.hex(), signed_at, verified


def _outboxes(  # noqa: PLR0917 - the pass's inputs
    outboxes: Iterable[Record],
    index: _Index,
    topics: Topics,
    trust: KeyDirectory,
    tick: Callable[[int], None],
    window: tuple[int, int],
) -> None:
    """3. Outboxes: remember each record stamped in ``window`` (to find the undecided) and
    each verified original (outside the window too: an acknowledgement after the window
    answers an event delivered in it)."""
    lo, hi = window
    for rec in outboxes:
        tick(1)
        inside = lo <= rec.timestamp_ms < hi
        if inside:
            index.add("INSERT INTO outbox VALUES (?, ?, ?, ?)", (*_at(rec), rec.where))
        try:
            event = verify(Envelope.from_bytes(rec.value), trust)
        except TrmError:
            continue  # refused on ingest; its REJECTED leaf is checked below
        if _country(rec.topic, ".outbox", topics) != event.header.producer:
            continue
        view = _view_bytes(event)
        h = event.header
        index.event_types.add(h.event_type.value)
        index.add(
            "INSERT OR IGNORE INTO original VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.envelope.event_digest,
                view,
                h.event_id,
                h.producer,
                h.event_type.value,
                h.created_at_ms,
                h.correlation_id,
                h.case_key,
                index.fieldset(event.disclosed),
            ),
        )
        if not inside:
            continue  # known by its signed header; cross-checked by a replay of its time
        index.add(
            "INSERT INTO seq VALUES (?, ?, ?, ?, ?)",
            (event.header.producer, event.header.sequence, *_at(rec)),
        )
        followup = _FOLLOWUP_KINDS.get(event.header.event_type.value)
        if followup is not None:
            index.add(
                "INSERT OR IGNORE INTO followup VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    followup,
                    event.header.event_id,
                    event.envelope.event_digest,
                    event.header.producer,
                    event.header.correlation_id,
                    *_at(rec),
                ),
            )
        kind = _ERASURE_KINDS.get(event.header.event_type)
        if kind is not None:
            index.add(
                "INSERT OR IGNORE INTO erasure VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    h.event_id,
                    event.envelope.event_digest,
                    h.producer,
                    h.correlation_id,
                    h.case_key,
                    h.created_at_ms,
                    *_at(rec),
                ),
            )
    index.flush()
    index.script(_ORIGINAL_INDEXES)


def _inboxes(  # noqa: PLR0917 - the pass's inputs
    inboxes: Iterable[Record],
    index: _Index,
    topics: Topics,
    trust: KeyDirectory,
    agreements: AgreementSet,
    report: Report,
    tick: Callable[[int], None],
) -> None:
    """4. Inboxes: each record a logged delivery that verifies and obeys its agreement."""
    for rec in inboxes:
        tick(1)
        recipient = _country(rec.topic, ".inbox", topics) or "?"
        digest = hashlib.sha256(rec.value).digest()
        try:
            envelope = Envelope.from_bytes(rec.value, max_size=DELIVERED_MAX_SIZE)
            event_id = envelope.header.event_id
        except TrmError as exc:
            index.add("INSERT OR IGNORE INTO inbox VALUES (?, ?, ?)", (recipient, "", digest))
            report.add("INJECTION", rec, "", f"not an envelope: {exc.detail}")
            continue
        index.add("INSERT OR IGNORE INTO inbox VALUES (?, ?, ?)", (recipient, event_id, digest))
        # One round trip: is this delivery logged, and the verified original if any.
        # Both by event id first (time-ordered: the lookups walk their indexes in
        # order); the digests then decide. Bytes a leaf records as delivered carry
        # the header the leaf names, so a logged copy is found under its own id.
        logged, view, stored = index.one(
            "SELECT EXISTS (SELECT 1 FROM leaf WHERE event_id = ? AND recipient = ?"
            " AND delivered_digest = ? AND logged),"
            " (SELECT view FROM original WHERE event_id = ? AND digest = ?),"
            " EXISTS (SELECT 1 FROM inbox_seen WHERE recipient = ? AND event_id = ?)",
            (event_id, recipient, digest, event_id, envelope.event_digest, recipient, event_id),
        )
        if not logged:
            named = index.one(
                "SELECT event_id FROM leaf WHERE event_digest = ? AND recipient = ?"
                " AND delivered_digest = ? AND logged",
                (envelope.event_digest, recipient, digest),
            )
            if named is not None:
                # These very bytes are logged, under another event id: the leaf
                # misnames the event its delivery carried.
                report.add(
                    "ALTERATION",
                    rec,
                    event_id,
                    f"the log records these bytes as a delivery of event {named[0]}; "
                    "the copy's signed header names this one",
                )
            elif index.one(
                "SELECT 1 FROM leaf WHERE event_digest = ? AND recipient = ? AND logged",
                (envelope.event_digest, recipient),
            ):
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
        seen = index.first_copy(recipient, event_id, rec.where, digest, stored=bool(stored))
        if seen is not None:
            first, first_digest = seen
            if first_digest == digest:
                # The same logged bytes again: a producer retry or a re-send after a
                # crash (at-least-once). It discloses nothing new; it was checked at
                # its first copy, and the recipient drops it by event id.
                report.add("REDELIVERY", rec, event_id, f"byte-identical copy of {first}")
                continue
            report.add("DUPLICATE", rec, event_id, f"already delivered at {first}")
        verified = _view_of(view) if view is not None else None
        try:
            disclosed = verified[1].disclosed(envelope) if verified is not None else None
            if disclosed is None:  # not the bytes of a verified outbox record: verify in full
                disclosed = verify(envelope, trust).disclosed
            attestation = verify_attestation(envelope, trust)
        except TrmError as exc:
            report.add("ALTERATION", rec, event_id, f"{exc.reason}: {exc.detail}")
            continue
        if verified is None:
            report.add(
                "INJECTION", rec, event_id, "no outbox record with a valid producer signature"
            )
            continue
        original = verified[0]
        decision = decide_remembered(original, recipient, agreements, trust)
        got = set(disclosed)
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


def _missing(
    index: _Index, report: Report, window: tuple[int, int], *, copies_since_ms: int = 0
) -> None:
    """5. What should exist and does not: decisions, inbox records, rejections, quarantine.

    A quarantine copy is asked for only of refusals decided at or after
    ``copies_since_ms`` (older ones are past the quarantine's retention).
    """
    db = index.db
    lo, hi = window
    for topic, part, off in db.execute(
        "SELECT topic, part, off FROM outbox o "
        "WHERE NOT EXISTS (SELECT 1 FROM leaf l WHERE l.source = o.src) ORDER BY rowid"
    ):
        report.findings.append(
            Finding("DROP", topic, part, off, "", "an outbox record with no decision in the log")
        )
    rows = db.execute(
        "SELECT producer, prev, sequence, topic, part, off FROM ("
        "  SELECT producer, sequence, topic, part, off,"
        "    LAG(sequence) OVER (PARTITION BY producer ORDER BY sequence) AS prev"
        "  FROM (SELECT producer, sequence, topic, part, off, MIN(rowid)"
        "        FROM seq GROUP BY producer, sequence))"
        " WHERE sequence > prev + 1 ORDER BY producer, sequence"
    )
    for producer, a, b, topic, part, off in rows:
        report.findings.append(
            Finding("SEQUENCE_GAP", topic, part, off, "", f"{producer}: sequence {a} then {b}")
        )
    for event_id, recipient, topic, part, off in db.execute(
        "SELECT event_id, recipient, topic, part, off FROM leaf WHERE logged"
        " AND decided >= ? AND decided < ? AND NOT EXISTS"
        " (SELECT 1 FROM inbox d WHERE d.recipient = leaf.recipient"
        "  AND d.event_id = leaf.event_id AND d.digest = leaf.delivered_digest) ORDER BY idx",
        (lo, hi),
    ):
        report.findings.append(
            Finding(
                "DROP",
                topic,
                part,
                off,
                event_id,
                f"logged delivery to {recipient} is not in its inbox",
            )
        )
    for event_id, producer, reason, lost_rejection, lost_copy, topic, part, off in db.execute(
        "SELECT event_id, producer, reason,"
        "  NOT EXISTS (SELECT 1 FROM rejected r WHERE r.src = leaf.source"
        "              AND r.recipient = leaf.recipient),"
        "  decided >= ? AND NOT EXISTS (SELECT 1 FROM quarantined q WHERE q.src = leaf.source),"
        "  topic, part, off"
        " FROM leaf WHERE kind = ? AND decided >= ? AND decided < ? ORDER BY idx",
        (copies_since_ms, str(DecisionKind.REJECTED), lo, hi),
    ):
        if lost_rejection:
            report.findings.append(
                Finding(
                    "DROP",
                    topic,
                    part,
                    off,
                    event_id,
                    f"refusal {reason} never reached {producer}'s rejections topic",
                )
            )
        if lost_copy:
            report.findings.append(
                Finding(
                    "DROP",
                    topic,
                    part,
                    off,
                    event_id,
                    "refused record's original bytes not in quarantine",
                )
            )


def _erasures(index: _Index, report: Report, now_ms: int | None) -> None:
    """6. Erasures: each request delivered to a recipient, and that recipient's answer.

    A request counts for a recipient when the log records its delivery there;
    its answer is a verified erasure confirmation from that recipient whose
    signed ``correlation_id`` is the request's event id and whose delivery
    back to the requester the log records (an answer refused on its way back
    is no answer). Unanswered past the due time: OVERDUE, a warning.
    """
    db = index.db
    # Driven by the (few) requests, each probing the leaves' partial index.
    requests = db.execute(
        "SELECT DISTINCT r.event_id, r.producer, r.case_key, r.created, r.topic, r.part,"
        "  r.off, l.recipient, r.rowid"
        " FROM erasure r CROSS JOIN leaf l"
        " WHERE r.kind = 'request' AND l.event_digest = r.digest AND l.logged"
        " ORDER BY r.rowid, l.recipient"
    ).fetchall()
    for event_id, requester, case_key, created, topic, part, off, recipient, _row in requests:
        answer = index.one(
            "SELECT c.event_id, c.created FROM erasure c"
            " WHERE c.kind = 'confirmation' AND c.correlation_id = ? AND c.producer = ?"
            "   AND EXISTS (SELECT 1 FROM leaf l WHERE l.event_digest = c.digest"
            "               AND l.recipient = ? AND l.logged)"
            " ORDER BY c.created, c.rowid LIMIT 1",
            (event_id, recipient, requester),
        )
        due = created + ERASURE_DUE_MS
        if answer is not None:
            status = "CONFIRMED"
        elif now_ms is not None and now_ms > due:
            status = "OVERDUE"
            report.findings.append(
                Finding(
                    "ERASURE_OVERDUE",
                    topic,
                    part,
                    off,
                    event_id,
                    f"erasure request from {requester} (case {case_key}) to {recipient}: "
                    f"no confirmation {(now_ms - created) // 86_400_000} days after it was "
                    f"made (due within {ERASURE_DUE_DAYS} days)",
                )
            )
        else:
            status = "PENDING"
        report.erasures.append(
            Erasure(
                request_event_id=event_id,
                case_key=case_key,
                requester=requester,
                recipient=recipient,
                requested_at_ms=created,
                due_at_ms=due,
                status=status,
                confirmation_event_id=answer[0] if answer else None,
                confirmed_at_ms=answer[1] if answer else None,
                topic=topic,
                partition=part,
                offset=off,
            )
        )


def _matches(index: _Index, report: Report) -> None:
    """7. The hit/no-hit exchange: follow-ups had their hit and request; budgets held."""
    db = index.db
    answers = db.execute(
        "SELECT a.event_id, a.producer, a.correlation_id, l.recipient, a.topic, a.part, a.off"
        " FROM followup a JOIN leaf l ON l.event_digest = a.digest AND l.logged"
        " WHERE a.kind = 'answer' ORDER BY a.rowid, l.recipient"
    ).fetchall()
    for event_id, owner, asked, requester, topic, part, off in answers:
        request = index.one(
            "SELECT 1 FROM followup r JOIN leaf l ON l.event_digest = r.digest AND l.logged"
            " WHERE r.kind = 'request' AND r.event_id = ? AND r.producer = ? AND l.recipient = ?",
            (asked, requester, owner),
        )
        if request is None:
            report.findings.append(
                Finding(
                    "FOLLOWUP_UNASKED",
                    topic,
                    part,
                    off,
                    event_id,
                    f"a follow-up answer from {owner} to {requester} answers no follow-up "
                    f"request of {requester} delivered to {owner}",
                )
            )
    requests = db.execute(
        "SELECT r.event_id, r.producer, r.correlation_id, l.recipient, r.topic, r.part, r.off"
        " FROM followup r JOIN leaf l ON l.event_digest = r.digest AND l.logged"
        " WHERE r.kind = 'request' ORDER BY r.rowid, l.recipient"
    ).fetchall()
    for event_id, requester, query_id, owner, topic, part, off in requests:
        hit = index.one(
            "SELECT 1 FROM match WHERE message = 'QUERY' AND kind = ? AND hit = 'true'"
            " AND query_id = ? AND recipient = ? AND owner = ?",
            (str(DecisionKind.DELIVERED), query_id or "", requester, owner),
        )
        if hit is None:
            report.findings.append(
                Finding(
                    "FOLLOWUP_WITHOUT_HIT",
                    topic,
                    part,
                    off,
                    event_id,
                    f"a follow-up request from {requester} to {owner} names query "
                    f"{query_id}, which the log shows no hit of {owner}'s for",
                )
            )
    over = db.execute(
        "SELECT producer, recipient, budget_day, COUNT(*), MIN(budget_limit), MAX(idx)"
        " FROM match WHERE message = 'EVALUATION' AND kind = ?"
        " GROUP BY producer, recipient, budget_day HAVING COUNT(*) > MIN(budget_limit)"
        " ORDER BY MIN(idx)",
        (str(DecisionKind.DELIVERED),),
    ).fetchall()
    for evaluator, requester, day, count, limit, last in over:
        where = index.one("SELECT topic, part, off, event_id FROM match WHERE idx = ?", (last,))
        report.findings.append(
            Finding(
                "OVER_BUDGET",
                where[0],
                where[1],
                where[2],
                where[3],
                f"{evaluator} answered {count} evaluations for {requester} on {day}; "
                f"its signed limit is {limit}",
            )
        )


_DELIVERED = str(DecisionKind.DELIVERED)
_ACKNOWLEDGED = str(DecisionKind.ACKNOWLEDGED)
_REJECTED = str(DecisionKind.REJECTED)


# A criterion's value for "empty": no verified event type, no recipient (a record refused
# whole), no agreement. No country, event type, agreement or reason code is spelt so.
NONE: Final = "none"
_TIMES: Final = ("since_ms", "until_ms")


@dataclass(frozen=True, slots=True)
class LeafFilter:
    """Which leaves ``trm audit leaves`` lists: every criterion given must hold.

    ``outcome``: "delivered" (DELIVERED and ACKNOWLEDGED leaves), "refused"
    (REJECTED) or a decision kind; ``event_type`` and ``month`` (``YYYY-MM``, of
    the event's signed ``created_at``) come from the verified outbox record, so
    a leaf whose event never verified matches neither (but matches
    ``event_type`` :data:`NONE`). A text criterion :data:`NONE` matches an empty
    value. ``since_ms``/``until_ms``: the decision was made in that half-open
    interval (the hub's ``decided_at_ms``, the time a windowed replay counts
    by). The same selectors label each count in the report (``select``), so a
    count and its listing agree.
    """

    outcome: str | None = None
    producer: str | None = None
    recipient: str | None = None
    event_type: str | None = None
    month: str | None = None
    agreement: str | None = None
    reason: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    @classmethod
    def of(cls, select: Mapping[str, str]) -> LeafFilter:
        """The filter of a count's ``select`` mapping (unknown keys refused).

        Raises:
            RequestError: BAD_REQUEST for a key that is not a criterion, or a
                time that is not an integer.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(select) - known)
        if unknown:
            raise RequestError(
                Reason.BAD_REQUEST, f"expected leaf criteria {sorted(known)}, got {unknown}"
            )
        criteria: dict[str, Any] = {}
        for k, v in select.items():
            if k not in _TIMES:
                criteria[k] = str(v)
                continue
            try:
                criteria[k] = int(v)
            except (TypeError, ValueError):
                raise RequestError(
                    Reason.BAD_REQUEST, f"expected an integer {k}, got {str(v)[:20]!r}"
                ) from None
        return cls(**criteria)

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition over ``leaf l LEFT JOIN original o``, and its arguments."""
        parts: list[str] = []
        args: list[Any] = []
        if self.outcome is not None:
            kinds = {
                "delivered": [_DELIVERED, _ACKNOWLEDGED],
                "refused": [_REJECTED],
            }.get(self.outcome.lower(), [self.outcome.upper()])
            parts.append(f"l.kind IN ({', '.join('?' * len(kinds))})")
            args += kinds
        for column, value in (
            ("l.producer", self.producer),
            ("l.recipient", self.recipient),
            ("o.etype", self.event_type),
            ("l.agreement", self.agreement),
            ("l.reason", self.reason),
        ):
            if value == NONE:
                parts.append(f"({column} IS NULL OR {column} = '')")
            elif value is not None:
                parts.append(f"{column} = ?")
                args.append(value)
        if self.month is not None:
            start = month_start_ms(self.month)
            year, month = int(self.month[:4]), int(self.month[5:])
            end = month_start_ms(f"{year + month // 12:04d}-{month % 12 + 1:02d}")
            parts.append("o.created >= ? AND o.created < ?")
            args += [start, end]
        if self.since_ms is not None:
            parts.append("l.decided >= ?")
            args.append(self.since_ms)
        if self.until_ms is not None:
            parts.append("l.decided < ?")
            args.append(self.until_ms)
        return " AND ".join(parts) or "1", args


def select_leaves(index: _Index, flt: LeafFilter) -> Iterator[dict[str, Any]]:
    """Each leaf ``flt`` selects, in log order, as the report's leaf detail (no proof)."""
    where, args = flt.where()
    fieldsets = _fieldsets(index)
    rows = index.db.execute(f"{_LEAF_DETAIL} WHERE {where} ORDER BY l.idx", args)
    for row in rows:
        yield _leaf_detail(row, fieldsets)


_LEAF_DETAIL = (
    "SELECT l.idx, l.decision_id, l.kind, l.event_id, l.producer, l.recipient, o.etype,"
    " o.created, l.agreement, l.reason, l.fset, l.facts, l.decided, l.source, l.event_digest,"
    " l.delivered_digest, l.registry FROM leaf l LEFT JOIN original o ON o.digest = l.event_digest"
)


def _fieldsets(index: _Index) -> dict[int, tuple[str, ...]]:
    return {i: tuple(json.loads(f)) for i, f in index.db.execute("SELECT id, fields FROM fieldset")}


def _leaf_detail(row: tuple[Any, ...], fieldsets: Mapping[int, tuple[str, ...]]) -> dict[str, Any]:
    (idx, decision_id, kind, event_id, producer, recipient, etype, created, agreement, reason,
     fset, facts, decided, source, _ed, _dd, _reg) = row  # fmt: skip
    fields = fieldsets.get(fset, ()) if fset is not None else tuple(json.loads(facts or "[]"))
    return {
        "index": idx,
        "decision_id": decision_id,
        "kind": kind.removeprefix("MATCH_"),
        "match": kind.startswith("MATCH_"),
        "event_id": event_id,
        "producer": producer,
        "recipient": recipient,
        "event_type": etype or "",
        "created_at_ms": created,
        "agreement": agreement,
        "reason": reason,
        "fields": list(fields),
        "decided_at_ms": decided,
        "source": source,
    }


def _leaf_bytes(row: tuple[Any, ...], fields: tuple[str, ...]) -> bytes:
    """The leaf's bytes, encoded again from what the index keeps of it."""
    (_idx, decision_id, kind, event_id, producer, recipient, _etype, _created, agreement, reason,
     _fset, _facts, decided, source, event_digest, delivered_digest, registry) = row  # fmt: skip
    return AuditLeaf(
        decision_id,
        DecisionRecord(
            kind=DecisionKind(kind.removeprefix("MATCH_")),
            event_id=event_id,
            producer=producer,
            recipient=recipient,
            event_digest=bytes(event_digest or b"").hex(),
            delivered_digest=bytes(delivered_digest or b"").hex(),
            fields=fields,
            agreement=agreement,
            reason=reason,
            detail="",
            source=source,
            decided_at_ms=decided,
            registry=registry,
        ),
    ).to_bytes()


class _Group:
    """One count of the report: how many leaves, and the first few (for tracing)."""

    __slots__ = ("leaves", "n")

    def __init__(self) -> None:
        self.n = 0
        self.leaves: list[int] = []

    def add(self, idx: int) -> None:
        self.n += 1
        if len(self.leaves) < FLOW_LEAVES_CAP:
            self.leaves.append(idx)


def _sharing(index: _Index, report: Report, window: tuple[int, int] | None) -> None:
    """8. What was shared and refused: one pass over the per-recipient decisions.

    Per corridor, event type and month, deliveries and refusals (the flows);
    per agreement, corridor and event type, how often each field was
    delivered and withheld (withheld: disclosed by the signed event, not in
    the delivery); refusals by reason code. Memory: a counter per group, never
    a list per leaf. With a ``window``, only the decisions made in it, and each
    count's ``select`` names the window.
    """
    fieldsets = _fieldsets(index)
    flows: dict[tuple[str, str, str, str], tuple[_Group, _Group]] = {}
    shares: dict[tuple[str, str, str, str], tuple[_Group, dict[tuple[int, int | None], int]]] = {}
    refusals: dict[tuple[str, str, str, str], _Group] = {}
    within = window_select(window)
    rows = index.db.execute(
        "SELECT l.idx, l.kind, l.producer, l.recipient, l.agreement, l.reason, l.fset, o.etype,"
        " strftime('%Y-%m', o.created / 1000, 'unixepoch'), o.fset"
        " FROM leaf l LEFT JOIN original o ON o.digest = l.event_digest"
        " WHERE l.kind IN (?, ?, ?) AND l.decided >= ? AND l.decided < ? ORDER BY l.idx",
        (_DELIVERED, _ACKNOWLEDGED, _REJECTED, *(window or ALL_TIME)),
    )
    for idx, kind, producer, recipient, agreement, reason, fset, etype, month, disclosed in rows:
        delivered = kind != _REJECTED
        if etype is not None and recipient:
            pair = flows.get((producer, recipient, etype, month))
            if pair is None:
                pair = flows[(producer, recipient, etype, month)] = (_Group(), _Group())
            pair[0 if delivered else 1].add(idx)
        if delivered:
            share = shares.get((agreement, producer, recipient, etype or ""))
            if share is None:
                share = shares[(agreement, producer, recipient, etype or "")] = (_Group(), {})
            share[0].add(idx)
            share[1][(fset, disclosed)] = share[1].get((fset, disclosed), 0) + 1
        else:
            group = refusals.get((reason, producer, recipient, etype or ""))
            if group is None:
                group = refusals[(reason, producer, recipient, etype or "")] = _Group()
            group.add(idx)
    counts = []
    for (producer, recipient, etype, month), (got, refused) in sorted(
        flows.items(), key=lambda kv: (kv[0][3], *kv[0][:3])
    ):
        counts.append(
            FlowCount(
                producer,
                recipient,
                etype,
                month,
                got.n,
                refused.n,
                tuple(sorted(got.leaves + refused.leaves)[:FLOW_LEAVES_CAP]),
            )
        )
    report.flows = Flows(tuple(counts), ())
    report.sharing = []
    for (agreement, producer, recipient, etype), (group, by_fields) in sorted(shares.items()):
        sent: dict[str, int] = defaultdict(int)
        withheld: dict[str, int] = defaultdict(int)
        for (fset, disclosed), n in by_fields.items():
            got_fields = set(fieldsets.get(fset, ()))
            for name in got_fields:
                sent[name] += n
            for name in set(fieldsets.get(disclosed, ())) - got_fields if disclosed else ():
                withheld[name] += n
        report.sharing.append(
            {
                "agreement": agreement,
                "producer": producer,
                "recipient": recipient,
                "event_type": etype,
                "delivered": group.n,
                "fields": dict(sorted(sent.items())),
                "withheld": dict(sorted(withheld.items())),
                "leaves": group.leaves,
                "select": _select(
                    outcome="delivered",
                    agreement=agreement,
                    producer=producer,
                    recipient=recipient,
                    event_type=etype,
                )
                | within,
            }
        )
    report.refusals = [
        {
            "reason": reason,
            "producer": producer,
            "recipient": recipient,
            "event_type": etype,
            "refused": group.n,
            "leaves": group.leaves,
            "select": _select(
                outcome="refused",
                reason=reason,
                producer=producer,
                recipient=recipient,
                event_type=etype,
            )
            | within,
        }
        for (reason, producer, recipient, etype), group in sorted(refusals.items())
    ]


def _select(**criteria: str | None) -> dict[str, str]:
    """A count's selector: the :class:`LeafFilter` criteria that list its leaves.

    An empty criterion (an unverified event's type, a whole-record refusal's
    recipient, no agreement) is kept as :data:`NONE`, which the filter matches
    as empty: dropping it would select more leaves than the count counts.
    """
    return {k: v or NONE for k, v in criteria.items()}


def window_of(since_ms: int | None, until_ms: int | None) -> tuple[int, int] | None:
    """A replay's window from ``--since-ms``/``--until-ms``: None without either; an
    end not given is :data:`ALL_TIME`'s."""
    if since_ms is None and until_ms is None:
        return None
    return (since_ms or ALL_TIME[0], until_ms or ALL_TIME[1])


def window_select(window: tuple[int, int] | None) -> dict[str, str]:
    """The :class:`LeafFilter` criteria of a replay's ``window`` (none for an open bound)."""
    if window is None:
        return {}
    lo, hi = window
    return {
        **({"since_ms": str(lo)} if lo > ALL_TIME[0] else {}),
        **({"until_ms": str(hi)} if hi < ALL_TIME[1] else {}),
    }


def _ack_times(index: _Index, report: Report, window: tuple[int, int]) -> None:
    """9. Acknowledgement times, and referral to handover acknowledgement (hub.audit.flows).

    ``acked`` holds every acknowledged delivery in the whole log (the leaves are
    read whole): an acknowledgement made after the window still answers a
    delivery made in it. The times listed are those of the deliveries (of the
    referral, for the handover times) decided in ``window``.
    """
    db = index.db
    if not index.one("SELECT 1 FROM leaf WHERE kind = ? AND logged LIMIT 1", (_ACKNOWLEDGED,)):
        db.execute(
            "CREATE TEMP TABLE acked(event_id, producer, recipient, etype, created, acked_at,"
            " leaf, ack_leaf, case_key, decided, rn)"
        )
        return
    index.script(
        "CREATE INDEX original_event ON original(event_id, producer);"
        "CREATE TEMP TABLE acked AS SELECT * FROM ("
        "  SELECT o.event_id AS event_id, o.producer AS producer, a.producer AS recipient,"
        "    o.etype AS etype, o.created AS created, ao.created AS acked_at, d.idx AS leaf,"
        "    a.idx AS ack_leaf, o.case_key AS case_key, d.decided AS decided,"
        "    ROW_NUMBER() OVER (PARTITION BY o.event_id, o.producer, a.producer"
        "                       ORDER BY ao.created, a.idx) AS rn"
        "  FROM leaf a"
        "  JOIN original ao ON ao.digest = a.event_digest"
        "  JOIN original o ON o.event_id = ao.corr AND o.producer = a.recipient"
        "  JOIN leaf d ON d.event_digest = o.digest AND d.recipient = a.producer AND d.logged"
        "  WHERE a.kind = 'ACKNOWLEDGED' AND a.logged AND d.kind = 'DELIVERED'"
        ") WHERE rn = 1;"
        "CREATE INDEX acked_event ON acked(event_id, producer, recipient);"
    )
    total = int(
        index.one("SELECT COUNT(*) FROM acked WHERE decided >= ? AND decided < ?", window)[0]
    )
    ack_times = tuple(
        AckTime(*row)
        for row in db.execute(
            "SELECT producer, recipient, etype, event_id, created, acked_at, leaf, ack_leaf"
            " FROM acked WHERE decided >= ? AND decided < ?"
            " ORDER BY created, event_id, recipient, leaf LIMIT ?",
            (*window, ACK_TIMES_CAP),
        )
    )
    handover: tuple[AckTime, ...] = ()
    if index.one("SELECT 1 FROM acked WHERE etype = 'handover_notice' LIMIT 1", ()):
        db.execute("CREATE INDEX original_case ON original(case_key, etype)")
        handover = tuple(
            AckTime(*row)
            for row in db.execute(
                "SELECT producer, recipient, 'referral', event_id, created, acked_at, leaf,"
                " ack_leaf FROM ("
                "  SELECT rl.producer AS producer, rl.recipient AS recipient,"
                "    r.event_id AS event_id, r.created AS created, h.acked_at AS acked_at,"
                "    rl.idx AS leaf, h.ack_leaf AS ack_leaf,"
                "    ROW_NUMBER() OVER (PARTITION BY rl.idx ORDER BY h.acked_at, h.ack_leaf) AS rn"
                "  FROM acked h"
                "  JOIN original r ON r.case_key = h.case_key AND r.etype = 'referral'"
                "    AND r.created <= h.created"
                "  JOIN leaf rl ON rl.event_digest = r.digest AND rl.logged"
                "  WHERE h.etype = 'handover_notice' AND rl.kind = 'DELIVERED'"
                "    AND rl.decided >= ? AND rl.decided < ?"
                "    AND ((rl.producer = h.producer AND rl.recipient = h.recipient)"
                "      OR (rl.producer = h.recipient AND rl.recipient = h.producer))"
                ") WHERE rn = 1 ORDER BY created, event_id, recipient, leaf LIMIT ?",
                (*window, ACK_TIMES_CAP),
            )
        )
    report.flows = Flows(report.flows.counts, ack_times, handover, total - len(ack_times))


def _unacknowledged(
    index: _Index, report: Report, now_ms: int | None, window: tuple[int, int]
) -> None:
    """10. Deliveries of a type awaiting an acknowledgement (a handover notice), decided in
    ``window``, that the whole log shows no acknowledgement of (one made after the window
    counts), ``ACK_DUE_MS`` after their creation at ``now_ms``.

    Overdue without doubt: the due time is the creation plus that deadline, or
    earlier when the sealed payload names an earlier one (hub.cases.due_at).
    Per corridor and type: how many, the oldest, the first leaves.
    """
    awaiting = sorted(t for t in index.event_types if EventType(t).spec.awaits_acknowledgement)
    report.unacknowledged = []
    if now_ms is None or not awaiting:
        return
    groups: dict[tuple[str, str, str], tuple[_Group, list[int]]] = {}
    for idx, producer, recipient, etype, created in index.db.execute(
        "SELECT l.idx, l.producer, l.recipient, o.etype, o.created"
        " FROM leaf l JOIN original o ON o.digest = l.event_digest"
        " WHERE l.kind = ? AND l.logged AND o.etype IN (SELECT value FROM json_each(?))"
        " AND o.created < ? AND l.decided >= ? AND l.decided < ?"
        " AND NOT EXISTS (SELECT 1 FROM acked a WHERE a.event_id = o.event_id"
        "   AND a.producer = o.producer AND a.recipient = l.recipient)"
        " ORDER BY l.idx",
        (_DELIVERED, json.dumps(awaiting), now_ms - ACK_DUE_MS, *window),
    ):
        key = (producer, recipient, etype)
        if key not in groups:
            groups[key] = (_Group(), [created])
        groups[key][0].add(idx)
        groups[key][1][0] = min(groups[key][1][0], created)
    report.unacknowledged = [
        {
            "producer": producer,
            "recipient": recipient,
            "event_type": etype,
            "count": group.n,
            "oldest_created_at_ms": oldest[0],
            "leaves": group.leaves,
        }
        for (producer, recipient, etype), (group, oldest) in sorted(groups.items())
    ]


def _matching(index: _Index, report: Report) -> None:
    """10. The hit/no-hit exchange in numbers: decisions by message, outcome and hit; budgets."""
    db = index.db
    groups: dict[tuple[str, str, str, str, str], _Group] = {}
    for idx, message, kind, hit, producer, recipient in db.execute(
        "SELECT idx, message, kind, hit, producer, recipient FROM match ORDER BY idx"
    ):
        key = (message, kind, hit or "", producer, recipient)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
        group.add(idx)
    budgets = [
        {"evaluator": ev, "requester": rq, "day": day, "evaluations": n, "limit": limit}
        for ev, rq, day, n, limit in db.execute(
            "SELECT producer, recipient, budget_day, COUNT(*), MIN(budget_limit)"
            " FROM match WHERE message = 'EVALUATION' AND kind = ?"
            " GROUP BY producer, recipient, budget_day ORDER BY budget_day, producer, recipient"
            " LIMIT ?",
            (_DELIVERED, _ROWS_CAP),
        )
    ]
    report.matching = {
        "decisions": [
            {
                "message": message,
                "kind": kind,
                "hit": hit,
                "producer": producer,
                "recipient": recipient,
                "count": group.n,
                "leaves": group.leaves,
            }
            for (message, kind, hit, producer, recipient), group in sorted(groups.items())
        ],
        "budgets": budgets,
    }


# The page lists these many checkpoints (the newest, and every one a witness cosigned).
_ROWS_CAP: Final = 200
_NEWEST_CHECKPOINTS: Final = 20


def _checkpoint_log(index: _Index, report: Report, tree: MerkleTree) -> None:
    """11. The signed checkpoints and the witnesses that cosigned each (the newest first)."""
    db = index.db
    total, cosigned = index.one(
        "SELECT COUNT(*), (SELECT COUNT(*) FROM checkpoint c WHERE EXISTS"
        " (SELECT 1 FROM cosignature s WHERE s.size = c.size AND s.root = c.root))"
        " FROM checkpoint",
        (),
    )
    rows = db.execute(
        "SELECT size, root, at, topic, part, off FROM checkpoint c"
        " WHERE EXISTS (SELECT 1 FROM cosignature s WHERE s.size = c.size AND s.root = c.root)"
        "   OR c.size >= COALESCE((SELECT size FROM checkpoint ORDER BY size DESC"
        "                          LIMIT 1 OFFSET ?), 0)"
        " ORDER BY size DESC, root LIMIT ?",
        (_NEWEST_CHECKPOINTS - 1, _ROWS_CAP),
    ).fetchall()
    listed = []
    for size, root, at, topic, part, off in rows:
        witnesses = [
            {"witness": w, "key_id": k, "signed_at_s": t, "verified": bool(ok)}
            for w, k, t, ok in db.execute(
                "SELECT witness, key_id, signed_at, verified FROM cosignature"
                " WHERE size = ? AND root = ? ORDER BY witness, key_id",
                (size, root),
            )
        ]
        listed.append(
            {
                "size": size,
                "root": bytes(root).hex(),
                "published_at_ms": at,
                "where": f"{topic}/{part}/{off}",
                "matches_tree": size <= tree.size and tree.root(size) == bytes(root),
                "witnesses": witnesses,
            }
        )
    report.checkpoint_log = {
        "distinct": int(total),
        "cosigned": int(cosigned),
        "listed": listed,
    }


# How many leaves each count on the page links to, and how many leaves the page
# details with an inclusion proof (the report's size stays bounded).
LINKS_PER_COUNT: Final = 5
LINKED_MAX: Final = 300


def _linked(report: Report) -> list[int]:
    """The leaves the page links to, in the page's order, at most :data:`LINKED_MAX`."""
    out: dict[int, None] = {}

    def take(leaves: Iterable[int]) -> None:
        for i in list(leaves)[:LINKS_PER_COUNT]:
            if len(out) < LINKED_MAX:
                out.setdefault(i)

    for share in report.sharing:
        take(share["leaves"])
    for refusal in report.refusals:
        take(refusal["leaves"])
    for count in report.flows.counts:
        take(count.leaves)
    slowest: dict[tuple[str, str, str], AckTime] = {}
    for a in (*report.flows.ack_times, *report.flows.handover_times):
        key = (a.producer, a.recipient, a.event_type)
        if key not in slowest or a.elapsed_ms > slowest[key].elapsed_ms:
            slowest[key] = a
    for a in slowest.values():
        take((a.leaf, a.ack_leaf))
    for row in report.unacknowledged:
        take(row["leaves"])
    for row in report.matching.get("decisions", []):
        take(row["leaves"])
    return list(out)


def _proofs(index: _Index, report: Report, tree: MerkleTree) -> None:
    """12. The linked leaves in detail, each with its inclusion proof in the last checkpoint.

    The leaf's bytes are encoded again from what the index keeps; a proof is
    given only when their hash is the tree's leaf hash (a leaf written in a
    non-canonical encoding gets none) and the last checkpoint's root is the
    rebuilt tree's at its size.
    """
    size = report.checkpoint_size
    root = bytes.fromhex(report.root) if report.root else b""
    provable = 0 < size <= tree.size and tree.root(size) == root
    fieldsets = _fieldsets(index)
    report.linked_leaves = []
    for idx in sorted(_linked(report)):
        row = index.one(f"{_LEAF_DETAIL} WHERE l.idx = ?", (idx,))
        if row is None:
            continue
        detail = _leaf_detail(row, fieldsets)
        fields = tuple(detail["fields"])
        data = _leaf_bytes(row, fields)
        detail["leaf_hash"] = tree.leaf(idx).hex()
        detail["proof"] = None
        if leaf_hash(data) != tree.leaf(idx):
            detail["no_proof"] = "the leaf's bytes are not in the canonical encoding"
        elif not provable:
            detail["no_proof"] = "no signed checkpoint matches the rebuilt tree"
        elif idx >= size:
            detail["no_proof"] = f"after the last checkpoint (size {size})"
        else:
            detail["proof"] = {
                "leaf_bytes": data.hex(),
                "tree_size": size,
                "root": report.root,
                "path": [h.hex() for h in tree.inclusion_proof(idx, size)],
            }
        report.linked_leaves.append(detail)


def _counts(index: _Index) -> dict[str, int]:
    def count(sql: str, *args: str) -> int:
        return int(index.one(sql, args)[0])

    return {
        "outbox_records": count("SELECT COUNT(*) FROM outbox"),
        "inbox_records": count("SELECT COUNT(*) FROM inbox"),
        "rejections": count("SELECT COUNT(*) FROM rejected"),
        "quarantined": count("SELECT COUNT(*) FROM quarantined"),
        "delivered_leaves": count(
            "SELECT COUNT(*) FROM leaf WHERE kind = ?", str(DecisionKind.DELIVERED)
        ),
        "rejected_leaves": count(
            "SELECT COUNT(*) FROM leaf WHERE kind = ?", str(DecisionKind.REJECTED)
        ),
    }


def _at(rec: Record) -> tuple[str, int, int]:
    return rec.topic, rec.partition, rec.offset


@dataclass(frozen=True, slots=True)
class _PolicyHeader:
    """Of a header, what ``decide`` reads (:class:`hub.policy.engine.HeaderLike`)."""

    producer: str
    recipients: tuple[str, ...]
    event_type: str
    purpose: str
    handling: str
    created_at_ms: int
    spec_version: int

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        producer: str,
        recipients: tuple[str, ...],
        event_type: str,
        purpose: str,
        handling: str,
        created_at_ms: int,
        spec_version: int,
    ) -> None:
        object.__setattr__(self, "producer", producer)  # the constructor written out: D26
        object.__setattr__(self, "recipients", recipients)
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "purpose", purpose)
        object.__setattr__(self, "handling", handling)
        object.__setattr__(self, "created_at_ms", created_at_ms)
        object.__setattr__(self, "spec_version", spec_version)


@dataclass(frozen=True, slots=True)
class _PolicyView:
    """What ``decide`` needs of an original event: of its payload, only ``POLICY_FIELDS``."""

    header: _PolicyHeader
    fields: Mapping[str, Any]
    disclosed: frozenset[str]

    def __init__(
        self, header: _PolicyHeader, fields: Mapping[str, Any], disclosed: frozenset[str]
    ) -> None:
        object.__setattr__(self, "header", header)  # the constructor written out: D26
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "disclosed", disclosed)


def _view_bytes(event: VerifiedEvent) -> bytes:
    """What the inbox pass needs of a verified outbox record (a :class:`_PolicyView` and
    its :class:`_Signed`), as plain values: pickled by C code, about 1 kB for an alert."""
    h, envelope = event.header, event.envelope
    digests = [d.digest for d in envelope.disclosures] + [s.digest for s in envelope.sealed]
    names = [d.field for d in envelope.disclosures] + [s.field for s in envelope.sealed]
    return pickle.dumps(
        (
            (
                h.producer,
                tuple(h.recipients),
                str(h.event_type),
                h.purpose,
                h.handling,
                h.created_at_ms,
                h.spec_version,
            ),
            {k: event.fields[k] for k in POLICY_FIELDS if k in event.fields},
            tuple(event.disclosed),
            envelope.signature.key_id,
            envelope.signature.sig,
            tuple(digests),
            tuple(names),
            tuple(w.digest for w in envelope.key_wraps),
        ),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _view_of(view: bytes) -> tuple[_PolicyView, _Signed]:
    """The view :func:`_view_bytes` wrote (read back from our own scratch file)."""
    header, fields, disclosed, key_id, sig, digests, names, wraps = pickle.loads(view)  # noqa: S301
    return (
        _PolicyView(_PolicyHeader(*header), fields, frozenset(disclosed)),
        _Signed(key_id, sig, dict(zip(digests, names, strict=True)), frozenset(wraps)),
    )


@dataclass(frozen=True, slots=True)
class _Signed:
    """What :func:`verify` accepted in an outbox record: its signature, and the digest
    and field of each disclosure it verified.

    A delivered copy carries the producer's header and signature unchanged and a
    subset of the disclosures (the hub redacts by leaving some out). When a copy's
    header bytes (by the event digest, their SHA-256), key id and signature bytes
    are those of a verified outbox record, and each of its disclosures is, by its
    SHA-256, one that record's verification accepted, with none twice, then
    :func:`verify` of the copy runs the same deterministic checks on the same
    bytes against the same trust list (same key, same ``created_at``, same
    signature, same listed digests, each disclosure already found listed, once,
    of a schema field, its value an exact encoding) and must accept it: it need
    not run again. Any other copy (a changed signature, an added or altered
    disclosure, a repeated one) is verified in full, as before.
    """

    key_id: str
    sig: bytes
    fields: Mapping[bytes, str]  # disclosure digest (clear or sealed) -> field
    wraps: frozenset[bytes] = frozenset()  # a sealed event's key wrap digests

    def __init__(
        self,
        key_id: str,
        sig: bytes,
        fields: Mapping[bytes, str],
        wraps: frozenset[bytes] = frozenset(),
    ) -> None:
        object.__setattr__(self, "key_id", key_id)  # the constructor written out: D26
        object.__setattr__(self, "sig", sig)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "wraps", wraps)

    def disclosed(self, envelope: Envelope) -> frozenset[str] | None:
        """The fields the copy discloses if verifying it again must pass, else None.

        (For a sealed copy its key wraps, too, must be ones the record's
        verification accepted; the sealed contents are the recipient's to open.)
        """
        if envelope.signature.key_id != self.key_id or envelope.signature.sig != self.sig:
            return None
        digests = [d.digest for d in envelope.disclosures] + [s.digest for s in envelope.sealed]
        if len(set(digests)) != len(digests) or any(d not in self.fields for d in digests):
            return None
        wraps = [w.digest for w in envelope.key_wraps]
        if len(set(wraps)) != len(wraps) or not self.wraps.issuperset(wraps):
            return None
        return frozenset(self.fields[d] for d in digests)


def attestation_ref(attestation: Any) -> str:
    agreement = getattr(attestation, "agreement_id", "")
    version = getattr(attestation, "agreement_version", None)
    return f"{agreement}@{version}" if agreement and version is not None else ""


def _quarantined_source(effect_id: str) -> str:
    """The source a quarantine copy's effect id names, or "" if it names none."""
    try:
        source = EffectId.parse(effect_id).source
    except TrmError:
        return ""
    return str(source) if source is not None else ""


def _header(rec: Record, name: str) -> str | None:
    for k, v in rec.headers:
        if k == name:
            return v.decode("utf-8", "replace")
    return None


def hub_public_keys(
    trust: KeyDirectory, countries: Sequence[str] = COMMIT_COUNTRIES
) -> list[bytes]:
    """Every hub key the trust list names (any time): checkpoints may span rotations."""
    keys = getattr(trust, "keys", None)
    if isinstance(keys, Mapping):
        return [k.raw for k in keys.values() if KeyRole.HUB in k.roles]
    return []
