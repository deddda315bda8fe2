"""The wire vectors in tests/vectors/wire/: no drift, and each gives its expected outcome."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hub.conformance import wire
from hub.conformance.base import Result

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
WIRE = VECTORS / "wire"
FILES = wire.vector_files(WIRE)


@cache
def _results() -> dict[str, Result]:
    return {r.vector: r for r in wire.check(WIRE)}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_wire", VECTORS / "generate_wire.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_files_exactly() -> None:
    generator = _generator()
    built: dict[str, Any] = generator.build()
    on_disk = {p.name for p in WIRE.glob("*.json")}
    assert on_disk == set(built)
    for name, content in built.items():
        assert (WIRE / name).read_text(encoding="utf-8") == generator.render(content), name


def test_there_are_enough_kinds_of_bad_envelopes() -> None:
    bad = [p for p in FILES if p.name.startswith("bad-")]
    reasons = {json.loads(p.read_text())["expected"]["reason"] for p in bad}
    assert len(bad) >= 45
    assert len(reasons) >= 18


def test_the_key_directory_is_a_trust_list_of_the_protocol() -> None:
    trust = wire.key_directory(WIRE)
    assert trust.version == 1
    assert {k.country for k in trust.roots()} == {"KH", "TH"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_gives_expected_outcome(path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert vector["description"]
    result = _results()[path.name]
    assert result.passed, (result.expected, result.got)


def test_a_changed_expectation_fails() -> None:
    vector = json.loads((WIRE / "good-01-referral.json").read_text(encoding="utf-8"))
    got = wire.outcome(vector, wire.key_directory(WIRE))
    assert got == vector["expected"]
    vector["recipient"] = "KH"  # a node reading it from its inbox: no attestation
    assert wire.outcome(vector, wire.key_directory(WIRE))["reason"] == "BAD_ATTESTATION"
