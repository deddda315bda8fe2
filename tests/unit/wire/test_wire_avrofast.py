"""The fast paths of the wire code give exactly what the slow ones give.

The compiled Avro readers and writers (hub.wire.avrofast) against fastavro, the
hand-decoded disclosure against the Disclosure schema, the direct attestation
against a parse of its statement, and the caches (signing key id, event digest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from hub.errors import DisclosureError, Reason, SignatureError
from hub.keys import KeyRole, ed25519_public, key_id_of, raw_public, signer_key_id
from hub.wire import Attestation, Disclosure, Envelope, EventType, attest, native, redact, verify
from hub.wire.avrofast import READ_FAILURES, compile_reader, compile_writer
from hub.wire.codec import Compiled, decode_exact, encode, parsed, part, payload_codec
from hub.wire.disclosures import _parse_disclosure, parse_disclosures
from hub.wire.verify import _disclosed_values, _disclosed_values_one_by_one
from tests.support.wire import (
    HUB_KEY,
    PRODUCER,
    T0,
    TH_KEY,
    StaticKeys,
    public_of,
    sealed,
    seeded_key,
)
from tests.unit.wire.test_wire_properties import _named, payloads, strategy

WIRE = Path(__file__).resolve().parents[2] / "vectors" / "wire"


@pytest.fixture(autouse=True)
def _python_code_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests hold the Python fast paths to fastavro; test_wire_native, the native walk."""
    monkeypatch.setattr(native, "ENABLED", False)


PARTS = ("envelope", "header", "attestation_statement", "disclosure", "signature")
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _outcome(decode: Any, data: bytes) -> tuple[str, Any]:
    """("ok", value) or ("error", message): what a decode gives, to compare two.

    An object's address in a message (fastavro names the BytesIO it read) is
    the interpreter's, not the decode's answer: it is left out.
    """
    try:
        return "ok", decode(data)
    except ValueError as exc:
        return "error", _ADDRESS.sub(" at 0x?", str(exc))


def _vector_bytes() -> list[bytes]:
    """Every envelope in tests/vectors/wire (good and bad), as bytes."""
    out = []
    for path in sorted(WIRE.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for key in ("envelope", "bytes", "envelope_hex"):
            if isinstance(doc.get(key), str):
                try:
                    out.append(bytes.fromhex(doc[key]))
                except ValueError:
                    continue
    return out


VECTORS = _vector_bytes()


def test_the_vectors_are_found() -> None:
    assert len(VECTORS) >= 10


def test_every_part_and_payload_field_has_a_fast_path() -> None:
    # None would silently mean "fastavro only": slower, not wrong, but not the intent.
    for name in PARTS:
        compiled = part(name)
        assert compiled.reader is not None, name
        assert compiled.writer is not None, name
    for kind in EventType:
        for name, codec in payload_codec(kind.value).codecs.items():
            assert codec.reader is not None, (kind, name)


def test_unusual_schemas_are_left_to_fastavro() -> None:
    recursive = parse_schema(
        {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "next", "type": ["null", "Node"]}],
        }
    )
    assert compile_reader(recursive) is None
    assert compile_writer(recursive) is None
    assert compile_writer(parse_schema({"type": "map", "values": "long"})) is None
    three = parse_schema(["null", "string", "long"])
    assert compile_writer(three) is None
    assert compile_reader(three) is not None  # reading a union by index is plain


@pytest.mark.parametrize("index", range(len(VECTORS)))
def test_vector_parts_decode_as_fastavro_decodes_them(index: int) -> None:
    data = VECTORS[index]
    body = data[10:]
    compiled = part("envelope")
    assert _outcome(compiled.decode, body) == _outcome(
        lambda b: decode_exact(parsed("envelope"), b), body
    )
    try:
        rec = decode_exact(parsed("envelope"), body)
    except ValueError:
        return
    assert compiled.encode(rec) == encode(parsed("envelope"), rec)
    header = rec["header"][10:]
    assert _outcome(part("header").decode, header) == _outcome(
        lambda b: decode_exact(parsed("header"), b), header
    )


@pytest.mark.parametrize("index", range(len(VECTORS)))
def test_vectors_open_to_the_same_envelope_on_the_fast_and_slow_paths(index: int) -> None:
    data = VECTORS[index]
    try:
        fast = Envelope.from_bytes(data)
    except Exception as exc:
        fast_outcome: Any = (type(exc), str(exc))
    else:
        fast_outcome = fast
        assert fast.to_bytes() == data
        assert fast.event_digest == hashlib.sha256(fast.header_bytes).digest()
    slow_parts = {
        name: Compiled(parsed(name), None, None) for name in ("envelope", "header")
    }  # fastavro only
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("hub.wire.envelope.part", lambda name: slow_parts.get(name) or part(name))
        try:
            slow_outcome: Any = Envelope.from_bytes(data)
        except Exception as exc:
            slow_outcome = (type(exc), str(exc))
    assert fast_outcome == slow_outcome


def _schemas() -> list[str]:
    return [*PARTS, *(k.value for k in EventType)]


@st.composite
def _values(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from([k.value for k in EventType]))
    return name, draw(payloads(EventType(name)))


@_SETTINGS
@given(_values())
def test_payload_records_read_and_write_as_fastavro(case: tuple[str, Any]) -> None:
    name, payload = case
    schema = parsed(name)
    record = {f: payload.get(f) for f in payload_codec(name).fields}
    data = encode(schema, record)
    compiled = Compiled(schema, compile_reader(schema), compile_writer(schema))
    assert compiled.decode(data) == decode_exact(schema, data)
    assert compiled.fast_encode(record) == data
    for field_name, codec in payload_codec(name).codecs.items():
        value = encode(codec.schema, record[field_name])
        assert codec.decode(value) == decode_exact(codec.schema, value)
        assert codec.reader is not None
        try:
            answer = codec.reader(value, 0)
        except READ_FAILURES:  # left to fastavro (e.g. a long needing 10 bytes)
            continue
        assert answer == (decode_exact(codec.schema, value), len(value))


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A field value's encoding with bytes flipped, cut, or added: mostly invalid."""
    kind = draw(st.sampled_from([k.value for k in EventType]))
    codecs = payload_codec(kind).codecs
    field_name = draw(st.sampled_from(sorted(codecs)))
    schema = schemas.load(kind)
    named: dict[str, Any] = {}
    _named(schema, named)
    fld = next(f for f in schema["fields"] if f["name"] == field_name)
    value = draw(strategy(fld["type"], named))
    data = bytearray(encode(codecs[field_name].schema, value))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "cut", "add"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        else:
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
    return f"{kind}.{field_name}", bytes(data)


@_SETTINGS
@given(_mutated())
def test_mutated_field_values_give_fastavros_answer(case: tuple[str, bytes]) -> None:
    name, data = case
    kind, field_name = name.split(".")
    codec = payload_codec(kind).codecs[field_name]
    assert _outcome(codec.decode, data) == _outcome(lambda b: decode_exact(codec.schema, b), data)


@_SETTINGS
@given(st.sampled_from(_schemas()), st.binary(max_size=64))
def test_random_bytes_give_fastavros_answer(name: str, data: bytes) -> None:
    schema = parsed(name)
    compiled = Compiled(schema, compile_reader(schema), None)
    assert _outcome(compiled.decode, data) == _outcome(lambda b: decode_exact(schema, b), data)


@_SETTINGS
@given(
    st.binary(min_size=16, max_size=16),
    st.text(max_size=70),
    st.binary(max_size=300),
    st.binary(max_size=4),
    st.integers(0, 40),
)
def test_disclosures_parse_as_the_disclosure_schema_says(
    salt: bytes, field_name: str, value: bytes, noise: bytes, cut: int
) -> None:
    raw = encode(parsed("disclosure"), {"salt": salt, "field": field_name, "value": value})
    for data in (raw, raw + noise, raw[: len(raw) - cut] if cut else raw, noise + raw[16:]):
        try:
            got = Disclosure.from_bytes(data)
        except DisclosureError:
            fits = True
            try:
                rec = decode_exact(parsed("disclosure"), data)
                fits = len(rec["field"].encode("utf-8")) > 64  # refused for its long name
            except ValueError:
                pass
            assert fits
            continue
        rec = decode_exact(parsed("disclosure"), data)
        assert got == Disclosure(
            data, hashlib.sha256(data).digest(), rec["salt"], rec["field"], rec["value"]
        )


def _either(parse: Any, raw: bytes) -> Any:
    try:
        return parse(raw)
    except DisclosureError as exc:
        return (exc.reason, str(exc))


@_SETTINGS
@given(
    st.binary(min_size=16, max_size=16),
    st.text(max_size=70),
    st.binary(max_size=9000),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
)
def test_the_inline_disclosure_parse_equals_the_general_one(
    salt: bytes, field_name: str, value: bytes, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(
        encode(parsed("disclosure"), {"salt": salt, "field": field_name, "value": value})
    )
    for at, byte in flips:
        if data:
            data[at % len(data)] = byte
    raw = bytes(data)
    fast = _either(lambda r: parse_disclosures([r])[0], raw)
    assert fast == _either(_parse_disclosure, raw)
    if isinstance(fast, Disclosure):
        assert type(fast) is Disclosure
        assert hash(fast) == hash(_parse_disclosure(raw))
        with pytest.raises(AttributeError):
            fast.field = "other"  # type: ignore[misc]


def test_overlong_and_two_byte_lengths_parse_alike() -> None:
    salt = bytes(range(16))
    cases = [
        salt + b"\x02a" + b"\x80\x00",  # an overlong empty value
        salt + b"\x02a" + b"\x80\x01" + b"v" * 64,  # 64 bytes: two-byte length
        salt + b"\x02a" + b"\x02v",
        salt + b"\x02a" + b"\x00",  # empty value, nothing after
        salt + b"\x80\x01" + b"n" * 64 + b"\x00",  # a 64-byte name
    ]
    for raw in cases:
        assert _either(lambda r: parse_disclosures([r])[0], raw) == _either(_parse_disclosure, raw)
    assert parse_disclosures([cases[1]])[0].value == b"v" * 64


def test_attest_builds_the_attestation_a_parse_of_its_statement_gives() -> None:
    env = sealed()
    keep = ["is_child", "names"]
    copy = attest(
        redact(env, keep),
        recipient="KH",
        agreement_id="TH-KH-1",
        agreement_version=3,
        fields=keep,
        leaf_ref="7",
        hub_key=HUB_KEY,
        attested_at_ms=T0 + 5,
    )
    last = copy.attestations[-1]
    assert last == Attestation.from_parts(last.statement, last.signature)
    reopened = Envelope.from_bytes(copy.to_bytes())
    assert reopened == copy
    assert reopened.event_digest == copy.event_digest == env.event_digest
    assert copy.event_digest == hashlib.sha256(copy.header_bytes).digest()


def test_attest_with_values_the_fast_writer_leaves_to_fastavro_gives_the_same_bytes() -> None:
    env = redact(sealed(), ["is_child"])
    common: dict[str, Any] = {
        "recipient": "KH",
        "agreement_id": "TH-KH-1",
        "fields": ["is_child"],
        "leaf_ref": "7",
        "hub_key": HUB_KEY,
        "attested_at_ms": T0 + 5,
    }
    plain = attest(env, agreement_version=1, **common)
    # True is not an int to the fast writer; fastavro writes it as 1.
    odd = attest(env, agreement_version=True, **common)
    assert odd.to_bytes() == plain.to_bytes()
    assert odd.attestations[-1].agreement_version == 1


def test_the_signing_key_id_memo_never_answers_for_another_key() -> None:
    a, b = seeded_key("memo-a"), seeded_key("memo-b")
    id_a, id_b = key_id_of(raw_public(a.public_key())), key_id_of(raw_public(b.public_key()))
    assert id_a != id_b
    for key, expected in [(a, id_a), (a, id_a), (b, id_b), (a, id_a), (b, id_b), (b, id_b)]:
        assert signer_key_id(key) == expected
    twin = seeded_key("memo-a")  # another object, same key
    assert twin is not a
    assert signer_key_id(twin) == id_a


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3),
    st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=3), st.none()), max_size=3),
)


@st.composite
def _field_values(draw: st.DrawFn) -> tuple[str, str, Any]:
    """A field and a value for it: mostly of its type, sometimes of any shape."""
    kind = draw(st.sampled_from([k.value for k in EventType]))
    schema = schemas.load(kind)
    named: dict[str, Any] = {}
    _named(schema, named)
    fld = draw(st.sampled_from(schema["fields"]))
    value = draw(st.one_of(strategy(fld["type"], named), _ODD_VALUES))
    return kind, fld["name"], value


@_SETTINGS
@given(_field_values())
def test_field_writer_answers_only_for_values_fastavro_accepts_and_writes_the_same(
    case: tuple[str, str, Any],
) -> None:
    kind, field_name, value = case
    codec = payload_codec(kind).codecs[field_name]
    assert codec.writer is not None
    fast = codec.fast_encode(value)
    if fast is None:
        return  # seal then asks fastavro to validate and write, as before
    assert codec.problem(value) is None
    assert fast == codec.encode(value)


@_SETTINGS
@given(_values())
def test_seal_writes_the_bytes_fastavro_writes(case: tuple[str, Any]) -> None:
    name, payload = case
    fast = sealed(payload, event_type=name)
    assert {d.field for d in fast.disclosures} == {k for k, v in payload.items() if v is not None}
    codecs = payload_codec(name).codecs
    for d in fast.disclosures:
        assert d.value == encode(codecs[d.field].schema, payload[d.field])


def test_loaded_public_keys_are_the_keys_of_their_bytes() -> None:
    raws = [raw_public(seeded_key(f"load-{i}").public_key()) for i in range(3)]
    for _ in range(2):  # the second round from the cache
        for raw in raws:
            assert raw_public(ed25519_public(raw)) == raw
    with pytest.raises(ValueError):
        ed25519_public(b"short")


def test_a_loaded_key_does_not_carry_its_window_to_another_listing() -> None:
    env = sealed()
    valid = StaticKeys([public_of(TH_KEY, "TH", PRODUCER)])
    verify(env, valid)  # loads and caches TH's key object
    revoked = StaticKeys([public_of(TH_KEY, "TH", PRODUCER, revoked_at_ms=T0 - 1)])
    with pytest.raises(SignatureError) as caught:
        verify(env, revoked)
    assert caught.value.reason is Reason.KEY_REVOKED
    later = StaticKeys([public_of(TH_KEY, "TH", PRODUCER, not_before_ms=T0 + 1)])
    with pytest.raises(SignatureError) as caught:
        verify(env, later)
    assert caught.value.reason is Reason.KEY_NOT_VALID_AT_TIME
    other_country = StaticKeys([public_of(TH_KEY, "KH", PRODUCER)])
    with pytest.raises(SignatureError) as caught:
        verify(env, other_country)
    assert caught.value.reason is Reason.KEY_ROLE_NOT_ALLOWED
    hub_only = StaticKeys([public_of(TH_KEY, "TH", frozenset({KeyRole.HUB}))])
    with pytest.raises(SignatureError) as caught:
        verify(env, hub_only)
    assert caught.value.reason is Reason.KEY_ROLE_NOT_ALLOWED


def test_a_replaced_envelope_computes_its_own_event_digest() -> None:
    env = sealed()
    copy = redact(env, ["is_child"])
    assert copy.event_digest == env.event_digest  # carried over
    other = sealed(case_key="case-other")
    swapped = dataclasses.replace(copy, header_bytes=other.header_bytes)
    assert swapped.event_digest == hashlib.sha256(other.header_bytes).digest()
    assert swapped.event_digest != copy.event_digest


def test_floats_the_fast_writer_cannot_pack_are_left_to_fastavro() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "F",
            "fields": [{"name": "f", "type": "float"}, {"name": "d", "type": "double"}],
        }
    )
    compiled = Compiled(schema, compile_reader(schema), compile_writer(schema))
    assert compiled.writer is not None
    assert compiled.fast_encode({"f": 1e300, "d": 1.0}) is None  # too large for a float
    data = compiled.fast_encode({"f": 0.5, "d": -2.25})
    assert data == encode(schema, {"f": 0.5, "d": -2.25})
    assert compiled.decode(data) == decode_exact(schema, data) == {"f": 0.5, "d": -2.25}


_POOL = [*sealed().disclosures, *sealed(case_key="case-other").disclosures[:3]]
_BAD_VALUE = Disclosure.build(b"\x01" * 16, "is_child", b"\x02\x07")  # boolean byte 7
_UNKNOWN = Disclosure.build(b"\x02" * 16, "no_such_field", b"\x00")


@_SETTINGS
@given(st.lists(st.sampled_from([*_POOL, _BAD_VALUE, _UNKNOWN]), max_size=30))
def test_the_set_checked_disclosure_rules_fail_as_the_one_by_one_checks(
    disclosures: list[Disclosure],
) -> None:
    env = sealed()
    header = dataclasses.replace(
        env.header,
        disclosure_digests=tuple(
            sorted({*env.header.disclosure_digests, _BAD_VALUE.digest, _UNKNOWN.digest})
        ),
    )
    codec = payload_codec("referral")

    def outcome(check: Any, codecs: Any) -> Any:
        try:
            return check(disclosures, header, codecs)
        except DisclosureError as exc:
            return (exc.reason, str(exc))

    assert outcome(_disclosed_values, codec) == outcome(_disclosed_values_one_by_one, codec.codecs)
