"""The wire vectors in tests/vectors/wire/: no drift, and each gives its expected outcome."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hub.errors import TrmError
from hub.keys import KeyRole, PublicKey
from hub.wire import (
    Envelope,
    check_cloudevents,
    payload_to_json,
    verify,
    verify_attestation,
)
from tests.support.wire import StaticKeys

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
WIRE = VECTORS / "wire"
FILES = sorted(p for p in WIRE.glob("*.json") if p.name != "keys.json")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_wire", VECTORS / "generate_wire.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keys() -> StaticKeys:
    doc = json.loads((WIRE / "keys.json").read_text(encoding="utf-8"))
    return StaticKeys(
        [
            PublicKey(
                key_id=e["key_id"],
                country=e["country"],
                roles=frozenset(KeyRole(r) for r in e["roles"]),
                raw=bytes.fromhex(e["public_key"]),
                not_before_ms=e["not_before_ms"],
                not_after_ms=e["not_after_ms"],
                revoked_at_ms=e["revoked_at_ms"],
            )
            for e in doc["keys"]
        ]
    )


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
    assert len(bad) >= 20
    assert len(reasons) >= 15


def _outcome(vector: dict[str, Any], keys: StaticKeys) -> dict[str, Any]:
    try:
        envelope = Envelope.from_bytes(
            bytes.fromhex(vector["envelope"]), max_size=vector["max_size"]
        )
        if vector["kafka_headers"] is not None:
            check_cloudevents(
                [(k, v.encode()) for k, v in vector["kafka_headers"]], envelope.header
            )
        event = verify(envelope, keys)
        att = verify_attestation(envelope, keys) if envelope.attestations else None
    except TrmError as exc:
        return {"outcome": "rejected", "reason": exc.reason.value}
    return {
        "outcome": "accepted",
        "reason": None,
        "disclosed": payload_to_json(dict(sorted(event.fields.items()))),
        "withheld": sorted(event.withheld),
        "event_digest": envelope.event_digest.hex(),
        "attestation": None if att is None else att.to_json(),
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_gives_expected_outcome(path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert vector["description"]
    assert _outcome(vector, _keys()) == vector["expected"]
