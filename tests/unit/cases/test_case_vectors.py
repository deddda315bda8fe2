"""The case lifecycle vectors (tests/vectors/cases/): hub.cases agrees, and no drift."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.cases import check_transition, follow_up_due_times
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


def test_every_kind_and_the_refusal_have_a_vector() -> None:
    outcomes = {
        v["expected"].get("kind") or v["expected"]["refused"] for v in _load("transitions.json")
    }
    assert outcomes == {
        "FIRST", "NEXT", "SAME", "SKIP", "BACKWARD", "RETRAFFICKING", "REOPENED",
        "TRANSITION_REASON_REQUIRED",
    }  # fmt: skip
