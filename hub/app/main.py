"""The hub worker: a Faust app with one agent over every country's outbox.

    python -m faust -A hub.app.main worker -l info     (``trm hub worker`` does this)

Configuration comes from the environment (``trm hub worker`` fills it from
flags and the state directory):

================== ===========================================================
TRM_HUB_BOOTSTRAP   Kafka bootstrap servers
TRM_HUB_NAMESPACE   topic namespace (default ``trm``)
TRM_HUB_KEY         the hub's private key file (mode 0600)
TRM_HUB_TRUST       optional pinned trust list file (start of the trust chain)
TRM_HUB_WEB_PORT    Faust's web port (give each worker its own)
TRM_HUB_WEB_HOST    the address it listens on (default ``127.0.0.1``; ``0.0.0.0``
                    in the container image, so probes reach it; ``--web-host``)
TRM_HUB_DATADIR     Faust's data directory
TRM_HUB_APP_ID      consumer group / app id (default ``trm-hub-<namespace>``)
TRM_HUB_COUNTRIES   comma-separated outboxes to serve (default the six members)
================== ===========================================================

``TRM_HUB_FETCH_WAIT_MS``: the longest a fetch waits at the broker (default 25 ms,
at least 1; see :func:`hub.app.kafka.faust_fetch_wait`). ``TRM_HUB_CONSUMER``:
``loop`` (the default) runs Faust's Kafka consumer on the worker's event loop
(:func:`hub.app.kafka.faust_consumer_on_loop`), ``thread`` in Faust's own thread.

Each record: bytes and headers in, :func:`hub.pipeline.process`, every effect
written with acks=all and awaited before the offset may be committed
(at-least-once); an effect already written (by id) is skipped, so reprocessing
after a crash has no duplicate effect. Bad input never kills the agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka import TopicPartition

from hub import compiled
from hub.app.kafka import (
    Follower,
    acknowledge_offsets,
    default_client_config,
    faust_consumer_on_loop,
    faust_credentials,
    faust_fetch_wait,
    faust_inline_delivery,
    partition_name,
    partitioner,
)
from hub.app.reconcile import LOG_APPEND_TIME, Reconciler, Record
from hub.app.recovery import Recovery, StateFollower, output_names
from hub.app.registry import build_registry
from hub.app.writer import EffectWriter, OutRecord
from hub.decision import SourceRef
from hub.errors import OperationalError, Reason
from hub.keys import load_private_key
from hub.pipeline import Effect, Limits, Registry, mark_written, new_effects, process
from hub.state import (
    ANCHOR_SLOT,
    PACK_NOTES,
    PRUNE_MARGIN_MS,
    Bookmark,
    HubState,
    OutboxPartition,
    anchor,
    bookmark_slot,
)
from hub.topics import COMMIT_COUNTRIES, HUB, Topics
from hub.trust import load_trust_file
from hub.wire import register_from_environment
from hub.wire.verify import verify_ahead, verify_ahead_clear

__all__ = ["app", "hub_agent"]

log = logging.getLogger("trm.hub")

BOOTSTRAP = os.environ.get("TRM_HUB_BOOTSTRAP", "127.0.0.1:9092")
# Credentials of the hub principal (hub.app.kafka: env, Kubernetes secrets, or state dir).
CLIENT = default_client_config(HUB)
TOPICS = Topics(os.environ.get("TRM_HUB_NAMESPACE", "trm"))
COUNTRIES = tuple(
    c for c in os.environ.get("TRM_HUB_COUNTRIES", ",".join(COMMIT_COUNTRIES)).split(",") if c
)
WEB_HOST = os.environ.get("TRM_HUB_WEB_HOST", "127.0.0.1")
REGISTRY_REFRESH_S = 1.0
# A deployment's own event types: every worker must know the same ones.
EVENT_TYPES = register_from_environment(os.environ)


class HubApp(faust.App):
    """The Faust app, loading the registry and recovery state before consuming."""

    async def on_start(self) -> None:
        await super().on_start()
        _drop_spinner_logging()
        await _the_hub().ready()
        # the writer connected, and the outputs' partitions known, before the first batch
        await WRITER.prepare([*output_names(TOPICS, COUNTRIES), TOPICS.hub_state])
        _freeze_what_start_loaded()
        if compiled.STATUS not in {"in use", "off"}:  # "off": TRM_COMPILED=0, asked for
            log.warning(
                "the compiled hot modules are not in use (%s): the source runs, slower "
                "(docs/performance.md)",
                compiled.STATUS,
            )


# The cyclic collector's thresholds in a running worker (gc.set_threshold): young
# collections as often as Python's default (every 700 net allocations); middle ones
# every 700,000, because a batch's records, effects and decisions live across many
# young collections (the agent decides while a write is in flight) and every middle
# collection walks all the batches in flight again (at every 70,000 they took 3 % of a
# drain); a full one at every third middle one, every 2.1 million, not ten times rarer
# than before, so that cyclic garbage reaching the oldest generation does not wait ten
# times longer. Cyclic garbage that outlives a young collection waits up to 700,000
# allocations: seconds in a drain, a minute or more at half rate. Measured in
# docs/performance-history.md, "6 December 2026, late".
GC_THRESHOLDS = (700, 1000, 1)
# The generational collector these thresholds are for: Python 3.14's incremental
# collector reads the second and third numbers otherwise, and keeps its defaults.
GC_GENERATIONAL = sys.version_info < (3, 14)


def _freeze_what_start_loaded() -> None:
    """Keep what the start loaded (modules, Faust, the recovered state) out of every
    collection, and collect the rest less often (:data:`GC_THRESHOLDS`).

    None of what the start loaded is ever garbage, but the cyclic collector's full
    passes walked all of it: 55-90 ms pauses every few seconds on a busy worker
    (measured with ``gc.callbacks``), each one a stall of every record in flight.
    """
    gc.collect()
    gc.freeze()
    if GC_GENERATIONAL:
        gc.set_threshold(*GC_THRESHOLDS)


def _drop_spinner_logging() -> None:
    """Undo the DEBUG root level that Faust's terminal spinner sets at ``-l warn``.

    faust.Worker adds a spinner handler at DEBUG and lowers the root logger to
    DEBUG whenever the level is WARN or above; every debug call of aiokafka and
    Faust then builds a log record that no handler prints (about 4 % of a
    saturated worker's CPU, by py-spy). The spinner only animates start-up.
    """
    root = logging.getLogger()
    spinners = [h for h in root.handlers if type(h).__name__ == "SpinnerHandler"]
    for handler in spinners:
        root.removeHandler(handler)
    levels = [h.level for h in root.handlers if h.level > logging.NOTSET]
    if spinners and levels:
        root.setLevel(min(levels))


app = HubApp(
    os.environ.get("TRM_HUB_APP_ID", f"trm-hub-{TOPICS.namespace}"),
    broker=f"kafka://{BOOTSTRAP}",
    broker_credentials=faust_credentials(CLIENT),
    value_serializer="raw",
    key_serializer="raw",
    web_port=int(os.environ.get("TRM_HUB_WEB_PORT", "6066")),
    # Faust listens on web_bind (its default: every interface) and names web_host in
    # its banner and URLs: both are this address.
    web_bind=WEB_HOST,
    web_host=WEB_HOST,
    datadir=os.environ.get(
        "TRM_HUB_DATADIR", os.path.join(os.getcwd(), ".trm", "hub-data", TOPICS.namespace)
    ),
    topic_allow_declare=False,
    topic_disable_leader=True,
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    producer_acks=-1,
    producer_partitioner=partitioner,
    # A few ms of batching: far fewer produce requests and send() syscalls per event.
    producer_linger=float(os.environ.get("TRM_HUB_LINGER_S", "0.004")),
    consumer_auto_offset_reset="earliest",
    # Room for several batches per partition between fetches: with Faust's
    # defaults (4,096 records, 1 MiB per fetch) a worker drained its buffer
    # faster than the fetches refilled it and sat idle a fifth of the time.
    stream_buffer_maxsize=16_384,
    consumer_max_fetch_size=4 * 1024 * 1024,
)
# How long a fetch may wait at the broker: Faust's 1,500 ms stalled paced load
# (hub.app.kafka.faust_fetch_wait). Measured at 820-870 events/s offered, p50/p99 ms:
# 1,500 ms: 1,515/2,267; 50: 95/327; 25: 63/278; 10: 59/265. An idle worker then
# costs the broker about 6 % of a core instead of 3 % (9 % at 10 ms).
faust_fetch_wait(int(os.environ.get("TRM_HUB_FETCH_WAIT_MS", "25")))
# Each fetched record handed to its stream without four tasks (hub.app.kafka).
faust_inline_delivery()
# Faust's consumer on the worker's own loop, not in a thread (hub.app.kafka).
CONSUMER = os.environ.get("TRM_HUB_CONSUMER", "loop")
if CONSUMER == "loop":
    faust_consumer_on_loop()
elif CONSUMER != "thread":
    raise OperationalError(
        Reason.CONFIG_INVALID, f"expected TRM_HUB_CONSUMER loop or thread, got {CONSUMER!r}"
    )


class _Messages(faust.Schema[Any, Any]):
    """The outboxes' schema: a fetched record goes to the hub's queue as Faust's
    own ``Message`` (topic, partition, offset, key, value, headers, timestamp),
    not decoded into an ``Event`` (docs/decisions.md D28).

    Faust's schema would run the key and the value through its serializer
    registry (``raw``: the same bytes back) and wrap them in an ``Event`` for a
    stream; the hub reads the message's fields directly, and acknowledges the
    message itself (``Message.ack``, which is what ``Event.ack`` does).
    """

    def compile(
        self,
        app: Any,
        *,
        on_key_decode_error: Any = None,
        on_value_decode_error: Any = None,
        default_propagate: bool = False,
    ) -> Any:
        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return message

        return decode


outboxes = app.topic(
    *(TOPICS.outbox(cc) for cc in COUNTRIES),
    value_type=bytes,
    schema=_Messages(value_type=bytes, key_serializer="raw", value_serializer="raw"),
)
# The outboxes' channel, made as an agent's stream makes its own: registered with
# Faust's conductor (the consumer subscribes to its topics, delivers each fetched
# record into its queue, pauses fetching while the queue is full, and empties it
# when a rebalance revokes partitions), and read by hub_agent in batches.
_outbox_channel = outboxes.__aiter__()


class _Hub:
    """What the agent needs, loaded once before the first record."""

    def __init__(self) -> None:
        self.state: HubState | None = None
        self.registry: Registry | None = None
        self.follower = Follower(
            BOOTSTRAP,
            [TOPICS.registry_trust, TOPICS.registry_agreements, TOPICS.registry_seal_keys],
            **CLIENT,
        )
        self.recovery = StateFollower(
            BOOTSTRAP,
            TOPICS,
            COUNTRIES,
            app.conf.id,
            pack_notes=int(os.environ.get("TRM_HUB_PACK_NOTES", str(PACK_NOTES))),
            **CLIENT,
        )
        self.recovered: Recovery | None = None
        # Bookmarks (docs/decisions.md D14): bumped by every assignment, so a
        # bookmark measured across a rebalance is dropped; per outbox partition
        # held, its end offset when this worker took it over (no bookmark until
        # the worker has passed it: an earlier holder may have begun records
        # below it); and the next offset after what the agent has handled.
        self.assignment_generation = 0
        # Faust's count of rebalances begun, as of this worker's last assignment:
        # a rebalance begun since (the worker stopping never gets its assignment)
        # makes the partitions it holds, and their positions, unsure.
        self.rebalances_seen = -1
        # partitions held now, and those of them held before the last assignment too
        self.holding: frozenset[OutboxPartition] = frozenset()
        self.kept: frozenset[OutboxPartition] = frozenset()
        self.takeover_end: dict[tuple[str, int], int] = {}
        self.processed: dict[tuple[str, int], int] = {}
        self.bookmark_tick = 0
        self.catching_up: asyncio.Future[None] | None = None
        # Where the last recovery or takeover read the outputs from (its plan's
        # starts): every effect of a record at or above the commits it saw is
        # there, so a bookmark may name these ends before its position has
        # passed the takeover end. None after a full read.
        self.inherited: dict[str, int] | None = None
        self.latest: dict[tuple[str, bytes | None], tuple[bytes, int]] = {}
        self.stale = False
        self.expired_warned: str | None = None  # the registry version warned about
        self.lock = asyncio.Lock()
        key_path = os.environ.get("TRM_HUB_KEY")
        if not key_path:
            raise OperationalError(Reason.CONFIG_INVALID, "expected TRM_HUB_KEY, found none")
        self.key = load_private_key(Path(key_path))
        pinned = os.environ.get("TRM_HUB_TRUST")
        self.pinned = load_trust_file(pinned) if pinned else None

    async def refresh_registry(self) -> None:
        try:
            records = await self.follower.poll()
            if any(topic == TOPICS.registry_trust for topic, *_ in records):
                # The agreements published with a trust list were acknowledged
                # before it was written (hub.ops.provision.registry_records), but
                # a poll reads each topic's end from its own leader, at slightly
                # different moments: read once more, now that the list is seen.
                records += await self.follower.poll()
        except Exception:
            self.latest.clear()  # the next poll reads both topics from the beginning
            raise
        if not records and self.registry is not None:
            return  # nothing new: parsing agreements again would cost the hot path CPU
        for topic, key, value, _h, ts in records:
            if value is None:
                self.latest.pop((topic, key), None)  # a tombstone
            else:
                self.latest[(topic, key)] = (value, ts)
        trust = [v for (t, _k), (v, _ts) in self.latest.items() if t == TOPICS.registry_trust]
        agreements = [
            rec for (t, _k), rec in self.latest.items() if t == TOPICS.registry_agreements
        ]
        seal_keys = [
            v for (t, _k), (v, _ts) in self.latest.items() if t == TOPICS.registry_seal_keys
        ]
        registry = build_registry(trust, agreements, seal_key_blobs=seal_keys, pinned=self.pinned)
        if registry is not None and (
            self.registry is None or registry.version != self.registry.version
        ):
            log.info("registry in force: %s", registry.version)
        self.registry = registry or self.registry

    async def ready(self) -> tuple[HubState, Registry]:
        """Recovery state and a registry; the first call waits for both."""
        state, registry = self.state, self.registry
        if state is not None and registry is not None and not self.stale:
            return state, registry
        async with self.lock:
            if self.stale and self.state is not None:
                # Partitions moved: another worker may have written effects for
                # records we are about to read again. Learn them first (only what
                # was appended since the last catch-up is read).
                await self.recovery.catch_up(self.state)
                plan = self.recovery.latest_plan
                if plan is not None and _reconciler is not None:
                    # proven marks of partitions taken over, and where their decisions are
                    _reconciler.advance(plan.checked, plan.decisions_from)
                self.inherited = dict(plan.starts) if plan is not None else None
                self.stale = False
            if self.state is None:
                state = HubState()
                # the state topic, then the outputs from the bookmarks on (or all of
                # them, without bookmarks); it logs what it read and how long it took
                self.recovered = await self.recovery.recover(state)
                plan = self.recovery.plan
                self.inherited = dict(plan.starts) if plan is not None else None
                self.state = state
            while self.registry is None:
                await self.refresh_registry()
                if self.registry is None:
                    log.warning("no trust list in %s yet; waiting", TOPICS.registry_trust)
                    await asyncio.sleep(2.0)
            return self.state, self.registry

    def note_processed(self, source: SourceRef) -> None:
        """The agent has handled the record at ``source`` (for ``lag`` in /hub/status)."""
        key = (source.topic, source.partition)
        self.processed[key] = max(self.processed.get(key, 0), source.offset + 1)


_hub: _Hub | None = None


def _the_hub() -> _Hub:
    global _hub  # noqa: PLW0603 - one per worker process, built on first use
    if _hub is None:
        _hub = _Hub()
    return _hub


def _headers(raw: Any) -> Sequence[tuple[str, bytes | None]]:
    """A record's headers as process() takes them: aiokafka's tuple of (str, bytes) pairs
    (a ConsumerRecord's, which Faust's message keeps) as it is."""
    if type(raw) is tuple or type(raw) is list:
        return raw
    if raw is None:
        return []
    if isinstance(raw, dict):
        return list(raw.items())
    return [(str(k), v) for k, v in raw]


@app.on_partitions_assigned.connect  # type: ignore[arg-type]
async def on_partitions_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
    """After a rebalance, recover what other workers wrote before reading on."""
    hub = _the_hub()
    hub.assignment_generation += 1
    hub.rebalances_seen = app.rebalancing_count
    now = frozenset((tp.topic, tp.partition) for tp in app.consumer.assignment())
    hub.kept, hub.holding = hub.holding & now, now
    hub.takeover_end.clear()  # measured again, after this assignment
    hub.processed.clear()
    if hub.state is not None:
        hub.stale = True
        # Catch up now, not at the first record or reconciler pass: a worker that
        # takes over quiet partitions is ready (/hub/status) as soon as it knows.
        hub.catching_up = asyncio.ensure_future(_catch_up(hub))


async def _catch_up(hub: _Hub) -> None:
    try:
        await hub.ready()
    except Exception:  # the agent's next record (or the reconciler) tries again
        log.exception("catching up after a rebalance failed")


@app.timer(REGISTRY_REFRESH_S)  # type: ignore[untyped-decorator]
async def refresh_registry() -> None:
    """Pick up new trust list versions and agreements while running."""
    hub = _the_hub()
    if hub.registry is None:
        return
    try:
        await hub.refresh_registry()
    except Exception:  # a registry read failing must not stop the hub
        log.exception("registry refresh failed; keeping %s", hub.registry.version)


BATCH_MAX = int(os.environ.get("TRM_HUB_BATCH", "512"))
# Outbox records decided and not yet written (the agent waits above this): room
# for the next batches to be decided while one write is in flight. In a drain the
# agent does wait here (a write of 4 batches holds the whole allowance, and the
# decisions' one partition takes a request per 512 KiB); 16 batches were
# measured and not kept: one worker +2 %, two -9 %, about 110 MiB more at the
# peak (docs/performance-history.md, 6 December 2026, morning).
UNWRITTEN_MAX = 4 * BATCH_MAX
WRITER = EffectWriter(BOOTSTRAP, linger_ms=2, **CLIENT)
# Effect ids sent and not yet acknowledged: the agent and the reconciler may judge
# the same record at once (Faust can commit past a record still in the agent's
# batch), and only one of them writes each effect.
_PENDING: set[str] = set()


async def _judge(records: Sequence[Record]) -> None:
    """Decide outbox records and return when every effect is written (the reconciler's path)."""
    await (await _start_judging(records))


async def _start_judging(records: Sequence[Record]) -> asyncio.Future[None]:
    """Decide a batch of outbox records now, in order; return the write of their effects.

    The returned future resolves when the broker has acknowledged every effect
    of the batch; only then does the agent acknowledge the records to Faust, so
    no offset is committed past a record whose effects are not all written. A
    write that fails after the producer's own retries stops the worker hard
    (nothing after it may be committed); after a restart the records are read
    again from the last commit, and effect ids keep that idempotent.
    """
    hub = _the_hub()
    state, registry = await hub.ready()
    now_ms = time.time_ns() // 1_000_000
    effects: dict[str, Effect] = {}
    raw: list[OutRecord] = []
    if len(records) > 1:  # the next records' signatures verified on another core meanwhile
        try:
            verify_ahead([r[1] for r in records], registry.keys)
        except Exception:  # only ever saves work: the batch is verified in line
            log.exception("verifying ahead failed; verifying in line")
    try:
        _decide(hub, records, state, registry, now_ms=now_ms, effects=effects, raw=raw)
    finally:
        verify_ahead_clear()
    _PENDING.update(effects)
    return _WRITES.submit(effects, raw, state)


def _decide(
    hub: _Hub,
    records: Sequence[Record],
    state: HubState,
    registry: Registry,
    *,
    now_ms: int,
    effects: dict[str, Effect],
    raw: list[OutRecord],
) -> None:
    """Judge each record in order: its new effects into ``effects``, its raw
    quarantine records (a core failure) into ``raw``."""
    for source, value, headers, appended_at_ms in records:
        try:
            outcome = process(
                value,
                headers,
                source,
                topics=TOPICS,
                registry=registry,
                state=state,
                hub_key=hub.key,
                now_ms=now_ms,
                appended_at_ms=appended_at_ms,
            )
        except Exception:  # a bug in the core must not stop the hub; the record is kept
            log.exception("hub core failed on %s; quarantining", source)
            kept = [(k, v or b"") for k, v in headers]
            raw.append(
                (
                    TOPICS.quarantine,
                    None,
                    value,
                    [*kept, ("trm-reason", b"HUB_INTERNAL"), ("trm-source", str(source).encode())],
                )
            )
            continue
        if outcome.reason is Reason.TRUST_EXPIRED and hub.expired_warned != registry.version:
            hub.expired_warned = registry.version  # once per registry version, not per event
            log.warning(
                "TRUST_EXPIRED: every event is refused until member roots publish a renewed "
                "trust list to %s (%s; %s)",
                TOPICS.registry_trust,
                registry.version,
                outcome.decisions[0].detail,
            )
        # not written, nor being written by a concurrent call (the reconciler's)
        new_effects(outcome.effects, state, _PENDING, effects)


# One batch's effects to write: (effects by id, raw records, the state to mark, done)
_Job = tuple[dict[str, Effect], list[OutRecord], HubState, "asyncio.Future[None]"]


class _WriteQueue:
    """The effects of decided batches, written together, one write in flight at a time.

    aiokafka sends one produce request per broker at a time, with one record
    batch per partition, and holds a new batch for a partition until the one
    before it is sent. Written one by one, small batches (a few records each,
    under paced load) therefore waited in line for a round trip each, and the
    hub fell seconds behind at half the rate it drains a backlog. Here, what was
    decided while a write was in flight goes out as one write when it returns:
    each round trip carries everything that is ready, so a batch waits at most
    for the write ahead of it, and a backlog still goes out in large batches.
    A batch's future resolves only when the broker has acknowledged every
    effect of it (and of the batches written with it).
    """

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.ready: asyncio.Event | None = None
        self.task: asyncio.Future[None] | None = None

    def submit(
        self, effects: dict[str, Effect], raw: list[OutRecord], state: HubState
    ) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.jobs.append((effects, raw, state, done))
        if self.ready is None:
            self.ready = asyncio.Event()  # made inside the worker's running loop
        self.ready.set()
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run(self.ready))
        return done

    async def _run(self, ready: asyncio.Event) -> None:
        while True:
            await ready.wait()
            ready.clear()
            while self.jobs:
                jobs, self.jobs = self.jobs, []
                try:
                    await _write(jobs)
                except asyncio.CancelledError:
                    raise  # the worker is stopping: nothing after this is acknowledged
                except Exception as error:
                    # A failed write, or a failure marking what was written: never
                    # commit past an effect that is not written and marked, nor let
                    # these jobs' effect ids stay pending behind a later batch that
                    # skipped them. Stop hard; after a restart the records are read
                    # again from the last commit, and effect ids keep that idempotent.
                    log.critical("writing %d batches failed: %r; stopping", len(jobs), error)
                    os._exit(70)


_WRITES = _WriteQueue()


async def _write(jobs: list[_Job]) -> None:
    out: list[OutRecord] = []
    for effects, raw, _state, _done in jobs:
        out += [(e.topic, e.key, e.value, e.headers) for e in effects.values()]
        out += raw
    await WRITER.write(out)  # a failure stops the worker (_WriteQueue._run)
    for effects, _raw, state, done in jobs:
        mark_written(effects, state, _PENDING)
        if not done.done():
            done.set_result(None)


# After a batch that could not be judged (the hub's registry or recovery not ready:
# hub.ready() raised), the task waits this long before taking the next.
JUDGE_RETRY_S = 1.0


@app.task  # type: ignore[untyped-decorator]
async def hub_agent() -> None:
    """Every outbox record ends delivered or rejected, with its decisions written.

    Records come in batches straight from the outboxes' channel
    (:data:`_outbox_channel`): up to BATCH_MAX of what Faust's consumer has
    delivered, as soon as there is one (docs/decisions.md D28). A batch is
    decided at once; its effects are written while the next batches are
    decided (:class:`_WriteQueue`; at most UNWRITTEN_MAX records decided and
    not yet written), and its records are acknowledged to Faust's consumer, so
    their offsets may be committed, only when the broker has acknowledged every
    one of its effects.
    """
    queue = _outbox_channel.queue
    writing: deque[tuple[asyncio.Future[None], int]] = deque()
    unwritten = 0
    while True:
        first = await queue.get()
        messages = [first] if _in_hand(first) else []
        while len(messages) < BATCH_MAX and not queue.empty():
            message = queue.get_nowait()
            if _in_hand(message):
                messages.append(message)
        if not messages:
            continue
        batch = [
            (
                SourceRef(message.topic, message.partition, message.offset),
                message.value if isinstance(message.value, bytes) else b"",
                _headers(message.headers),
                _append_time(message),
            )
            for message in messages
        ]
        try:
            written = await _start_judging(batch)
        except (Exception, asyncio.CancelledError) as error:  # e.g. hub.ready() raised
            task = asyncio.current_task()
            if isinstance(error, asyncio.CancelledError) and (task is None or task.cancelling()):
                raise  # the worker is stopping (else a cancellation from within, e.g. Kafka's)
            _let_go(messages)
            await asyncio.sleep(JUDGE_RETRY_S)
            continue
        written.add_done_callback(functools.partial(_acknowledge, messages, batch))
        writing.append((written, len(batch)))
        unwritten += len(batch)
        while writing and (writing[0][0].done() or unwritten > UNWRITTEN_MAX):
            oldest, size = writing.popleft()
            await oldest
            unwritten -= size
        # Between batches, the consumer's fetches, the writer's sends and the
        # group's heartbeats get their turn, even while the queue never empties.
        await asyncio.sleep(0)


def _let_go(messages: list[Any]) -> None:
    """A batch that could not be judged: log it, and stop tracking its messages
    without acknowledging them.

    As when Faust restarted a failed agent: no commit passes these records (the
    partition's commit stays below them until the reconciler has judged them,
    hub/app/reconcile.py, or a rebalance reads them again), and the task goes
    on. Untracked, a rebalance or a stop does not wait for them (something of
    Faust's may still refer to a message, so dropping the list is not enough).
    """
    log.exception(
        "judging %d outbox records failed; the reconciler will judge them (next batch in %.0f s)",
        len(messages),
        JUDGE_RETRY_S,
    )
    unacked = app.consumer.unacked
    for message in messages:
        unacked.discard(message)
    messages.clear()


def _in_hand(message: Any) -> bool:
    """Whether to judge ``message``, now tracked as in hand (Faust waits for it at a
    rebalance or a stop); False for a message from before the last rebalance, or
    taken while one is under way.

    The checks Faust's stream makes of each message it takes: one of an
    earlier generation (a rebalance since it was fetched) or taken while the
    flow is suspended is skipped, and Faust reads it again from the group's
    commit (the stream also acknowledged a skipped message, which let a commit
    pass a record never judged: docs/decisions.md D28; the hub does not);
    every other one is tracked (``Consumer.track_message``), so that
    ``Consumer.wait_empty`` waits until it is acknowledged.
    """
    if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
        return False
    if not message.tracked:
        message.tracked = True
        app.consumer.track_message(message)
    return True


def _acknowledge(messages: list[Any], batch: list[Record], written: Any) -> None:
    """Once a batch's effects are written, acknowledge its records (never before, never else)."""
    if written.cancelled() or written.exception() is not None:
        return  # not written: the records are read again after a rebalance or restart
    consumer = app.consumer
    message_out = app.sensors.on_message_out
    for message in messages:
        if message.ack(consumer):  # Faust's Message.ack: the offset may be committed
            message_out(message.tp, message.offset, message)  # as Stream.ack does
    hub = _the_hub()
    for source, *_rest in batch:
        hub.note_processed(source)
    if _reconciler is not None:  # its passes need not read these records' decisions
        _reconciler.note_decided(source for source, *_rest in batch)


def _append_time(message: Any) -> int | None:
    """The broker's append time in ms (outboxes are LogAppendTime), else None."""
    if getattr(message, "timestamp_type", None) != LOG_APPEND_TIME or not message.timestamp:
        return None
    return round(float(message.timestamp) * 1000)  # Faust gives seconds as a float


RECONCILE_S = float(os.environ.get("TRM_HUB_RECONCILE_S", "5"))
_reconciler: Reconciler | None = None
# A reconciler pass and a round of bookmarks each run alone: the timers' and the
# last ones a clean stop writes (last_bookmarks) must not interleave.
_PASSING = asyncio.Lock()
_MARKING = asyncio.Lock()


def _the_reconciler(hub: _Hub) -> Reconciler:
    global _reconciler  # noqa: PLW0603 - one per worker process
    if _reconciler is None:
        plan = hub.recovery.plan  # None: check every partition from 0 (no bookmarks yet)
        _reconciler = Reconciler(
            BOOTSTRAP,
            app.conf.id,
            TOPICS.decisions,
            _judge,
            CLIENT,
            checked=plan.checked if plan is not None else None,
            decisions_from=plan.decisions_from if plan is not None else None,
            settle=functools.partial(acknowledge_offsets, app.consumer),
        )
    return _reconciler


def _assignment_settled(hub: _Hub) -> bool:
    """Whether no rebalance has begun since this worker's last assignment."""
    return app.rebalancing_count == hub.rebalances_seen


async def _reconcile_once(hub: _Hub, *, only: frozenset[OutboxPartition] | None = None) -> None:
    """One reconciler pass over the partitions held (``only``: those, checked without deciding)."""
    reconciler = _the_reconciler(hub)
    async with _PASSING:
        assigned = [
            TopicPartition(tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if only is None or (tp.topic, tp.partition) in only
        ]
        if await reconciler.run_once(assigned, hub.processed, decide=only is None):
            await app.producer.flush()


@app.timer(RECONCILE_S)  # type: ignore[untyped-decorator]
async def reconcile() -> None:
    """Decide any committed outbox record that never reached the agent (hub/app/reconcile.py)."""
    hub = _the_hub()
    # HubApp.on_start loaded the state; ready() also merges what other workers
    # wrote after a rebalance, before this pass decides anything.
    await hub.ready()
    try:
        await _reconcile_once(hub)
    except Exception:  # the next pass tries again; the agent keeps running meanwhile
        log.exception("reconciliation pass failed")


BOOKMARK_S = float(os.environ.get("TRM_HUB_BOOKMARK_S", "2"))
PRUNE_EVERY = 30  # bookmark ticks between two prunings of the in-memory state
# Entries forgotten at a time (:func:`_prune`): about 2 ms of the worker's loop.
PRUNE_SLICE = 20_000


async def _held_outboxes() -> list[TopicPartition]:
    return [
        TopicPartition(tp.topic, tp.partition)
        for tp in app.consumer.assignment()
        if TOPICS.country_of_outbox(tp.topic) is not None
    ]


async def _position(tp: TopicPartition) -> int | None:
    """The worker's Kafka position: no record at or above it was handed to the agent."""
    try:
        position = await asyncio.wait_for(app.consumer.position(tp), timeout=2.0)
    except Exception:  # not positioned yet (a rebalance), a timeout: no bookmark now
        return None
    return int(position) if position is not None else None


async def _bookmarks(
    hub: _Hub, state: HubState, *, only: frozenset[OutboxPartition] | None = None
) -> list[Bookmark]:
    """Measure a bookmark for each outbox partition held (or each of ``only``; D14).

    Order matters: a new generation of marks first, then the output ends E,
    then each partition's position P: every record at or above P was begun
    after E was read, so all its effects are at or above E.
    """
    generation = hub.assignment_generation
    if not _assignment_settled(hub):
        return []  # between a revocation and an assignment: what is held is unsure
    held = [tp for tp in await _held_outboxes() if only is None or (tp.topic, tp.partition) in only]
    k = state.new_generation()
    ends = await hub.recovery.output_ends()
    if not ends:
        return []
    state.set_boundary(k, ends)
    rec = _reconciler
    checked = rec.marks() if rec is not None else {}
    new = [tp for tp in held if (tp.topic, tp.partition) not in hub.takeover_end]
    takeover = await hub.recovery.ends_of(new)
    if generation != hub.assignment_generation:
        return []  # measured before the assignment that just happened: measure again
    for tp, end in takeover.items():
        hub.takeover_end.setdefault((tp.topic, tp.partition), end)
    now_ms = time.time_ns() // 1_000_000
    out: list[Bookmark] = []
    for tp in held:
        key = (tp.topic, tp.partition)
        position = await _position(tp)
        if position is None or key not in hub.takeover_end:
            continue
        begun = rec.started.get(key, -1) + 1 if rec is not None else 0
        p = max(position, begun)
        marked = ends
        if p < hub.takeover_end[key]:
            # An earlier holder may have begun records at or above p before E was
            # read; their effects are at or above where this worker's last
            # recovery read from (they are at or above the commit it saw).
            if hub.inherited is None or hub.stale:
                continue  # (stale: the read of its last takeover is not done yet)
            inherited = hub.inherited
            marked = {n: min(e, inherited.get(n, 0)) for n, e in ends.items()}
        slot = bookmark_slot(hub.bookmark_tick)
        mark = checked.get(key)
        out.append(Bookmark(tp.topic, tp.partition, slot, now_ms, p, mark, marked))
        if mark is not None:
            out += _new_anchor(hub, tp, mark)
    if generation != hub.assignment_generation or not _assignment_settled(hub):
        return []  # a rebalance happened meanwhile: positions may be of another assignment
    return out


def _new_anchor(hub: _Hub, tp: TopicPartition, mark: int) -> list[Bookmark]:
    """The anchor of ``tp`` copied forward, if a newer bookmark now qualifies (hub.state.anchor)."""
    mine = [
        b
        for b in hub.recovery.bookmarks.values()
        if b.outbox == tp.topic and b.partition == tp.partition
    ]
    best = anchor(mine, mark)
    if best is None or best.slot == ANCHOR_SLOT:
        return []
    now = next((b for b in mine if b.slot == ANCHOR_SLOT), None)
    if now is not None and now.at_ms >= best.at_ms:
        return []
    return [dataclasses.replace(best, slot=ANCHOR_SLOT)]


async def _prune(hub: _Hub, state: HubState, committed: dict[tuple[str, int], int]) -> None:
    """Forget what a worker starting now would not know, and events past the window.

    In slices of :data:`PRUNE_SLICE`, the agent's batches in between: a busy
    worker has a minute's effects to forget (about 660,000 at 2,000 events/s),
    and forgetting them in one go paused every record in flight (74 ms on an
    idle core). A rebalance meanwhile ends the round (the next one plans
    afresh).
    """
    plan = hub.recovery.fresh_plan(committed)
    generation = hub.assignment_generation

    async def in_slices(forget: Callable[[int], int]) -> int:
        """``forget(PRUNE_SLICE)`` until it forgets less, or a rebalance; how many in all."""
        done = 0
        while generation == hub.assignment_generation:
            n = forget(PRUNE_SLICE)
            done += n
            if n < PRUNE_SLICE:
                break
            await asyncio.sleep(0)
        return done

    forgotten = 0
    if plan is not None:
        if _reconciler is not None:
            # first: a pass must not need what goes next
            _reconciler.advance(plan.checked, plan.decisions_from)
        starts = plan.starts
        forgotten = await in_slices(lambda k: state.forget_effects_before(starts, limit=k))
    cutoff = time.time_ns() // 1_000_000 - Limits().max_age_ms - PRUNE_MARGIN_MS
    aged = await in_slices(lambda k: state.forget_seen_before(cutoff, limit=k))
    log.debug("pruned %d effects and %d events past the window", forgotten, aged)


async def _send_pack(key: bytes, value: bytes) -> None:
    await app.producer.send_and_wait(TOPICS.hub_bookmarks, key, value, None, None, [])


@app.timer(BOOKMARK_S)  # type: ignore[untyped-decorator]
async def bookmark() -> None:
    """Write a bookmark per outbox partition held; now and then prune the state."""
    hub = _the_hub()
    state = hub.state
    if state is None or hub.stale:
        return
    try:
        await _write_bookmarks(hub, state)
        await _pack(hub)
        if hub.bookmark_tick % PRUNE_EVERY == 0:
            await _prune(hub, state, await hub.recovery.committed())
    except Exception:  # the next tick tries again; a start falls back to older bookmarks
        log.exception("bookmark failed")


async def _write_bookmarks(
    hub: _Hub, state: HubState, *, only: frozenset[OutboxPartition] | None = None
) -> int:
    """One round: the notes and bookmarks of others, then ours (sent, not yet acknowledged).

    ``only``: bookmark just those partitions, without reading the notes and
    bookmarks of others (a takeover's catch-up is reading them).
    """
    async with _MARKING:
        if only is None:
            async with hub.lock:  # others' bookmarks and events (ready() reads them too)
                await hub.recovery.poll_notes(state)
                await hub.recovery.poll_index()
        marks = await _bookmarks(hub, state, only=only)
        # The reconciler's marks were read above; every decision it sent for a
        # record below them is acknowledged before a bookmark says so.
        await app.producer.flush()
        for b in marks:
            await app.producer.send(TOPICS.hub_bookmarks, b.key, b.to_bytes(), None, None, [])
        hub.bookmark_tick += 1
        return len(marks)


async def _pack(hub: _Hub) -> None:
    """One worker (the holder of the first outbox's partition 0) packs the notes."""
    packer = TopicPartition(TOPICS.outbox(COUNTRIES[0]), 0)
    if packer in await _held_outboxes():
        await hub.recovery.pack(_send_pack)
    else:
        await hub.recovery.stop_packing()


LAST_BOOKMARKS_S = 20.0  # a clean stop waits at most this long for its last bookmarks


@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def last_bookmarks(sender: Any, **kwargs: Any) -> None:
    """A clean stop leaves bookmarks that a next start can plan from (docs/decisions.md D14).

    Faust calls this once the agent has acknowledged every record it was given,
    while the worker still holds its partitions (unless a rebalance has begun
    since its stop did: then it writes nothing). The acknowledged offsets are
    committed, a last reconciler pass checks every partition up to that commit,
    and a last round of bookmarks records it; after a drain both reach the
    partitions' ends. Without them, a worker stopped soon after it caught up
    with a backlog (its bookmarks are written only once it has passed where
    each partition ended when it took it over, and a plan needs a reconciler
    mark that a bookmark proves) left the next start to read every output
    record from the beginning. Then the packer packs the notes. A stop that
    cannot do this in time says so and stops anyway: a start then uses older
    bookmarks, or reads the whole log.

    A stop during a takeover's catch-up (after a cold start it reads every
    output written since) does not wait for it: it bookmarks only the
    partitions held since before that takeover, checked without deciding
    anything (deciding needs what the catch-up reads); the worker they were
    taken from left bookmarks of its own when it stopped.
    """
    hub = _the_hub()
    if hub.state is None:
        return  # stopped before its recovery: nothing measured to write
    if not _assignment_settled(hub):
        log.warning("stopping without last bookmarks: a rebalance began during the stop")
        return
    state = hub.state
    only = hub.kept if hub.stale else None  # a takeover's catch-up is still reading
    started = time.monotonic()
    try:
        async with asyncio.timeout(LAST_BOOKMARKS_S):
            # Twice: the first may only wait for a periodic commit already under
            # way, which left out what was acknowledged after it began.
            for _ in range(2):
                await app.consumer.commit()
            await _reconcile_once(hub, only=only)
            written = await _write_bookmarks(hub, state, only=only)
            await app.producer.flush()
    except Exception as error:  # a stop never fails for want of a bookmark
        log.warning("stopping without last bookmarks (%r): the next start may read more", error)
        return
    log.info(
        "wrote %d last bookmarks in %.2f s%s",
        written,
        time.monotonic() - started,
        "" if only is None else f" (a takeover still catching up: {len(only)} partitions kept)",
    )
    if only is not None:
        return  # the packs read so far may be out of date: the next packer packs
    try:
        async with asyncio.timeout(LAST_BOOKMARKS_S):
            await _pack(hub)
            await app.producer.flush()
    except Exception as error:  # the notes are read one by one from the last pack on
        log.warning("stopping without a last pack of notes (%r)", error)


@app.page("/hub/status")
async def status(web: Any, request: Any) -> Any:
    """What this worker holds and how far it has checked that every record has a decision.

    ``reconciled`` maps each outbox partition this worker holds to the offset below
    which every record is known to have its decisions in the decisions topic; an
    operator (or a test) knows the hub has settled when, over all workers, it
    reaches every partition's end offset.
    """
    hub = _the_hub()
    assigned = sorted(partition_name(tp) for tp in app.consumer.assignment())
    ready = hub.state is not None and hub.registry is not None and not hub.stale
    lag: int | None = None
    if ready:
        try:
            held = await _held_outboxes()
            ends = await hub.recovery.ends_of(held)
            lag = 0
            for tp in held:
                done = hub.processed.get((tp.topic, tp.partition))
                if done is None:
                    done = await _position(tp)
                lag = None if done is None or lag is None else lag + max(0, ends[tp] - done)
        except Exception:  # a status page answers even when the broker does not
            lag = None
    rec = _reconciler
    return web.json(
        {
            "app_id": app.conf.id,
            "registry": hub.registry.version if hub.registry is not None else None,
            "assigned": assigned,
            "reconciled": {
                f"{t}/{p}": upto
                for (t, p), upto in sorted((rec.checked_upto if rec else {}).items())
                if f"{t}/{p}" in assigned
            },
            "last_reconcile_ms": rec.last_pass_ms if rec else None,
            "recovered": rec.recovered if rec else 0,
            "in_flight": WRITER.in_flight,
            "compiled": compiled.STATUS,
            "ready": ready,
            "lag": lag,
            "recovery": None
            if hub.recovered is None
            else {
                "from_bookmarks": hub.recovered.from_bookmarks,
                "state_records": hub.recovered.state_records,
                "output_records": hub.recovered.output_records,
                "history": hub.recovered.history,
                "seconds": round(hub.recovered.seconds, 3),
            },
        }
    )


# The match agent (hit/no-hit exchange) runs on the same app, with the same writer;
# importing it registers it (it needs the app defined above).
import hub.app.match  # noqa: E402, F401
