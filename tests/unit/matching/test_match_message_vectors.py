"""The match message vectors in tests/vectors/match-messages/: no drift, each outcome holds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hub.conformance import match_messages
from hub.conformance.trust import vector_files
from hub.trust import TrustList

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
FOLDER = VECTORS / "match-messages"
FILES = vector_files(FOLDER)


def test_generator_reproduces_the_files_exactly() -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_match_messages", VECTORS / "generate_match_messages.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built: dict[str, Any] = module.build()
    assert {p.name for p in FOLDER.glob("*.json")} == set(built)
    for name, content in built.items():
        assert (FOLDER / name).read_text(encoding="utf-8") == module.render(content), name


def test_every_kind_and_every_step_of_the_opening_order_has_a_vector() -> None:
    expected = [json.loads(p.read_text(encoding="utf-8"))["expected"] for p in FILES]
    kinds = {e["message"]["kind"] for e in expected if e["outcome"] == "opened"}
    assert kinds == {
        "REGISTER", "REGISTERED", "EVALUATE", "EVALUATION", "QUERY", "ANSWER", "REFUSED"
    }  # fmt: skip
    reasons = {e["reason"] for e in expected if e["outcome"] == "rejected"}
    assert len(reasons) >= 11


@pytest.mark.parametrize("result", match_messages.check(FOLDER), ids=lambda r: r.vector)
def test_vector_gives_expected_outcome(result: Any) -> None:
    assert result.passed, (result.expected, result.got)


def test_a_changed_expectation_fails() -> None:
    vector = json.loads((FOLDER / "bad-09-spoofed-sender.json").read_text(encoding="utf-8"))
    trust = TrustList.from_bytes((FOLDER / "trust.json").read_bytes())
    assert match_messages.outcome(vector, trust) == vector["expected"]
    vector["wire"] = vector["wire"][:-2] + "00"
    assert match_messages.outcome(vector, trust) != vector["expected"]
