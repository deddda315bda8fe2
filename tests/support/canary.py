"""Canary values: personal data a test sends sealed, then looks for where it must not be.

Issue 13's proof that the hub never holds plaintext: a child's name in Khmer
script, her date of birth and a Thai passport number go out in sealed events;
afterwards no file of the brokers, the hub or the sequencer and no record of
any topic holds them, as UTF-8 or as their Avro encoding (a zig-zag varint
length before the UTF-8: the form they have inside a disclosure).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEMO",
    "Canaries",
    "avro_string",
    "fresh_canaries",
    "scan_bytes",
    "scan_files",
    "scan_records",
]


def avro_string(text: str) -> bytes:
    """Avro binary of a string: zig-zag varint of the UTF-8 length, then the bytes."""
    data = text.encode("utf-8")
    n = len(data) << 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + data


@dataclass(frozen=True)
class Canaries:
    """One run's canary values (fresh, so other tests' events cannot hold them)."""

    khmer_name: str
    date_of_birth: str
    thai_passport: str

    @property
    def values(self) -> tuple[str, ...]:
        return (self.khmer_name, self.date_of_birth, self.thai_passport)

    def patterns(self) -> dict[bytes, str]:
        """Every byte pattern to look for, with the value it stands for."""
        out: dict[bytes, str] = {}
        for value in self.values:
            out[value.encode("utf-8")] = value
            out[avro_string(value)] = value
        return out

    def apply(self, referral: dict[str, Any]) -> dict[str, Any]:
        """A referral payload carrying the canaries (the name, the birth date, a passport)."""
        out = dict(referral)
        out["names"] = [
            {"full_name": self.khmer_name, "lang": "km-Khmr", "given": None, "family": None}
        ]
        out["date_of_birth"] = self.date_of_birth
        out["identity_documents"] = [
            {
                "kind": "PASSPORT",
                "number": self.thai_passport,
                "issuing_country": "TH",
                "expires_on": None,
            }
        ]
        return out


# The demo's own: the girl's name in Khmer script and her birth date (the
# referral of schemas/examples), the suspect's Thai passport (the trafficker alert).
DEMO = Canaries(khmer_name="សុខ ស្រីពៅ", date_of_birth="2009-04", thai_passport="AA7654321")


def fresh_canaries() -> Canaries:
    tag = secrets.token_hex(3)
    digits = "".join(str(b % 10) for b in secrets.token_bytes(7))
    # A Khmer name with a Khmer-digit suffix unique to this run.
    khmer_digits = "".join(chr(0x17E0 + int(c)) for c in str(int(tag, 16)))
    return Canaries(
        khmer_name=f"សុខ ស្រីពៅ {khmer_digits}",
        date_of_birth=f"2009-04-{int(tag[:2], 16) % 28 + 1:02d}",
        thai_passport=f"AA{digits}",
    )


def scan_bytes(data: bytes, patterns: dict[bytes, str]) -> set[str]:
    """The canary values whose patterns occur in ``data``."""
    return {value for pattern, value in patterns.items() if pattern in data}


def scan_records(records: Iterable[Any], patterns: dict[bytes, str]) -> set[str]:
    """The canary values in any Kafka record's key, value or headers."""
    found: set[str] = set()
    for r in records:
        blobs = [r.key or b"", r.value or b""]
        blobs += [k.encode() + (v or b"") for k, v in r.headers or ()]
        for blob in blobs:
            found |= scan_bytes(blob, patterns)
    return found


def _files(roots: Iterable[Path], exclude: Iterable[Path]) -> Iterator[Path]:
    skip = [p.resolve() for p in exclude]
    for root in roots:
        for path in sorted(root.rglob("*")):
            real = path.resolve()
            if path.is_file() and not any(real.is_relative_to(s) for s in skip):
                yield path


def scan_files(
    roots: Iterable[Path], patterns: dict[bytes, str], *, exclude: Iterable[Path] = ()
) -> dict[str, set[str]]:
    """Every file under ``roots`` (not under ``exclude``) holding a canary: path -> values.

    Reads each file whole (Kafka segments, indexes, logs, SQLite, anything).
    """
    found: dict[str, set[str]] = {}
    longest = max(len(p) for p in patterns)
    for path in _files(roots, exclude):
        try:
            with path.open("rb") as f:
                carry = b""
                while chunk := f.read(1 << 20):
                    hits = scan_bytes(carry + chunk, patterns)
                    if hits:
                        found.setdefault(str(path), set()).update(hits)
                    carry = chunk[-longest:]
        except OSError:
            continue  # a file removed while scanning (a segment rolled): nothing to read
    return found
