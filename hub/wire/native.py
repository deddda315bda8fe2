"""The wire walk in native code (``hub/native``, Rust): an accelerator, never the authority.

The hot loops of opening an envelope run in :mod:`hub.wire._native` when it
is built (``make`` builds it; ``deploy/scripts/native.sh``):

- splitting and hashing the disclosures (:func:`hub.wire.disclosures.parse_disclosures`);
- reading Avro records: the envelope, the header (``hub.wire.codec.Compiled``);
- Ed25519 verify and sign (``ed25519-dalek``) for :func:`hub.keys.ed25519_verify`
  and :func:`hub.keys.ed25519_sign`; this part decides, so it is held to
  ``cryptography`` on the standards' vectors (``tests/unit/test_ed25519_native.py``);
- checking that each disclosed value is an exact Avro encoding of its field's
  type without building the value (:func:`hub.wire.verify.verify`), so that a
  value is decoded only when something reads it;
- verifying a batch's producer signatures ahead, on a native thread of their
  own (:data:`AHEAD`, :func:`hub.wire.verify.verify_ahead`), while the Python
  thread judges the records before; a verdict is used only for the very key,
  signature and message that :func:`hub.keys.ed25519_verify` is asked about.

Each answers only for input it fully understands -- the same common case as
the Python code's inline path, the same schema subset and limits as the
compiled readers of :mod:`hub.wire.avrofast` -- and otherwise says "not sure",
and the Python code decides, with every refusal and message it has always
given. ``tests/unit/wire/test_wire_native.py`` checks the two against each
other on the vectors and on generated, mutated and random inputs.

``TRM_WIRE_NATIVE=0`` turns the native walk off (the Python code alone), to
compare or to rule it out; every use checks :data:`ENABLED` when it runs, so
a test may also turn it off for a while. ``TRM_VERIFY_AHEAD=0`` turns off only
the verifies ahead (every signature verified in line, as before).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Final

try:
    from . import _native
except ImportError:  # not built: the Python code alone (make builds it)
    _native = None  # type: ignore[assignment]

__all__ = [
    "AHEAD",
    "BUILT",
    "ENABLED",
    "disclosure_builder",
    "disclosures",
    "ed25519_private",
    "ed25519_public",
    "schema",
    "values_exact",
]

BUILT: Final = _native is not None
"""The native module is importable (``make`` builds it)."""

ENABLED: Final = BUILT and os.environ.get("TRM_WIRE_NATIVE", "1") != "0"
"""The wire code uses it (built, and not turned off with ``TRM_WIRE_NATIVE=0``)."""

AHEAD: Final[Any] = (
    _native.VerifyAhead() if ENABLED and os.environ.get("TRM_VERIFY_AHEAD", "1") != "0" else None
)
"""The process's one ``VerifyAhead`` (its thread starts at the first submit), or
None: not built, the native walk off, or ``TRM_VERIFY_AHEAD=0``."""


def schema(parsed: Any) -> Any:
    """A parsed schema compiled natively, or None (not built, or outside its subset).

    Give it only a schema :func:`hub.wire.avrofast.compile_reader` compiles:
    the native reader and checker answer for no more than that reader does.
    Its users check :data:`ENABLED` each time they would use it.
    """
    if not BUILT:
        return None
    try:
        return _native.Schema(json.dumps(parsed))
    except (ValueError, TypeError):
        return None


def values_exact(checkers: list[Any], values: list[bytes]) -> bool:
    """True when every value is an exact encoding of its schema; False is "not sure"."""
    if not ENABLED or None in checkers:
        return False
    return _native.check_values(checkers, values)


def disclosure_builder(cls: type, slots: tuple[object, ...]) -> Any:
    """A native builder of ``cls`` objects from disclosure bytes, or None (not built)."""
    return _native.Disclosures(cls, slots) if BUILT else None


def disclosures(builder: Any, raws: Sequence[bytes]) -> Any:
    """``builder``'s objects for ``raws`` (split and hashed), or None: "not sure"."""
    if not ENABLED or builder is None:
        return None
    return builder.build(raws)


def ed25519_public(raw: bytes) -> _native.Ed25519Public:
    """A native Ed25519 public key (ValueError: not 32 bytes). Use only when :data:`ENABLED`."""
    return _native.Ed25519Public(raw)


def ed25519_private(seed: bytes) -> _native.Ed25519Private:
    """A native Ed25519 private key from its seed. Use only when :data:`ENABLED`."""
    return _native.Ed25519Private(seed)
