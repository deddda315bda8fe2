"""The hub's match agent: each record of ``<ns>.match.requests`` judged by the exchange's core.

Registered on the hub worker's app (``hub.app.main`` imports this module).
Each record: bytes in, :func:`hub.matching.exchange.process`, its effects (the
messages to the countries' match topics, rejections, decision records) and its
index records written with the hub's writer (acks=all, idempotent), and only
then the record acknowledged, so no offset is committed past a record whose
outputs are not all written (at least once: a record read again after a crash
yields the very same signed replies and decision ids; the sequencer appends a
decision id once, a node drops a message id it has seen).

The index lives in the compacted ``<ns>.hub.match-index``: read whole before
the first record, up to its end as of the start, within
:data:`INDEX_LOAD_S` (a slower read stops the worker rather than answer from
half an index); expired entries are dropped on load and tombstoned. The
request topic has one partition: one worker judges every match message, in
one order, against one index.

======================== ======================================================
TRM_HUB_MATCH_PUBLIC      optional path of the matching key's public part
                          (``match/public.json``, ``trm match ceremony``): its
                          members hold the key shares, and an EVALUATE to any
                          other is refused MATCH_NOT_EVALUATOR
TRM_HUB_MATCH_HOLDERS     the same as a comma-separated list, when there is no file
TRM_HUB_MATCH_INDEX_S     bound on reading the index at start (default 120 s)
======================== ======================================================
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import faust

from hub.app.kafka import read_all
from hub.app.main import BOOTSTRAP, CLIENT, TOPICS, WRITER, _the_hub, app, log
from hub.app.writer import OutRecord
from hub.decision import SourceRef
from hub.errors import OperationalError, Reason
from hub.matching.ceremony import load_public
from hub.matching.exchange import MatchIndex, process

__all__ = ["match_agent"]

INDEX_LOAD_S = float(os.environ.get("TRM_HUB_MATCH_INDEX_S", "120"))


def _share_holders() -> frozenset[str] | None:
    """Who holds a key share: the ceremony's public part, the list, or None (unknown)."""
    public = os.environ.get("TRM_HUB_MATCH_PUBLIC")
    if public:
        return frozenset(load_public(Path(public)).members)
    listed = os.environ.get("TRM_HUB_MATCH_HOLDERS", "")
    return frozenset(c for c in listed.split(",") if c) if listed else None


SHARE_HOLDERS = _share_holders()
BATCH_MAX = 64
BATCH_WITHIN_S = 0.01

match_requests = app.topic(TOPICS.match_requests, value_type=bytes)
_index: MatchIndex | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _load_index() -> MatchIndex:
    """The index from its topic (bounded in time), expired entries tombstoned."""
    global _index  # noqa: PLW0603 - one per worker process, loaded before the first record
    if _index is not None:
        return _index
    started = time.monotonic()
    try:
        rows = await asyncio.wait_for(
            read_all(BOOTSTRAP, [TOPICS.match_index], **CLIENT), timeout=INDEX_LOAD_S
        )
    except TimeoutError:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected to read {TOPICS.match_index} within {INDEX_LOAD_S} s; it took longer",
        ) from None
    index = MatchIndex()
    records = [(key or b"", value) for _t, key, value, _h, _ts in rows]
    live = index.load(records, _now_ms())
    held = {key for key, value in records if value is not None}
    gone = sorted(held - {r.encode() for r in index.entries})
    if gone:  # expired (or unreadable): forget them in the topic too
        tombstones: list[OutRecord] = [
            (TOPICS.match_index, key, cast(bytes, None), []) for key in gone
        ]
        await WRITER.write(tombstones)
    log.info(
        "match index: %d live entries from %d records (%d tombstoned) in %.2f s",
        live,
        len(records),
        len(gone),
        time.monotonic() - started,
    )
    _index = index
    return index


async def _judge(events: list[Any]) -> None:
    """Decide a batch of match requests in order; return once every output is written."""
    _state, registry = await _the_hub().ready()
    index = await _load_index()
    hub_key = _the_hub().key
    out: list[OutRecord] = []
    for event in events:
        message = event.message
        source = SourceRef(message.topic, message.partition, message.offset)
        value = message.value if isinstance(message.value, bytes) else b""
        try:
            outcome = process(
                value,
                source,
                index=index,
                topics=TOPICS,
                keys=registry.keys,
                hub_key=hub_key,
                now_ms=_now_ms(),
                registry_version=registry.version,
                share_holders=SHARE_HOLDERS,
            )
        except Exception:  # a bug in the core must not stop the hub
            log.exception("match core failed on %s; the record is skipped", source)
            continue
        if outcome.reason is not None:
            log.info("match message at %s refused: %s", source, outcome.reason)
        out += [(e.topic, e.key, e.value, e.headers) for e in outcome.effects]
        for update in outcome.index_updates:
            # Applied now, so the next record of the batch sees it; if the write
            # below fails the worker stops, and this memory with it.
            index.apply(update)
            out.append(
                (TOPICS.match_index, update.reference.encode(), cast(bytes, update.value), [])
            )
    try:
        await WRITER.write(out)
    except Exception as error:
        log.critical("writing %d match outputs failed: %r; stopping", len(out), error)
        os._exit(70)


@app.agent(match_requests)
async def match_agent(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
    """Every match request ends answered, relayed or refused, with its decision written."""
    manual = cast(faust.Stream[Any], stream)
    async for events in manual.noack_take(BATCH_MAX, within=BATCH_WITHIN_S):
        await _judge(list(events))
        for event in events:
            await manual.ack(event)
        yield None
