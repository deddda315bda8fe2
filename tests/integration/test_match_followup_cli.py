"""The follow-up commands on the real broker, as separate processes, under the EXAMPLE
agreements: Thailand asks (``followup``), Viet Nam lists (``pending --json``),
is refused a decline without a reason, approves, and Thailand reads the answer
(``answers --json``); Cambodia's follow-up is refused by the hub and
``followup --wait`` says so (``rejected: EVENT_TYPE_NOT_ALLOWED: ...``, exit 1).

The commands are run from :data:`connectors.cli.match_followup.COMMANDS` in a
click group of their own, as the ``trm match`` group runs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk.store import NodeStore
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    agreement_file,
    example_key,
)
from tests.support.nodes import node_seal_keys
from tests.support.procs import REPO, Worker

pytestmark = pytest.mark.kafka

NAME = "Nguyễn Văn Đức"
REFERENCE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
QUERY_ID = "019b71a0-2400-7a3c-9d3e-000000000001"
MATCH = (
    "import sys, click\n"
    "from connectors.cli.match_followup import COMMANDS\n"
    "click.Group('match', commands={c.name: c for c in COMMANDS})(sys.argv[1:])\n"
)


def _match(
    home: Path, bootstrap: str, topics: Topics, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRM_HOME": str(home),
        "TRM_KAFKA_BOOTSTRAP": bootstrap,
    }
    verb, *rest = args
    return subprocess.run(
        [sys.executable, "-c", MATCH, verb, "--namespace", topics.namespace, *rest],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _until(fn: Any, worker: Worker, what: str) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        worker.alive()
        got = fn()
        if got:
            return got
        time.sleep(1.0)
    raise AssertionError(f"{what} never came; log:\n{worker.log_tail()}")


def test_follow_up_commands_end_to_end(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    countries = ("TH", "VN", "KH")
    for cc in countries:
        write_private_key(example_key(cc), home / "keys" / f"{cc}.key")
    (home / "trust.json").write_text(json.dumps(TRUST.document.to_json()), encoding="utf-8")
    hub_home = tmp_path / "hub"
    write_private_key(HUB_KEY, hub_home / "keys" / "HUB.key")
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    asyncio.run(
        node_seal_keys(
            kafka_bootstrap, topics, home, countries,
            keys={cc: example_key(cc) for cc in countries}, trust=TRUST,
        )
    )  # fmt: skip
    NodeStore(StateDir(home).node("VN")).keep_match_registration(
        REFERENCE, {"kind": "name", "value": NAME, "birth_year": 1988, "issuing_state": None}
    )
    worker = Worker(kafka_bootstrap, topics, hub_home)
    worker.start()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _match(home, kafka_bootstrap, topics, *args)

    try:
        asked = run(
            "followup", "--country", "TH", "--owner", "VN", "--reference", REFERENCE,
            "--query-id", QUERY_ID, "--case-ref", "TH-DSI-2026-0147",
            "--purpose", "investigation", "--kind", "name",
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        request_id = asked.stdout.strip()

        def pending() -> list[dict[str, Any]]:
            out = run("pending", "--country", "VN", "--json")
            assert out.returncode == 0, out.stderr
            return [json.loads(line) for line in out.stdout.splitlines()]

        (listed,) = _until(pending, worker, "the request at VN")
        assert (listed["event_id"], listed["from"], listed["reference"]) == (
            request_id, "TH", REFERENCE,
        )  # fmt: skip
        assert NAME not in json.dumps(listed, ensure_ascii=False)

        refused = run("decline", "--country", "VN", "--request", request_id, "--reason", " ")
        assert refused.returncode == 1
        assert refused.stderr.startswith("rejected: BAD_REQUEST: expected a reason")
        approved = run("approve", "--country", "VN", "--request", request_id)
        assert approved.returncode == 0, approved.stderr
        assert pending() == []

        def answers() -> list[dict[str, Any]]:
            out = run("answers", "--country", "TH", "--json")
            assert out.returncode == 0, out.stderr
            return [json.loads(line) for line in out.stdout.splitlines()]

        (answer,) = _until(answers, worker, "the answer at TH")
        assert answer["event_id"] == approved.stdout.strip()
        assert answer["requested"] is True
        assert answer["decision"] == "APPROVED"
        assert answer["identity"]["names"] == [NAME]
        assert "documents" in answer["withheld"]
        shown = run("answers", "--country", "TH")
        assert NAME in shown.stdout
        assert "APPROVED" in shown.stdout

        stray = run(
            "followup", "--country", "KH", "--owner", "VN", "--reference", REFERENCE,
            "--query-id", QUERY_ID, "--case-ref", "KH-2026-9", "--purpose", "investigation",
            "--wait", "60",
        )  # fmt: skip
        assert stray.returncode == 1, stray.stdout
        assert stray.stderr.startswith("rejected: EVENT_TYPE_NOT_ALLOWED: "), stray.stderr
        assert "match_followup" in stray.stderr
        assert "Traceback" not in stray.stderr
    finally:
        worker.stop()
