"""The sequencer serves a checkpoint only once a read_committed reader can read it
(docs/decisions.md D6), and no proof past the checkpoint it serves.

The checkpoints topic's last stable offset is played by a stand-in for the
consumer that asks it; the writer's transaction by a stand-in returning the
offset after the checkpoint record.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from hub.app import sequencer
from hub.audit.log import CheckpointPolicy
from hub.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from hub.audit.note import Checkpoint
from hub.audit.store import LeafStore
from tests.support.audit import ingested_leaf
from tests.support.examples import HUB_KEY

_END = 7  # the offset after the checkpoint record the stand-in transaction wrote


class _Broker:
    """What the stand-in consumers are told: the last stable offset, one answer per ask."""

    def __init__(self, state: sequencer._State, answers: list[int | Exception]) -> None:
        self.state = state
        self.answers = answers
        self.served_while_asked: list[int] = []
        self.started = 0
        self.asking = 0
        self.most_at_once = 0
        self.assigned: list[TopicPartition] = []
        self.paused: list[TopicPartition] = []
        self.config: dict[str, Any] = {}
        self.asked_for: list[list[TopicPartition]] = []
        self.stopped = 0
        self.hang = False  # asks never answered


def _start_consumer(broker: _Broker) -> Any:
    class Consumer:
        async def stop(self) -> None:
            broker.stopped += 1

        def assign(self, tps: list[TopicPartition]) -> None:
            broker.assigned = list(tps)

        def pause(self, *tps: TopicPartition) -> None:
            broker.paused = list(tps)

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            broker.asked_for.append(list(tps))
            broker.asking += 1
            broker.most_at_once = max(broker.most_at_once, broker.asking)
            await asyncio.sleep(3600 if broker.hang else 0.001)  # a round trip
            broker.asking -= 1
            broker.served_while_asked.append(broker.state.latest_size)
            now = broker.answers.pop(0) if len(broker.answers) > 1 else broker.answers[0]
            if isinstance(now, Exception):
                raise now
            return dict.fromkeys(tps, now)

    async def start_consumer(bootstrap: str, **client: Any) -> Consumer:
        broker.config = {"bootstrap": bootstrap, **client}
        broker.started += 1
        return Consumer()

    return start_consumer


def _sequencer(
    monkeypatch: pytest.MonkeyPatch, leaves: int, answers: list[int | Exception]
) -> tuple[sequencer._State, _Broker]:
    state = sequencer._State()
    state.key = HUB_KEY
    for i in range(leaves):
        state.log.append(ingested_leaf(i))
    monkeypatch.setattr(sequencer, "STATE", state)
    ends = iter(range(_END, _END + 100, 2))  # each checkpoint a record and its marker

    async def transaction(_records: object) -> int:
        return next(ends)

    monkeypatch.setattr(sequencer, "_transaction", transaction)
    broker = _Broker(state, answers)
    monkeypatch.setattr(sequencer, "start_consumer", _start_consumer(broker))
    return state, broker


async def _settled(state: sequencer._State) -> None:
    assert state.serving is not None
    await asyncio.wait_for(state.serving, 5)


def test_a_checkpoint_is_served_only_once_its_offset_is_stable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, broker = _sequencer(monkeypatch, 3, [_END - 1, KafkaTimeoutError(), _END - 1, _END + 1])

    async def run() -> None:
        await sequencer._publish_checkpoint()
        assert state.latest is None  # the publication did not wait, nor serve
        await _settled(state)

    asyncio.run(run())
    # Not served while the marker was on its way (nor on a failed ask), then served.
    assert broker.served_while_asked == [0, 0, 0, 0]
    assert state.latest is not None
    assert state.latest_size == 3
    assert Checkpoint.parse(state.latest.text).size == 3
    assert broker.started == 1
    assert broker.config["isolation_level"] == "read_committed"
    assert broker.config["bootstrap"] == sequencer.BOOTSTRAP
    the_partition = [TopicPartition(sequencer.TOPICS.audit_checkpoints, 0)]
    assert broker.asked_for == [the_partition] * 4
    # the one partition held (its leader known) and paused (no record fetched)
    assert (
        broker.assigned == broker.paused == [TopicPartition(sequencer.TOPICS.audit_checkpoints, 0)]
    )


def test_a_checkpoint_long_unreadable_is_said_and_served_once_it_is_readable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state, broker = _sequencer(monkeypatch, 2, [_END - 1])
    monkeypatch.setattr(sequencer, "_UNREADABLE_SAY_S", 0.05)
    monkeypatch.setattr(sequencer, "_LAST_PAUSE_S", 0.01)

    async def run() -> None:
        await sequencer._publish_checkpoint()
        await asyncio.sleep(0.4)
        assert state.latest is None
        broker.answers[:] = [_END]  # the marker arrives at last
        await _settled(state)

    with caplog.at_level(logging.WARNING, logger="trm.audit"):
        asyncio.run(run())
    assert state.latest_size == 2
    # said every 0.05 s while it lasted (0.4 s), not on every ask (about 35)
    warnings = [r for r in caplog.records if "not readable" in r.getMessage()]
    assert 2 <= len(warnings) <= 9, len(warnings)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "checkpoint of size 2 is committed but not readable after" in said
    assert f"last stable offset {_END - 1}, expected at least {_END}" in said
    assert "still serving the checkpoint of size 0" in said


@pytest.mark.parametrize(("hang", "named"), [(False, "KafkaTimeoutError"), (True, "TimeoutError")])
def test_asks_that_fail_or_never_answer_are_said_and_a_stop_ends_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, hang: bool, named: str
) -> None:
    state, broker = _sequencer(monkeypatch, 1, [KafkaTimeoutError()])
    broker.hang = hang
    monkeypatch.setattr(sequencer, "_UNREADABLE_SAY_S", 0.05)
    monkeypatch.setattr(sequencer, "_LAST_PAUSE_S", 0.01)
    monkeypatch.setattr(sequencer, "_ASK_S", 0.02)

    async def run() -> None:
        await sequencer._publish_checkpoint()
        await asyncio.sleep(0.2)
        serving = state.serving
        assert serving is not None
        await asyncio.wait_for(sequencer._stop_serving(), 1)
        assert serving.done()

    with caplog.at_level(logging.WARNING, logger="trm.audit"):
        asyncio.run(run())
    assert state.latest is None
    assert (state.serving, state.watch) == (None, None)
    assert broker.stopped == 1
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"last stable offset unknown: {named}" in said


def test_a_checkpoint_offered_after_the_asker_finished_is_served_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, broker = _sequencer(monkeypatch, 1, [_END, _END + 2])
    monkeypatch.setattr(sequencer, "POLICY", CheckpointPolicy(1, 0))

    async def run() -> None:
        await sequencer._publish_checkpoint()
        await _settled(state)
        assert state.latest_size == 1
        state.log.append(ingested_leaf(1))
        await sequencer._publish_checkpoint()
        await _settled(state)

    asyncio.run(run())
    assert state.latest_size == 2
    assert broker.started == 1  # the same consumer asked again


def test_checkpoints_published_back_to_back_are_served_in_turn_by_one_asker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, broker = _sequencer(monkeypatch, 1, [_END - 1, _END, _END + 1, _END + 2])
    monkeypatch.setattr(sequencer, "POLICY", CheckpointPolicy(1, 0))

    async def run() -> None:
        await sequencer._publish_checkpoint()  # size 1, ends at _END
        state.log.append(ingested_leaf(1))
        await asyncio.gather(sequencer._publish_checkpoint(), sequencer._publish_checkpoint())
        await _settled(state)

    asyncio.run(run())
    # size 1 served when the offset passed its end, size 2 (ends at _END + 2) after
    assert broker.served_while_asked == [0, 0, 1, 1]
    assert state.latest_size == 2
    assert broker.most_at_once == 1
    assert broker.started == 1


def test_a_smaller_checkpoint_served_later_does_not_replace_a_larger_one() -> None:
    state = sequencer._State()
    state.log.append(ingested_leaf(0))
    small = state.log.checkpoint(HUB_KEY, 0)
    state.log.append(ingested_leaf(1))
    large = state.log.checkpoint(HUB_KEY, 0)
    state.serve(large, 2)
    state.serve(small, 1)
    assert (state.latest, state.latest_size) == (large, 2)


def test_proofs_reach_the_served_checkpoint_and_no_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = sequencer._State()
    monkeypatch.setattr(sequencer, "STATE", state)
    leaves = [ingested_leaf(i) for i in range(5)]
    for leaf in leaves[:3]:
        state.log.append(leaf)
    served = state.log.checkpoint(HUB_KEY, 0)
    state.serve(served, 3)
    for leaf in leaves[3:]:  # appended: not yet under a checkpoint served
        state.log.append(leaf)
    first, last = leaves[0].decision_id, leaves[4].decision_id

    status, body = sequencer.proof_reply({"decision_id": first})
    assert status == 200
    assert body["size"] == 3  # the served checkpoint's, by default
    assert body["checkpoint"] == served.to_bytes().decode()
    root = Checkpoint.parse(served.text).root
    verify_inclusion(
        0,
        3,
        leaf_hash(leaves[0].to_bytes()),
        [base64.b64decode(p) for p in body["proof"]],
        root,
    )
    for query in ({"decision_id": first, "size": "4"}, {"decision_id": last}):
        status, body = sequencer.proof_reply(query)
        assert status == 404
        assert "the served checkpoint's size 3" in body["error"]["detail"]
    assert sequencer.proof_reply({"decision_id": first, "size": "x"})[0] == 400
    status, body = sequencer.proof_reply({"decision_id": leaves[2].decision_id, "size": "2"})
    assert status == 400  # never in a tree of that size: no retry helps
    assert "above the leaf's index 2" in body["error"]["detail"]

    status, body = sequencer.consistency_reply({"from": "1"})
    assert status == 200
    assert body["to"] == 3
    verify_consistency(
        1,
        3,
        state.log.tree.root(1),
        root,
        [base64.b64decode(p) for p in body["proof"]],
    )
    status, body = sequencer.consistency_reply({"from": "1", "to": "5"})
    assert status == 404
    assert "retry after the next checkpoint" in body["error"]["detail"]
    assert sequencer.consistency_reply({"from": "3", "to": "2"})[0] == 400
    assert sequencer.consistency_reply({"from": "0", "to": "2"})[0] == 400
    status, body = sequencer.consistency_reply({"from": "4"})  # read from the topic, not served
    assert status == 404
    assert "no checkpoint of size 4 served yet" in body["error"]["detail"]
    assert sequencer.consistency_reply({"to": "2"})[0] == 400


def test_a_restart_serves_the_checkpoint_its_store_holds(tmp_path: Path) -> None:
    state = sequencer._State()
    store = LeafStore.open(tmp_path / "store", state.log.origin)
    state._use(store)
    for i in range(4):
        state.log.append(ingested_leaf(i))
    note = state.log.checkpoint(HUB_KEY, 0)
    store.commit(leaves_offset=4, checkpoints_offset=2, checkpoint=note.to_bytes())
    store.close()

    again = sequencer._State()
    again._use(LeafStore.open(tmp_path / "store", again.log.origin))
    assert again.latest == note
    assert again.latest_size == 4
    assert again.log.checkpointed_size == 4
