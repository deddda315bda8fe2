"""The case lifecycle vectors (tests/vectors/cases/): hub.cases agrees, and no drift."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.cases import (
    AlertKind,
    CaseEvent,
    case_state,
    check_transition,
    follow_up_due_times,
    open_steps,
)
from hub.errors import RequestError

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / "cases" / name).read_text(encoding="utf-8"))
    return data


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_vectors_match_their_generator() -> None:
    done = subprocess.run(
        [sys.executable, str(VECTORS / "generate_cases.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("vector", _load("transitions.json"), ids=lambda v: v["description"])
def test_transition_vector(vector: dict[str, Any]) -> None:
    def change() -> str:
        return check_transition(
            vector["previous"],
            vector["new"],
            vector["transition_reason"],
            previous_follow_up=vector["previous_follow_up"],
            follow_up=vector["follow_up"],
            follow_ups=vector["follow_ups"],
        ).kind.value

    expected = vector["expected"]
    if "refused" in expected:
        with pytest.raises(RequestError) as err:
            change()
        assert err.value.reason == expected["refused"]
    else:
        assert change() == expected["kind"]


@pytest.mark.parametrize("vector", _load("follow-ups.json"), ids=lambda v: v["description"])
def test_follow_up_vector(vector: dict[str, Any]) -> None:
    due = follow_up_due_times(_ms(vector["handed_over"]), vector["months"])
    assert list(due) == [_ms(t) for t in vector["expected_due"]]


TIME_FIELDS = frozenset({"changed_at", "detected_at", "visited_at"})


def _case_event(event: dict[str, Any], country: str) -> CaseEvent:
    fields = {k: _ms(v) if k in TIME_FIELDS else v for k, v in event["fields"].items()}
    record = {**event, "created_at_ms": _ms(event["created_at"]), "case_key": "case-1",
              "fields": fields}  # fmt: skip
    made = CaseEvent.from_record(record, country, empty=event["left_empty"])
    assert made is not None
    return made


@pytest.mark.parametrize("vector", _load("cycles.json"), ids=lambda v: v["description"])
def test_cycle_vector(vector: dict[str, Any]) -> None:
    country = vector["country"]
    events = [_case_event(e, country) for e in vector["events"]]
    state = case_state("case-1", events, country)
    expected = vector["expected"]
    assert state.handover is not None
    assert state.handover.event_id == expected["handover"]
    assert state.receiving_country == expected["receiving_country"]
    assert state.status == expected["status"]
    steps = open_steps(state, events, country, follow_up_months=vector["months"])
    follow_ups = [
        [s.follow_up_number, s.due_at_ms, s.owner]
        for s in steps
        if s.kind == AlertKind.FOLLOW_UP_OVERDUE
    ]
    assert follow_ups == [[n, _ms(due), owner] for n, due, owner in expected["open_follow_ups"]]


def test_every_kind_and_the_refusal_have_a_vector() -> None:
    outcomes = {
        v["expected"].get("kind") or v["expected"]["refused"] for v in _load("transitions.json")
    }
    assert outcomes == {
        "FIRST", "NEXT", "SAME", "SKIP", "BACKWARD", "RETRAFFICKING", "REOPENED",
        "TRANSITION_REASON_REQUIRED",
    }  # fmt: skip
