"""Schemas: documented, nullable where disclosable, compatible with released versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

import schemas
from hub.wire import Envelope, EventType, payload_fields, payload_from_json, verify
from tests.support.wire import KEYS, sealed

_CHECKER: Any = ReaderWriterCompatibilityChecker  # untyped in avro 1.12
RELEASED = sorted(schemas.SCHEMA_DIR.glob("released/*/v*.avsc"))


def _walk_fields(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found += _walk_fields(item)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            for fld in node["fields"]:
                found.append(fld)
                found += _walk_fields(fld["type"])
        elif node.get("type") == "array":
            found += _walk_fields(node["items"])
        elif isinstance(node.get("type"), (dict, list)):
            found += _walk_fields(node["type"])
    return found


@pytest.mark.parametrize("name", schemas.names())
def test_every_field_has_a_doc(name: str) -> None:
    schema = schemas.load(name)
    assert schema.get("doc")
    fields = _walk_fields(schema)
    assert fields
    undocumented = [f["name"] for f in fields if not f.get("doc")]
    assert undocumented == []


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_payload_field_is_nullable_with_null_default(event_type: EventType) -> None:
    schema = schemas.load(event_type.value)
    for fld in schema["fields"]:
        assert isinstance(fld["type"], list), fld["name"]
        assert fld["type"][0] == "null", fld["name"]
        assert fld["default"] is None, fld["name"]
    assert payload_fields(event_type) == tuple(f["name"] for f in schema["fields"])


def test_policy_fields_have_the_contracted_shapes() -> None:
    fields = {f["name"]: f["type"][1] for f in schemas.load("referral")["fields"]}
    assert fields["is_child"] == "boolean"
    bia = fields["best_interest_assessment"]
    assert bia["name"] == "BestInterestAssessment"
    assert [(f["name"], f["type"]) for f in bia["fields"]] == [
        ("assessed_at", {"type": "long", "logicalType": "timestamp-millis"}),
        ("assessed_by", "string"),
        ("summary", ["null", "string"]),
    ]
    consent = fields["consent"]
    assert consent["name"] == "Consent"
    assert consent["fields"][0]["type"]["symbols"] == ["GIVEN", "REFUSED", "NOT_ASKED"]
    assert [f["name"] for f in consent["fields"]] == ["status", "given_by", "recorded_at", "scope"]
    org = fields["referring_organisation"]
    assert [f["name"] for f in org["fields"]] == ["id", "name", "kind"]
    assert fields["receiving_organisation"] == "Organisation"


def test_fingerprints_match_the_reference_library_where_its_pcf_is_right() -> None:
    # avro 1.12 (Python) keeps {"type":"long"} for logical types in its PCF,
    # against the spec's [PRIMITIVES] rule; fastavro and Java strip it. For
    # schemas without logical types both must agree byte for byte.
    for name in ("envelope", "signature", "disclosure"):
        ref = avro.schema.parse(json.dumps(schemas.load(name)))
        assert ref.canonical_form == schemas.canonical_form(name)
        assert ref.fingerprint() == schemas.crc64(name)
        assert ref.fingerprint("sha256") == schemas.sha256(name)


def test_crc64_of_known_values() -> None:
    # From the Avro specification's reference implementation: fp(empty) = EMPTY.
    assert schemas.crc64_of(b"") == (0xC15D213AA4D7A795).to_bytes(8, "little")
    ref = avro.schema.parse('"int"')
    assert schemas.crc64_of(b'"int"') == ref.fingerprint()


def test_every_current_schema_has_a_released_version() -> None:
    released = {p.parent.name for p in RELEASED}
    assert released == set(schemas.names())


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_current_schema_is_compatible_both_ways_with_released(path: Path) -> None:
    current = avro.schema.parse(json.dumps(schemas.load(path.parent.name)))
    old = avro.schema.parse(path.read_text(encoding="utf-8"))
    checker = _CHECKER()
    backward = checker.get_compatibility(reader=current, writer=old)
    forward = checker.get_compatibility(reader=old, writer=current)
    assert backward.compatibility is SchemaCompatibilityType.compatible, backward.messages
    assert forward.compatibility is SchemaCompatibilityType.compatible, forward.messages


def test_compatibility_checker_catches_a_breaking_change() -> None:
    old = schemas.load("referral")
    broken = json.loads(json.dumps(old))
    broken["fields"][0] = {"name": "case_number", "type": "int", "doc": "now an int"}
    checker = _CHECKER()
    result = checker.get_compatibility(
        reader=avro.schema.parse(json.dumps(broken)), writer=avro.schema.parse(json.dumps(old))
    )
    assert result.compatibility is SchemaCompatibilityType.incompatible


@pytest.mark.parametrize("event_type", list(EventType))
def test_example_payload_seals_as_it_is(event_type: EventType) -> None:
    path = schemas.SCHEMA_DIR / "examples" / f"{event_type.value}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    env = sealed(payload_from_json(event_type, raw), event_type=event_type.value)
    event = verify(Envelope.from_bytes(env.to_bytes()), KEYS)
    assert event.disclosed == frozenset(k for k, v in raw.items() if v is not None)
    assert set(raw) <= set(payload_fields(event_type))
