"""A verified event's disclosed values, decoded when first read (:class:`Fields`).

Its own module, outside the compiled ones (:mod:`hub.compiled`): a class that
derives from an abstract base class such as ``Mapping`` must stay a Python
class. Compiled by mypyc, it would share the registry and caches of its base,
and an ``isinstance`` check against it would change what ``isinstance(x,
Mapping)`` answers for everyone (``tests/unit/test_compiled.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hub.errors import DisclosureError, Reason

from .codec import FieldCodec

__all__ = ["Fields", "type_mismatch"]


def type_mismatch(name: str) -> DisclosureError:
    return DisclosureError(
        Reason.FIELD_TYPE_MISMATCH,
        f"the value of field {name!r} is not an exact Avro encoding of its type",
    )


class Fields(Mapping[str, Any]):
    """A verified event's disclosed values, each decoded when first read.

    Built only when the native walk found every value an exact encoding of its
    field's type, which the compiled reader then decodes (the two accept the
    same bytes: ``tests/unit/wire/test_wire_native.py``). The hub reads a few
    policy attributes of an event and passes the rest on as bytes, so most
    values are never built. Its repr names the fields, never their values.
    """

    __slots__ = ("_codecs", "_raw", "_schema", "_values")

    def __init__(
        self, raw: dict[str, bytes], codecs: Mapping[str, FieldCodec], schema: bytes
    ) -> None:
        self._raw = raw
        self._codecs = codecs
        self._schema = schema  # the SHA-256 of the payload schema ``codecs`` decode with
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        values = self._values
        if name in values:
            return values[name]
        data = self._raw[name]  # KeyError: not disclosed
        try:
            value = self._codecs[name].decode(data)
        except ValueError:  # cannot happen after the check; refused, never guessed
            raise type_mismatch(name) from None
        values[name] = value
        return value

    def get(self, name: str, default: Any = None) -> Any:
        # Mapping.get's try/except around __getitem__, without the ABC's call layers.
        if name in self._raw:
            return self[name]
        return default

    def exact(self, names: Sequence[str]) -> tuple[bytes, tuple[bytes | None, ...]]:
        """The SHA-256 of the schema the values are decoded with, and each named
        value's bytes as disclosed (None where not disclosed).

        Every value here is an exact encoding of its field's type in that
        schema, and decoding is a function of the schema and the bytes: equal
        answers are equal values. The policy memo keys on this instead of
        decoding and freezing the values.
        """
        raw = self._raw
        return self._schema, tuple(raw.get(name) for name in names)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"<disclosed fields {', '.join(self._raw)}>"
