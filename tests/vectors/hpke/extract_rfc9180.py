#!/usr/bin/env python3
"""Turn the RFC 9180 A.2 text beside this file into rfc9180-a2.json.

``rfc9180-a2.md`` is the published text of RFC 9180 Appendix A.2 (the key
wrap's suite, all four modes), copied byte for byte; this script only parses
it. Rerunning writes the same bytes, and tests/unit/wire/test_wire_hpke.py
fails if the JSON drifts from the text.

    python tests/vectors/hpke/extract_rfc9180.py [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEXT = HERE / "rfc9180-a2.md"
OUT = HERE / "rfc9180-a2.json"

MODES = {"Base": 0, "PSK": 1, "Auth": 2, "AuthPSK": 3}
# A field starts "name: value" (the value may continue on the next lines, hex
# only); a hex line never holds a colon.
FIELD = re.compile(r"^(?P<name>[A-Za-z_ ]+): ?(?P<value>[0-9a-f]*)$")
HEX = re.compile(r"^[0-9a-f]+$")
INTS = {"mode", "kem_id", "kdf_id", "aead_id", "sequence number", "L"}


def _records(lines: list[str]) -> list[dict[str, str]]:
    """The records of one ~~~ block: blank lines separate them."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in lines:
        if not line.strip():
            if current:
                records.append(current)
            current, last = {}, ""
            continue
        if m := FIELD.match(line):
            last = m["name"]
            if last in current:
                raise ValueError(f"field {last!r} twice in one record")
            current[last] = m["value"]
        elif HEX.match(line) and last:
            current[last] += line
        else:
            raise ValueError(f"unexpected line in a vector block: {line!r}")
    if current:
        records.append(current)
    return records


def _typed(record: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        key = name.replace(" ", "_")
        out[key] = int(value) if name in INTS else value
    return out


def parse(text: str) -> dict[str, Any]:
    """The vectors of the A.2 text, in the CFRG JSON's field names (hex strings)."""
    vectors: list[dict[str, Any]] = []
    section = ""
    mode = -1
    block: list[str] | None = None
    current: dict[str, Any] = {}
    for line in text.splitlines():
        if line == "~~~":
            if block is None:
                block = []
                continue
            records = [_typed(r) for r in _records(block)]
            block = None
            if section == "setup":
                (setup,) = records
                if setup["mode"] != mode:
                    raise ValueError(f"mode {setup['mode']} under the heading of mode {mode}")
                current = {**setup, "encryptions": [], "exports": []}
                vectors.append(current)
            elif section == "encryptions":
                current["encryptions"] = records
            elif section == "exports":
                current["exports"] = records
            continue
        if block is not None:
            block.append(line)
        elif m := re.match(r"^### (\w+) Setup Information$", line):
            section = "setup"
            mode = MODES[m[1]]
        elif line == "#### Encryptions":
            section = "encryptions"
        elif line == "#### Exported Values":
            section = "exports"
    if [v["mode"] for v in vectors] != sorted(MODES.values()):
        raise ValueError("expected one vector for each of the four modes, in order")
    if not all(v["encryptions"] and v["exports"] for v in vectors):
        raise ValueError("expected encryptions and exported values for every mode")
    return {
        "source": "RFC 9180 Appendix A.2: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, "
        "ChaCha20Poly1305 (parsed from rfc9180-a2.md by extract_rfc9180.py)",
        "vectors": vectors,
    }


def render() -> str:
    return json.dumps(parse(TEXT.read_text()), indent=2) + "\n"


def main(argv: list[str]) -> int:
    body = render()
    if "--check" in argv:
        if OUT.read_text() != body:
            print(f"{OUT.name} drifted from {TEXT.name}: rerun {Path(__file__).name}")
            return 1
        print(f"{OUT.name} matches {TEXT.name}")
        return 0
    OUT.write_text(body)
    print(f"wrote {OUT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
