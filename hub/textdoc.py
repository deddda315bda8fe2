"""JSON and YAML from outside the process, read strictly and within bounds.

Every door that takes a JSON or YAML document (a request body, a file named on
the command line, an importer row or mapping, a signed trust list or agreement)
reads it here, so every door refuses the same things the same way, before any
work that could grow with a hostile input is done:

- more bytes than the door allows (checked before decoding);
- bytes that are not UTF-8, and escapes that name no character (``"\\ud800"``,
  a lone surrogate, which no UTF-8 writer can write back);
- a member name (JSON) or mapping key (YAML) twice in one object: a reader that
  keeps the first value must never see another document than the one checked;
- nesting deeper than :data:`MAX_DEPTH`;
- JSON integers longer than :data:`MAX_INT_DIGITS` digits, ``NaN``, ``Infinity``
  and numbers that overflow to them;
- YAML aliases (and so merge keys): a 400-byte "billion laughs" file expands to
  gigabytes once anything walks it; YAML timestamps stay the strings written.

A refusal is a :class:`~hub.errors.RequestError` (``BAD_ENCODING`` for bytes
that are not UTF-8 text, ``OVERSIZED`` for too many bytes, ``BAD_REQUEST`` for
the rest) whose detail names ``what`` was read and what was wrong, never the
content itself. Callers that label a refusal otherwise (a trust list is
``TRUST_MALFORMED``) catch it and wrap it once.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from hub.errors import Reason, RequestError

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "decode_text",
    "parse_json",
    "parse_yaml",
]

#: The deepest nesting of arrays and objects (sequences and mappings) accepted.
#: Every document of the protocol nests fewer than ten levels.
MAX_DEPTH = 64
#: The longest JSON integer accepted, in digits (a signed 64-bit value has 19).
MAX_INT_DIGITS = 20


def _refuse(what: str, why: str, reason: Reason = Reason.BAD_REQUEST) -> RequestError:
    return RequestError(reason, f"{what}: {why}"[:300])


def decode_text(data: bytes | str, *, what: str, max_bytes: int | None = None) -> str:
    """``data`` as text: at most ``max_bytes`` bytes of UTF-8.

    Raises:
        RequestError: OVERSIZED before decoding; BAD_ENCODING with the first bad byte.
    """
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if max_bytes is not None and size > max_bytes:
        raise _refuse(what, f"expected at most {max_bytes} bytes, got {size}", Reason.OVERSIZED)
    if isinstance(data, str):
        _no_surrogates(data, what)
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            what,
            f"expected UTF-8, byte {exc.start} is 0x{data[exc.start]:02x}",
            Reason.BAD_ENCODING,
        ) from exc


def _no_surrogates(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(
            what,
            f"expected Unicode characters, got a lone surrogate U+{ord(text[exc.start]):04X}",
            Reason.BAD_ENCODING,
        ) from exc


# --- JSON ---------------------------------------------------------------------


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"member name {name[:40]!r} appears twice in one object")
        out[name] = value
    return out


def _json_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"expected an integer of at most {MAX_INT_DIGITS} digits, got {digits}")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]!r}… does not fit a double")
    return value


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_tree(value: Any, what: str, max_depth: int) -> None:
    """Depth and lone surrogates, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _no_surrogates(item, what)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise _refuse(what, f"expected nesting at most {max_depth} deep")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if isinstance(key, str):
                        _no_surrogates(key, what)
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)


def parse_json(
    data: bytes | str,
    *,
    what: str = "JSON document",
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """One JSON value from ``data``, read strictly (see the module's list).

    Args:
        what: names the input in a refusal ("request body", a file name).

    Raises:
        RequestError: OVERSIZED, BAD_ENCODING or BAD_REQUEST, saying what was
            expected and where it failed.
    """
    text = decode_text(data, what=what, max_bytes=max_bytes)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_json_object,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise _refuse(
            what, f"expected JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise _refuse(what, f"expected nesting at most {max_depth} deep") from exc
    except ValueError as exc:
        raise _refuse(what, f"expected strict JSON: {exc}") from exc
    _check_tree(value, what, max_depth)
    return value


# --- YAML ---------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML with no aliases, no key twice, bounded depth and no implicit dates."""

    max_depth = MAX_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"expected nesting at most {self.max_depth} deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    twice = key in seen
                except TypeError:  # an unhashable key: the base class refuses it
                    continue
                if twice:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {str(key)[:40]!r} appears twice", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(
    data: bytes | str,
    *,
    what: str = "YAML document",
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """One YAML document from ``data``, read strictly (see the module's list).

    JSON is YAML, so a mapping file may be either.

    Raises:
        RequestError: OVERSIZED, BAD_ENCODING or BAD_REQUEST, with the line and
            column where the YAML parser stopped.
    """
    text = decode_text(data, what=what, max_bytes=max_bytes)
    try:
        # The loader's constructor already reads: it refuses a non-printable character.
        loader = _StrictLoader(text)
    except yaml.YAMLError as exc:
        raise _refuse(what, f"expected YAML: {str(exc).splitlines()[0][:120]}") from exc
    loader.max_depth = max_depth
    try:
        value = loader.get_single_data()
        _check_tree(value, what, max_depth)
        return value
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise _refuse(what, f"expected YAML: {exc.problem}{where}") from exc
    except yaml.YAMLError as exc:
        raise _refuse(what, f"expected YAML: {str(exc)[:120]}") from exc
    except RecursionError as exc:
        raise _refuse(what, f"expected nesting at most {max_depth} deep") from exc
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise _refuse(what, f"expected YAML values: {str(exc)[:120]}") from exc
    finally:
        loader.dispose()
