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

from hub.decision import DELIVERY_KINDS, EffectId, EffectKind, SourceRef

__all__ = ["HubState"]


@dataclass(slots=True)
class HubState:
    """Dedupe and sequence state; the adapter owns one per worker."""

    first_seen: dict[tuple[str, str], SourceRef] = field(default_factory=dict)
    last_sequence: dict[str, int] = field(default_factory=dict)
    event_producer: dict[str, str] = field(default_factory=dict)
    effects: set[str] = field(default_factory=set)  # text forms of EffectIds written
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

    def done(self, effect_id: EffectId) -> bool:
        """True when the effect was already written."""
        return str(effect_id) in self.effects

    def mark(self, effect_id: EffectId, digest: str | None = None) -> None:
        """Remember that an effect was written (after the broker acknowledged it).

        ``digest``: for a delivery, the hex SHA-256 of the bytes written, kept
        until its decision is written too.
        """
        self.effects.add(str(effect_id))
        if effect_id.kind is EffectKind.DELIVERY:
            if digest is not None and not self._decided(effect_id):
                self.delivered[str(effect_id)] = digest
        elif effect_id.decision in DELIVERY_KINDS:
            self.delivered.pop(str(effect_id.delivery()), None)

    def written_delivery(self, effect_id: EffectId) -> str | None:
        """The digest of a delivery already in an inbox whose decision is not yet written."""
        return self.delivered.get(str(effect_id))

    def _decided(self, delivery: EffectId) -> bool:
        """Whether the decision for ``delivery`` is written."""
        return any(str(delivery.decided(kind)) in self.effects for kind in DELIVERY_KINDS)
