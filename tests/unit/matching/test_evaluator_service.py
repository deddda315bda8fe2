"""The evaluator service's edge without a broker: the ledger is saved before a reply is
sent, survives a restart, and a damaged ledger stops the service rather than reset it."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from connectors.sdk.evaluator import EvaluatorService, EvaluatorState
from connectors.sdk.match_topic import MatchRecord
from connectors.sdk.node import CountryNode
from hub.errors import OperationalError, Reason, WireError
from hub.home import StateDir
from hub.matching.ceremony import MatchPublic
from hub.matching.evaluator import BudgetLedger
from hub.matching.messages import Evaluation, MatchMessage, Refused
from tests.unit.matching.test_evaluator import (
    COMMITMENTS,
    MEMBERS,
    SHARE,
    T0,
    _blinded,
    _request,
)

PUBLIC = MatchPublic(threshold=3, members=MEMBERS, commitments=COMMITMENTS)


class FakeNode:
    """What the service uses of a CountryNode: its country, state, clock and sender."""

    def __init__(self, root: Path, country: str = "KH") -> None:
        self.country, self.state = country, StateDir(root)
        self.sent: list[MatchMessage] = []
        self.ledger_at_send: list[dict[str, Any]] = []
        self.clock = T0

    def now_ms(self) -> int:
        return self.clock

    async def send_match(self, message: MatchMessage) -> None:
        path = self.state.node(self.country) / "match-evaluator.json"
        self.ledger_at_send.append(json.loads(path.read_text()))
        self.sent.append(message)


def _service(node: FakeNode, limit: int = 5) -> EvaluatorService:
    return EvaluatorService(cast(CountryNode, node), SHARE["KH"], PUBLIC, limit=limit)


async def test_spent_before_sent_and_kept_across_a_restart(tmp_path: Path) -> None:
    node = FakeNode(tmp_path)
    service = _service(node)
    await service.handle(MatchRecord(0, 7, _request(_blinded(3))))
    assert len(node.sent) == 1
    assert isinstance(node.sent[0].body, Evaluation)
    saved = node.ledger_at_send[0]  # what the file held when the reply went out
    assert saved["ledger"]["used"] == {"TH": 3}
    assert saved["cursor"] == {"0": 8}
    path = tmp_path / "nodes" / "KH" / "match-evaluator.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    restarted = _service(node)  # a new process: the same day's budget, the same cursor
    assert restarted.state.cursor == {0: 8}
    await restarted.handle(MatchRecord(0, 8, _request(_blinded(3))))
    body = node.sent[-1].body
    assert isinstance(body, Refused)
    assert body.reason == Reason.MATCH_BUDGET_EXHAUSTED
    assert restarted.status()["elements_today"] == 3
    assert restarted.status()["refused"] == 1


async def test_an_unreadable_record_moves_the_cursor_and_sends_nothing(tmp_path: Path) -> None:
    node = FakeNode(tmp_path)
    service = _service(node)
    await service.handle(MatchRecord(1, 3, WireError(Reason.BAD_SIGNATURE, "no")))
    assert node.sent == []
    assert service.state.cursor == {1: 4}
    assert service.counts.unreadable == 1


def test_a_damaged_ledger_stops_the_service(tmp_path: Path) -> None:
    path = tmp_path / "nodes" / "KH" / "match-evaluator.json"
    path.parent.mkdir(parents=True)
    good = BudgetLedger.empty(T0).to_json()
    for text in (
        "{",
        json.dumps({"ledger": {"day": "x"}, "cursor": {}}),
        json.dumps({"ledger": good, "cursor": {"a": 1}}),
    ):
        path.write_text(text)
        with pytest.raises(OperationalError) as caught:
            EvaluatorState.load(path, T0)
        assert caught.value.reason is Reason.CONFIG_INVALID


def test_a_budget_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OperationalError) as caught:
        _service(FakeNode(tmp_path), limit=0)
    assert caught.value.reason is Reason.CONFIG_INVALID
