"""Avro encoding helpers: single-object frames, exact decoding, per-field codecs.

fastavro does the Avro work. Two things are added on top:

- decoding is *exact*: a body with bytes left over is refused, so a record has
  one length and a trailing byte cannot ride along unnoticed;
- logical types are dropped before parsing, so timestamps stay ``int``
  milliseconds and uuids stay strings (the bytes are the same either way: a
  logical type does not change the encoding, and the Parsing Canonical Form
  that fingerprints a schema drops it too).

On the hot path (:func:`part`, :class:`FieldCodec`) each schema is also
compiled into a fast reader and writer (:mod:`hub.wire.avrofast`); they answer
for the common case only and hand everything else to fastavro, so the bytes,
the values and every refusal are fastavro's.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro._read_py import _default_named_schemas, read_data
from fastavro.io.binary_decoder import BinaryDecoder
from fastavro.schema import expand_schema
from fastavro.validation import validate

import schemas
from hub.errors import Reason, WireError

from . import native
from .avrofast import READ_FAILURES, WRITE_FAILURES, Reader, Writer, compile_reader, compile_writer

__all__ = [
    "FRAME_LEN",
    "MAGIC",
    "Compiled",
    "FieldCodec",
    "PayloadCodec",
    "decode_exact",
    "encode",
    "frame",
    "parsed",
    "part",
    "payload_codec",
    "unframe",
]

MAGIC: Final = b"\xc3\x01"
FRAME_LEN: Final = 10
"""The single-object encoding's frame: the ``C3 01`` marker and the 8-byte fingerprint."""


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


@cache
def parsed(name: str) -> Any:
    """The fastavro-parsed schema ``name`` (logical types dropped)."""
    return parse_schema(_strip_logical(schemas.load(name)))


def encode(schema: Any, datum: Any) -> bytes:
    """Avro binary of ``datum`` under a parsed schema (no framing)."""
    out = io.BytesIO()
    schemaless_writer(out, schema, datum)
    return out.getvalue()


def decode_exact(schema: Any, data: bytes) -> Any:
    """Decode ``data`` under a parsed schema; every byte must be used.

    Raises:
        ValueError: the bytes are not one exact encoding of the schema (the
            caller turns it into its own WireError with the right reason).
    """
    buf = io.BytesIO(data)
    try:
        value = schemaless_reader(buf, schema, None)
    except Exception as exc:  # fastavro raises EOFError, struct.error, IndexError, ...
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if buf.tell() != len(data):
        raise ValueError(f"{len(data) - buf.tell()} bytes left over after the record")
    _check_strictly(schema, data)
    return value


class _Checking(BinaryDecoder):
    """fastavro's pure-Python decoder, refusing what fastavro's compiled reader lets by.

    That reader wraps a varint past 64 bits to some 64-bit value, takes a
    negative enum or union index as Python does, counting from the end, and
    reads any boolean byte but 0 as true; Apache
    Avro and the specification refuse both, so we would accept bytes another
    implementation refuses, and several encodings of one value.
    """

    def __init__(self, fo: io.BytesIO) -> None:
        super().__init__(fo)  # type: ignore[no-untyped-call]

    def read_long(self) -> int:
        n = shift = 0
        while True:
            c = self.fo.read(1)
            if not c:
                raise EOFError("a varint cut short")
            b: int = c[0]
            if shift == 63 and b > 1:
                raise ValueError("a varint past 64 bits (an Avro long has 64)")
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return (n >> 1) ^ -(n & 1)
            shift += 7

    read_int = read_long

    def read_boolean(self) -> bool:
        c: bytes = self.fo.read(1)
        if c not in (b"\x00", b"\x01"):
            raise ValueError(f"a boolean byte other than 0 or 1 ({c.hex() or 'none'})")
        return c == b"\x01"

    def read_enum(self) -> int:
        index = self.read_long()
        if index < 0:
            raise ValueError(f"a negative enum index ({index})")
        return index

    def read_index(self) -> int:
        index = self.read_long()
        if index < 0:
            raise ValueError(f"a negative union branch ({index})")
        return index


def _check_strictly(schema: Any, data: bytes) -> None:
    """Read ``data`` again with :class:`_Checking` (fastavro has given it a value).

    Raises:
        ValueError: a varint past 64 bits, a negative enum or union index, a
            boolean byte other than 0 or 1.
    """
    named = _default_named_schemas()
    parse_schema(schema, named["writer"])
    try:
        read: Any = read_data  # fastavro's pure-Python reader has no annotations
        read(_Checking(io.BytesIO(data)), schema, named, None, {})
    except ValueError:
        raise
    except Exception as exc:  # the same bytes were read once already: not expected
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def _fast_decode(reader: Reader | None, schema: Any, data: bytes, compiled: Any = None) -> Any:
    """``decode_exact`` through ``reader`` when it answers, else through fastavro.

    ``compiled``, the native schema of the same parsed schema, answers first
    when it can (the same value, for no more bytes than ``reader`` takes).
    """
    if compiled is not None and type(data) is bytes and native.ENABLED:
        got = compiled.read(data)
        if got is not None:
            return got[0]
    if reader is not None and type(data) is bytes:
        try:
            value, end = reader(data, 0)
        except READ_FAILURES:
            pass
        else:
            if end == len(data):
                return value
    return decode_exact(schema, data)


def _fast_encode(writer: Writer | None, datum: Any, compiled: Any = None) -> bytes | None:
    """``writer``'s bytes for ``datum``, or None when it does not answer.

    ``compiled``, the native schema of the same parsed schema, answers first
    when it can (the same bytes, for no more values than ``writer`` takes; and
    only where ``writer`` exists).
    """
    if writer is None:
        return None
    if compiled is not None and native.ENABLED:
        body: bytes | None = compiled.write(datum)
        if body is not None:
            return body
    out: list[bytes] = []
    try:
        writer(datum, out)
    except WRITE_FAILURES:
        return None
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A parsed schema with its compiled reader and writer (None: fastavro only)."""

    schema: Any
    reader: Reader | None
    writer: Writer | None
    native: Any = None  # the native reader (hub.wire.native) of the schema ``reader`` reads

    def decode(self, data: bytes) -> Any:
        """As :func:`decode_exact` (same values, same refusals), faster.

        Raises:
            ValueError: as :func:`decode_exact`.
        """
        return _fast_decode(self.reader, self.schema, data, self.native)

    def encode(self, datum: Any) -> bytes:
        """As :func:`encode` (same bytes, same errors), faster."""
        body = self.fast_encode(datum)
        return encode(self.schema, datum) if body is None else body

    def fast_encode(self, datum: Any) -> bytes | None:
        """The compiled writer's bytes, or None when it does not answer for ``datum``.

        It answers only when every value has exactly its schema type (``str``,
        ``int`` in range, ``bytes`` of the fixed size, ``list``, ``dict`` with
        every field): such a datum decodes back to an equal one.
        """
        return _fast_encode(self.writer, datum, self.native)


def _compile(schema: Any) -> tuple[Reader | None, Writer | None, Any]:
    """A parsed schema's compiled reader and writer, and its native schema.

    The native one only where the reader compiled: it answers for no more.
    """
    reader = compile_reader(schema)
    return reader, compile_writer(schema), native.schema(schema) if reader is not None else None


@cache
def part(name: str) -> Compiled:
    """Schema ``name`` parsed (as :func:`parsed`) and compiled: envelope parts."""
    schema = parsed(name)
    return Compiled(schema, *_compile(schema))


def frame(name: str, body: bytes) -> bytes:
    """Single-object encoding: ``C3 01`` + CRC-64-AVRO of the schema's PCF + body."""
    return MAGIC + schemas.crc64(name) + body


def unframe(name: str, data: bytes, what: str) -> bytes:
    """The body of a single-object-encoded ``name`` record.

    Raises:
        WireError: MALFORMED_FRAME (no ``C3 01`` marker or too short) or
            UNKNOWN_SCHEMA (the fingerprint is not schema ``name`` v1).
    """
    if len(data) < FRAME_LEN or data[:2] != MAGIC:
        raise WireError(
            Reason.MALFORMED_FRAME,
            f"expected the {what} to start with C3 01 and an 8-byte schema fingerprint, "
            f"got {data[:2].hex() or 'nothing'} ({len(data)} bytes)",
        )
    fingerprint = data[2:FRAME_LEN]
    if fingerprint != schemas.crc64(name):
        raise WireError(
            Reason.UNKNOWN_SCHEMA,
            f"expected the {what} schema fingerprint {schemas.crc64(name).hex()}, "
            f"got {fingerprint.hex()}",
        )
    return data[FRAME_LEN:]


def _dedupe_named(node: Any, seen: set[str]) -> Any:
    """After expand_schema: define each named type once, refer to it afterwards."""
    if isinstance(node, list):
        return [_dedupe_named(v, seen) for v in node]
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed") and "name" in node:
            name = node["name"]
            if name in seen:
                return name
            seen.add(name)
        out = dict(node)
        if kind == "record":
            out["fields"] = [
                {**fld, "type": _dedupe_named(fld["type"], seen)} for fld in node["fields"]
            ]
        elif kind == "array":
            out["items"] = _dedupe_named(node["items"], seen)
        elif kind == "map":
            out["values"] = _dedupe_named(node["values"], seen)
        elif isinstance(kind, (dict, list)):
            out["type"] = _dedupe_named(kind, seen)
        return out
    return node


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """Encoder/decoder of one payload field's value (its nullable union type)."""

    name: str
    schema: Any
    reader: Reader | None = field(default=None, repr=False, compare=False)
    writer: Writer | None = field(default=None, repr=False, compare=False)
    # The native reader and checker (hub.wire.native) of the schema ``reader`` reads.
    native: Any = field(default=None, repr=False, compare=False)

    def encode(self, value: Any) -> bytes:
        return encode(self.schema, value)

    def fast_encode(self, value: Any) -> bytes | None:
        """The compiled writer's bytes, or None when it does not answer for ``value``.

        It answers only for values of exactly the field's types, which
        fastavro's ``validate`` accepts and ``encode`` writes the same way.
        """
        return _fast_encode(self.writer, value, self.native)

    def decode(self, data: bytes) -> Any:
        """The value, decoded exactly (``reader`` when it answers, else fastavro).

        Raises:
            ValueError: the bytes are not one exact encoding of the field's type.
        """
        compiled = self.native  # _fast_decode inlined: this runs once per disclosure
        if compiled is not None and type(data) is bytes and native.ENABLED:
            got = compiled.read(data)
            if got is not None:
                return got[0]
        reader = self.reader
        if reader is not None and type(data) is bytes:
            try:
                value, end = reader(data, 0)
            except READ_FAILURES:
                pass
            else:
                if end == len(data):
                    return value
        return decode_exact(self.schema, data)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit the field's type, or None when it does."""
        # The quiet check is fast; only a failure pays for building messages.
        if validate(value, self.schema, field=self.name, raise_errors=False):
            return None
        try:
            validate(value, self.schema, field=self.name, raise_errors=True)
        except Exception as exc:  # fastavro ValidationError and friends
            return str(exc)
        return None


@dataclass(frozen=True, slots=True)
class PayloadCodec:
    """Everything the wire needs to know about one payload schema."""

    event_type: str
    sha256: bytes
    fields: tuple[str, ...]
    codecs: Mapping[str, FieldCodec]
    schema: Any  # the whole record, parsed


@cache
def payload_codec(name: str) -> PayloadCodec:
    """The codec of payload schema ``name`` (an event type's value)."""
    raw = _strip_logical(schemas.load(name))
    expanded: Any = expand_schema(raw)
    codecs: dict[str, FieldCodec] = {}
    for fld in expanded["fields"]:
        standalone = _dedupe_named(fld["type"], set())
        schema = parse_schema(standalone)
        codecs[fld["name"]] = FieldCodec(fld["name"], schema, *_compile(schema))
    return PayloadCodec(
        event_type=name,
        sha256=schemas.sha256(name),
        fields=tuple(codecs),
        codecs=codecs,
        schema=parsed(name),
    )
