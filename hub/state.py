"""The hub's memory (pure): which events it has taken in, sequences, effects done.

Three things make at-least-once consumption effectively-once (docs/decisions.md D5):

- ``first_seen``: (producer, event id) -> the record (topic, partition, offset)
  where the hub first took the event in. The same event at another offset is a
  REPLAY; the same offset again is the hub reprocessing after a restart, which
  must finish the work, not refuse it.
- ``last_sequence``: per producer, the highest sequence number seen, so a gap
  is noticed (recorded, never a reason to drop).
- ``effects``: ids of every record the hub has already written (a delivery, a
  rejection, a quarantine copy, a decision). The adapter skips an effect whose
  id is here, and rebuilds this set at start-up from the ``trm-effect`` header
  of the records in its output topics.

Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HubState", "SourceRef"]


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a record was read: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(slots=True)
class HubState:
    """Dedupe and sequence state; the adapter owns one per worker."""

    first_seen: dict[tuple[str, str], SourceRef] = field(default_factory=dict)
    last_sequence: dict[str, int] = field(default_factory=dict)
    event_producer: dict[str, str] = field(default_factory=dict)
    effects: set[str] = field(default_factory=set)
    # Deliveries written whose decision is not yet written: effect id -> hex
    # SHA-256 of the bytes in the inbox. Reprocessed after a crash, the decision
    # must name those bytes, not a fresh attestation's (docs/decisions.md D11).
    delivered: dict[str, str] = field(default_factory=dict)

    def seen_at(self, producer: str, event_id: str) -> SourceRef | None:
        """Where (producer, event_id) was first taken in, or None."""
        return self.first_seen.get((producer, event_id))

    def admit(self, producer: str, event_id: str, sequence: int, source: SourceRef) -> int | None:
        """Record an accepted event; return the expected sequence if this one broke it.

        Returns:
            None when ``sequence`` follows the last one (or is the producer's
            first seen), else the sequence number that was expected.
        """
        self.first_seen.setdefault((producer, event_id), source)
        self.event_producer.setdefault(event_id, producer)
        last = self.last_sequence.get(producer)
        self.last_sequence[producer] = sequence if last is None else max(last, sequence)
        if last is None or sequence == last + 1:
            return None
        return last + 1

    def done(self, effect_id: str) -> bool:
        """True when the effect was already written."""
        return effect_id in self.effects

    def mark(self, effect_id: str, digest: str | None = None) -> None:
        """Remember that an effect was written (after the broker acknowledged it).

        ``digest``: for a delivery, the hex SHA-256 of the bytes written, kept
        until its decision is written too.
        """
        self.effects.add(effect_id)
        kind, _, rest = effect_id.partition(":")
        if kind == "delivery" and digest is not None and not self._decided(rest):
            self.delivered[effect_id] = digest
        elif kind == "decision" and rest.startswith(("DELIVERED:", "ACKNOWLEDGED:")):
            self.delivered.pop(f"delivery:{rest.partition(':')[2]}", None)

    def written_delivery(self, effect_id: str) -> str | None:
        """The digest of a delivery already in an inbox whose decision is not yet written."""
        return self.delivered.get(effect_id)

    def merge(self, other: HubState) -> None:
        """Take in what ``other`` knows (a fresh recovery after a rebalance)."""
        for key, source in other.first_seen.items():
            self.first_seen.setdefault(key, source)
        for event_id, producer in other.event_producer.items():
            self.event_producer.setdefault(event_id, producer)
        for producer, seq in other.last_sequence.items():
            self.last_sequence[producer] = max(seq, self.last_sequence.get(producer, seq))
        self.effects |= other.effects
        for effect_id, digest in other.delivered.items():
            if not self._decided(effect_id.partition(":")[2]):
                self.delivered.setdefault(effect_id, digest)

    def _decided(self, rest: str) -> bool:
        """Whether the decision for delivery ``producer:event:recipient`` is written."""
        return (
            f"decision:DELIVERED:{rest}" in self.effects
            or f"decision:ACKNOWLEDGED:{rest}" in self.effects
        )
