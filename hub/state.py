"""The hub's memory (pure): which events it has taken in, sequences, effects done.

Three things make at-least-once consumption effectively-once (docs/decisions.md D5):

- ``first_seen``: (producer, event id) -> the record (topic, partition, offset)
  where the hub first took the event in. The same event at another offset is a
  REPLAY; the same offset again is the hub reprocessing after a restart, which
  must finish the work, not refuse it. Kept for the dedupe window only
  (:meth:`HubState.forget_seen_before`): an older event is refused CLOCK_SKEW
  before the REPLAY check is reached.
- ``last_sequence``: per producer, the highest sequence number seen, so a gap
  is noticed (recorded, never a reason to drop).
- ``effects``: ids of the records the hub has written (a delivery, a
  rejection, a quarantine copy, a decision) that it may be asked about again.
  The adapter skips an effect whose id is here. Effects are kept in
  generations, so that those no record can be processed again for are dropped
  (:meth:`HubState.forget_effects_before`).

A worker starts from the hub's state topic (``<ns>.hub.state``, docs/decisions.md
D14), which holds one :func:`taken_in_record` per event of the dedupe window
(also in packs, :func:`pack_record`), and from the bookmarks topic, with per
outbox partition a ring of :class:`Bookmark` records; :func:`plan_recovery`
says from which output offsets the effects must be read again.

Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Final

from hub.decision import DELIVERY_KINDS, EffectId, EffectKind, SourceRef
from hub.errors import AuditError, Reason, RequestError
from hub.textdoc import parse_json

__all__ = [
    "ANCHOR_SLOT",
    "BOOKMARK_PREFIX",
    "BOOKMARK_SLOTS",
    "PACK_NOTES",
    "PACK_PREFIX",
    "PRUNE_MARGIN_MS",
    "Bookmark",
    "HubState",
    "OutboxPartition",
    "RecoveryPlan",
    "anchor",
    "at_or_below",
    "bookmark_slot",
    "covered_until",
    "pack_notes",
    "pack_range",
    "pack_record",
    "parse_taken_in",
    "plan_recovery",
    "taken_in_record",
    "unpack",
]

# Forget an event this long after the dedupe window (Limits.max_age_ms) has
# passed it: workers' clocks differ, and a worker must not forget an event that
# another worker would still accept.
PRUNE_MARGIN_MS: Final = 3600 * 1000
BOOKMARK_PREFIX: Final = "bookmark/"
PACK_PREFIX: Final = "pack/"
# Notes per pack: a pack is one Kafka record (zlib text, about 40 bytes a note).
PACK_NOTES: Final = 5000
# Bookmarks kept per outbox partition (a ring, overwritten in turn): the
# reconciler's mark lags the agent's position by a pass, so a start needs an
# older bookmark than the newest one to read the decisions from.
BOOKMARK_SLOTS: Final = 8
# The last slot holds the anchor: the newest bookmark whose position the
# reconciler's mark has passed, kept (copied) there however long the mark lags.
ANCHOR_SLOT: Final = BOOKMARK_SLOTS - 1

OutboxPartition = tuple[str, int]  # (outbox topic, partition)


# --- the state topic's records ----------------------------------------------------


def taken_in_record(
    producer: str, event_id: str, source: SourceRef, created_at_ms: int
) -> tuple[bytes, bytes]:
    """Key and value of the state record saying where an event was taken in.

    Key ``<producer>/<event id>`` (compaction keeps one per event), value
    ``<created_at_ms> <topic/partition/offset>``: ASCII, no personal data.
    """
    return f"{producer}/{event_id}".encode(), f"{created_at_ms} {source}".encode()


def _split(key: bytes, value: bytes) -> tuple[str, str, str]:
    """(producer, event id, value text) of a well-formed state record; ValueError if not."""
    producer, _, event_id = key.decode("ascii").partition("/")
    note = value.decode("ascii")
    created, _, source = note.partition(" ")
    head, _, offset = source.rpartition("/")
    topic, _, partition = head.rpartition("/")
    if not (producer and event_id and "/" not in event_id and created.isdigit()):
        raise ValueError("expected <producer>/<event id> -> <created_at_ms> <source>")
    if not (topic and partition.isdigit() and offset.isdigit()):
        raise ValueError("expected a source topic/partition/offset")
    return producer, event_id, note


def parse_taken_in(key: bytes, value: bytes) -> tuple[str, str, SourceRef, int]:
    """(producer, event id, source, created_at_ms) of a :func:`taken_in_record`.

    Raises:
        AuditError: CHECKPOINT_INVALID if the record is not of that form.
    """
    try:
        producer, event_id, note = _split(key, value)
        created, _, source = note.partition(" ")
        return producer, event_id, SourceRef.parse(source), int(created)
    except ValueError as exc:  # UnicodeDecodeError is one
        raise AuditError(
            Reason.CHECKPOINT_INVALID,
            "expected a state record '<producer>/<event id>' -> '<created_at_ms> <source>'",
        ) from exc


def pack_notes(notes: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The well-formed notes among ``notes`` (what a pack may hold)."""
    out: list[tuple[bytes, bytes]] = []
    for key, value in notes:
        try:
            _split(key, value)
        except ValueError:
            continue
        out.append((key, value))
    return out


def pack_record(start: int, end: int, notes: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """Key and value of a pack: the state topic's notes at offsets [start, end), in one record.

    A start reads a few hundred packs instead of a million notes, then the
    notes after the last pack. Value: zlib of ``<key> <value>`` lines, each
    note well-formed (:func:`pack_notes`).
    """
    text = b"\n".join(k + b" " + v for k, v in pack_notes(notes))
    return f"{PACK_PREFIX}{start:012d}-{end:012d}".encode(), zlib.compress(text, 6)


def pack_range(key: bytes) -> tuple[int, int] | None:
    """The [start, end) offsets a pack key covers, or None if it is not a pack's."""
    text = key.decode("ascii", "replace")
    if not text.startswith(PACK_PREFIX):
        return None
    start, _, end = text[len(PACK_PREFIX) :].partition("-")
    if not (start.isdigit() and end.isdigit()) or int(end) < int(start):
        return None
    return int(start), int(end)


def unpack(value: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) notes of a pack; an empty list if it is malformed."""
    try:
        text = zlib.decompress(value)
    except zlib.error:
        return []
    out: list[tuple[bytes, bytes]] = []
    for line in text.split(b"\n"):
        key, _, note = line.partition(b" ")
        if note:
            out.append((key, note))
    return out


def covered_until(ranges: Iterable[tuple[int, int]], first: int) -> int:
    """The end of the run of packs that covers the state topic from ``first`` (its log start).

    Returns ``first`` when no pack starts at or below it: the notes are read from there.
    """
    upto = first
    for start, end in sorted(ranges):
        if start > upto:
            break  # a gap: notes from here on are read one by one
        upto = max(upto, end)
    return upto


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A worker's note about one outbox partition it holds, written every few seconds.

    The writer reads ``ends`` (the end offset of every output partition) first,
    then ``position``: no record of the outbox partition at an offset >= position
    had been begun by any worker when ``ends`` were read (the writer's Kafka
    position, the highest offset its reconciler began, and, after a takeover,
    not before it has passed the partition's end at the takeover). So every
    effect of such a record is at an output offset >= its partition's ``ends``.
    ``checked`` is the reconciler's mark: every record below it has its
    decisions in the decisions topic (written and acknowledged). ``ends`` maps
    ``topic/partition`` to an offset.
    """

    outbox: str
    partition: int
    slot: int
    at_ms: int
    position: int
    checked: int | None
    ends: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> bytes:
        return f"{BOOKMARK_PREFIX}{self.outbox}/{self.partition}/{self.slot}".encode()

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "at_ms": self.at_ms,
                "position": self.position,
                "checked": self.checked,
                "ends": dict(sorted(self.ends.items())),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_record(cls, key: bytes, value: bytes) -> Bookmark:
        """Read a bookmark back.

        Raises:
            AuditError: CHECKPOINT_INVALID if key or value are not a bookmark's.
        """
        try:
            text = key.decode("ascii")
            if not text.startswith(BOOKMARK_PREFIX):
                raise ValueError(text)
            outbox, partition, slot = text[len(BOOKMARK_PREFIX) :].rsplit("/", 2)
            doc = parse_json(value, what="bookmark")
            checked = doc["checked"]
            ends = {str(k): int(v) for k, v in dict(doc["ends"]).items()}
            return cls(
                outbox,
                int(partition),
                int(slot),
                int(doc["at_ms"]),
                int(doc["position"]),
                None if checked is None else int(checked),
                MappingProxyType(ends),
            )
        except (RequestError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID,
                "expected a bookmark: key bookmark/<outbox>/<partition>/<slot>, JSON value "
                "with at_ms, position, checked and ends",
            ) from exc


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    """Where a start reads from, chosen from bookmarks (:func:`plan_recovery`).

    ``starts``: per output partition (``topic/partition``), the offset from
    which its records are read for their effect ids; a partition not named is
    read from its beginning. ``checked``: per outbox partition, a reconciler
    mark proven by a bookmark. ``decisions_from``: per decisions partition,
    where the reconciler reads decisions from, so that it sees every decision
    of every record at or above those marks.
    """

    starts: Mapping[str, int]
    checked: Mapping[OutboxPartition, int]
    decisions_from: Mapping[str, int]


def _usable(marks: Iterable[Bookmark], upto: int) -> Bookmark | None:
    """The newest bookmark whose position is at most ``upto``."""
    fit = [b for b in marks if b.position <= upto]
    return max(fit, key=lambda b: (b.at_ms, b.position), default=None)


def bookmark_slot(tick: int) -> int:
    """The ring slot of a worker's ``tick``-th bookmark of a partition.

    Slot i is written every 2**(i+1) ticks (the number of trailing zero bits of
    the tick, capped below the anchor's slot), so the ring holds bookmarks of
    every age from one tick to 2**(BOOKMARK_SLOTS - 1) ticks back: a start
    finds one below the committed offset even when commits lag.
    """
    n = tick + 1
    return min((n & -n).bit_length() - 1, ANCHOR_SLOT - 1)


def anchor(bookmarks: Iterable[Bookmark], mark: int) -> Bookmark | None:
    """The bookmark to keep in the anchor slot, given the reconciler's mark now.

    The newest bookmark whose position is at most ``mark``: it proves the
    reconciler's marks from then on (:func:`plan_recovery` needs a bookmark
    at or below a mark), and, the group's commit being at or above the mark,
    the agent's start too. Copied into :data:`ANCHOR_SLOT`, it survives the
    ring's turns, however far the mark lags the position.
    """
    return _usable(bookmarks, mark)


def plan_recovery(
    bookmarks: Iterable[Bookmark],
    committed: Mapping[OutboxPartition, int],
    decisions_topic: str,
) -> RecoveryPlan | None:
    """Choose, for every outbox partition in ``committed``, the bookmarks a start can prove.

    For the agent: the newest bookmark whose position is at most the group's
    committed offset; every record the agent may process again is at or above
    that offset, so its effects are at or above that bookmark's ends. For the
    reconciler: the newest bookmark with a mark R for which a bookmark with
    position <= R exists; the decisions of every record >= R are at or above
    that second bookmark's end of the decisions topic, and the records the
    reconciler may decide again (>= R) have their effects there too. The
    outputs are read from the lowest of all those ends; an output partition
    that some chosen bookmark does not name is read from its beginning.

    Returns:
        None when some outbox partition has no usable bookmark: the caller
        reads every output topic from the beginning (correct, slow).
    """
    by_partition: dict[OutboxPartition, list[Bookmark]] = {}
    for b in bookmarks:
        by_partition.setdefault((b.outbox, b.partition), []).append(b)
    chosen: list[Mapping[str, int]] = []
    checked: dict[OutboxPartition, int] = {}
    decisions_from: dict[str, int] = {}
    for where, upto in sorted(committed.items()):
        marks = sorted(
            by_partition.get(where, []), key=lambda m: (m.at_ms, m.position), reverse=True
        )
        agent = _usable(marks, upto)
        proven = ((b.checked, _usable(marks, b.checked)) for b in marks if b.checked is not None)
        reconciler = next(((r, older) for r, older in proven if older is not None), None)
        if agent is None or reconciler is None:
            return None
        mark, older = reconciler
        decisions = {k: v for k, v in older.ends.items() if k.rpartition("/")[0] == decisions_topic}
        if not decisions:
            return None
        checked[where] = mark
        chosen += [agent.ends, older.ends]
        for k, v in decisions.items():
            decisions_from[k] = min(decisions_from.get(k, v), v)
    names = {name for ends in chosen for name in ends}
    starts = {name: min(ends.get(name, 0) for ends in chosen) for name in names}
    return RecoveryPlan(
        MappingProxyType(starts), MappingProxyType(checked), MappingProxyType(decisions_from)
    )


def at_or_below(boundary: Mapping[str, int], starts: Mapping[str, int]) -> bool:
    """Whether every offset of ``boundary`` is at most the start a recovery would read from.

    An output partition ``starts`` does not name is read from 0.
    """
    return all(offset <= starts.get(name, 0) for name, offset in boundary.items())


# --- the state ----------------------------------------------------------------------


@dataclass(slots=True)
class HubState:
    """Dedupe and sequence state; the adapter owns one per worker."""

    # (producer, event id) -> "<created_at_ms> <topic/partition/offset>", the text of
    # its state record: parsed only when asked (a start reads a million of them)
    first_seen: dict[tuple[str, str], str] = field(default_factory=dict)
    last_sequence: dict[str, int] = field(default_factory=dict)
    event_producer: dict[str, str] = field(default_factory=dict)
    # text forms of EffectIds written -> the generation in which they were marked
    effects: dict[str, int] = field(default_factory=dict)
    # Deliveries written whose decision is not yet written: effect id -> hex
    # SHA-256 of the bytes in the inbox. Reprocessed after a crash, the decision
    # must name those bytes, not a fresh attestation's (docs/decisions.md D11).
    delivered: dict[str, str] = field(default_factory=dict)
    generation: int = 0
    # generation k -> the output end offsets read after generation k began:
    # every effect marked in a generation below k is below those offsets
    boundaries: dict[int, Mapping[str, int]] = field(default_factory=dict)

    def seen_at(self, producer: str, event_id: str) -> SourceRef | None:
        """Where (producer, event_id) was first taken in, or None."""
        note = self.first_seen.get((producer, event_id))
        return None if note is None else SourceRef.parse(note.partition(" ")[2])

    def admit(
        self,
        producer: str,
        event_id: str,
        sequence: int,
        source: SourceRef,
        created_at_ms: int,
    ) -> int | None:
        """Record an accepted event; return the expected sequence if this one broke it.

        ``created_at_ms`` dates the entry, so that it is forgotten once the
        dedupe window has passed it.

        Returns:
            None when ``sequence`` follows the last one (or is the producer's
            first seen), else the sequence number that was expected.
        """
        self.taken_in(producer, event_id, source, created_at_ms)
        last = self.last_sequence.get(producer)
        self.last_sequence[producer] = sequence if last is None else max(last, sequence)
        if last is None or sequence == last + 1:
            return None
        return last + 1

    def taken_in(self, producer: str, event_id: str, source: SourceRef, created_at_ms: int) -> None:
        """Remember where an event was first taken in (a decision read back, an admit)."""
        self._remember(producer, event_id, f"{created_at_ms} {source}")

    def learn(self, key: bytes, value: bytes) -> bool:
        """Remember a :func:`taken_in_record` read back; False if it is not one (ignored).

        The fast path of a start: the record's text is kept as it is, and only
        checked for its shape here; :meth:`seen_at` parses it when asked.
        """
        try:
            producer, event_id, note = _split(key, value)
        except ValueError:
            return False
        self._remember(producer, event_id, note)
        return True

    def learn_pack(self, value: bytes) -> int:
        """Remember every note of a pack (:func:`pack_record`); returns how many.

        The notes were checked by the worker that packed them (its
        :func:`pack_notes`); here only their shape is, in one pass over the
        pack's text, because a start reads a million of them. A pack that does
        not decompress teaches nothing (its notes are then in no pack a start
        trusts: see hub.app.recovery).
        """
        try:
            text = zlib.decompress(value).decode("ascii")
        except (zlib.error, UnicodeDecodeError):
            return 0
        first_seen, event_producer = self.first_seen, self.event_producer
        names: dict[str, str] = {}
        learned = 0
        for line in text.split("\n"):
            key, _, note = line.partition(" ")
            producer, _, event_id = key.partition("/")
            if not (producer and event_id and note):
                continue
            name = names.get(producer)
            if name is None:
                name = names[producer] = sys.intern(producer)
            seen = (name, event_id)
            if seen not in first_seen:
                first_seen[seen] = note
            if event_id not in event_producer:
                event_producer[event_id] = name
            learned += 1
        return learned

    def _remember(self, producer: str, event_id: str, note: str) -> None:
        producer = sys.intern(producer)  # a handful of countries, a million references
        key = (producer, event_id)
        if key not in self.first_seen:
            self.first_seen[key] = note
        self.event_producer.setdefault(event_id, producer)

    def forget_seen_before(self, cutoff_ms: int, *, limit: int | None = None) -> int:
        """Forget events created before ``cutoff_ms``; returns how many.

        The caller passes ``now - Limits.max_age_ms - PRUNE_MARGIN_MS``: such an
        event is refused CLOCK_SKEW before its REPLAY check, so the entry can
        never decide anything again. Entries are scanned in the order they were
        taken in and the scan stops at the first younger one, so an entry
        behind a younger one is kept a little longer (never dropped early).
        ``limit``: forget at most that many (the oldest); a call that returns
        less than ``limit`` left none of them.
        """
        old: list[tuple[str, str]] = []
        for key, note in islice(self.first_seen.items(), limit):
            if int(note.partition(" ")[0]) >= cutoff_ms:
                break
            old.append(key)
        for key in old:
            del self.first_seen[key]
            producer, event_id = key
            if self.event_producer.get(event_id) == producer:
                del self.event_producer[event_id]
        return len(old)

    def done(self, effect_id: EffectId) -> bool:
        """True when the effect was already written."""
        return str(effect_id) in self.effects

    def mark(self, effect_id: EffectId, digest: str | None = None) -> None:
        """Remember that an effect was written (after the broker acknowledged it).

        ``digest``: for a delivery, the hex SHA-256 of the bytes written, kept
        until its decision is written too.
        """
        text = str(effect_id)
        self.effects.pop(text, None)  # re-inserted at the end: the dict stays in mark order
        self.effects[text] = self.generation
        if effect_id.kind is EffectKind.DELIVERY:
            if digest is not None and not self._decided(effect_id):
                self.delivered[text] = digest
        elif effect_id.decision in DELIVERY_KINDS:
            self.delivered.pop(effect_id.delivery_text(), None)

    def new_generation(self) -> int:
        """Start a new generation of marks and return its number.

        Read the output end offsets after this call and hand them to
        :meth:`set_boundary`: every effect marked before it was acknowledged,
        so written, before those offsets.
        """
        self.generation += 1
        return self.generation

    def set_boundary(self, generation: int, ends: Mapping[str, int]) -> None:
        self.boundaries[generation] = MappingProxyType(dict(ends))

    def forget_effects_before(self, starts: Mapping[str, int], *, limit: int | None = None) -> int:
        """Drop the effects a recovery reading from ``starts`` would not see; returns how many.

        ``starts`` is where a start would read the outputs from now
        (:func:`plan_recovery`). Effects marked in a generation below the newest
        boundary at or below ``starts`` were written below those offsets, and a
        fresh worker, which is correct without them, would not know them
        either: no record it may process again has an effect there.
        ``limit``: drop at most that many (the oldest), and the boundaries below
        only with the last of them; a call that returns less than ``limit`` left
        none of them. A running worker forgets a minute's effects in slices
        (hub.app.main: in one go, a pause of the whole worker).
        """
        fit = [k for k, ends in self.boundaries.items() if at_or_below(ends, starts)]
        if not fit:
            return 0
        upto = max(fit)
        old: list[str] = []
        for text, generation in islice(self.effects.items(), limit):
            if generation >= upto:
                break
            old.append(text)
        for text in old:
            del self.effects[text]
            self.delivered.pop(text, None)
        if limit is not None and len(old) == limit:
            return len(old)  # perhaps more below upto: its boundaries stay for the next call
        for k in [k for k in self.boundaries if k < upto]:
            del self.boundaries[k]
        return len(old)

    def written_delivery(self, effect_id: EffectId) -> str | None:
        """The digest of a delivery already in an inbox whose decision is not yet written."""
        return self.delivered.get(str(effect_id))

    def _decided(self, delivery: EffectId) -> bool:
        """Whether the decision for ``delivery`` is written."""
        return any(delivery.decided_text(kind) in self.effects for kind in DELIVERY_KINDS)
