"""The audit sequencer: the single writer of the audit log, as a Faust app.

    python -m faust -A hub.app.sequencer worker -l warn    (``trm audit sequencer``)

It reads the hub's decision records (``<ns>.hub.decisions``), appends each as
one leaf to ``<ns>.audit.leaves`` (one partition, this one writer) and, every
N leaves or T milliseconds, publishes a signed checkpoint to
``<ns>.audit.checkpoints``. Deliveries never wait for it: a hub attestation
names its decision id, and a recipient looks the leaf up by that id here
(docs/decisions.md).

Restart: before consuming, it reads the leaves topic from the beginning and
rebuilds the tree and the set of decision ids, so a decision redelivered after
a crash is recognised and not appended twice, and none is skipped (its offset
is committed only after its leaf is acknowledged by the broker).

HTTP (Faust's web server): ``GET /audit/checkpoint`` (the latest signed note),
``GET /audit/proof?decision_id=ID[&size=N]`` (the leaf, its index and an
inclusion proof against the latest checkpoint or size N) and
``GET /audit/consistency?from=M&to=N``.

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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import faust
from faust.web import Request, Response, View

from hub.app.kafka import default_client_config, faust_credentials, read_all
from hub.audit.leaf import AuditLeaf
from hub.audit.log import AuditLog, CheckpointPolicy, origin_of
from hub.audit.note import Checkpoint, SignedNote
from hub.decision import EFFECT_HEADER
from hub.errors import TrmError
from hub.keys import load_private_key
from hub.topics import HUB, Topics

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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _State:
    def __init__(self) -> None:
        self.log = AuditLog(origin_of(TOPICS.namespace))
        self.latest: SignedNote | None = None
        # True while a batch of leaves is sent but not yet acknowledged: the tree
        # in memory is then ahead of the topic and must not be checkpointed.
        self.writing = False
        key_file = os.environ.get("TRM_AUDIT_KEY")
        self.key = load_private_key(Path(key_file)) if key_file else None

    async def restore(self) -> None:
        rows = await read_all(BOOTSTRAP, [TOPICS.audit_leaves, TOPICS.audit_checkpoints], **CLIENT)
        for topic, _key, value, _headers, _ts in rows:
            if topic == TOPICS.audit_leaves and value:
                self.log.restore(value)
        for topic, _key, value, _headers, ts in rows:
            if topic == TOPICS.audit_checkpoints and value:
                try:
                    note = SignedNote.from_bytes(value)
                    cp = Checkpoint.parse(note.text)
                except TrmError:
                    continue  # witness junk or a foreign record: the auditor reports it
                if cp.origin == self.log.origin and cp.size <= self.log.size:
                    self.log.mark_checkpointed(cp.size, ts)
                    self.latest = note
        log.info(
            "audit log restored: %d leaves, checkpoint at %d",
            self.log.size,
            self.log.checkpointed_size,
        )


class SequencerApp(faust.App):
    async def on_start(self) -> None:
        await super().on_start()
        await STATE.restore()


STATE = _State()

app = SequencerApp(
    # Under the hub's group prefix: on a secure cluster the hub principal's ACLs cover it.
    os.environ.get("TRM_AUDIT_APP_ID", f"trm-hub-{TOPICS.namespace}-audit"),
    broker=f"kafka://{BOOTSTRAP}",
    broker_credentials=faust_credentials(CLIENT),
    value_serializer="raw",
    key_serializer="raw",
    web_port=int(os.environ.get("TRM_AUDIT_WEB_PORT", "6067")),
    # The same setting as the hub worker's (it is part of the hub): 0.0.0.0 in containers.
    web_host=os.environ.get("TRM_HUB_WEB_HOST", "127.0.0.1"),
    datadir=os.environ.get(
        "TRM_AUDIT_DATADIR", os.path.join(os.getcwd(), ".trm", "audit-data", TOPICS.namespace)
    ),
    topic_allow_declare=False,
    topic_disable_leader=True,
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
)
decisions = app.topic(TOPICS.decisions, value_type=bytes)
leaves = app.topic(TOPICS.audit_leaves, value_type=bytes)
checkpoints = app.topic(TOPICS.audit_checkpoints, value_type=bytes)


async def _publish_checkpoint() -> None:
    if STATE.key is None:
        return
    note = STATE.log.checkpoint(STATE.key, _now_ms())
    fut = await checkpoints.send(key=str(STATE.log.size).encode(), value=note.to_bytes())
    await fut
    STATE.latest = note


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


@app.agent(decisions, concurrency=1)
async def sequence(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
    """One leaf per decision, in the order the decisions topic holds them.

    A batch's offsets are acknowledged (and so may be committed) only after
    every leaf of the batch is acknowledged by the broker; a failed write stops
    the worker, and the restart rebuilds the tree from the leaves topic. The
    producer keeps one request in flight per partition, so leaves land in the
    order they were appended.
    """
    # take_events is on the concrete Stream (faust-streaming), not on StreamT.
    batches = cast("faust.Stream[Any]", stream).take_events(BATCH, within=0.05)
    async for events in batches:
        pending = []
        STATE.writing = True
        for event in events:
            found = _leaf_for(event)
            if found is None:
                continue
            decision_id, leaf = found
            appended = STATE.log.append(leaf)
            if appended is None:
                continue  # already a leaf (redelivered after a crash)
            index, data = appended
            pending.append(
                await leaves.send(
                    key=decision_id.encode(),
                    value=data,
                    headers=[(INDEX_HEADER, str(index).encode())],
                )
            )
        try:
            await asyncio.gather(*pending)
        except Exception:
            # The tree in memory is ahead of the topic: never checkpoint or commit it.
            log.critical("writing audit leaves failed; stopping so a restart rebuilds the tree")
            os._exit(70)
        STATE.writing = False
        if STATE.log.checkpoint_due(_now_ms(), POLICY):
            await _publish_checkpoint()
        yield None


@app.timer(interval=max(0.5, POLICY.every_ms / 2000))  # type: ignore[untyped-decorator]
async def checkpoint_timer() -> None:
    if not STATE.writing and STATE.log.checkpoint_due(_now_ms(), POLICY):
        await _publish_checkpoint()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _error(web: Any, status: int, reason: str, detail: str) -> Response:
    response: Response = web.json({"error": {"reason": reason, "detail": detail}}, status=status)
    return response


@app.page("/audit/checkpoint")
class CheckpointView(View):
    async def get(self, request: Request) -> Response:
        if STATE.latest is None:
            return _error(self, 404, "NOT_FOUND", "expected a checkpoint; none published yet")
        return self.text(STATE.latest.to_bytes().decode(), content_type="text/plain")


@app.page("/audit/proof")
class ProofView(View):
    async def get(self, request: Request) -> Response:
        decision_id = request.query.get("decision_id", "")
        index = STATE.log.index_of.get(decision_id)
        if index is None:
            return _error(
                self, 404, "NOT_FOUND", f"expected a logged decision id, got {decision_id[:80]!r}"
            )
        try:
            size = int(request.query.get("size", STATE.log.checkpointed_size))
        except ValueError:
            return _error(self, 400, "BAD_REQUEST", "expected size to be an integer")
        if not index < size <= STATE.log.size:
            return _error(
                self,
                404,
                "NOT_FOUND",
                f"leaf {index} is not in a tree of size {size} (log size {STATE.log.size}, "
                f"checkpointed {STATE.log.checkpointed_size}); retry after the next checkpoint",
            )
        tree = STATE.log.tree
        return self.json(
            {
                "decision_id": decision_id,
                "index": index,
                "size": size,
                "leaf_hash": _b64(tree.leaf(index)),
                "root": _b64(tree.root(size)),
                "proof": [_b64(p) for p in tree.inclusion_proof(index, size)],
                "checkpoint": STATE.latest.to_bytes().decode() if STATE.latest else None,
            }
        )


@app.page("/audit/consistency")
class ConsistencyView(View):
    async def get(self, request: Request) -> Response:
        try:
            old = int(request.query["from"])
            new = int(request.query.get("to", STATE.log.checkpointed_size))
        except (KeyError, ValueError):
            return _error(self, 400, "BAD_REQUEST", "expected integer 'from' (and 'to') sizes")
        if not 0 < old <= new <= STATE.log.size:
            return _error(self, 400, "BAD_REQUEST", f"expected 0 < from <= to <= {STATE.log.size}")
        tree = STATE.log.tree
        return self.json(
            {
                "from": old,
                "to": new,
                "root1": _b64(tree.root(old)),
                "root2": _b64(tree.root(new)),
                "proof": [_b64(p) for p in tree.consistency_proof(old, new)],
            }
        )
