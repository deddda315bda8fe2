"""The native wire walk (hub/native, Rust) answers only where the Python code would, alike.

hub.wire.native is an accelerator: for any input it either gives exactly what
the Python code gives -- the same Disclosure objects, the same values of the
same types -- or says "not sure" and the Python code decides. Checked here on
the vectors, on generated values, on mutated and on random bytes; and the
vectors give the same outcome, refusals and messages included, with it and
without it. It must be built: ``make`` builds it, and a run without it fails.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.conformance import wire
from hub.wire import Disclosure, Envelope, EventType, native, verify
from hub.wire.avrofast import READ_FAILURES, Reader
from hub.wire.codec import _fast_encode, decode_exact, encode, parsed, part, payload_codec
from hub.wire.disclosures import _NATIVE_DISCLOSURES as _BUILDER
from hub.wire.disclosures import parse_disclosures
from hub.wire.fields import Fields
from tests.support.wire import PRODUCER, TH_KEY, StaticKeys, public_of, sealed
from tests.unit.wire.test_wire_avrofast import PARTS, VECTORS, _mutated, _schemas, _values

WIRE = Path(__file__).resolve().parents[2] / "vectors" / "wire"
_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_native_walk_is_built_and_used() -> None:
    assert native.BUILT, (
        "hub/wire/_native.abi3.so is missing: make builds it (deploy/scripts/native.sh)"
    )
    assert native.ENABLED, "TRM_WIRE_NATIVE=0 turns it off; the tests run with it on"


def test_every_part_and_payload_field_has_a_native_schema() -> None:
    for name in (*PARTS, "envelope@1"):
        assert part(name).native is not None, name
    for kind in EventType:
        for name, codec in payload_codec(kind.value).codecs.items():
            assert codec.native is not None, (kind, name)


def test_schemas_the_compiled_reader_leaves_to_fastavro_have_no_native_one() -> None:
    recursive = parse_schema(
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    )
    assert native.schema(recursive) is None
    assert native.schema(parse_schema({"type": "long", "logicalType": "timestamp-millis"})) is None
    assert native.schema(["null", "string", "long"]) is not None


# -- values -------------------------------------------------------------------------


def _typed(value: Any) -> Any:
    """``value`` with every type spelled out: True is not 1, and a NaN equals itself."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", struct.pack("<d", value) if math.isnan(value) else value)
    return (type(value).__name__, value)


def _python_answer(reader: Reader | None, data: bytes) -> Any:
    """The compiled reader's value, or None when it does not answer."""
    if reader is None:
        return None
    try:
        value, end = reader(data, 0)
    except READ_FAILURES:
        return None
    return _typed(value) if end == len(data) else None


def _native_answer(schema: Any, data: bytes) -> Any:
    got = schema.read(data)
    assert schema.check(data) is (got is not None), "check and read disagree"
    return None if got is None else _typed(got[0])


def _same_answer(reader: Reader | None, schema: Any, data: bytes) -> None:
    """Native answers alike where the compiled reader answers, and nowhere else."""
    assert _native_answer(schema, data) == _python_answer(reader, data)


@pytest.mark.parametrize("index", range(len(VECTORS)))
def test_vector_parts_read_alike(index: int) -> None:
    data = VECTORS[index]
    for name in ("envelope", "envelope@1"):
        compiled = part(name)
        _same_answer(compiled.reader, compiled.native, data[10:])
        got = compiled.native.read(data[10:])
        if got is not None:
            header = got[0]["header"][10:]
            _same_answer(part("header").reader, part("header").native, header)


@_SETTINGS
@given(_values())
def test_generated_payloads_read_alike(case: tuple[str, Any]) -> None:
    name, payload = case
    codec = payload_codec(name)
    for field_name, field_codec in codec.codecs.items():
        data = encode(field_codec.schema, payload.get(field_name))
        answer = _native_answer(field_codec.native, data)
        assert answer is not None or _python_answer(field_codec.reader, data) is None
        _same_answer(field_codec.reader, field_codec.native, data)
        assert field_codec.decode(data) == payload.get(field_name)


@_SETTINGS
@given(_mutated())
def test_mutated_values_read_alike(case: tuple[str, bytes]) -> None:
    name, data = case
    kind, field_name = name.split(".")
    codec = payload_codec(kind).codecs[field_name]
    _same_answer(codec.reader, codec.native, data)


@_SETTINGS
@given(st.sampled_from(_schemas()), st.binary(max_size=96))
def test_random_bytes_read_alike(name: str, data: bytes) -> None:
    if name in PARTS:
        _same_answer(part(name).reader, part(name).native, data)
        return
    for codec in payload_codec(name).codecs.values():
        _same_answer(codec.reader, codec.native, data)


def test_edges_of_the_encoding_read_alike() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "E",
            "fields": [
                {"name": "i", "type": "int"},
                {"name": "b", "type": "boolean"},
                {"name": "f", "type": "float"},
                {"name": "d", "type": "double"},
                {"name": "m", "type": {"type": "map", "values": "long"}},
                {"name": "x", "type": {"type": "fixed", "name": "X", "size": 2}},
                {"name": "u", "type": ["null", "string", "long"]},
                {"name": "n", "type": {"type": "array", "items": "null"}},
            ],
        }
    )
    compiled = native.schema(schema)
    from hub.wire.avrofast import compile_reader

    reader = compile_reader(schema)
    assert reader is not None
    nan = struct.pack("<f", math.nan)
    cases = [
        b"\x02\x01" + nan + struct.pack("<d", -0.0) + b"\x02\x02k\x04\x00ab\x02\x02z\x00",
        b"\xfe\xff\xff\xff\x0f\x00" + bytes(12) + b"\x00ab\x04\x14\x00",  # int max, long
        b"\x80\x80\x80\x80\x10\x00" + bytes(12) + b"\x00ab\x00\x00",  # int out of range
        b"\x00\x02" + bytes(12) + b"\x00ab\x00\x00",  # boolean byte 2
        b"\x00\x00" + bytes(12) + b"\x01\x02\x02k\x00\x00ab\x00\x00",  # a negative block
        b"\x00\x00" + bytes(12) + b"\x00ab\x06\x00",  # union index 3 of 3
        b"\x00\x00" + bytes(12) + b"\x00ab\x00\x04\x00",  # two nulls: no bytes each
        b"\x00\x00" + bytes(12) + b"\x00a",  # cut
        b"\x00\x00" + bytes(12) + b"\x00ab\x00\x00\x00",  # one byte over
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a ten-byte varint
    ]
    for data in cases[:6] + cases[7:]:
        _same_answer(reader, compiled, data)
    assert compiled.read(cases[0]) is not None
    # Items of no bytes: the one place it is more careful than the reader (a
    # short array of nulls may claim billions of items); the Python side reads it.
    assert compiled.read(cases[6]) is None
    assert _python_answer(reader, cases[6]) is not None


# -- disclosures --------------------------------------------------------------------


def _python_disclosures(raws: list[bytes], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(native, "ENABLED", False)
        try:
            return parse_disclosures(raws)
        except Exception as exc:
            return (type(exc), str(exc))


def _fields(d: Disclosure) -> tuple[Any, ...]:
    return (type(d), d.raw, d.digest, d.salt, d.field, d.value, hash(d))


@_SETTINGS
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=16, max_size=16),
            st.text(max_size=40),
            st.binary(max_size=9000),
            st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=2),
        ),
        max_size=6,
    )
)
def test_disclosures_split_alike(
    items: list[tuple[bytes, str, bytes, list[tuple[int, int]]]],
) -> None:
    raws = []
    for salt, name, value, flips in items:
        data = bytearray(
            encode(parsed("disclosure"), {"salt": salt, "field": name, "value": value})
        )
        for at, byte in flips:
            data[at % len(data)] = byte
        raws.append(bytes(data))
    got = native.disclosures(_BUILDER, raws)
    with pytest.MonkeyPatch.context() as patch:
        expected = _python_disclosures(raws, patch)
    if got is None:
        return
    assert isinstance(expected, tuple)
    assert [_fields(d) for d in got] == [_fields(d) for d in expected]
    for d in got:
        assert d.digest == hashlib.sha256(d.raw).digest()
        with pytest.raises(AttributeError):
            d.field = "other"


def test_common_disclosures_are_split_natively_and_odd_ones_left_to_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = sealed()
    raws = [d.raw for d in env.disclosures]
    got = native.disclosures(_BUILDER, raws)
    assert got is not None
    assert got == env.disclosures == _python_disclosures(raws, monkeypatch)
    salt = bytes(16)
    odd = [
        salt + b"\x80\x01" + b"n" * 64 + b"\x00",  # a 64-byte name: a two-byte length
        salt + b"\x02\xff\x00",  # a name that is not UTF-8
        salt + b"\x02a\x04v",  # a value cut short
        salt,
    ]
    for raw in odd:
        assert native.disclosures(_BUILDER, [*raws, raw]) is None
    overlong = [salt + b"\x02a" + b"\x80\x00"]  # an empty value's length in two bytes
    assert native.disclosures(_BUILDER, overlong) == _python_disclosures(overlong, monkeypatch)
    assert native.disclosures(_BUILDER, [bytearray(raws[0])]) is None  # type: ignore[list-item]
    assert native.disclosures(_BUILDER, (raws[0],)) is None  # not a list: Python's loop


def test_the_builder_takes_only_a_classs_own_slots() -> None:
    slots = tuple(getattr(Disclosure, n) for n in Disclosure.__slots__)
    assert native.disclosure_builder(Disclosure, slots) is not None
    with pytest.raises(ValueError, match="5 slot"):
        native.disclosure_builder(Disclosure, slots[:4])

    class Other:
        __slots__ = ("a",)

        @property
        def b(self) -> int:
            return 1

    with pytest.raises(TypeError, match="member descriptor"):
        native.disclosure_builder(
            Disclosure, (*slots[:4], vars(Other)["a"])
        )  # another class's slot
    with pytest.raises(TypeError, match="member descriptor"):
        native.disclosure_builder(Other, (Other.b,) * 5)  # not a slot


# -- a verified event's values --------------------------------------------------------


def test_a_verified_events_values_are_those_fastavro_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = sealed()
    keys = StaticKeys([public_of(TH_KEY, "TH", PRODUCER)])
    event = verify(Envelope.from_bytes(env.to_bytes()), keys)
    assert type(event.fields) is Fields
    assert repr(event.fields).startswith("<disclosed fields ")
    codecs = payload_codec("referral").codecs
    assert _typed(dict(event.fields)) == _typed(
        {d.field: decode_exact(codecs[d.field].schema, d.value) for d in env.disclosures}
    )
    monkeypatch.setattr(native, "ENABLED", False)  # the Python code alone
    slow = verify(Envelope.from_bytes(env.to_bytes()), keys)
    assert type(slow.fields) is not Fields
    assert _typed(dict(event.fields)) == _typed(dict(slow.fields))
    assert list(event.fields) == list(slow.fields)
    assert event.disclosed == slow.disclosed
    assert event.withheld == slow.withheld
    assert event.fields.get("no_such_field") is None
    assert "no_such_field" not in event.fields
    assert event.fields["case_number"] == "TH-2026-0042"
    assert "TH-2026-0042" not in repr(event.fields)  # names, never values


def _outcomes() -> list[list[Any]]:
    return [[r.vector, r.passed, r.got] for r in wire.check(WIRE)]


def test_the_vectors_give_the_same_outcomes_with_and_without_it() -> None:
    with_it = _outcomes()
    code = (
        "import json, pathlib; from hub.conformance import wire; "
        f"rs = wire.check(pathlib.Path({str(WIRE)!r})); "
        "print(json.dumps([[r.vector, r.passed, r.got] for r in rs]))"
    )
    without = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TRM_WIRE_NATIVE": "0"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert json.loads(without.stdout) == with_it
    assert len(with_it) >= 45
    assert all(passed for _, passed, _ in with_it)


# -- writing ------------------------------------------------------------------------


def _same_bytes(writer: Any, schema: Any, value: Any) -> bytes | None:
    """Native writes what the compiled writer writes, for the same values."""
    got: bytes | None = schema.write(value)
    assert got == _fast_encode(writer, value)
    return got


@_SETTINGS
@given(_values())
def test_generated_payloads_write_alike(case: tuple[str, Any]) -> None:
    name, payload = case
    codec = payload_codec(name)
    for field_name, field_codec in codec.codecs.items():
        assert field_codec.native.writable
        value = payload.get(field_name)
        written = _same_bytes(field_codec.writer, field_codec.native, value)
        assert written == encode(field_codec.schema, value)
    record = {f: payload.get(f) for f in codec.fields}
    compiled = native.schema(parsed(name))
    assert compiled.write(record) == encode(parsed(name), record)


@pytest.mark.parametrize("index", range(len(VECTORS)))
def test_vector_parts_write_alike(index: int) -> None:
    data = VECTORS[index]
    for name in ("envelope", "envelope@1"):
        got = part(name).native.read(data[10:])
        if got is None:
            continue
        record = got[0]
        assert _same_bytes(part(name).writer, part(name).native, record) == data[10:]
        header = part("header").native.read(record["header"][10:])
        if header is not None:
            written = _same_bytes(part("header").writer, part("header").native, header[0])
            assert written == record["header"][10:]


class _Str(str):
    pass


class _Int(int):
    pass


def test_values_not_exactly_of_their_types_are_left_to_the_python_side() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "W",
            "fields": [
                {"name": "i", "type": "int"},
                {"name": "l", "type": ["null", "long"]},
                {"name": "b", "type": "boolean"},
                {"name": "f", "type": "float"},
                {"name": "d", "type": "double"},
                {"name": "s", "type": "string"},
                {"name": "y", "type": "bytes"},
                {"name": "x", "type": {"type": "fixed", "name": "X", "size": 2}},
                {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
                {"name": "a", "type": {"type": "array", "items": "string"}},
            ],
        }
    )
    from hub.wire.avrofast import compile_writer

    writer = compile_writer(schema)
    compiled = native.schema(schema)
    good = {
        "i": -5, "l": 1 << 62, "b": True, "f": 0.5, "d": -0.0, "s": "ไทย", "y": b"\x00",
        "x": b"ab", "e": "B", "a": ["k", "ម"],
    }  # fmt: skip
    assert _same_bytes(writer, compiled, good) == encode(schema, good)
    bad = [
        ("i", 1 << 31), ("i", True), ("i", _Int(3)), ("i", 2.0), ("l", 1 << 63),
        ("l", False), ("b", 1), ("b", None), ("f", 1e300), ("f", 3), ("f", math.nan),
        ("d", 1), ("s", _Str("a")), ("s", "\ud800"), ("s", b"a"), ("y", bytearray(b"a")),
        ("y", "a"), ("x", b"abc"), ("e", "C"), ("e", _Str("A")), ("a", ("k",)),
        ("a", ["k", 1]),
    ]  # fmt: skip
    for field_name, value in bad:
        assert compiled.write({**good, field_name: value}) is None, (field_name, value)
        if not (isinstance(value, float) and math.isnan(value)):  # a NaN's bits: struct's
            _same_bytes(writer, compiled, {**good, field_name: value})
    missing = dict(good)
    del missing["e"]
    assert compiled.write(missing) is None
    assert compiled.write({**good, "extra": 1}) == encode(schema, good)  # as the compiled writer
    assert compiled.write([good]) is None
    assert native.schema(parse_schema({"type": "map", "values": "long"})).writable is False
    assert native.schema(parse_schema(["null", "string", "long"])).write("a") is None
