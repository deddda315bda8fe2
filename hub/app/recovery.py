"""Reading the hub's own topics with aiokafka: registry records and recovery state.

At start-up the hub reads its output topics (inboxes, rejections, quarantine,
decisions) from the beginning to their current end and collects the
``trm-effect`` header of every record it ever wrote, and the INGESTED
decisions (where each event was first taken in, sequences). Reprocessing a
record after a crash then skips every effect already written: no duplicate
delivery, no second rejection (docs/decisions.md D5).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from hub.app.kafka import Follower, Row
from hub.decision import EFFECT_HEADER, DecisionKind, DecisionRecord, EffectId, SourceRef
from hub.errors import TrmError
from hub.state import HubState
from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["StateFollower", "apply_rows"]

log = logging.getLogger(__name__)


def _names(topics: Topics, countries: Iterable[str]) -> list[str]:
    ccs = tuple(countries)
    return [
        *(topics.inbox(cc) for cc in ccs),
        *(topics.rejections(cc) for cc in ccs),
        topics.quarantine,
        topics.decisions,
    ]


def apply_rows(state: HubState, rows: Iterable[Row], topics: Topics) -> None:
    """Learn from records the hub wrote: their effect ids, and where events were taken in."""
    for topic, _key, value, headers, _ts in rows:
        for name, raw in headers:
            if name == EFFECT_HEADER:
                try:
                    effect_id = EffectId.parse(raw.decode("utf-8", "replace"))
                except TrmError:
                    continue  # not an id the hub makes, so none it will ask about
                # a delivery keeps the digest of its bytes until its decision is seen
                digest = hashlib.sha256(value).hexdigest() if value is not None else None
                state.mark(effect_id, digest)
        if topic == topics.decisions and value:
            try:
                record = DecisionRecord.from_json_bytes(value)
                src = SourceRef.parse(record.source)
            except TrmError:
                continue
            if record.kind is DecisionKind.INGESTED:
                state.first_seen.setdefault((record.producer, record.event_id), src)
                state.event_producer.setdefault(record.event_id, record.producer)


class StateFollower:
    """Keeps a worker's HubState up to date with what every worker has written.

    The first ``catch_up`` reads the hub's output topics from the beginning; each
    later one (after a rebalance) reads only what was appended since, so a
    rebalance costs the tail of the log, not all of it.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        countries: Iterable[str] = COMMIT_COUNTRIES,
        **client: Any,
    ) -> None:
        self.topics = topics
        self.follower = Follower(bootstrap, _names(topics, countries), **client)

    async def catch_up(self, state: HubState) -> int:
        """Apply every record appended since the last call to ``state``; returns how many."""
        rows = await self.follower.poll()  # after a failure, the next one reads it all again
        apply_rows(state, rows, self.topics)
        return len(rows)

    async def close(self) -> None:
        await self.follower.close()
