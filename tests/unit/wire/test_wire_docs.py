"""docs/protocol.md's wire section agrees with the code."""

from __future__ import annotations

import re
from pathlib import Path

import schemas
from hub.wire import ATTESTATION_PAYLOAD_TYPE, CONTENT_TYPE, HEADER_PAYLOAD_TYPE, EventType
from hub.wire.cloudevents import cloudevents_headers
from hub.wire.eventtypes import BUILTIN
from tests.support.wire import sealed

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- SECTION:WIRE")
    return text[start : text.index("<!-- /SECTION:WIRE -->")]


def test_fingerprint_table_matches_the_schema_files() -> None:
    rows = re.findall(
        r"^\| `(\w+)\.avsc` \| `([0-9a-f]{16})` \| `([0-9a-f]{64})` \|$", _section(), re.M
    )
    # every schema file a node needs: the envelope's parts, the payloads, the audit leaf
    every_file = {p.stem for p in schemas.SCHEMA_DIR.glob("*.avsc")}
    assert set(schemas.ENVELOPE_PARTS) | {t.name for t in BUILTIN} <= every_file
    assert {name for name, _, _ in rows} == every_file
    for name, crc, sha in rows:
        assert bytes.fromhex(crc) == schemas.crc64(name), name
        assert bytes.fromhex(sha) == schemas.sha256(name), name


def test_constants_and_headers_are_documented() -> None:
    section = _section()
    for constant in (HEADER_PAYLOAD_TYPE, ATTESTATION_PAYLOAD_TYPE, CONTENT_TYPE):
        assert constant in section
    for name, _value in cloudevents_headers(sealed().header):
        assert f"`{name}`" in section
    for event_type in EventType:
        assert f"`{event_type.value}.avsc`" in section
