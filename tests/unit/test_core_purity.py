"""The pure core imports no Faust, no Kafka client and no network code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hub

# Modules of the pure core. Later parts add theirs here as they land.
PURE = [
    "hub.compiled",
    "hub.errors",
    "hub.keys",
    "hub.durable",
    "hub.topics",
    "hub.signed_doc",
    "hub.textdoc",
    "hub.trust",
    "hub.wire",
    "schemas",
    "hub.pipeline",
    "hub.state",
    "hub.decision",
    "hub.policy",
    "hub.policy.agreement",
    "hub.policy.engine",
    "hub.audit",
    "hub.audit.leaf",
    "hub.audit.log",
    "hub.audit.merkle",
    "hub.audit.note",
    "hub.audit.replay",
    "hub.audit.report",
    "hub.audit.witness",
    "hub.home",
    "hub.sealkeys",
    "hub.asyncapi",
    "hub.conformance",
    "hub.matching",
    "hub.charts",
    "hub.cases",
    "hub.stats",
]
FORBIDDEN = ["faust", "aiokafka", "mode", "aiohttp", "socket", "kafka"]
# Packages below hub/ that are not the pure core: the Kafka edge and the operator's tooling.
EDGE = ("hub.app", "hub.ops")


def test_every_pure_package_is_listed() -> None:
    """A new module of the core is checked as soon as it exists."""
    root = Path(hub.__file__).parent
    modules = {
        ".".join(("hub", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for p in root.rglob("*.py")
    }
    core = {m for m in modules if m != "hub" and not m.startswith(EDGE)}
    missing = {m for m in core if m not in PURE and not any(m.startswith(f"{p}.") for p in PURE)}
    assert missing == set()


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
