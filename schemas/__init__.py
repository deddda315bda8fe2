"""The Avro schemas of trm-hub v1, and their fingerprints.

Each ``.avsc`` file in this directory is one standalone schema (named types
are defined inside it, never imported from another file). A schema is known by
two fingerprints of its Parsing Canonical Form (PCF, Avro specification
"Parsing Canonical Form for Schemas"):

- ``crc64(name)``: the 8-byte CRC-64-AVRO fingerprint, little-endian, as Avro
  single-object encoding puts it after ``C3 01``. Cheap, not collision-resistant.
- ``sha256(name)``: SHA-256 of the PCF; this is what signed data names.

Released versions are kept under ``released/<name>/v<N>.avsc`` so a test can
check that every change stays backward- and forward-compatible.

Which event types exist, and so which of these files are payloads, is said once
in ``hub/wire/eventtypes.py``. A deployment's own event types bring their
schema file from another directory; :func:`add` makes such a file known here
by name (``hub.wire.eventtypes.register_from`` calls it).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "ENVELOPE_PARTS",
    "SCHEMA_DIR",
    "add",
    "canonical_form",
    "crc64",
    "crc64_of",
    "load",
    "load_path",
    "names",
    "remove",
    "sha256",
]

SCHEMA_DIR = Path(__file__).resolve().parent

ENVELOPE_PARTS: tuple[str, ...] = (
    "envelope",
    "header",
    "signature",
    "disclosure",
    "sealed_disclosure",
    "key_wrap",
    "attestation_statement",
    "sealed_quarantine",
)

_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _crc64_table()


def crc64_of(data: bytes) -> bytes:
    """CRC-64-AVRO (Rabin) fingerprint of ``data``, 8 bytes little-endian."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def names() -> tuple[str, ...]:
    """Names of every current schema (file stem)."""
    return tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")))


# name -> schema file outside SCHEMA_DIR (a deployment's own event types).
_ADDED: dict[str, Path] = {}


def add(name: str, path: Path) -> None:
    """Make the schema file ``path`` known as ``name`` (it is not in this directory).

    Raises:
        ValueError: ``name`` is already a schema of this directory, or was
            added from another file.
    """
    path = path.resolve()
    if (SCHEMA_DIR / f"{name}.avsc").is_file():
        raise ValueError(f"schema {name!r} is one of the project's own schemas")
    if _ADDED.get(name, path) != path:
        raise ValueError(f"schema {name!r} was already added from another file")
    _ADDED[name] = path


def remove(name: str) -> None:
    """Forget a schema added with :func:`add` (and every cached form of it)."""
    if _ADDED.pop(name, None) is not None:
        for cached in (load, canonical_form, sha256, crc64):
            cached.cache_clear()


def load_path(path: Path) -> dict[str, Any]:
    """Parse one ``.avsc`` file as JSON (not yet checked as Avro)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.avsc`` as a JSON object.

    ``<name>@<N>`` is released version N (``released/<name>/v<N>.avsc``), for
    reading what earlier versions wrote (a v1 envelope).

    Raises:
        KeyError: no such schema.
    """
    path = _ADDED.get(name) or SCHEMA_DIR / f"{name}.avsc"
    if "@" in name:  # "<name>@<N>": the released version N of a schema
        base, _, version = name.partition("@")
        path = SCHEMA_DIR / "released" / base / f"v{version}.avsc"
    if not path.is_file():
        raise KeyError(f"no schema named {name!r} in {SCHEMA_DIR}")
    return load_path(path)


@cache
def canonical_form(name: str) -> str:
    """The Parsing Canonical Form of schema ``name``."""
    pcf: str = to_parsing_canonical_form(load(name))
    return pcf


@cache
def sha256(name: str) -> bytes:
    """SHA-256 of the PCF of schema ``name`` (32 bytes)."""
    return hashlib.sha256(canonical_form(name).encode("utf-8")).digest()


@cache
def crc64(name: str) -> bytes:
    """CRC-64-AVRO fingerprint of the PCF of schema ``name`` (8 bytes, little-endian)."""
    return crc64_of(canonical_form(name).encode("utf-8"))
