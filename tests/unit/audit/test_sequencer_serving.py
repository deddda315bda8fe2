"""The sequencer serves a checkpoint only once a read_committed reader can read it.

``commit_transaction`` returns when the transaction coordinator has logged the
commit; the marker that makes the checkpoint readable reaches the partition
after that. The compose stack's test once saw ``/audit/checkpoint`` serve a
checkpoint that the replay it started at once did not find (BAD_CHECKPOINT: no
checkpoint covers the leaves). Here the checkpoints topic's last stable offset
is played by a stand-in for the sequencer's reader; the writer's transaction by
a stand-in returning the offset after the checkpoint.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from hub.app import sequencer
from hub.audit.leaf import AuditLeaf
from hub.audit.note import Checkpoint
from hub.decision import DecisionKind, DecisionRecord
from tests.support.examples import HUB_KEY

_END = 7  # the offset after the checkpoint record the stand-in transaction wrote


def _leaf(i: int) -> AuditLeaf:
    return AuditLeaf.of(
        f"t.outbox.VN/0/{i}:ingested",
        DecisionRecord(
            kind=DecisionKind.INGESTED,
            event_id=f"ev-{i}",
            producer="VN",
            recipient="",
            event_digest=f"{i:064x}",
            delivered_digest="",
            fields=(),
            agreement="",
            reason="",
            detail="",
            source=f"t.outbox.VN/0/{i}",
            decided_at_ms=1_772_323_200_000 + i,
            registry="v1",
        ),
    )


class _Reader:
    """The last stable offsets a read_committed reader is told, one per ask."""

    def __init__(self, stable: list[int | Exception], state: sequencer._State) -> None:
        self.stable = stable
        self.state = state
        self.served_while_asked: list[int] = []

    async def ends(self) -> dict[TopicPartition, int]:
        self.served_while_asked.append(self.state.latest_size)
        now = self.stable.pop(0) if len(self.stable) > 1 else self.stable[0]
        if isinstance(now, Exception):
            raise now
        return {TopicPartition(sequencer.TOPICS.audit_checkpoints, 0): now}

    async def close(self) -> None:
        return None


def _state(monkeypatch: pytest.MonkeyPatch, leaves: int) -> sequencer._State:
    state = sequencer._State()
    state.key = HUB_KEY
    for i in range(leaves):
        state.log.append(_leaf(i))
    monkeypatch.setattr(sequencer, "STATE", state)

    async def transaction(_records: object) -> int:
        return _END

    monkeypatch.setattr(sequencer, "_transaction", transaction)
    return state


def test_a_checkpoint_is_served_only_once_its_offset_is_stable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _state(monkeypatch, 3)
    reader = _Reader([_END - 1, KafkaTimeoutError(), _END - 1, _END + 1], state)
    state.watch = reader  # type: ignore[assignment]
    asyncio.run(sequencer._publish_checkpoint())
    # Not served while the marker was on its way (and not on a failed ask), then served.
    assert reader.served_while_asked == [0, 0, 0, 0]
    assert state.latest is not None
    assert state.latest_size == 3
    assert Checkpoint.parse(state.latest.text).size == 3


def test_a_checkpoint_never_readable_is_not_served_and_the_wait_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = _state(monkeypatch, 2)
    monkeypatch.setattr(sequencer, "_READABLE_WAIT_S", 0.05)
    state.watch = _Reader([_END - 1], state)  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="trm.audit"):
        asyncio.run(sequencer._publish_checkpoint())
    assert state.latest is None
    assert state.latest_size == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "checkpoint of size 2 is committed but not readable" in said
    assert f"last stable offset {_END - 1}, expected at least {_END}" in said


def test_a_smaller_checkpoint_readable_later_does_not_replace_a_larger_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _state(monkeypatch, 1)
    small = state.log.checkpoint(HUB_KEY, 0)
    state.log.append(_leaf(1))
    large = state.log.checkpoint(HUB_KEY, 0)
    state.serve(large, 2)
    state.serve(small, 1)
    assert (state.latest, state.latest_size) == (large, 2)


def test_the_agent_and_the_timer_waiting_at_once_ask_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader's consumer starts at its first ask: two asks at once would start two."""
    state = _state(monkeypatch, 1)
    asking = {"now": 0, "most": 0}

    class Slow(_Reader):
        async def ends(self) -> dict[TopicPartition, int]:
            asking["now"] += 1
            asking["most"] = max(asking["most"], asking["now"])
            await asyncio.sleep(0.01)  # a round trip to the broker
            asking["now"] -= 1
            return await super().ends()

    opened: list[_Reader] = []

    def follower(*_args: object, **_kwargs: object) -> _Reader:
        opened.append(Slow([_END - 1, _END], state))
        return opened[-1]

    monkeypatch.setattr(sequencer, "Follower", follower)

    async def both() -> list[bool]:
        return list(
            await asyncio.gather(sequencer._readable(_END, 1), sequencer._readable(_END, 1))
        )

    assert asyncio.run(both()) == [True, True]
    assert len(opened) == 1
    assert asking["most"] == 1
