"""The pure core imports no Faust, no Kafka client and no network code."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Modules of the pure core. Later parts add theirs here as they land.
PURE = [
    "hub.errors",
    "hub.keys",
    "hub.topics",
    "hub.signed_doc",
    "hub.trust",
    "hub.wire",
    "schemas",
    "hub.pipeline",
    "hub.state",
]
FORBIDDEN = ["faust", "aiokafka", "mode", "aiohttp", "socket", "kafka"]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_runtime(module: str) -> None:
    code = (
        "import sys\n"
        f"import {module}\n"
        f"bad = sorted(m for m in {FORBIDDEN!r} if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{module} pulled in {out}"
