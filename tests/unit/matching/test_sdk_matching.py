"""The SDK's exchange without a broker: a fake channel whose evaluators run the real core
and whose hub keeps an index in a dict. Combination, verification, refusals, the vault."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from connectors.sdk.matching import (
    EvaluationTally,
    MatchAnswer,
    evaluators_for,
    query,
    register,
)
from connectors.sdk.store import NodeStore
from hub.errors import Reason, TrmError
from hub.matching.ceremony import MatchPublic
from hub.matching.evaluator import Answered, BudgetLedger, Refusal, evaluate_request
from hub.matching.messages import (
    HUB,
    Answer,
    Evaluate,
    Evaluation,
    MatchMessage,
    Query,
    Refused,
    Register,
    Registered,
)
from hub.matching.threshold import partial_evaluate
from hub.wire import new_event_id
from tests.unit.matching.test_evaluator import COMMITMENTS, MEMBERS, SHARE, T0

PUBLIC = MatchPublic(threshold=3, members=MEMBERS, commitments=COMMITMENTS)
PHONE = "081 234 5678"  # a Thai mobile number written the local way


class FakeReplies:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[MatchMessage] = asyncio.Queue()

    async def next(self, timeout_s: float) -> MatchMessage | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout=max(timeout_s, 0.001))
        except TimeoutError:
            return None


class FakeWorld:
    """The hub's index and every country's evaluator, in memory (no signatures)."""

    def __init__(self, *, online: set[str] | None = None, limit: int = 100) -> None:
        self.online = set(MEMBERS) if online is None else online
        self.forgers: set[str] = set()
        self.limit = limit
        self.ledgers = {cc: BudgetLedger.empty(T0) for cc in MEMBERS}
        self.index: dict[bytes, tuple[str, str, str]] = {}
        self.sent: list[MatchMessage] = []


class FakeChannel:
    def __init__(self, country: str, world: FakeWorld, root: Path) -> None:
        self.country, self.world = country, world
        self.store = NodeStore(root / country)
        self._replies: FakeReplies | None = None

    def now_ms(self) -> int:
        return T0

    def match_public(self) -> MatchPublic:
        return PUBLIC

    @contextlib.asynccontextmanager
    async def match_replies(self) -> AsyncIterator[FakeReplies]:
        self._replies = FakeReplies()
        yield self._replies
        self._replies = None

    def _reply(self, message: MatchMessage) -> None:
        assert self._replies is not None
        self._replies.queue.put_nowait(message)

    def _hub(self, body: Answer | Registered | Refused, to: MatchMessage) -> MatchMessage:
        return MatchMessage.of(
            body, message_id=new_event_id(T0), sender=HUB, recipient=self.country,
            created_at_ms=T0, correlation_id=to.message_id,
        )  # fmt: skip

    async def send_match(self, message: MatchMessage) -> None:
        world = self.world
        world.sent.append(message)
        body = message.body
        if isinstance(body, Evaluate):
            cc = message.recipient
            if cc not in world.online:
                return
            out = evaluate_request(
                message, country=cc, share=SHARE[cc], commitments=COMMITMENTS,
                ledger=world.ledgers[cc], limit=world.limit, now_ms=T0,
                reply_id=new_event_id(T0),
            )  # fmt: skip
            assert isinstance(out, Answered | Refusal)
            world.ledgers[cc] = out.ledger
            reply = out.reply
            if cc in world.forgers and isinstance(reply.body, Evaluation):
                # A partial made with another member's share, labelled as its own.
                other = next(c for c in MEMBERS if c not in (cc, self.country))
                forged = tuple(
                    replace(partial_evaluate(SHARE[other], COMMITMENTS, b), index=MEMBERS[cc])
                    for b in body.blinded
                )
                reply = replace(reply, body=replace(reply.body, partials=forged))
            self._reply(reply)
        elif isinstance(body, Register):
            for key in body.keys:
                world.index[key] = (self.country, body.reference, body.match_kind)
            self._reply(self._hub(Registered(body.reference, body.expires_at_ms), message))
        elif isinstance(body, Query):
            found = next((world.index[k] for k in body.keys if k in world.index), None)
            answer = Answer(body.query_id, True, *found) if found else Answer(body.query_id, False)
            self._reply(self._hub(answer, message))


async def test_registered_then_found_and_a_different_number_is_not(tmp_path: Path) -> None:
    world = FakeWorld()
    vn, th = FakeChannel("VN", world, tmp_path), FakeChannel("TH", world, tmp_path)
    reg = await register(vn, "phone", "+66 81 234 5678", timeout_s=2)
    assert len(reg.reference) == 32
    assert reg.kind == "phone"
    assert reg.notes == ()
    kept = vn.store.match_registration(reg.reference)
    assert kept is not None
    assert kept["value"] == "+66 81 234 5678"
    assert kept["kind"] == "phone"
    path = vn.store.match_dir / f"{reg.reference}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    hit = await query(th, "phone", PHONE, case_ref="TH-2026-7", purpose="investigation")
    assert (hit.hit, hit.owner, hit.reference, hit.kind) == (True, "VN", reg.reference, "phone")
    miss = await query(th, "phone", "081 234 5679", case_ref="TH-2026-7", purpose="investigation")
    assert miss == MatchAnswer(False, None, None, None, miss.query_id)
    # Every EVALUATE went to the five other share holders, never to the asker itself.
    evaluates = [m for m in world.sent if isinstance(m.body, Evaluate) and m.sender == "TH"]
    assert {m.recipient for m in evaluates} == set(MEMBERS) - {"TH"}


async def test_a_query_without_a_case_reference_or_purpose_sends_nothing(tmp_path: Path) -> None:
    world = FakeWorld()
    th = FakeChannel("TH", world, tmp_path)
    for case_ref, purpose in (("", "investigation"), ("TH-1", ""), ("TH-1", "curiosity")):
        with pytest.raises(TrmError) as caught:
            await query(th, "phone", PHONE, case_ref=case_ref, purpose=purpose)
        assert caught.value.reason is Reason.MATCH_CASE_REQUIRED
    assert world.sent == []


async def test_too_few_evaluators_fail_clearly_and_ask_the_hub_nothing(tmp_path: Path) -> None:
    world = FakeWorld(online={"KH", "LA"})  # t - 1 = 2 online
    th = FakeChannel("TH", world, tmp_path)
    with pytest.raises(TrmError) as caught:
        await query(th, "phone", PHONE, case_ref="TH-1", purpose="investigation", timeout_s=0.3)
    error = caught.value
    assert error.reason is Reason.MATCH_THRESHOLD_NOT_MET
    assert "valid from: KH, LA" in error.detail
    assert "no answer from: CN, MM, VN" in error.detail
    assert "66812345678" not in error.detail
    assert "812345678" not in error.detail
    assert not any(isinstance(m.body, Query) for m in world.sent)


async def test_a_forged_partial_is_refused_and_its_evaluator_named(tmp_path: Path) -> None:
    world = FakeWorld(online={"KH", "LA", "MM"})
    world.forgers = {"MM"}
    th = FakeChannel("TH", world, tmp_path)
    with pytest.raises(TrmError) as caught:
        await query(th, "phone", PHONE, case_ref="TH-1", purpose="investigation", timeout_s=0.3)
    assert caught.value.reason is Reason.MATCH_EVALUATION_FORGED
    assert "forged (refused): MM" in caught.value.detail
    assert not any(isinstance(m.body, Query) for m in world.sent)

    world.online.add("VN")  # a fourth honest one: the query goes on, the forger is named
    answer = await query(th, "phone", PHONE, case_ref="TH-1", purpose="investigation")
    assert answer.hit is False
    assert len(answer.notes) == 1
    assert answer.notes[0].startswith("MM: MATCH_EVALUATION_FORGED")


async def test_an_exhausted_budget_surfaces_its_reason(tmp_path: Path) -> None:
    world = FakeWorld(limit=1)  # one element per requester per day
    th = FakeChannel("TH", world, tmp_path)
    await query(th, "phone", PHONE, case_ref="TH-1", purpose="investigation")  # spends it
    with pytest.raises(TrmError) as caught:
        await query(th, "phone", PHONE, case_ref="TH-1", purpose="investigation", timeout_s=1)
    assert caught.value.reason is Reason.MATCH_BUDGET_EXHAUSTED
    assert "refused by: CN (MATCH_BUDGET_EXHAUSTED" in caught.value.detail


async def test_a_refused_registration_keeps_nothing(tmp_path: Path) -> None:
    world = FakeWorld()
    vn = FakeChannel("VN", world, tmp_path)

    async def refuse(message: MatchMessage) -> None:
        if isinstance(message.body, Register):
            vn._reply(vn._hub(Refused("CONSENT_REQUIRED", "a victim without consent"), message))
        else:
            await FakeChannel.send_match(vn, message)

    vn.send_match = refuse  # type: ignore[method-assign]
    with pytest.raises(TrmError) as caught:
        await register(vn, "phone", PHONE, subject="victim", timeout_s=2)
    assert caught.value.reason is Reason.CONSENT_REQUIRED
    assert vn.store.match_references() == []


def test_a_partial_with_another_index_is_forged() -> None:
    blinded = (bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"),)
    ids = {new_event_id(T0): cc for cc in ("KH", "LA")}
    query_id = new_event_id(T0)
    tally = EvaluationTally(PUBLIC, query_id, blinded, ids)
    kh_id = next(k for k, v in ids.items() if v == "KH")
    wrong = partial_evaluate(SHARE["LA"], COMMITMENTS, blinded[0])  # LA's partial, sent by KH
    message = MatchMessage.of(
        Evaluation(query_id, (wrong,), 1, 10, "2026-01-01"), message_id=new_event_id(T0),
        sender="KH", recipient="TH", created_at_ms=T0, correlation_id=kh_id,
    )  # fmt: skip
    assert tally.take(message)
    assert "expected the index of its share, 1, got 3" in tally.forged["KH"]


def test_whom_a_country_asks() -> None:
    assert evaluators_for(PUBLIC, "TH") == ("CN", "KH", "LA", "MM", "VN")
    assert len(evaluators_for(PUBLIC, "FR")) == 6  # not a share holder: asks all
