"""Every crasher the fuzzers found, kept: each input must now be a value or a refusal.

The inputs live in ``tests/fuzz/regressions/<target>/<what-it-was>``; a new
crasher is added by copying it there (docs/fuzzing.md). The tests below the
parametrised one pin what each fix refuses, with which reason.
"""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest

from connectors.importer.mapping import load_mapping
from connectors.sdk.records import Rejection
from hub.audit.note import Checkpoint, SignedNote
from hub.audit.witness import Seen
from hub.decision import DecisionRecord
from hub.errors import AuditError, Reason, RequestError
from hub.state import Bookmark
from hub.textdoc import parse_yaml
from hub.wire.codec import decode_exact, parsed, part
from tests.fuzz.targets import TARGETS, run_one

REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"
CASES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_regression_names_a_target() -> None:
    assert CASES, "no regression inputs found"
    assert {p.parent.name for p in CASES} <= set(TARGETS)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_crasher_is_now_a_value_or_a_refusal(path: Path) -> None:
    run_one(TARGETS[path.parent.name], path.read_bytes())


def test_yaml_control_character_is_bad_request() -> None:
    # PyYAML's reader refuses it in the loader's constructor, which parse_yaml called
    # outside its try: a yaml.ReaderError escaped every YAML door.
    with pytest.raises(RequestError) as caught:
        parse_yaml(b"type: referral\x19\n", what="mapping")
    assert caught.value.reason is Reason.BAD_REQUEST
    assert caught.value.detail.startswith("mapping: expected YAML")


@pytest.mark.parametrize(
    "note",
    [
        "o\n1\n\u00c4x5pi7V6ezAkxtlTZuVWNs/UkD9YihGfZGuSiG0nGk8=\n\n\u2014 o AAAAAAAA\n",
        "o\n1\nAx5pi7V6ezAkxtlTZuVWNs/UkD9YihGfZGuSiG0nGk8=\n\n\u2014 o \u00c4AAAAAAA\n",
    ],
    ids=["root", "signature"],
)
def test_non_ascii_base64_in_a_note_is_checkpoint_invalid(note: str) -> None:
    # base64.b64decode raises a plain ValueError (not binascii.Error) for non-ASCII text.
    with pytest.raises(AuditError) as caught:
        Checkpoint.parse(SignedNote.from_bytes(note.encode()).text)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID


@pytest.mark.parametrize(
    "varint",
    [b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x02", b"\x80" * 11 + b"\x00"],
    ids=["11-bytes", "10th-byte-past-64-bits", "12-bytes-of-zero"],
)
def test_long_past_64_bits_is_refused(varint: bytes) -> None:
    # fastavro's compiled reader wraps such a varint to some 64-bit value; Apache
    # Avro and the specification refuse it (a long is 64 bits). So must we.
    body = _statement_ending_in(varint)
    with pytest.raises(ValueError, match="64 bits"):
        decode_exact(parsed("attestation_statement"), body)
    with pytest.raises(ValueError, match="64 bits"):
        part("attestation_statement").decode(body)


def test_long_of_ten_bytes_is_accepted() -> None:
    body = _statement_ending_in(b"\xfe" + b"\xff" * 8 + b"\x01")  # 2**63 - 1, zig-zagged
    assert decode_exact(parsed("attestation_statement"), body)["attested_at"] == 2**63 - 1
    assert part("attestation_statement").decode(body)["attested_at"] == 2**63 - 1


def _statement_ending_in(varint: bytes) -> bytes:
    """An AttestationStatement body whose last field, attested_at, is ``varint``."""
    record = {
        "spec_version": 1,
        "event_digest": bytes(32),
        "recipient": "KH",
        "agreement_id": "TH-KH",
        "agreement_version": 1,
        "fields": [],
        "leaf_ref": "decision:x",
        "attested_at": 0,
    }
    body = part("attestation_statement").encode(record)
    assert body.endswith(b"\x00")
    return body[:-1] + varint


@pytest.mark.parametrize("data", [b"[" * 5000, b"1" * 5000, b'{"kind":1,"kind":2}'])
def test_decision_record_json_is_read_strictly(data: bytes) -> None:
    # json.loads: RecursionError for deep nesting, a bare ValueError past 4300 digits.
    with pytest.raises(AuditError) as caught:
        DecisionRecord.from_json_bytes(data)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID


@pytest.mark.parametrize("text", ["[" * 5000, '{"size":1,"size":2,"root":"AA=="}'])
def test_witness_record_json_is_read_strictly(text: str) -> None:
    with pytest.raises(AuditError) as caught:
        Seen.from_json(text)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID


def test_bookmark_json_is_read_strictly() -> None:
    with pytest.raises(AuditError) as caught:
        Bookmark.from_record(b"bookmark/trm.TH.outbox/2/0", b"[" * 5000)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 5000, Reason.BAD_REQUEST),
        (b"1" * 5000, Reason.BAD_REQUEST),
        (b'{"reason":"A","reason":"B"}', Reason.BAD_REQUEST),
        (b'"\\ud800"', Reason.BAD_ENCODING),
    ],
)
def test_rejection_record_json_is_read_strictly(data: bytes, reason: Reason) -> None:
    with pytest.raises(RequestError) as caught:
        Rejection.from_bytes(data)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("name", "body"),
    [
        # status: enum index -1 (zig-zag 0x01 after the union's branch 1): fastavro took
        # symbols[-1], REFUSED, a second encoding Apache Avro refuses.
        ("erasure_confirmation", b"\x00\x00\x02\x01\x00\x00\x00"),
        # acknowledged_event_id: union branch -1 taken as the last branch, string.
        ("acknowledgement", b"\x01\x02a" + bytes(6)),
    ],
    ids=["enum", "union"],
)
def test_negative_enum_or_union_index_is_refused(name: str, body: bytes) -> None:
    with pytest.raises(ValueError, match="negative"):
        decode_exact(parsed(name), body)
    with pytest.raises(ValueError, match="negative"):
        part(name).decode(body)


def test_boolean_byte_other_than_0_or_1_is_refused() -> None:
    # A boolean is one byte, 0 or 1; fastavro read any other byte as true (and
    # Apache avro as false).
    schema = {"type": "record", "name": "B", "fields": [{"name": "b", "type": "boolean"}]}
    compiled = fastavro.parse_schema(schema)
    assert decode_exact(compiled, b"\x01") == {"b": True}
    with pytest.raises(ValueError, match="boolean"):
        decode_exact(compiled, b"\x02")


def test_mapping_key_that_is_not_text_is_config_invalid() -> None:
    # YAML keys may be numbers; sorting them with the known keys raised TypeError.
    with pytest.raises(RequestError) as caught:
        load_mapping(parse_yaml(b"1: x\nextra: y\ntype: referral\n", what="mapping"))
    assert caught.value.reason is Reason.CONFIG_INVALID
