"""Reading the hub's own topics with aiokafka: a worker's recovery state.

A worker's start reads (docs/decisions.md D14):

1. the bookmarks topic ``<ns>.hub.bookmarks`` whole (a ring of bookmarks per
   outbox partition, and packs of notes), then the notes of the state topic
   ``<ns>.hub.state`` that no pack holds: together one small note per event
   of the dedupe window (where it was taken in, and when it was created);
2. the group's committed offset of every outbox partition, and from those and
   the bookmarks a :class:`hub.state.RecoveryPlan`: from which offset of each
   output topic (inboxes, rejections, quarantine, decisions) the effects a
   record processed again could have written must be read;
3. the output topics from those offsets to their current end, collecting the
   ``trm-effect`` header of every record (and the INGESTED decisions, as before).

Without a usable bookmark for every outbox partition (a first start, or an
upgrade from a build without the state topic) step 3 reads every output topic
from the beginning, as earlier builds always did: correct, and as slow as the
log is long; the log says so. Reprocessing a record after a crash then skips
every effect already written: no duplicate delivery, no second rejection (D5).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.app.kafka import Follower, Row, named_partition, partition_name, partitions, rows
from hub.decision import EFFECT_HEADER, DecisionKind, DecisionRecord, EffectId, SourceRef
from hub.errors import TrmError
from hub.state import (
    BOOKMARK_PREFIX,
    PACK_NOTES,
    Bookmark,
    HubState,
    OutboxPartition,
    RecoveryPlan,
    covered_until,
    pack_range,
    pack_record,
    plan_recovery,
)
from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["Recovery", "StateFollower", "apply_notes", "apply_rows", "output_names"]

log = logging.getLogger(__name__)

# Re-open the output reader further on when a catch-up would otherwise read
# this many records that the current bookmarks prove no one needs.
SKIP_AHEAD = 20_000
# The state topic is one partition of small records: fetch more of it per round trip.
NOTES_FETCH_BYTES = 8 * 1024 * 1024
# The most records one step of the event loop handles in every read here (the
# state, bookmarks and output topics, at a start, a takeover's catch-up and each
# bookmark tick; Follower.records(turn=True) lets the loop run between steps). A
# running worker's bookmark tick read all its records in one step and held the
# loop, and every record waiting on it, for 10-42 ms at 1,500 events/s; a
# catch-up held it for as long as its whole read took. The loop also runs the
# Kafka consumer's heartbeats (docs/decisions.md D24).
READ_STEP = 500


def output_names(topics: Topics, countries: Iterable[str]) -> list[str]:
    """The topics the hub writes its effects to, whose records a start may read again."""
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
                # decided_at is at least created_at - max_future_ms (5 min), well
                # inside PRUNE_MARGIN_MS, so dating the entry by it never forgets early
                state.taken_in(record.producer, record.event_id, src, record.decided_at_ms)


def apply_notes(state: HubState, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    """Learn from the state topic's (key, value) records where events were taken in."""
    learn = state.learn
    for key, value in records:
        if key is not None and value is not None:
            learn(key, value)  # anything else is no note the hub wrote: ignored


def apply_index(
    records: Iterable[tuple[bytes | None, bytes | None]],
    bookmarks: dict[bytes, Bookmark],
    packs: dict[tuple[int, int], bytes | None],
) -> None:
    """Learn from the bookmarks topic: the newest bookmarks, and packs (their ranges, values)."""
    bookmark = BOOKMARK_PREFIX.encode()
    for key, value in records:
        if key is None:
            continue
        if key.startswith(bookmark):
            if value is None:
                bookmarks.pop(key, None)
                continue
            try:
                bookmarks[key] = Bookmark.from_record(key, value)
            except TrmError:
                log.warning("ignoring a malformed bookmark in the bookmarks topic")
            continue
        where = pack_range(key)
        if where is not None:
            if value is None:
                packs.pop(where, None)
            else:
                packs[where] = value


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a start read: from bookmarks (or the whole log), how many records, how long."""

    from_bookmarks: bool
    state_records: int
    output_records: int
    history: int  # records the output topics hold in all (what a full read reads)
    seconds: float


class StateFollower:
    """Keeps a worker's HubState up to date with what every worker has written.

    :meth:`recover` reads the state topic and the tail of the outputs once per
    process; each later :meth:`catch_up` (after a rebalance, and with every
    bookmark) reads only what was appended since.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        countries: Iterable[str] = COMMIT_COUNTRIES,
        group_id: str | None = None,
        pack_notes: int = PACK_NOTES,
        **client: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.pack_notes = pack_notes
        self.topics = topics
        self.countries = tuple(countries)
        self.group_id = group_id
        self.client = client
        self.outputs: Follower | None = None
        self.notes: Follower | None = None  # made at the start, from the packs' end on
        self.index = Follower(
            bootstrap,
            [topics.hub_bookmarks],
            max_partition_fetch_bytes=NOTES_FETCH_BYTES,
            **client,
        )
        self.bookmarks: dict[bytes, Bookmark] = {}
        # (from, to) offsets of the state topic's packs -> value (dropped once applied)
        self.packs: dict[tuple[int, int], bytes | None] = {}
        self._packer: Follower | None = None
        # one pack() or stop_packing() at a time: the bookmark timer's and a clean
        # stop's (last_bookmarks) may overlap, and must not read one reader twice
        self._packing = asyncio.Lock()
        self._packed_upto = 0
        self._pending: list[tuple[int, bytes, bytes]] = []
        self.plan: RecoveryPlan | None = None  # the start's
        self.latest_plan: RecoveryPlan | None = None  # the last catch-up's
        self.read_upto: dict[str, int] = {}  # per output partition, read at least this far
        self._group: AIOKafkaConsumer | None = None
        self._outboxes: list[TopicPartition] = []

    async def recover(self, state: HubState) -> Recovery:
        """Fill ``state`` for a start: the state topic, then the outputs from the plan."""
        started = time.monotonic()
        notes = await self._read_packs_then_notes(state)
        committed = await self.committed()
        self.plan = plan_recovery(self.bookmarks.values(), committed, self.topics.decisions)
        starts = (
            {}
            if self.plan is None
            else {named_partition(n): o for n, o in self.plan.starts.items()}
        )
        self.outputs = Follower(
            self.bootstrap, output_names(self.topics, self.countries), start=starts, **self.client
        )
        spans = await self.outputs.spans()
        ends = {partition_name(tp): end for tp, (_first, end) in spans.items()}
        history = sum(end - first for first, end in spans.values())
        until = {tp: end for tp, (_first, end) in spans.items()}
        read = 0
        async for batch in self.outputs.records(until=until, max_records=READ_STEP, turn=True):
            apply_rows(state, rows(batch), self.topics)
            read += len(batch)
        self.read_upto = dict(ends)
        # every effect marked so far was read below these ends
        state.set_boundary(state.new_generation(), ends)
        report = Recovery(
            from_bookmarks=self.plan is not None,
            state_records=notes,
            output_records=read,
            history=history,
            seconds=time.monotonic() - started,
        )
        if self.plan is None:
            marks = self.bookmarks.values()
            lacking = [
                f"{t}/{p}"
                for (t, p), c in sorted(committed.items())
                if plan_recovery(marks, {(t, p): c}, self.topics.decisions) is None
            ]
            log.warning(
                "no usable bookmark for %d outbox partitions (e.g. %s; %d bookmarks found): "
                "read all %d output records from the beginning",
                len(lacking),
                ", ".join(lacking[:3]),
                len(self.bookmarks),
                read,
            )
        log.info(
            "recovered in %.2f s from %s: read %d state records and %d of %d output records; "
            "%d effects, %d events in the dedupe window",
            report.seconds,
            "bookmarks" if report.from_bookmarks else "the whole log",
            report.state_records,
            report.output_records,
            report.history,
            len(state.effects),
            len(state.first_seen),
        )
        return report

    async def catch_up(self, state: HubState) -> int:
        """Apply what was appended since the last call to ``state``; returns how many records.

        Output records that a worker starting now would not read either (below
        the plan of the current bookmarks and commits) are skipped when there
        are many: a takeover after hours of running reads a tail, not hours.
        """
        if self.outputs is None:
            await self.recover(state)
            return 0
        notes = await self.poll_notes(state)
        await self.poll_index()
        self.latest_plan = self.fresh_plan(await self.committed())
        if self.latest_plan is not None:
            await self._skip_ahead(self.latest_plan)
        # after a failure, the next one reads it all again (from the plan's offsets)
        ends = await self.output_ends()  # poll reads at least this far
        read = 0
        async for batch in self.outputs.batches(max_records=READ_STEP, turn=True):
            apply_rows(state, rows(batch), self.topics)  # learning twice is harmless
            read += len(batch)
        self.read_upto.update(ends)
        return read + notes

    async def _read_packs_then_notes(self, state: HubState) -> int:
        """A start: the bookmarks topic (bookmarks, packs), then the notes after the packs."""
        read = await self.poll_index()
        group = await self._group_client()
        tps = await partitions(group, [self.topics.hub_state])
        firsts = dict(await group.beginning_offsets(tps)) if tps else {}
        start: dict[TopicPartition, int] = {}
        for tp in tps:  # one partition in the plan; packs cover partition 0
            upto = covered_until(self.packs, firsts[tp]) if tp.partition == 0 else firsts[tp]
            start[tp] = upto
            for (_first, end), value in sorted(self.packs.items()):
                if tp.partition == 0 and end <= upto and value is not None:
                    read += state.learn_pack(value)
        self.packs = dict.fromkeys(self.packs)  # their ranges are enough from now on
        self.notes = Follower(
            self.bootstrap,
            [self.topics.hub_state],
            start=start,
            max_partition_fetch_bytes=NOTES_FETCH_BYTES,
            **self.client,
        )
        return read + await self.poll_notes(state)

    async def poll_index(self) -> int:
        """Read what was appended to the bookmarks topic: bookmarks and packs."""
        read = 0
        async for batch in self.index.batches(max_records=READ_STEP, turn=True):
            apply_index(((r.key, r.value) for r in batch), self.bookmarks, self.packs)
            read += len(batch)
        if self.notes is not None and read:  # after the start only the ranges matter
            self.packs = dict.fromkeys(self.packs)
        return read

    async def poll_notes(self, state: HubState) -> int:
        """Read what was appended to the state topic: events other workers took in."""
        if self.notes is None:
            return 0
        read = 0
        try:
            # batch by batch: a start reads a record per event after the last pack
            async for batch in self.notes.records(max_records=READ_STEP, turn=True):
                apply_notes(state, [(r.key, r.value) for r in batch])
                read += len(batch)
        except Exception:
            await self.notes.close()  # the next read starts over (as Follower.batches does)
            raise
        return read

    async def pack(self, send: Callable[[bytes, bytes], Awaitable[Any]]) -> int:
        """Write packs of the notes not yet packed (one worker does this); returns how many.

        Reads the state topic from the end of the packs' coverage, and sends a
        pack for every PACK_NOTES notes read (the rest waits for the next call).
        """
        async with self._packing:
            return await self._pack(send)

    async def _pack(self, send: Callable[[bytes, bytes], Awaitable[Any]]) -> int:
        tp = TopicPartition(self.topics.hub_state, 0)
        if self._packer is None:
            group = await self._group_client()
            first = (await group.beginning_offsets([tp]))[tp]
            self._packed_upto = covered_until(self.packs, first)
            self._pending = []
            self._packer = Follower(
                self.bootstrap,
                [self.topics.hub_state],
                start={tp: self._packed_upto},
                max_partition_fetch_bytes=NOTES_FETCH_BYTES,
                **self.client,
            )
        try:
            written = await self._send_packs(send)  # what a cancelled call left
            async for batch in self._packer.records(max_records=READ_STEP, turn=True):
                self._pending += [(r.offset, r.key, r.value) for r in batch if r.key and r.value]
                written += await self._send_packs(send)
        except Exception:
            await self._forget_packing()  # the next call starts again from the packs' end
            raise
        return written

    async def _send_packs(self, send: Callable[[bytes, bytes], Awaitable[Any]]) -> int:
        """Send a pack for every ``pack_notes`` notes pending; returns how many.

        A chunk leaves ``_pending`` only once its pack is sent: a call cancelled
        while it builds or sends one (a stop) leaves the notes pending and the
        packs' end where it was, so the next call packs them again, and no pack
        can claim a range without all of its notes.
        """
        size = self.pack_notes
        written = 0
        while len(self._pending) >= size:
            end = self._pending[size - 1][0] + 1
            notes = [(k, v) for _o, k, v in self._pending[:size]]
            # Built on the loop, a pack of 5,000 notes held it 11-25 ms, the
            # records behind it waiting; in a thread, zlib's 8 ms of it let
            # go of the GIL (docs/performance-history.md, 6 December 2026, late night)
            key, value = await asyncio.to_thread(pack_record, self._packed_upto, end, notes)
            await send(key, value)
            del self._pending[:size]
            self.packs[(self._packed_upto, end)] = None
            self._packed_upto = end
            written += 1
        return written

    async def stop_packing(self) -> None:
        """Another worker packs now (or a read failed): forget where this one was."""
        async with self._packing:
            await self._forget_packing()

    async def _forget_packing(self) -> None:
        if self._packer is not None:
            await self._packer.close()
            self._packer = None
            self._pending = []

    async def _skip_ahead(self, plan: RecoveryPlan) -> None:
        names = set(plan.starts) | set(self.read_upto)
        start = {n: max(plan.starts.get(n, 0), self.read_upto.get(n, 0)) for n in names}
        behind = sum(start[n] - self.read_upto.get(n, 0) for n in names)
        if behind < SKIP_AHEAD:
            return
        if self.outputs is not None:
            await self.outputs.close()
        self.outputs = Follower(
            self.bootstrap,
            output_names(self.topics, self.countries),
            start={named_partition(n): o for n, o in start.items()},
            **self.client,
        )
        self.read_upto = start
        log.info("catching up from the bookmarks: %d output records skipped", behind)

    async def outboxes(self) -> list[TopicPartition]:
        """Every partition of the outboxes this worker serves."""
        if not self._outboxes:
            group = await self._group_client()
            names = [self.topics.outbox(cc) for cc in self.countries]
            self._outboxes = await partitions(group, names)
        return self._outboxes

    async def committed(self) -> dict[OutboxPartition, int]:
        """The group's committed offset of every outbox partition (0 where none)."""
        if self.group_id is None:
            return {}
        group = await self._group_client()
        out: dict[OutboxPartition, int] = {}
        for tp in await self.outboxes():
            out[(tp.topic, tp.partition)] = (await group.committed(tp)) or 0
        return out

    async def output_ends(self) -> dict[str, int]:
        """The end offset of every output partition now (``topic/partition`` -> offset)."""
        if self.outputs is None:
            return {}
        return {partition_name(tp): end for tp, end in (await self.outputs.ends()).items()}

    async def ends_of(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The end offsets of any partitions (the outboxes, for the lag and takeovers)."""
        wanted = list(tps)
        if not wanted:
            return {}
        group = await self._group_client()
        return dict(await group.end_offsets(wanted))

    def fresh_plan(self, committed: dict[OutboxPartition, int]) -> RecoveryPlan | None:
        """The plan a worker starting now would follow (for pruning what it would not know)."""
        return plan_recovery(self.bookmarks.values(), committed, self.topics.decisions)

    async def _group_client(self) -> AIOKafkaConsumer:
        if self._group is None:
            # Never joins the group: it only looks up committed offsets and ends.
            group = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                enable_auto_commit=False,
                **self.client,
            )
            await group.start()
            self._group = group
        return self._group

    async def close(self) -> None:
        if self.outputs is not None:
            await self.outputs.close()
        if self.notes is not None:
            await self.notes.close()
        await self.index.close()
        await self.stop_packing()
        if self._group is not None:
            await self._group.stop()
            self._group = None
