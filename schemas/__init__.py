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
    "PAYLOADS",
    "SCHEMA_DIR",
    "canonical_form",
    "crc64",
    "crc64_of",
    "load",
    "load_path",
    "names",
    "sha256",
]

SCHEMA_DIR = Path(__file__).resolve().parent

# Event types and the schema file of their payload.
PAYLOADS: tuple[str, ...] = (
    "referral",
    "handover_notice",
    "trafficker_alert",
    "acknowledgement",
    "detention_notice",
)
ENVELOPE_PARTS: tuple[str, ...] = (
    "envelope",
    "header",
    "signature",
    "disclosure",
    "attestation_statement",
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


def load_path(path: Path) -> dict[str, Any]:
    """Parse one ``.avsc`` file as JSON (not yet checked as Avro)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.avsc`` as a JSON object.

    Raises:
        KeyError: no such schema.
    """
    path = SCHEMA_DIR / f"{name}.avsc"
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
