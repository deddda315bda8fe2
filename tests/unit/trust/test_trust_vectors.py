"""The trust-list vectors: each verifies or is refused with its reason; no drift from the script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.errors import TrustError
from hub.trust import TrustList

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
FILES = sorted((VECTORS / "trust").glob("*.json"))


def test_vectors_match_their_generator() -> None:
    done = subprocess.run(
        [sys.executable, str(VECTORS / "generate_trust.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_trust_vector(path: Path) -> None:
    v: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    previous = TrustList.from_signed(v["previous"]) if v["previous"] else None
    if v["expect"] == "ok":
        trust = TrustList.from_signed(v["document"], previous=previous)
        assert trust.version == v["document"]["signed"]["version"]
        return
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(v["document"], previous=previous)
    assert info.value.reason == v["expect"], info.value.detail
