"""Every reason code is specified in docs/protocol.md, and every section marker is filled."""

from __future__ import annotations

import re
from pathlib import Path

from hub.errors import Reason

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_every_reason_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", text, re.M))
    missing = sorted(r.value for r in Reason if r.value not in documented)
    assert missing == []


def test_no_section_is_left_empty() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ("WIRE", "TRUST", "AGREEMENTS", "TOPICS", "AUDIT"):
        assert f"<!-- /SECTION:{name} -->" in text, name
