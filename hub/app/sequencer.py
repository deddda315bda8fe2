"""The audit sequencer: the single writer of the audit log, as a Faust app.

    python -m faust -A hub.app.sequencer worker -l warn    (``trm audit sequencer``)

It reads the hub's decision records (``<ns>.hub.decisions``), appends each as
one leaf to ``<ns>.audit.leaves`` (one partition, this one writer) and, every
N leaves or T milliseconds, publishes a signed checkpoint to
``<ns>.audit.checkpoints``. Deliveries never wait for it: a hub attestation
names its decision id, and a recipient looks the leaf up by that id here
(docs/decisions.md).

State: the tree's level files and the decision id -> leaf index map live in
its data directory (:class:`hub.audit.store.LeafStore`, ``<datadir>/audit-log``),
committed after each batch of leaves the broker acknowledged; in memory it
holds O(log n) hashes and the current batch, however long the log.

One writer: each batch of leaves is one Kafka transaction under one
transactional id (:func:`hub.topics.leaf_writer`), each checkpoint another
(the broker begins it only once the leaves it covers are committed), and
both topics are read with ``read_committed``. A start first registers that
id, which fences the previous sequencer: its open batch is aborted, a request
of it still on its way is refused. Without this, a batch a killed sequencer
had sent could land, or become readable, after its successor had read the
topic's end; the successor then wrote the same decisions again (the 3-broker
fault test saw 9 such leaves, and every later checkpoint disagreed with the
topic).

Restart: after the fence it opens the store (the committed size, root and
topic offsets), checks it against the leaves topic (the topic is not shorter
than the store, and its last leaf is the store's last leaf) and then against
every signed checkpoint read after the stored one, and reads only the leaves
appended after the store's offset. A missing, corrupt or disagreeing store is
logged and rebuilt from the leaves topic read from the beginning (correct,
slower). Either way a decision redelivered after a crash is recognised by its
id and not appended twice, and none is skipped (its offset is committed only
after the transaction holding its leaf is committed).

HTTP (Faust's web server): ``GET /audit/checkpoint`` (the latest signed
checkpoint, once a ``read_committed`` reader of the topic can read it),
``GET /audit/proof?decision_id=ID[&size=N]`` (the leaf, its index and an
inclusion proof against that checkpoint or size N, no larger) and
``GET /audit/consistency?from=M&to=N`` (N no larger either): what they serve
is committed, and an auditor's replay started at once finds it.

Environment: TRM_AUDIT_BOOTSTRAP, TRM_AUDIT_NAMESPACE, TRM_AUDIT_KEY (the hub
key file, mode 0600), TRM_AUDIT_WEB_PORT, TRM_HUB_WEB_HOST (the web server's
address, default 127.0.0.1), TRM_AUDIT_DATADIR,
TRM_AUDIT_EVERY_LEAVES, TRM_AUDIT_EVERY_MS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.web import Request, Response, View

from hub.app.kafka import (
    Follower,
    committed_only,
    default_client_config,
    faust_credentials,
    start_consumer,
)
from hub.audit.leaf import AuditLeaf
from hub.audit.log import AuditLog, CheckpointPolicy, origin_of
from hub.audit.merkle import leaf_hash
from hub.audit.note import Checkpoint, SignedNote
from hub.audit.store import LeafStore
from hub.audit.witness import proof_answer
from hub.decision import EFFECT_HEADER
from hub.errors import AuditError, OperationalError, Reason, TrmError
from hub.keys import load_private_key
from hub.topics import HUB, Topics, leaf_writer

__all__ = ["app", "sequence"]

log = logging.getLogger("trm.audit")

BOOTSTRAP = os.environ.get("TRM_AUDIT_BOOTSTRAP", "127.0.0.1:9092")
# Credentials of the hub principal (hub.app.kafka: env, Kubernetes secrets, or state dir).
CLIENT = default_client_config(HUB)
TOPICS = Topics(os.environ.get("TRM_AUDIT_NAMESPACE", "trm"))
POLICY = CheckpointPolicy(
    every_leaves=int(os.environ.get("TRM_AUDIT_EVERY_LEAVES", "100")),
    every_ms=int(os.environ.get("TRM_AUDIT_EVERY_MS", "5000")),
)
INDEX_HEADER = "trm-leaf-index"
APP_ID = os.environ.get("TRM_AUDIT_APP_ID", TOPICS.audit_group)
# Leaves are written in Kafka transactions and read back only as committed: a
# sequencer that died with a batch on its way cannot leave a leaf behind that
# a restart does not see (docs/protocol.md section 9.1).
COMMITTED = committed_only(CLIENT)
# The writer's record batches: a batch of leaves (TRM_AUDIT_BATCH of a few
# hundred bytes each) is one produce request, under the topic's 1 MiB limit.
_WRITER_BATCH_BYTES = 512 * 1024
_FENCE_WARN_S = 15.0  # a start still waiting to fence says so this often
WEB_HOST = os.environ.get("TRM_HUB_WEB_HOST", "127.0.0.1")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _StoreDisagrees(Exception):
    """The store on disk is not a prefix of the log the topics hold."""


DATADIR = os.environ.get(
    "TRM_AUDIT_DATADIR", os.path.join(os.getcwd(), ".trm", "audit-data", TOPICS.namespace)
)
# Leaves read per store commit while catching up on restart (bounds the ids held).
_RESTORE_COMMIT = 10_000


class _State:
    def __init__(self) -> None:
        self.directory = Path(DATADIR) / "audit-log"
        self.store: LeafStore | None = None
        self.log = AuditLog(origin_of(TOPICS.namespace))
        # The checkpoint served (``/audit/checkpoint``, and the default and largest
        # size of a proof): the latest one a read_committed reader can read.
        self.latest: SignedNote | None = None
        self.latest_size = 0
        # Checkpoints committed and not yet served, in order, and the one task
        # that serves each once it is readable (:func:`_serve_when_readable`),
        # with its reader of the last stable offset.
        self.unserved: list[_Unserved] = []
        self.serving: asyncio.Future[None] | None = None
        self.watch: AIOKafkaConsumer | None = None
        self.asks = 0  # of the last stable offset, ever
        key_file = os.environ.get("TRM_AUDIT_KEY")
        self.key = load_private_key(Path(key_file)) if key_file else None
        self.writer: AIOKafkaProducer | None = None
        self.closed = False
        # One transaction at a time: a batch of leaves (the tree in memory is
        # ahead of the topic until it commits) or a checkpoint (signed over
        # committed leaves only).
        self.turn = asyncio.Lock()

    async def fence(self) -> AIOKafkaProducer:
        """Start the writer: the broker fences every earlier writer under its id.

        Its start registers the transactional id (InitProducerId) and returns
        once the broker has finished the previous writer's open transaction:
        a batch a killed sequencer had on its way is aborted, and a request of
        it that arrives later is refused. Only then does :meth:`restore` read
        the leaves topic, so what it reads is everything the log will ever
        hold before this writer's first leaf.
        """
        if self.closed:
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE, "expected a running sequencer; it is stopping"
            )
        if self.writer is None:
            writer = AIOKafkaProducer(
                bootstrap_servers=BOOTSTRAP,
                transactional_id=leaf_writer(APP_ID),
                enable_idempotence=True,
                acks="all",
                max_batch_size=_WRITER_BATCH_BYTES,
                **CLIENT,
            )
            starting = asyncio.ensure_future(writer.start())
            try:
                while not (await asyncio.wait({starting}, timeout=_FENCE_WARN_S))[0]:
                    log.warning(
                        "still waiting for Kafka's transaction coordinator to register the "
                        "writer %s (it fences any earlier sequencer first)",
                        leaf_writer(APP_ID),
                    )
                starting.result()
            except BaseException:
                starting.cancel()
                await writer.stop()
                raise
            self.writer = writer
        return self.writer

    def _use(self, store: LeafStore) -> None:
        if self.store is not None and self.store is not store:
            self.store.close()
        self.store = store
        self.log = AuditLog(self.log.origin, tree=store.tree, index_of=store.ids)
        saved = store.meta.checkpoint
        self.latest, self.latest_size = None, 0
        if saved:
            # Readable: the fence waited for the transaction that wrote it to complete.
            note = SignedNote.from_bytes(saved)
            self.serve(note, Checkpoint.parse(note.text).size)
            self.log.mark_checkpointed(self.latest_size, _now_ms())

    def serve(self, note: SignedNote, size: int) -> None:
        """Serve ``note`` (of ``size`` leaves) from now on, unless a larger one is served."""
        if self.latest is None or size >= self.latest_size:
            self.latest, self.latest_size = note, size

    async def restore(self) -> None:
        started = time.perf_counter()
        await self.fence()
        fenced = time.perf_counter() - started
        origin = self.log.origin
        try:
            store = LeafStore.open(self.directory, origin)
        except AuditError as exc:
            log.warning(
                "audit store unusable (%s); rebuilding it from the leaves topic", exc.detail
            )
            store = LeafStore.reset(self.directory, origin)
        self._use(store)
        fresh = store.meta.leaves_offset == 0 and store.meta.checkpoints_offset == 0
        try:
            await self._catch_up(strict=not fresh)
        except _StoreDisagrees as exc:
            log.warning(
                "audit store disagrees with the topics (%s); rebuilding it from the leaves topic",
                exc,
            )
            self._use(LeafStore.reset(self.directory, origin))
            await self._catch_up(strict=False)
        log.info(
            "audit log restored in %.1f s (the writer fenced in %.1f s): %d leaves, "
            "checkpoint at %d",
            time.perf_counter() - started,
            fenced,
            self.log.size,
            self.log.checkpointed_size,
        )

    async def _catch_up(self, *, strict: bool) -> None:
        """Check the store against the topics, then read the leaves and checkpoints after it.

        ``strict``: the store held something, so a disagreement raises
        :class:`_StoreDisagrees` (the caller rebuilds); rebuilding from the
        beginning, a checkpoint the leaves do not give is only logged, as
        before (the auditor's replay reports it as FORK).
        """
        store = self.store
        if store is None:
            raise _StoreDisagrees("expected an open store")
        follower = Follower(BOOTSTRAP, [TOPICS.audit_leaves, TOPICS.audit_checkpoints], **COMMITTED)
        try:
            spans = await follower.spans()
        finally:
            await follower.close()
        leaves_tp = TopicPartition(TOPICS.audit_leaves, 0)
        checkpoints_tp = TopicPartition(TOPICS.audit_checkpoints, 0)
        leaves_end = spans.get(leaves_tp, (0, 0))[1]
        meta = store.meta
        if leaves_end < meta.leaves_offset:
            raise _StoreDisagrees(
                f"the store has read the leaves topic up to {meta.leaves_offset}, "
                f"the topic ends at {leaves_end}",
            )
        if meta.size:
            at = meta.leaves_offset - 1
            last = [r async for r in _records(leaves_tp, at, at + 1)]
            if not last or leaf_hash(last[-1].value or b"") != store.tree.leaf(meta.size - 1):
                raise _StoreDisagrees(
                    f"the leaf at offset {meta.leaves_offset - 1} is not the store's leaf "
                    f"{meta.size - 1}",
                )
        offset = meta.leaves_offset
        async for rec in _records(leaves_tp, meta.leaves_offset, leaves_end):
            if rec.value:
                self.log.restore(rec.value)
            offset = rec.offset + 1
            if self.log.size % _RESTORE_COMMIT == 0:
                store.commit(leaves_offset=offset)
        store.commit(leaves_offset=offset)
        checkpoints_end = spans.get(checkpoints_tp, (0, 0))[1]
        offset = meta.checkpoints_offset
        latest = store.meta.checkpoint
        async for rec in _records(checkpoints_tp, meta.checkpoints_offset, checkpoints_end):
            offset = rec.offset + 1
            if not rec.value:
                continue
            try:
                note = SignedNote.from_bytes(rec.value)
                cp = Checkpoint.parse(note.text)
            except TrmError:
                continue  # witness junk or a foreign record: the auditor reports it
            if cp.origin != self.log.origin or cp.size > self.log.size:
                continue
            if self.log.tree.root(cp.size) != cp.root:
                why = f"the signed checkpoint of size {cp.size} has another root than the tree"
                if strict:
                    raise _StoreDisagrees(why)
                log.error("%s: the leaves topic was rewritten", why)
                continue
            self.log.mark_checkpointed(cp.size, rec.timestamp)
            self.serve(note, cp.size)
            latest = rec.value
        store.commit(checkpoints_offset=offset, checkpoint=latest)

    def committed(self, leaves_offset: int | None) -> None:
        """A batch's leaves are acknowledged: make them and their ids durable."""
        if self.store is not None:
            self.store.commit(leaves_offset=leaves_offset)


async def _records(tp: TopicPartition, start: int, end: int) -> AsyncIterator[Any]:
    """The records of one partition in [start, end)."""
    if end <= start:
        return
    follower = Follower(BOOTSTRAP, [tp.topic], start={tp: start}, **COMMITTED)
    try:
        async for batch in follower.records(until={tp: end}, max_records=2000):
            for rec in batch:
                if rec.partition == tp.partition:
                    yield rec
    finally:
        await follower.close()


class SequencerApp(faust.App):
    async def on_start(self) -> None:
        await super().on_start()
        await STATE.restore()

    async def on_shutdown(self) -> None:
        # After the agents and timers have stopped (mode runs on_stop before them).
        await _stop_serving()  # closes the state first: no writer starts after this
        if STATE.writer is not None:
            await STATE.writer.stop()
            STATE.writer = None
        await super().on_shutdown()


STATE = _State()

app = SequencerApp(
    # Under the hub's group prefix: on a secure cluster the hub principal's ACLs cover it.
    APP_ID,
    broker=f"kafka://{BOOTSTRAP}",
    broker_credentials=faust_credentials(CLIENT),
    value_serializer="raw",
    key_serializer="raw",
    web_port=int(os.environ.get("TRM_AUDIT_WEB_PORT", "6067")),
    # The same setting as the hub worker's (it is part of the hub): 0.0.0.0 in containers.
    # Faust listens on web_bind (its default: every interface) and names web_host.
    web_bind=WEB_HOST,
    web_host=WEB_HOST,
    datadir=DATADIR,
    topic_allow_declare=False,
    topic_disable_leader=True,
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
)
decisions = app.topic(TOPICS.decisions, value_type=bytes)

# (topic, key, value, headers) of one record the writer sends
_Out = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


async def _transaction(records: list[_Out]) -> int:
    """Send ``records`` (to partition 0) in one transaction; the offset after the last.

    The caller holds ``STATE.turn``. A failure leaves the writer unusable and
    the tree in memory possibly ahead of the topic: the caller stops the
    process, and the restart aborts what was left open.
    """
    writer = await STATE.fence()
    await writer.begin_transaction()
    pending = [
        await writer.send(topic, value=value, key=key, partition=0, headers=headers)
        for topic, key, value, headers in records
    ]
    sent = await asyncio.gather(*pending)
    await writer.commit_transaction()
    return int(max(m.offset for m in sent)) + 1


def _stop(what: str, exc: BaseException) -> NoReturn:
    log.critical(
        "writing %s failed (%s); stopping so a restart resumes from the committed log",
        what,
        type(exc).__name__,
    )
    os._exit(70)


async def _publish_checkpoint() -> None:
    """Sign and publish the tree head, if one is due, in a transaction of its own.

    Through the same writer as the leaves: a fenced sequencer cannot publish
    one, and the broker begins this transaction only once the previous one
    (the leaves it covers) is complete, so a checkpoint is never readable
    before its leaves. It is served once it is readable (:func:`_offer`).
    """
    if STATE.key is None:
        return
    async with STATE.turn:
        if not STATE.log.checkpoint_due(_now_ms(), POLICY):
            return
        size = STATE.log.size
        note = STATE.log.checkpoint(STATE.key, _now_ms())
        data = note.to_bytes()
        try:
            end = await _transaction([(TOPICS.audit_checkpoints, str(size).encode(), data, [])])
        except BaseException as exc:  # a stop's cancellation too: the writer is mid-transaction
            _stop("the audit checkpoint", exc)
        if STATE.store is not None:
            STATE.store.commit(checkpoints_offset=end, checkpoint=data)
    _offer(end, size, note)


# How long a committed checkpoint may stay unreadable before the sequencer says
# so (and again this often while it stays so), how long one ask may take, and
# the pauses between asks (doubling from the first to the last).
_UNREADABLE_SAY_S = 30.0
_ASK_S = 10.0
_FIRST_PAUSE_S = 0.005
_LAST_PAUSE_S = 0.2


@dataclass(frozen=True, slots=True)
class _Unserved:
    """A checkpoint committed and not yet served."""

    end: int  # the offset after its record
    size: int
    note: SignedNote
    offered_at: float  # time.monotonic()
    asks_before: int  # the asks made before it was offered


def _offer(end: int, size: int, note: SignedNote) -> None:
    """Serve ``note`` once a reader can read it (``end``: the offset after its record).

    docs/decisions.md D6: ``commit_transaction`` returns before the marker that
    makes the checkpoint readable is written. Neither the agent nor the timer
    waits for it: one task asks the topic's last stable offset until it passes.
    """
    STATE.unserved.append(_Unserved(end, size, note, time.monotonic(), STATE.asks))
    if STATE.serving is None or STATE.serving.done():
        STATE.serving = asyncio.ensure_future(_serve_when_readable())


async def _serve_when_readable() -> None:
    """Serve each unserved checkpoint once the topic's last stable offset passes it."""
    pause = _FIRST_PAUSE_S
    said_at = time.monotonic()
    while STATE.unserved and not STATE.closed:
        stable, failure = await _last_stable_offset()
        STATE.asks += 1
        now = time.monotonic()
        readable = [c for c in STATE.unserved if c.end <= stable]
        if readable:
            for c in readable:
                STATE.serve(c.note, c.size)
                log.debug(
                    "the checkpoint of size %d readable after %.1f ms (%d asks)",
                    c.size,
                    1000 * (now - c.offered_at),
                    STATE.asks - c.asks_before,
                )
            STATE.unserved = [c for c in STATE.unserved if c.end > stable]
            pause, said_at = _FIRST_PAUSE_S, now
            continue
        if now - said_at >= _UNREADABLE_SAY_S:
            oldest = STATE.unserved[0]
            log.warning(
                "the checkpoint of size %d is committed but not readable after %.0f s "
                "(the topic's last stable offset %s, expected at least %d); still serving "
                "the checkpoint of size %d",
                oldest.size,
                now - oldest.offered_at,
                f"unknown: {failure}" if failure else stable,
                oldest.end,
                STATE.latest_size,
            )
            said_at = now
        await asyncio.sleep(pause)
        pause = min(2 * pause, _LAST_PAUSE_S)


async def _last_stable_offset() -> tuple[int, str]:
    """The checkpoints topic's last stable offset, or (-1, what went wrong).

    A read_committed consumer that only asks (ListOffsets) where a committed
    read would end. It holds the partition, so its leader stays in the
    consumer's metadata (not assigned, each ask took about 100 ms: a metadata
    refresh), and paused, so it fetches no record; being assigned costs one
    offset reset at the start.
    """
    tp = TopicPartition(TOPICS.audit_checkpoints, 0)
    try:
        async with asyncio.timeout(_ASK_S):
            if STATE.watch is None:
                consumer = await start_consumer(BOOTSTRAP, **COMMITTED)
                consumer.assign([tp])
                consumer.pause(tp)
                STATE.watch = consumer
            ends = await STATE.watch.end_offsets([tp])
        return int(ends[tp]), ""
    except Exception as exc:  # a probe: asked again, and said if it lasts
        return -1, type(exc).__name__


async def _stop_serving() -> None:
    """At a stop: the state closed (no writer starts, no more asks), the asking consumer too."""
    STATE.closed = True
    if STATE.serving is not None:
        STATE.serving.cancel()
        await asyncio.gather(STATE.serving, return_exceptions=True)
        STATE.serving = None
    if STATE.watch is not None:
        await STATE.watch.stop()
        STATE.watch = None


# Leaves sent per batch before waiting for the broker's acknowledgement: one
# round trip per batch, not per leaf, so the single writer keeps up with the hub.
BATCH = int(os.environ.get("TRM_AUDIT_BATCH", "500"))


def _leaf_for(event: Any) -> tuple[str, AuditLeaf] | None:
    value = event.value
    if not isinstance(value, bytes) or not value:
        return None
    headers = dict(event.message.headers or [])
    raw_id = headers.get(EFFECT_HEADER)
    decision_id = (
        raw_id.decode("utf-8", "replace")
        if isinstance(raw_id, bytes)
        else "sha256:" + hashlib.sha256(value).hexdigest()
    )
    try:
        return decision_id, AuditLeaf.from_decision(decision_id, value)
    except TrmError as exc:
        # A record the hub did not write: keep it out of the tree, say so loudly.
        log.error("decision %s refused: %s", decision_id, exc.as_line())
        return None


def _append(events: Sequence[Any]) -> list[_Out]:
    """Append each new decision of ``events`` to the tree; the leaves to write."""
    batch: list[_Out] = []
    for event in events:
        found = _leaf_for(event)
        if found is None:
            continue
        decision_id, leaf = found
        appended = STATE.log.append(leaf)
        if appended is None:
            continue  # already a leaf (redelivered after a crash)
        index, data = appended
        batch.append(
            (TOPICS.audit_leaves, decision_id.encode(), data, [(INDEX_HEADER, str(index).encode())])
        )
    return batch


@app.agent(decisions, concurrency=1)
async def sequence(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
    """One leaf per decision, in the order the decisions topic holds them.

    Each batch of leaves is one Kafka transaction of the leaf writer
    (:meth:`_State.fence`). Its decisions' offsets are acknowledged (and so may
    be committed) only after the transaction is committed; a failed write stops
    the worker, whose restart aborts what it left open and resumes from the
    store. The producer keeps one request in flight per partition, so leaves
    land in the order they were appended.
    """
    # take_events is on the concrete Stream (faust-streaming), not on StreamT.
    batches = cast("faust.Stream[Any]", stream).take_events(BATCH, within=0.05)
    async for events in batches:
        async with STATE.turn:
            try:
                batch = _append(events)
                if batch:
                    STATE.committed(await _transaction(batch))
            except BaseException as exc:
                # The tree in memory may be ahead of the topic (never checkpoint it),
                # and Faust acks the batch's decisions as this loop unwinds, a stop's
                # cancellation included: exit before their offsets can be committed,
                # so that the restart decides them again.
                _stop("audit leaves", exc)
        await _publish_checkpoint()  # if one is due
        yield None


@app.timer(interval=max(0.5, POLICY.every_ms / 2000))  # type: ignore[untyped-decorator]
async def checkpoint_timer() -> None:
    await _publish_checkpoint()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@app.page("/audit/checkpoint")
class CheckpointView(View):
    async def get(self, request: Request) -> Response:
        if STATE.latest is None:
            return _json(
                self, 404, _refusal("NOT_FOUND", "expected a checkpoint; none published yet")
            )
        return self.text(STATE.latest.to_bytes().decode(), content_type="text/plain")


def _json(view: View, status: int, body: dict[str, Any]) -> Response:
    response: Response = view.json(body, status=status)
    return response


def _refusal(reason: str, detail: str) -> dict[str, Any]:
    return {"error": {"reason": reason, "detail": detail}}


def proof_reply(query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(status, body) of ``/audit/proof?decision_id=ID[&size=N]`` (docs/protocol.md 9.5).

    Sizes go up to the served checkpoint's, whose leaves are committed and readable.
    """
    decision_id = query.get("decision_id", "")
    index = STATE.log.index_of.get(decision_id)
    if index is None:
        return 404, _refusal(
            "NOT_FOUND", f"expected a logged decision id, got {decision_id[:80]!r}"
        )
    served = STATE.latest_size
    try:
        size = int(query.get("size", served))
    except ValueError:
        return 400, _refusal("BAD_REQUEST", "expected size to be an integer")
    if "size" in query and size <= index:  # no later checkpoint makes this one hold it
        return 400, _refusal(
            "BAD_REQUEST", f"expected a size above the leaf's index {index}, got {size}"
        )
    if not index < size <= served:
        return 404, _refusal(
            "NOT_FOUND",
            f"leaf {index} is not in a tree of size {size} (the served checkpoint's "
            f"size {served}); retry after the next checkpoint",
        )
    checkpoint = STATE.latest.to_bytes().decode() if STATE.latest else None
    return 200, proof_answer(STATE.log.tree, decision_id, index, size, checkpoint)


def consistency_reply(query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(status, body) of ``/audit/consistency?from=M[&to=N]``, N at most the served size."""
    served = STATE.latest_size
    try:
        old = int(query["from"])
        new = int(query.get("to", served))
    except (KeyError, ValueError):
        return 400, _refusal("BAD_REQUEST", "expected integer 'from' (and 'to') sizes")
    if old <= 0 or ("to" in query and new < old):
        return 400, _refusal("BAD_REQUEST", f"expected 0 < from <= to, got {old} and {new}")
    if max(old, new) > served:
        return 404, _refusal(
            "NOT_FOUND",
            f"no checkpoint of size {max(old, new)} served yet (the served checkpoint's "
            f"size {served}); retry after the next checkpoint",
        )
    tree = STATE.log.tree
    return 200, {
        "from": old,
        "to": new,
        "root1": _b64(tree.root(old)),
        "root2": _b64(tree.root(new)),
        "proof": [_b64(p) for p in tree.consistency_proof(old, new)],
    }


@app.page("/audit/proof")
class ProofView(View):
    async def get(self, request: Request) -> Response:
        return _json(self, *proof_reply(request.query))


@app.page("/audit/consistency")
class ConsistencyView(View):
    async def get(self, request: Request) -> Response:
        return _json(self, *consistency_reply(request.query))
