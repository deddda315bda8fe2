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
_COMPLEX: Final = frozenset({"fixed", "enum", "record", "array", "map"})
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
#
# A reader is generated Python source, compiled once per schema: the whole
# schema inlined into one function (no call per value), varints read inline
# when they are one byte long.


class _ReaderSource:
    """Builds the source of one reader function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.count = 0

    def tmp(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value: Any) -> str:
        name = self.tmp("K")
        self.consts[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def varint(self, depth: int, target: str) -> None:
        b = self.tmp("b")
        self.emit(depth, f"{b} = data[pos]")
        self.emit(depth, f"if {b} < 128:")
        self.emit(depth + 1, f"{target} = ({b} >> 1) ^ -({b} & 1)")
        self.emit(depth + 1, "pos += 1")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{target}, pos = read_long(data, pos)")

    def sized(self, depth: int, target: str, text: bool) -> None:
        n, end = self.tmp("n"), self.tmp("e")
        self.varint(depth, n)
        self.emit(depth, f"{end} = pos + {n}")
        self.emit(depth, f"if {n} < 0 or {end} > size:")
        self.emit(depth + 1, "raise Unsure")
        self.emit(depth, f"{target} = data[pos:{end}]" + (".decode('utf-8')" if text else ""))
        self.emit(depth, f"pos = {end}")

    def blocks(self, depth: int) -> int:
        """Open the block loops of an array or map; the body goes at the returned depth."""
        n = self.tmp("n")
        self.emit(depth, "while True:")
        self.varint(depth + 1, n)
        self.emit(depth + 1, f"if {n} == 0:")
        self.emit(depth + 2, "break")
        self.emit(depth + 1, f"if {n} < 0 or {n} > size:")
        self.emit(depth + 2, "raise Unsure")
        self.emit(depth + 1, f"for _ in range({n}):")
        return depth + 2

    def value(  # noqa: C901, PLR0912, PLR0915 - one branch per Avro type
        self, node: Any, depth: int, target: str, named: dict[str, Any], open_: frozenset[str]
    ) -> None:
        """Emit code that reads ``node`` at ``pos`` into ``target``."""
        if isinstance(node, str) and node not in _PRIMITIVES:
            if node not in named or node in open_:
                raise _Unsupported(node)  # unknown, or recursive: fastavro reads it
            node = named[node]
        if isinstance(node, list):
            if len(node) == 2 and node[0] == "null":  # ["null", T]: every payload field
                b = self.tmp("b")
                self.emit(depth, f"{b} = data[pos]")
                self.emit(depth, f"if {b} == 0:")
                self.emit(depth + 1, f"{target} = None")
                self.emit(depth + 1, "pos += 1")
                self.emit(depth, f"elif {b} == 2:")
                self.emit(depth + 1, "pos += 1")
                self.value(node[1], depth + 1, target, named, open_)
                self.emit(depth, "else:")
                self.emit(depth + 1, "raise Unsure")
                return
            index = self.tmp("i")
            self.varint(depth, index)
            for i, branch in enumerate(node):
                self.emit(depth, f"{'if' if i == 0 else 'elif'} {index} == {i}:")
                self.value(branch, depth + 1, target, named, open_)
            self.emit(depth, "else:")
            self.emit(depth + 1, "raise Unsure")
            return
        if isinstance(node, dict):
            if "logicalType" in node:
                raise _Unsupported("logicalType")
            kind = node.get("type")
            if isinstance(kind, (dict, list)):
                self.value(kind, depth, target, named, open_)
                return
            if kind in ("fixed", "enum", "record"):
                named[node["name"]] = node
            elif isinstance(kind, str) and kind not in _PRIMITIVES and kind not in _COMPLEX:
                self.value(kind, depth, target, named, open_)  # {"type": "a.Named"}
                return
        else:
            kind = node
        if kind == "null":
            self.emit(depth, f"{target} = None")
        elif kind == "boolean":
            b = self.tmp("b")
            self.emit(depth, f"{b} = data[pos]")
            self.emit(depth, f"if {b} > 1:")
            self.emit(depth + 1, "raise Unsure")
            self.emit(depth, f"{target} = {b} == 1")
            self.emit(depth, "pos += 1")
        elif kind in ("int", "long"):
            self.varint(depth, target)
            if kind == "int":
                self.emit(depth, f"if {target} < {_INT_MIN} or {target} > {_INT_MAX}:")
                self.emit(depth + 1, "raise Unsure")
        elif kind in ("float", "double"):
            unpack = self.const((_FLOAT if kind == "float" else _DOUBLE).unpack_from)
            self.emit(depth, f"{target} = {unpack}(data, pos)[0]")
            self.emit(depth, f"pos += {4 if kind == 'float' else 8}")
        elif kind in ("bytes", "string"):
            self.sized(depth, target, kind == "string")
        elif kind == "fixed":
            end = self.tmp("e")
            self.emit(depth, f"{end} = pos + {int(node['size'])}")
            self.emit(depth, f"if {end} > size:")
            self.emit(depth + 1, "raise Unsure")
            self.emit(depth, f"{target} = data[pos:{end}]")
            self.emit(depth, f"pos = {end}")
        elif kind == "enum":
            symbols = tuple(node["symbols"])
            index = self.tmp("i")
            self.varint(depth, index)
            self.emit(depth, f"if {index} < 0 or {index} >= {len(symbols)}:")
            self.emit(depth + 1, "raise Unsure")
            self.emit(depth, f"{target} = {self.const(symbols)}[{index}]")
        elif kind == "array":
            item = self.tmp("t")
            self.emit(depth, f"{target} = []")
            inner = self.blocks(depth)
            self.value(node["items"], inner, item, named, open_)
            self.emit(inner, f"{target}.append({item})")
        elif kind == "map":
            key, item = self.tmp("k"), self.tmp("t")
            self.emit(depth, f"{target} = {{}}")
            inner = self.blocks(depth)
            self.sized(inner, key, True)
            self.value(node["values"], inner, item, named, open_)
            self.emit(inner, f"{target}[{key}] = {item}")
        elif kind == "record":
            inside = open_ | {node["name"]}
            parts = []
            for fld in node["fields"]:
                var = self.tmp("f")
                self.value(fld["type"], depth, var, named, inside)
                parts.append(f"{fld['name']!r}: {var}")
            self.emit(depth, f"{target} = {{{', '.join(parts)}}}")
        else:
            raise _Unsupported(str(kind))


def compile_reader(schema: Any) -> Reader | None:
    """A reader for a fastavro-parsed schema, or None if it uses anything unusual.

    ``read(data, pos)`` returns ``(value, end)`` or raises one of
    :data:`READ_FAILURES`; the caller then asks fastavro.
    """
    source = _ReaderSource()
    try:
        source.value(schema, 1, "v", {}, frozenset())
        text = "\n".join(
            ["def read(data, pos):", "    size = len(data)", *source.lines, "    return v, pos"]
        )
        namespace: dict[str, Any] = {"read_long": read_long, "Unsure": Unsure, **source.consts}
        exec(compile(text, "<avrofast reader>", "exec"), namespace)  # noqa: S102 - our own source
    except (_Unsupported, KeyError, TypeError, ValueError, SyntaxError, RecursionError):
        return None
    reader: Reader = namespace["read"]
    return reader


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
