"""The evaluator's pure core: partial evaluations, the per-requester daily budget, refusals."""

from __future__ import annotations

import pytest

from hub.errors import OperationalError, Reason
from hub.matching import oprf
from hub.matching.evaluator import (
    REMEMBERED_PER_DAY,
    STALE_MS,
    Answered,
    BudgetLedger,
    Refusal,
    Skipped,
    evaluate_request,
    utc_day,
)
from hub.matching.messages import (
    Evaluate,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
    Refused,
)
from hub.matching.threshold import (
    Commitments,
    KeyShare,
    PartialEvaluation,
    combine,
    deal,
    verify_partial,
)
from hub.wire import new_event_id

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000
SECRET = bytes([7]) + bytes(31)
MEMBERS = {"KH": 1, "CN": 2, "LA": 3, "MM": 4, "TH": 5, "VN": 6}
COMMITMENTS, SHARES = deal(SECRET, 3, sorted(MEMBERS.values()))
SHARE = {cc: SHARES[i - 1] for cc, i in MEMBERS.items()}
_seq = iter(range(1, 10**6))


def _id(at_ms: int) -> str:
    n = next(_seq)
    return new_event_id(at_ms, lambda k: n.to_bytes(k, "big"))


def _request(
    blinded: tuple[bytes, ...], *, sender: str = "TH", to: str = "KH", at_ms: int = T0
) -> MatchMessage:
    return MatchMessage.of(
        Evaluate(_id(at_ms), "investigation", blinded),
        message_id=_id(at_ms),
        sender=sender,
        recipient=to,
        created_at_ms=at_ms,
    )


def partials_of(body: Evaluation) -> list[PartialEvaluation]:
    return [PartialEvaluation(p.index, p.evaluated, p.proof) for p in body.partials]


def _blinded(n: int) -> tuple[bytes, ...]:
    return tuple(oprf.blind(f"input {i}".encode())[1] for i in range(n))


def _run(
    message: MatchMessage,
    ledger: BudgetLedger,
    *,
    country: str = "KH",
    limit: int = 10,
    now_ms: int = T0,
    share: KeyShare | None = None,
    commitments: Commitments = COMMITMENTS,
) -> Answered | Refusal | Skipped:
    return evaluate_request(
        message,
        country=country,
        share=share or SHARE[country],
        commitments=commitments,
        ledger=ledger,
        limit=limit,
        now_ms=now_ms,
        reply_id=_id(now_ms),
    )


def test_an_answer_carries_one_verified_partial_per_element_and_the_budget() -> None:
    blinded = _blinded(3)
    request = _request(blinded)
    out = _run(request, BudgetLedger.empty(T0))
    assert isinstance(out, Answered)
    reply = out.reply
    assert reply.kind is MatchMessageKind.EVALUATION
    assert (reply.sender, reply.recipient, reply.correlation_id) == ("KH", "TH", request.message_id)
    body = reply.body
    assert isinstance(body, Evaluation)
    assert isinstance(request.body, Evaluate)
    assert body.query_id == request.body.query_id
    assert (body.budget_used, body.budget_limit, body.budget_day) == (3, 10, "2026-01-01")
    assert len(body.partials) == 3
    for element, partial in zip(blinded, partials_of(body), strict=True):
        assert partial.index == MEMBERS["KH"]
        verify_partial(COMMITMENTS, element, partial)  # raises if the proof is wrong
    assert out.ledger.used_by("TH") == 3
    assert out.ledger.has_answered(request.message_id)


def test_three_evaluators_combine_to_the_whole_key() -> None:
    """t partials from three evaluators give what the undivided key gives."""
    factor, blinded = oprf.blind(b"phone:+66812345678")
    partials: list[PartialEvaluation] = []
    for cc in ("KH", "LA", "VN"):
        out = _run(_request((blinded,), to=cc), BudgetLedger.empty(T0), country=cc)
        assert isinstance(out, Answered)
        assert isinstance(out.reply.body, Evaluation)
        partials += partials_of(out.reply.body)
    evaluated = combine(COMMITMENTS, blinded, partials)
    assert oprf.finalize(b"phone:+66812345678", factor, evaluated) == oprf.evaluate(
        SECRET, b"phone:+66812345678"
    )


def test_the_budget_is_per_requester_counted_per_element() -> None:
    ledger = BudgetLedger.empty(T0)
    for _ in range(3):  # 3 + 3 + 3 = 9 of 10
        out = _run(_request(_blinded(3)), ledger)
        assert isinstance(out, Answered)
        ledger = out.ledger
    refused = _run(_request(_blinded(2)), ledger)  # 9 + 2 > 10: refused whole
    assert isinstance(refused, Refusal)
    assert refused.reason is Reason.MATCH_BUDGET_EXHAUSTED
    body = refused.reply.body
    assert isinstance(body, Refused)
    assert body.reason == "MATCH_BUDGET_EXHAUSTED"
    assert "at most 10 elements" in body.detail
    assert "TH has used 9" in body.detail
    assert refused.reply.recipient == "TH"
    assert refused.ledger.used_by("TH") == 9  # nothing counted for a refusal
    last = _run(_request(_blinded(1)), refused.ledger)  # exactly to the limit: still answered
    assert isinstance(last, Answered)
    assert isinstance(last.reply.body, Evaluation)
    assert last.reply.body.budget_used == 10
    other = _run(_request(_blinded(3), sender="VN"), last.ledger)  # another requester: its own
    assert isinstance(other, Answered)
    assert other.ledger.used_by("VN") == 3
    assert other.ledger.used_by("TH") == 10


def test_the_count_starts_again_at_midnight_utc() -> None:
    ledger = BudgetLedger.empty(T0)
    out = _run(_request(_blinded(4)), ledger, limit=4)
    assert isinstance(out, Answered)
    late = T0 + DAY - 1  # 23:59:59.999 the same day
    refused = _run(_request(_blinded(1), at_ms=late), out.ledger, limit=4, now_ms=late)
    assert isinstance(refused, Refusal)
    next_day = T0 + DAY
    again = _run(_request(_blinded(4), at_ms=next_day), refused.ledger, limit=4, now_ms=next_day)
    assert isinstance(again, Answered)
    assert again.ledger.day == "2026-01-02"
    assert isinstance(again.reply.body, Evaluation)
    assert (again.reply.body.budget_used, again.reply.body.budget_day) == (4, "2026-01-02")


def test_a_second_copy_is_not_answered_or_charged_twice() -> None:
    request = _request(_blinded(2))
    first = _run(request, BudgetLedger.empty(T0))
    assert isinstance(first, Answered)
    second = _run(request, first.ledger)
    assert isinstance(second, Skipped)
    assert second.ledger.used_by("TH") == 2


def test_what_is_not_a_fresh_request_for_this_evaluator_is_skipped() -> None:
    ledger = BudgetLedger.empty(T0)
    stale = _request(_blinded(1), at_ms=T0 - STALE_MS - 1)
    assert isinstance(_run(stale, ledger), Skipped)
    assert isinstance(_run(_request(_blinded(1), to="LA"), ledger), Skipped)  # not for KH
    answered = _run(_request(_blinded(1)), ledger)
    assert isinstance(answered, Answered)
    assert isinstance(_run(answered.reply, ledger, country="TH"), Skipped)  # not a request
    for out in (_run(stale, ledger),):
        assert out.ledger.used_by("TH") == 0


def test_an_element_that_is_not_a_group_element_is_refused_with_its_reason() -> None:
    bad = bytes([0xFF]) * 32  # not a canonical ristretto255 encoding
    out = _run(_request((bad,)), BudgetLedger.empty(T0))
    assert isinstance(out, Refusal)
    assert out.reason is Reason.MATCH_ELEMENT_INVALID
    assert out.ledger.used_by("TH") == 0


def test_the_ledger_round_trips_and_refuses_what_is_not_one() -> None:
    ledger = BudgetLedger.empty(T0).spend("TH", 3, _id(T0)).spend("VN", 1, _id(T0))
    again = BudgetLedger.from_json(ledger.to_json())
    assert again == ledger
    bad_ones: list[object] = [
        None,
        [],
        {"day": "2026-01-01", "used": {"TH": -1}, "answered": []},
        {"day": "2026-01-01", "used": {"th": 1}, "answered": []},
        {"day": "1 Jan", "used": {}, "answered": []},
        {"day": "2026-01-01", "used": {"TH": True}, "answered": []},
    ]
    for bad in bad_ones:
        with pytest.raises(OperationalError) as caught:
            BudgetLedger.from_json(bad)
        assert caught.value.reason is Reason.CONFIG_INVALID


def test_the_ledger_remembers_a_bounded_number_of_requests() -> None:
    ledger = BudgetLedger.empty(T0)
    ids = [_id(T0) for _ in range(REMEMBERED_PER_DAY + 5)]
    for message_id in ids:
        ledger = ledger.refuse(message_id)
    assert len(ledger.answered) == REMEMBERED_PER_DAY
    assert not ledger.has_answered(ids[0])
    assert ledger.has_answered(ids[-1])


def test_utc_day() -> None:
    assert utc_day(T0) == "2026-01-01"
    assert utc_day(T0 - 1) == "2025-12-31"
    assert utc_day(T0 + DAY) == "2026-01-02"
