"""Compiled Avro readers and writers for the common case; fastavro stays the authority.

fastavro pays a fixed cost on every call (a stream, option handling, and for a
union schema such as a payload field's ``["null", T]`` a fresh parse of the
schema), which dominates when a message is two dozen small values. Here a
parsed schema is compiled once into one Python function: its source is
generated from the schema (every value inline, no call per value, short
varints read inline) and compiled with ``compile``/``exec``; the source holds
nothing but the schema's own names, sizes and symbols.

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


class Unsure(Exception):
    """The fast path does not answer for this input; fastavro must."""


class _Unsupported(Exception):
    """The schema uses something the compiler does not handle (no fast path)."""


# What a compiled reader may raise; the caller then asks fastavro.
READ_FAILURES: Final = (Unsure, IndexError, UnicodeDecodeError, struct.error, RecursionError)
WRITE_FAILURES: Final = (Unsure, UnicodeEncodeError, OverflowError, struct.error, RecursionError)


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
    if acc < 0x1000:
        return _VARINTS[acc]
    out = bytearray()
    while acc & ~0x7F:
        out.append((acc & 0x7F) | 0x80)
        acc >>= 7
    out.append(acc)
    return bytes(out)


_SMALL: Final = tuple(bytes([i]) for i in range(0x80))
# Varints of 0 ..< 4096 (one or two bytes): lengths of disclosures and the like.
_VARINTS: Final = _SMALL + tuple(bytes([(z & 0x7F) | 0x80, z >> 7]) for z in range(0x80, 0x1000))


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
        self.emit(depth, "else:")  # two bytes (lengths up to 8 KiB) inline too
        c = self.tmp("c")
        self.emit(depth + 1, f"{c} = data[pos + 1]")
        self.emit(depth + 1, f"if {c} < 128:")
        self.emit(depth + 2, f"{b} = ({b} & 127) | ({c} << 7)")
        self.emit(depth + 2, f"{target} = ({b} >> 1) ^ -({b} & 1)")
        self.emit(depth + 2, "pos += 2")
        self.emit(depth + 1, "else:")
        self.emit(depth + 2, f"{target}, pos = read_long(data, pos)")

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

    def value(
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
#
# Generated the same way. A writer answers only when every value has exactly
# its schema type; unions only of the form ["null", T] (fastavro then picks
# the null branch for None and T for anything T takes); no maps.


class _WriterSource(_ReaderSource):
    """Builds the source of one writer function."""

    def small(self, depth: int, number: str) -> None:
        """Append the varint of ``number`` (an int known to be in range)."""
        z = self.tmp("z")
        self.emit(depth, f"{z} = ({number} << 1) ^ ({number} >> 63)")
        self.emit(depth, f"put(VARINTS[{z}] if {z} < 4096 else varint({number}))")

    def value(
        self, node: Any, depth: int, target: str, named: dict[str, Any], open_: frozenset[str]
    ) -> None:
        """Emit code that appends the encoding of variable ``target`` as ``node``."""
        if isinstance(node, str) and node not in _PRIMITIVES:
            if node not in named or node in open_:
                raise _Unsupported(node)
            node = named[node]
        if isinstance(node, list):
            if len(node) != 2 or node[0] != "null" or isinstance(node[1], list):
                raise _Unsupported("union")
            if node[1] == "null":
                raise _Unsupported("union")
            self.emit(depth, f"if {target} is None:")
            self.emit(depth + 1, "put(b'\\x00')")
            self.emit(depth, "else:")
            self.emit(depth + 1, "put(b'\\x02')")
            self.value(node[1], depth + 1, target, named, open_)
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
                self.value(kind, depth, target, named, open_)
                return
        else:
            kind = node
        unsure = "raise Unsure"
        if kind == "null":
            self.emit(depth, f"if {target} is not None:")
            self.emit(depth + 1, unsure)
        elif kind == "boolean":
            self.emit(depth, f"if {target} is True:")
            self.emit(depth + 1, "put(b'\\x01')")
            self.emit(depth, f"elif {target} is False:")
            self.emit(depth + 1, "put(b'\\x00')")
            self.emit(depth, "else:")
            self.emit(depth + 1, unsure)
        elif kind in ("int", "long"):
            low, high = (_INT_MIN, _INT_MAX) if kind == "int" else (_LONG_MIN, _LONG_MAX)
            self.emit(
                depth, f"if type({target}) is not int or {target} < {low} or {target} > {high}:"
            )
            self.emit(depth + 1, unsure)
            self.small(depth, target)
        elif kind in ("float", "double"):
            pack = self.const((_FLOAT if kind == "float" else _DOUBLE).pack)
            self.emit(depth, f"if type({target}) is not float:")
            self.emit(depth + 1, unsure)
            self.emit(depth, f"put({pack}({target}))")
        elif kind in ("bytes", "string"):
            raw, n = self.tmp("r"), self.tmp("n")
            self.emit(depth, f"if type({target}) is not {'str' if kind == 'string' else 'bytes'}:")
            self.emit(depth + 1, unsure)
            self.emit(depth, f"{raw} = {target}" + (".encode('utf-8')" if kind == "string" else ""))
            self.emit(depth, f"{n} = len({raw})")
            self.emit(depth, f"put(VARINTS[{n} << 1] if {n} < 2048 else varint({n}))")
            self.emit(depth, f"put({raw})")
        elif kind == "fixed":
            size = int(node["size"])
            self.emit(depth, f"if type({target}) is not bytes or len({target}) != {size}:")
            self.emit(depth + 1, unsure)
            self.emit(depth, f"put({target})")
        elif kind == "enum":
            index = self.const({sym: varint(i) for i, sym in enumerate(node["symbols"])})
            self.emit(depth, f"if type({target}) is not str or {target} not in {index}:")
            self.emit(depth + 1, unsure)
            self.emit(depth, f"put({index}[{target}])")
        elif kind == "array":
            item, n = self.tmp("t"), self.tmp("n")
            self.emit(depth, f"if type({target}) is not list:")  # a tuple: fastavro notation
            self.emit(depth + 1, unsure)
            self.emit(depth, f"if {target}:")
            self.emit(depth + 1, f"{n} = len({target})")
            self.small(depth + 1, n)
            self.emit(depth + 1, f"for {item} in {target}:")
            self.value(node["items"], depth + 2, item, named, open_)
            self.emit(depth, "put(b'\\x00')")
        elif kind == "record":
            inside = open_ | {node["name"]}
            self.emit(depth, f"if type({target}) is not dict:")
            self.emit(depth + 1, unsure)
            for fld in node["fields"]:
                var = self.tmp("f")
                # a missing field: fastavro's default or its "no value" error
                self.emit(depth, f"{var} = {target}.get({fld['name']!r}, MISSING)")
                self.emit(depth, f"if {var} is MISSING:")
                self.emit(depth + 1, unsure)
                self.value(fld["type"], depth, var, named, inside)
        else:
            raise _Unsupported(str(kind))  # maps: fastavro writes them


_MISSING: Final = object()


def compile_writer(schema: Any) -> Writer | None:
    """A writer for a fastavro-parsed schema, or None if it uses anything unusual.

    ``write(value, out)`` appends the encoding's pieces to ``out`` or raises
    one of :data:`WRITE_FAILURES`; the caller then asks fastavro.
    """
    source = _WriterSource()
    try:
        source.value(schema, 1, "v", {}, frozenset())
        text = "\n".join(["def write(v, out):", "    put = out.append", *source.lines])
        namespace: dict[str, Any] = {
            "varint": varint,
            "VARINTS": _VARINTS,
            "MISSING": _MISSING,
            "Unsure": Unsure,
            **source.consts,
        }
        exec(compile(text, "<avrofast writer>", "exec"), namespace)  # noqa: S102 - our own source
    except (_Unsupported, KeyError, TypeError, ValueError, SyntaxError, RecursionError):
        return None
    writer: Writer = namespace["write"]
    return writer
