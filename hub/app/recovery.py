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

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.decision import EFFECT_HEADER, DecisionKind, DecisionRecord, EffectId, SourceRef
from hub.errors import TrmError
from hub.state import HubState
from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["Follower", "Row", "StateFollower", "apply_rows", "read_all"]

log = logging.getLogger(__name__)


Row = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]], int]


async def read_all(bootstrap: str, names: Iterable[str], **client: object) -> list[Row]:
    """Every record now in ``names``: (topic, key, value, headers, timestamp ms), in order."""
    follower = Follower(bootstrap, names, **client)
    try:
        return await follower.poll()
    finally:
        await follower.close()


class Follower:
    """Follows topics with one long-lived consumer: each ``poll`` returns what is new.

    The hub re-reads its registry every second; a fresh consumer per read (connect,
    metadata, seek, read everything) cost more CPU than the events it competes with.
    """

    def __init__(self, bootstrap: str, names: Iterable[str], **client: object) -> None:
        self.bootstrap = bootstrap
        self.names = tuple(names)
        self.client = client
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []

    async def poll(self) -> list[Row]:
        """Every record appended since the last poll, up to the ends as of now, in order.

        If it fails, the consumer is closed and the next poll starts over from
        the beginning of every topic.
        """
        try:
            return await self._poll()
        except Exception:
            await self.close()
            raise

    async def _poll(self) -> list[Row]:
        consumer = await self._started()
        if not self._parts:
            return []
        ends = await consumer.end_offsets(self._parts)
        pending = {tp for tp in self._parts if await consumer.position(tp) < ends[tp]}
        out: list[Row] = []
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append((tp.topic, r.key, r.value, list(r.headers), r.timestamp))
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return out

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is not None and self._parts:
            return self._consumer
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self.client
            )
            await self._consumer.start()
        # consumer.partitions_for_topic() only knows subscribed topics; ask the cluster.
        cluster = await self._consumer._client.fetch_all_metadata()
        self._parts = [
            TopicPartition(name, p)
            for name in self.names
            for p in sorted(cluster.partitions_for_topic(name) or ())
        ]
        if self._parts:  # the topics may not exist yet: ask again on the next poll
            self._consumer.assign(self._parts)
            await self._consumer.seek_to_beginning(*self._parts)
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
            self._parts = []


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
        **client: object,
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
