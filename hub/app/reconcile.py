"""The reconciler: no outbox record is ever left without a decision.

Faust commits an offset once the records before it were acknowledged by the
agent, but around rebalances it has been seen to commit past records the agent
never received (a fault test lost the first offsets of six partitions at 250
events/s; faust-streaming issues #216, #221 describe the same family of bugs).
At-least-once then silently becomes at-most-once. The hub does not depend on
that being right.

Faust can also drop a record without committing past it: a record in hand
when a rebalance suspends the flow is never given to the agent, and the
consumer reads on after it. One such record at the head of what is not yet
committed, and Faust commits past it (the case above); two, and Faust's check
for a gap at the head holds the commit back for good, so no commit ever
covers them (the likely cause of a fault test at 100 events/s that failed
waiting, at its end, for every event and for the hub to settle).

Every few seconds, for each outbox partition this worker holds, the reconciler
takes a bound: the higher of the group's committed offset and the agent's
frontier (the offset below which the agent has written the effects of every
record it was given; batches are written in order). It then reads the
decisions topic up to its end (every decision of a record below the bound is
there by then), and finds the offsets below the bound with no decision. It
fetches each such record and hands it to the same handler the agent uses.
Effect ids make that idempotent, so a race with the agent costs nothing but
work. Once a partition is checked up to its bound, the offsets from the
commit to the bound are handed to ``settle``, so that Faust counts them
acknowledged and its commit moves on.

A record dropped last, with nothing after it, leaves no frontier past it: when
a partition's bound has not moved for ``stall_s`` while records wait below its
end, the reconciler takes the first ``STALL_BATCH`` of them too (at worst a
few records the agent was about to reach are judged twice).

A start does not check from offset 0: it takes a mark proven by a bookmark in
the hub's state topic, and reads the decisions topic from where a bookmark
shows every decision of a record at or above that mark must be
(hub.state.plan_recovery, docs/decisions.md D14). The highest offset it has
begun per partition (``started``) goes into the bookmarks too.

The decisions topic holds every worker's decisions, and reading it costs about
30 µs a record: at 1,000 events/s that was most of what a pass cost, and a
pass on a busy machine shows in the hub's p99. So a pass reads it only when
it must: the worker tells the reconciler of each record whose effects the
agent has written (``note_decided``), and when every offset below every
partition's bound is known decided that way, nothing in the topic can change
the pass's outcome. When some offset is not (a record the agent was not
given, or one decided by an earlier holder of the partition), the pass reads
on from where it last stopped. So that such a read never has hours of the
topic to go through, a plan proven by bookmarks (the one a worker starting
now would follow) moves the reader forward with the marks (``advance``): a
start reads from exactly there.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.app.kafka import Follower, named_partition
from hub.decision import SourceRef
from hub.errors import TrmError
from hub.topics import OUTBOX_MAX_MESSAGE_BYTES

__all__ = ["Handler", "Reconciler", "Record", "Settle", "source_of_decision"]

log = logging.getLogger("trm.hub.reconcile")

# (where, value, headers, the broker's append time or None): one outbox record
Record = tuple[SourceRef, bytes, Sequence[tuple[str, bytes | None]], int | None]
# decides records in order and returns when every effect of them is written
Handler = Callable[[Sequence[Record]], Awaitable[None]]
# told offsets of a partition, from the group's commit on, that are all decided
Settle = Callable[[TopicPartition, Sequence[int]], None]
LOG_APPEND_TIME = 1  # Kafka's timestamp type for a broker-stamped record
STALL_S = 30.0  # a bound unmoved this long, with records below the end: take some
STALL_BATCH = 64  # records taken past a stalled bound in one pass
READ_BATCH = 256  # decisions noted between two turns of the event loop


class Reconciler:
    """Finds committed-but-undecided outbox records and decides them."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        decisions_topic: str,
        handler: Handler,
        client: dict[str, Any] | None = None,
        *,
        checked: Mapping[tuple[str, int], int] | None = None,
        decisions_from: Mapping[str, int] | None = None,
        settle: Settle | None = None,
        stall_s: float = STALL_S,
    ) -> None:
        """Args:
        checked: per outbox partition, a mark below which every record is known
            to be decided (from a bookmark); 0 where none.
        decisions_from: per decisions partition (``topic/partition``), the
            offset to read decisions from; the beginning where none.
        settle: told, once a partition is checked up to its bound, the offsets
            from the group's commit to it (the worker acknowledges them to Faust).
        stall_s: how long a partition's bound may stay put, with records
            below its end, before the reconciler takes the first of them.
        """
        self.bootstrap = bootstrap
        self.client = client or {}
        self.group_id = group_id
        self.decisions_topic = decisions_topic
        self.handler = handler
        self.settle = settle
        self.stall_s = stall_s
        # per partition: the group's commit as the last pass read it
        self.committed_seen: dict[tuple[str, int], int] = {}
        # per partition: its bound, and since when (monotonic) it has not moved
        self._still: dict[tuple[str, int], tuple[int, float]] = {}
        self.decided: dict[tuple[str, int], set[int]] = defaultdict(set)
        self.checked_upto: dict[tuple[str, int], int] = dict(checked or {})
        # the highest offset of each outbox partition handed to the handler
        self.started: dict[tuple[str, int], int] = {}
        start = {named_partition(name): o for name, o in (decisions_from or {}).items()}
        # One long-lived reader of the decisions topic: each pass reads only what is new.
        self._decisions = Follower(bootstrap, [decisions_topic], start=start, **self.client)
        # where the next read of the decisions may start, proven with raised marks
        self._skip: dict[TopicPartition, int] = {}
        self.decisions_read = 0  # decision records read so far
        self.recovered = 0
        self.last_pass_ms: int | None = None
        self._group: AIOKafkaConsumer | None = None
        # One long-lived reader of the records to decide (a fresh consumer per
        # partition and pass cost tens of ms of CPU each under paced load).
        self._fetcher: AIOKafkaConsumer | None = None

    async def run_once(
        self,
        assigned: Iterable[TopicPartition],
        frontier: Mapping[tuple[str, int], int] | None = None,
        *,
        decide: bool = True,
    ) -> int:
        """One pass over ``assigned`` outbox partitions; returns how many records it decided.

        ``frontier``: per partition, the offset below which the agent has written
        the effects of every record it was given, as of before this call.
        ``decide``: False checks only; a partition's mark stops at its first
        record without a decision.
        """
        parts = [tp for tp in assigned if tp.topic.endswith(".outbox")]
        if not parts:
            return 0
        frontier = dict(frontier or {})  # a snapshot, taken before anything is awaited
        if self._group is None:
            # One long-lived client for committed-offset lookups (it never joins the group).
            self._group = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                enable_auto_commit=False,
                **self.client,
            )
            await self._group.start()
        committed = {tp: (await self._group.committed(tp)) or 0 for tp in parts}
        self.committed_seen.update({(tp.topic, tp.partition): c for tp, c in committed.items()})
        ends = await self._group.end_offsets(parts)
        bounds = {tp: self._bound(tp, committed[tp], frontier, ends[tp]) for tp in parts}
        if any(self._unknown(tp, bounds[tp]) for tp in parts):
            await self._read_decisions()  # else nothing in it can change this pass
        fixed = 0
        for tp in parts:
            key = (tp.topic, tp.partition)
            upto = bounds[tp]
            missing = self._unknown(tp, upto)
            if missing and not decide:
                self.checked_upto[key] = missing[0]
                continue
            if missing:
                log.warning(
                    "%s/%d: %d records below offset %d (committed %d) have no decision "
                    "(first %d): deciding them now",
                    tp.topic, tp.partition, len(missing), upto, committed[tp], missing[0],
                )  # fmt: skip
                decided, empty = await self._decide(tp, missing)
                fixed += len(decided)
                unfound = sorted(set(missing) - decided - empty)
                if unfound:  # not fetched this time (a broker away?): check again next pass
                    log.warning("%s/%d: could not fetch offset %d; retrying", *key, unfound[0])
                    # (never below a mark advance() proved while the fetch ran)
                    self.checked_upto[key] = max(self.checked_upto.get(key, 0), unfound[0])
                    continue
            self.checked_upto[key] = max(self.checked_upto.get(key, 0), upto)
            if upto > committed[tp]:
                # Everything below upto is decided: Faust may commit up to it, whoever
                # decided it (a record it dropped may have been decided by an earlier
                # holder, and an earlier settling is forgotten when a partition moves).
                self._settle(tp, range(committed[tp], upto))
        # Forget offsets below each checked mark (held or not): they are settled.
        for key, upto in self.checked_upto.items():
            if key in self.decided:
                self.decided[key] = {o for o in self.decided[key] if o >= upto}
        self.recovered += fixed
        self.last_pass_ms = time.time_ns() // 1_000_000
        return fixed

    def _unknown(self, tp: TopicPartition, upto: int) -> list[int]:
        """The offsets of ``tp`` from its checked mark to ``upto`` not known to be decided."""
        key = (tp.topic, tp.partition)
        decided = self.decided[key]
        return [o for o in range(self.checked_upto.get(key, 0), upto) if o not in decided]

    def note_decided(self, sources: Iterable[SourceRef]) -> None:
        """The agent has written every effect of the records at ``sources`` (decisions
        included; a record the core failed on was quarantined whole): a pass need not
        look for their decisions in the topic."""
        for source in sources:
            self.decided[(source.topic, source.partition)].add(source.offset)

    def _settle(self, tp: TopicPartition, offsets: Sequence[int]) -> None:
        if self.settle is None:
            return
        try:
            self.settle(tp, offsets)
        except Exception:  # the commit waits for a later pass; the check itself is done
            log.exception("%s/%d: telling Faust of settled offsets failed", tp.topic, tp.partition)

    def marks(self) -> dict[tuple[str, int], int]:
        """Each partition's checked mark, no higher than the group's commit last seen.

        For bookmarks: the anchor (hub.state.anchor) assumes the group's commit
        is at or above a bookmark's mark, and a mark may now pass the commit.
        """
        return {k: min(v, self.committed_seen.get(k, v)) for k, v in self.checked_upto.items()}

    def _bound(
        self, tp: TopicPartition, committed: int, frontier: Mapping[tuple[str, int], int], end: int
    ) -> int:
        """The offset below which this pass checks ``tp`` (see the module docstring)."""
        key = (tp.topic, tp.partition)
        bound = max(committed, frontier.get(key, 0))
        if bound >= end:
            self._still.pop(key, None)
            return bound
        now = time.monotonic()
        held = self._still.get(key)
        if held is None or held[0] != bound:
            self._still[key] = (bound, now)
            return bound
        if now - held[1] < self.stall_s:
            return bound
        self._still[key] = (bound, now)  # the next batch only after another stall_s
        return min(end, max(bound, self.checked_upto.get(key, 0)) + STALL_BATCH)

    async def close(self) -> None:
        """Stop its consumers (a later pass starts them again)."""
        await self._decisions.close()
        for consumer in (self._group, self._fetcher):
            if consumer is not None:
                await consumer.stop()
        self._group = self._fetcher = None

    def advance(
        self,
        marks: Mapping[tuple[str, int], int],
        decisions_from: Mapping[str, int] | None = None,
    ) -> None:
        """Raise checked marks to ones proven elsewhere (another worker's bookmarks).

        ``decisions_from``: per decisions partition (``topic/partition``), where
        every decision of a record at or above ``marks`` is (the same plan's,
        hub.state.plan_recovery; ``marks`` must name every outbox partition). The
        next read of the decisions starts there if that is further on: what lies
        before is about records below the marks, which no pass checks again.
        """
        for key, upto in marks.items():
            if upto > self.checked_upto.get(key, 0):
                self.checked_upto[key] = upto
        if not set(self.committed_seen) <= set(marks):
            return  # a partition the plan does not name (added since): no skipping past it
        for name, offset in (decisions_from or {}).items():
            tp = named_partition(name)
            self._skip[tp] = max(offset, self._skip.get(tp, 0))

    async def _read_decisions(self) -> None:
        """Note every decision written since the last pass, a batch at a time.

        A pass that needs them reads what every worker decided since the last
        read (or since a plan moved the read on): thousands of records at a high
        rate, taken in batches of ``READ_BATCH`` with the event loop given back
        after each, so the agent never waits behind the whole read (it did: the
        hub's p99 was several times longer with passes on).
        """
        if self._skip:
            skip, self._skip = self._skip, {}
            await self._decisions.skip_to(skip)
        async for batch in self._decisions.batches(max_records=READ_BATCH, turn=True):
            for record in batch:
                self._note(record.value)
            self.decisions_read += len(batch)

    def _note(self, value: bytes | None) -> None:
        source = source_of_decision(value)
        if source is not None:
            self.decided[(source.topic, source.partition)].add(source.offset)

    async def _decide(self, tp: TopicPartition, offsets: list[int]) -> tuple[set[int], set[int]]:
        """Hand the records at ``offsets`` to the handler, each fetch's in one call.

        Returns the offsets decided, and those that hold no record a consumer
        can be given: a transaction's commit marker, or a record deleted by
        retention. Those are settled, not retried on every pass.
        """
        if self._fetcher is None:
            fetcher = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # below the log start: from its first record
                # any record an outbox accepts comes whole in one fetch
                max_partition_fetch_bytes=max(1 << 20, OUTBOX_MAX_MESSAGE_BYTES),
                **self.client,
            )
            await fetcher.start()
            self._fetcher = fetcher
        consumer = self._fetcher
        key = (tp.topic, tp.partition)
        done: set[int] = set()
        empty: set[int] = set()
        try:
            consumer.assign([tp])
            wanted = set(offsets)
            consumer.seek(tp, offsets[0])
            while wanted:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                records: list[Any] = batch.get(tp, [])
                if not records:
                    break
                found: list[Record] = [
                    (
                        SourceRef(tp.topic, tp.partition, r.offset),
                        r.value or b"",
                        [(k, v) for k, v in r.headers],
                        r.timestamp if r.timestamp_type == LOG_APPEND_TIME else None,
                    )
                    for r in records
                    if r.offset in wanted
                ]
                if found:
                    # One call decides them together: their effects go out in one
                    # write, not one write (and one round trip) per record.
                    offsets_found = [source.offset for source, *_ in found]
                    wanted.difference_update(offsets_found)
                    self.started[key] = max(self.started.get(key, -1), offsets_found[-1])
                    await self.handler(found)
                    self.decided[key].update(offsets_found)
                    done.update(offsets_found)
                if records[-1].offset >= offsets[-1]:
                    break
            # Records come in offset order: a wanted offset below the position
            # reached was never given, so there is no record there to decide.
            position = await consumer.position(tp)
            empty = {o for o in wanted if o < position}
            if empty:
                log.info(
                    "%s/%d: %d offsets hold no record (transaction markers or deleted), first %d",
                    tp.topic, tp.partition, len(empty), min(empty),
                )  # fmt: skip
                self.decided[key].update(empty)
            consumer.pause(tp)  # no fetching in the background between passes
        except BaseException:
            self._fetcher = None  # the next pass starts a fresh one
            await consumer.stop()
            raise
        return done, empty


_SOURCE_KEY = b',"source":"'


def source_of_decision(value: bytes | None) -> SourceRef | None:
    """The ``source`` of a decision record, or None if it has none that parses.

    The hub writes decision records as compact JSON with sorted keys, so
    ``source`` is the last key and its value (a topic name, a partition and an
    offset) needs no escapes; a ``"`` inside any string value is escaped, so the
    last ``,"source":"`` is the key. That is read without decoding the rest
    (the reconciler reads every decision the hub writes); anything else is
    decoded as JSON.
    """
    if not value:
        return None
    at = value.rfind(_SOURCE_KEY)
    if at >= 0 and value.endswith(b'"}'):
        text = value[at + len(_SOURCE_KEY) : -2]
        if b"\\" not in text and b'"' not in text:
            try:
                return SourceRef.parse(text.decode("ascii"))
            except (UnicodeDecodeError, TrmError):
                pass
    try:
        return SourceRef.parse(str(json.loads(value).get("source", "")))
    except (ValueError, AttributeError, TrmError):
        return None
