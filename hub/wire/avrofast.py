"""Compiled Avro readers and writers for the common case; fastavro stays the authority.

fastavro pays a fixed cost on every call (a stream, option handling, and for a
union schema such as a payload field's ``["null", T]`` a fresh parse of the
schema), which dominates when a message is two dozen small values. Here a
parsed schema is compiled once into plain closures over ``bytes``.

A compiled reader or writer only ever *answers* for input it fully understands:
for anything unusual (a negative block count, a varint longer than 9 bytes, an
int out of range, a union or enum index out of range, bad UTF-8, a boolean byte
other than 0 or 1, a value of an unexpected Python type, bytes left over) it
gives up with :class:`Unsure` and the caller asks fastavro, whose answer --
value or refusal -- is the one used. So every refusal and every error message
is fastavro's, as before, and the fast path can only differ by returning a
value that fastavro would not; ``tests/unit/wire/test_wire_avrofast.py``
checks it against fastavro on the vectors, the payload schemas and generated
inputs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

__all__ = ["Reader", "Unsure", "Writer", "compile_reader", "compile_writer", "varint"]

Reader = Callable[[bytes, int], tuple[Any, int]]
"""``read(data, pos)`` -> ``(value, next position)``; raises on anything unusual."""

Writer = Callable[[Any, list[bytes]], None]
"""``write(value, out)`` appends the value's encoding to ``out``; raises :class:`Unsure`."""

_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_INT_MIN: Final = -(1 << 31)
_INT_MAX: Final = (1 << 31) - 1
_LONG_MIN: Final = -(1 << 63)
_LONG_MAX: Final = (1 << 63) - 1
_FLOAT: Final = struct.Struct("<f")
_DOUBLE: Final = struct.Struct("<d")


class Unsure(Exception):  # noqa: N818 - not an error: "ask fastavro"
    """The fast path does not answer for this input; fastavro must."""


class _Unsupported(Exception):  # noqa: N818
    """The schema uses something the compiler does not handle (no fast path)."""


# What a compiled reader may raise; the caller then asks fastavro.
READ_FAILURES: Final = (Unsure, IndexError, UnicodeDecodeError, struct.error, RecursionError)
WRITE_FAILURES: Final = (Unsure, UnicodeEncodeError, RecursionError)


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint of at most 9 bytes (63 bits) at ``pos``."""
    b = data[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    acc = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = data[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if b < 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 56:
            raise Unsure


def varint(value: int) -> bytes:
    """The zig-zag varint of a long (the caller checks the range)."""
    acc = (value << 1) ^ (value >> 63)
    if acc < 0x80:
        return _SMALL[acc]
    out = bytearray()
    while acc & ~0x7F:
        out.append((acc & 0x7F) | 0x80)
        acc >>= 7
    out.append(acc)
    return bytes(out)


_SMALL: Final = tuple(bytes([i]) for i in range(0x80))


# -- readers -------------------------------------------------------------------


def _read_null(data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _read_boolean(data: bytes, pos: int) -> tuple[bool, int]:
    b = data[pos]
    if b > 1:
        raise Unsure
    return b == 1, pos + 1


def _read_int(data: bytes, pos: int) -> tuple[int, int]:
    value, pos = read_long(data, pos)
    if value < _INT_MIN or value > _INT_MAX:
        raise Unsure
    return value, pos


def _read_float(data: bytes, pos: int) -> tuple[float, int]:
    return _FLOAT.unpack_from(data, pos)[0], pos + 4


def _read_double(data: bytes, pos: int) -> tuple[float, int]:
    return _DOUBLE.unpack_from(data, pos)[0], pos + 8


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise Unsure
    return data[pos:end], end


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = read_long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise Unsure
    return data[pos:end].decode("utf-8"), end


_PRIMITIVE_READERS: Final[dict[str, Reader]] = {
    "null": _read_null,
    "boolean": _read_boolean,
    "int": _read_int,
    "long": read_long,
    "float": _read_float,
    "double": _read_double,
    "bytes": _read_bytes,
    "string": _read_string,
}


def _fixed_reader(size: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + size
        if end > len(data):
            raise Unsure
        return data[pos:end], end

    read.fixed_size = size  # type: ignore[attr-defined]
    return read


def _enum_reader(symbols: tuple[str, ...]) -> Reader:
    count = len(symbols)

    def read(data: bytes, pos: int) -> tuple[str, int]:
        index, pos = read_long(data, pos)
        if index < 0 or index >= count:
            raise Unsure
        return symbols[index], pos

    return read


def _union_reader(branches: tuple[Reader, ...]) -> Reader:
    count = len(branches)
    if count == 2 and branches[0] is _read_null:  # ["null", T]: the payload fields' shape
        other = branches[1]

        def read_optional(data: bytes, pos: int) -> tuple[Any, int]:
            b = data[pos]
            if b == 0:
                return None, pos + 1
            if b == 2:
                return other(data, pos + 1)
            raise Unsure

        return read_optional

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        index, pos = read_long(data, pos)
        if index < 0 or index >= count:
            raise Unsure
        return branches[index](data, pos)

    return read


def _array_of_bytes_reader(size: int | None, text: bool) -> Reader:
    """Arrays of bytes, strings (``text``) or fixed(``size``), the loop inlined."""

    def read(data: bytes, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        append = out.append
        limit = len(data)
        while True:
            n, pos = read_long(data, pos)
            if n == 0:
                return out, pos
            if n < 0 or n > limit:
                raise Unsure
            for _ in range(n):
                if size is None:
                    b = data[pos]
                    if b < 0x80:
                        m = (b >> 1) ^ -(b & 1)
                        pos += 1
                    else:
                        m, pos = read_long(data, pos)
                    end = pos + m
                    if m < 0 or end > limit:
                        raise Unsure
                else:
                    end = pos + size
                    if end > limit:
                        raise Unsure
                append(data[pos:end].decode("utf-8") if text else data[pos:end])
                pos = end

    return read


def _array_reader(item: Reader) -> Reader:
    if item is _read_bytes or item is _read_string:
        return _array_of_bytes_reader(None, item is _read_string)
    size = getattr(item, "fixed_size", None)
    if size is not None:
        return _array_of_bytes_reader(size, False)

    def read(data: bytes, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        append = out.append
        limit = len(data)
        while True:
            n, pos = read_long(data, pos)
            if n == 0:
                return out, pos
            if n < 0 or n > limit:
                raise Unsure
            for _ in range(n):
                value, pos = item(data, pos)
                append(value)

    return read


def _map_reader(values: Reader) -> Reader:
    def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        limit = len(data)
        while True:
            n, pos = read_long(data, pos)
            if n == 0:
                return out, pos
            if n < 0 or n > limit:
                raise Unsure
            for _ in range(n):
                key, pos = _read_string(data, pos)
                out[key], pos = values(data, pos)

    return read


def _record_reader(fields: tuple[tuple[str, Reader], ...]) -> Reader:
    def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        rec: dict[str, Any] = {}
        for name, reader in fields:
            rec[name], pos = reader(data, pos)
        return rec, pos

    return read


def _ref_reader(named: dict[str, Reader], name: str) -> Reader:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return named[name](data, pos)

    return read


def _reader(node: Any, named: dict[str, Reader]) -> Reader:
    if isinstance(node, str):
        if node in _PRIMITIVE_READERS:
            return _PRIMITIVE_READERS[node]
        if node not in named:
            raise _Unsupported(node)
        return _ref_reader(named, node)  # may still be under construction (recursion)
    if isinstance(node, list):
        return _union_reader(tuple(_reader(b, named) for b in node))
    if not isinstance(node, dict) or "logicalType" in node:
        raise _Unsupported(str(node))
    kind = node.get("type")
    if isinstance(kind, (dict, list)):
        return _reader(kind, named)
    if kind in _PRIMITIVE_READERS:
        return _PRIMITIVE_READERS[kind]
    if kind == "fixed":
        reader = _fixed_reader(int(node["size"]))
    elif kind == "enum":
        reader = _enum_reader(tuple(node["symbols"]))
    elif kind == "array":
        return _array_reader(_reader(node["items"], named))
    elif kind == "map":
        return _map_reader(_reader(node["values"], named))
    elif kind == "record":
        slot: list[Reader] = []
        named[node["name"]] = lambda data, pos: slot[0](data, pos)
        fields = tuple((f["name"], _reader(f["type"], named)) for f in node["fields"])
        slot.append(_record_reader(fields))
        reader = slot[0]
    else:
        raise _Unsupported(str(kind))
    named[node["name"]] = reader
    return reader


def compile_reader(schema: Any) -> Reader | None:
    """A reader for a fastavro-parsed schema, or None if it uses anything unusual."""
    try:
        return _reader(schema, {})
    except (_Unsupported, KeyError, TypeError, ValueError):
        return None


# -- writers -------------------------------------------------------------------


def _write_null(value: Any, out: list[bytes]) -> None:
    if value is not None:
        raise Unsure


def _write_boolean(value: Any, out: list[bytes]) -> None:
    if value is True:
        out.append(b"\x01")
    elif value is False:
        out.append(b"\x00")
    else:
        raise Unsure


def _write_int(value: Any, out: list[bytes]) -> None:
    if type(value) is not int or value < _INT_MIN or value > _INT_MAX:
        raise Unsure
    out.append(varint(value))


def _write_long(value: Any, out: list[bytes]) -> None:
    if type(value) is not int or value < _LONG_MIN or value > _LONG_MAX:
        raise Unsure
    out.append(varint(value))


def _write_float(value: Any, out: list[bytes]) -> None:
    if type(value) is not float:
        raise Unsure
    out.append(_FLOAT.pack(value))


def _write_double(value: Any, out: list[bytes]) -> None:
    if type(value) is not float:
        raise Unsure
    out.append(_DOUBLE.pack(value))


def _write_bytes(value: Any, out: list[bytes]) -> None:
    if type(value) is not bytes:
        raise Unsure
    out.append(varint(len(value)))
    out.append(value)


def _write_string(value: Any, out: list[bytes]) -> None:
    if type(value) is not str:
        raise Unsure
    raw = value.encode("utf-8")
    out.append(varint(len(raw)))
    out.append(raw)


_PRIMITIVE_WRITERS: Final[dict[str, Writer]] = {
    "null": _write_null,
    "boolean": _write_boolean,
    "int": _write_int,
    "long": _write_long,
    "float": _write_float,
    "double": _write_double,
    "bytes": _write_bytes,
    "string": _write_string,
}


def _fixed_writer(size: int) -> Writer:
    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not bytes or len(value) != size:
            raise Unsure
        out.append(value)

    write.fixed_size = size  # type: ignore[attr-defined]
    return write


def _enum_writer(symbols: tuple[str, ...]) -> Writer:
    index = {s: varint(i) for i, s in enumerate(symbols)}

    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not str or value not in index:
            raise Unsure
        out.append(index[value])

    return write


def _optional_writer(other: Writer) -> Writer:
    """``["null", T]``: None is the null branch, anything ``T`` takes exactly is ``T``."""

    def write(value: Any, out: list[bytes]) -> None:
        if value is None:
            out.append(b"\x00")
        else:
            out.append(b"\x02")
            other(value, out)

    return write


def _array_of_bytes_writer(size: int | None) -> Writer:
    """Arrays of bytes or fixed(``size``), the loop inlined."""

    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not list:
            raise Unsure
        if value:
            out.append(varint(len(value)))
            for v in value:
                if type(v) is not bytes:
                    raise Unsure
                if size is None:
                    n = len(v)
                    out.append(_SMALL[n << 1] if n < 0x40 else varint(n))
                elif len(v) != size:
                    raise Unsure
                out.append(v)
        out.append(b"\x00")

    return write


def _array_writer(item: Writer) -> Writer:
    if item is _write_bytes:
        return _array_of_bytes_writer(None)
    size = getattr(item, "fixed_size", None)
    if size is not None:
        return _array_of_bytes_writer(size)

    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not list:  # a tuple may be fastavro's (name, value) union notation
            raise Unsure
        if value:
            out.append(varint(len(value)))
            for v in value:
                item(v, out)
        out.append(b"\x00")

    return write


def _record_writer(fields: tuple[tuple[str, Writer], ...]) -> Writer:
    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not dict:
            raise Unsure
        for name, writer in fields:
            if name not in value:
                raise Unsure  # fastavro's defaults and its "no value" error
            writer(value[name], out)

    return write


def _ref_writer(named: dict[str, Writer], name: str) -> Writer:
    def write(value: Any, out: list[bytes]) -> None:
        named[name](value, out)

    return write


def _writer(node: Any, named: dict[str, Writer]) -> Writer:
    if isinstance(node, str):
        if node in _PRIMITIVE_WRITERS:
            return _PRIMITIVE_WRITERS[node]
        if node not in named:
            raise _Unsupported(node)
        return _ref_writer(named, node)
    if isinstance(node, list):
        # Only ["null", T] with T not itself nullable: fastavro's branch choice
        # is then the null branch for None and T for any value T takes.
        if len(node) != 2 or node[0] != "null" or isinstance(node[1], list) or node[1] == "null":
            raise _Unsupported("union")
        return _optional_writer(_writer(node[1], named))
    if not isinstance(node, dict) or "logicalType" in node:
        raise _Unsupported(str(node))
    kind = node.get("type")
    if isinstance(kind, (dict, list)):
        return _writer(kind, named)
    if kind in _PRIMITIVE_WRITERS:
        return _PRIMITIVE_WRITERS[kind]
    if kind == "fixed":
        writer = _fixed_writer(int(node["size"]))
    elif kind == "enum":
        writer = _enum_writer(tuple(node["symbols"]))
    elif kind == "array":
        return _array_writer(_writer(node["items"], named))
    elif kind == "record":
        slot: list[Writer] = []
        named[node["name"]] = lambda value, out: slot[0](value, out)
        fields = tuple((f["name"], _writer(f["type"], named)) for f in node["fields"])
        slot.append(_record_writer(fields))
        writer = slot[0]
    else:
        raise _Unsupported(str(kind))  # maps: fastavro writes them
    named[node["name"]] = writer
    return writer


def compile_writer(schema: Any) -> Writer | None:
    """A writer for a fastavro-parsed schema, or None if it uses anything unusual."""
    try:
        return _writer(schema, {})
    except (_Unsupported, KeyError, TypeError, ValueError):
        return None
