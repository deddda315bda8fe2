"""``trm import`` on the real broker: errors file, summary, idempotent re-runs."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connectors.cli import main
from connectors.sdk import NodeStore, row_event_id
from hub.topics import Topics
from hub.wire import Envelope
from tests.support.kafka import read_topic
from tests.support.nodes import node_seal_keys, trust_list, write_state

pytestmark = pytest.mark.kafka

MAPPING = {
    "type": "referral",
    "to": ["KH"],
    "row_key": ["เลขที่"],
    "fields": {
        "case_number": "เลขที่",
        "referred_at": {"column": "วันที่", "as": "timestamp"},
        "names.0.full_name": "ชื่อ",
        "names.0.lang": {"const": "th-Thai"},
        "is_child": {"column": "เด็ก", "as": "bool"},
        "needs": {"column": "needs", "as": "list"},
    },
}
CSV = (
    "เลขที่,วันที่,ชื่อ,เด็ก,needs\n"
    "TH-1,2026-01-02,สมหญิง ใจดี,yes,SHELTER;MEDICAL\n"
    "TH-2,not a date,นารี,no,\n"
    "TH-3,2026-01-03,ស្រីពៅ,no,SHELTER\n"
    "TH-4,2026-01-04,,no,SPACESHIP\n"
)


async def test_import_csv_then_rerun_sends_nothing_twice(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_state(home)
    await node_seal_keys(kafka_bootstrap, topics, home, ["KH"])  # rows are sealed to KH
    run = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap})
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump(MAPPING, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "export.csv"
    data.write_text(CSV, encoding="utf-8")
    args = ["import", "--country", "TH", "--namespace", topics.namespace, "--type", "referral"]
    args += ["--map", str(mapping), "--json", str(data)]

    # A crash after journaling TH-1 as pending: the re-run must reuse that id.
    crashed_id = row_event_id("TH", "referral", "TH-1", 1_767_312_000_000)
    row_id = hashlib.sha256(b"TH\x00referral\x00TH-1").hexdigest()
    NodeStore(home / "nodes" / "TH").record(
        {"kind": "import", "row": row_id, "event_id": crashed_id, "state": "pending"}
    )
    res = await asyncio.to_thread(run.invoke, main, args)
    assert res.exit_code == 1, res.output  # some rows refused
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["sent"], summary["refused"]) == (4, 2, 2)
    assert summary["errors_file"] == str(tmp_path / "export.csv.errors.csv")
    text = (tmp_path / "export.csv.errors.csv").read_text(encoding="utf-8")
    errors = list(csv.DictReader(text.splitlines()))
    assert [e["row"] for e in errors] == ["3", "5"]
    assert [e["field"] for e in errors] == ["referred_at", "needs"]
    assert "SPACESHIP" not in errors[1]["detail"]  # details never quote values
    assert all(e["reason"] == "INVALID_PAYLOAD" for e in errors)
    assert "นารี" not in json.dumps(errors, ensure_ascii=False)  # no personal data in errors

    sent = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    envs = [Envelope.from_bytes(r.value) for r in sent]
    assert len(envs) == 2
    assert {e.header.sequence for e in envs} == {1, 2}
    from hub.home import StateDir
    from hub.sealkeys import Keyring
    from hub.wire import unseal, verify

    kh = Keyring.of(StateDir(home), "KH")  # sealed to KH: opened with KH's epoch key
    opened = [unseal(verify(e, trust_list()), recipient="KH", private_key=kh.private) for e in envs]
    names = sorted(o.fields["names"][0]["full_name"] for o in opened)
    assert names == sorted(["สมหญิง ใจดี", "ស្រីពៅ"])
    assert all(e.header.case_key.startswith("imp-") for e in envs)
    assert crashed_id in {e.header.event_id for e in envs}

    res = await asyncio.to_thread(run.invoke, main, args)  # re-run: nothing new
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["already_sent"], summary["refused"]) == (0, 2, 2)
    assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 2

    # Fixed rows are sent on the next run, with their stable ids; old ones are not.
    data.write_text(CSV.replace("not a date", "2026-01-05"), encoding="utf-8")
    res = await asyncio.to_thread(run.invoke, main, args)
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["already_sent"], summary["refused"]) == (1, 2, 1)
    assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 3

    wrong = tmp_path / "latin.csv"
    wrong.write_bytes(
        "เลขที่,วันที่,ชื่อ,เด็ก,needs\n".encode() + "T5,2026-01-01,José,no,\n".encode("latin-1")
    )
    res = await asyncio.to_thread(run.invoke, main, [*args[:-2], str(wrong)])
    assert res.exit_code == 1
    assert "rejected: BAD_ENCODING" in res.stderr
    assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 3


async def test_import_jsonl(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    await node_seal_keys(kafka_bootstrap, topics, home, ["KH"])  # rows are sealed to KH
    run = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap})
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps(
            {**MAPPING, "row_key": "id", "fields": {"case_number": "id", "is_child": "child"}}
        )
    )
    data = tmp_path / "rows.jsonl"
    data.write_text(
        '{"id": "A", "child": true}\n{"id": "B", "child": "no"}\nnot json\n', encoding="utf-8"
    )
    args = ["import", "--country", "TH", "--namespace", topics.namespace, "--map", str(mapping)]
    res = await asyncio.to_thread(run.invoke, main, [*args, "--json", str(data)])
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["refused"]) == (1, 2)
    errors = (tmp_path / "rows.jsonl.errors.csv").read_text(encoding="utf-8").splitlines()
    assert errors[1].startswith("2,is_child,INVALID_PAYLOAD")
    assert errors[2].startswith("3,,BAD_REQUEST")
    # Sealed by default; --unsealed (interop) sends v1, readable on the way.
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "C", "child": false}\n', encoding="utf-8")
    res = await asyncio.to_thread(run.invoke, main, [*args, "--unsealed", "--json", str(more)])
    assert json.loads(res.stdout.strip().splitlines()[-1])["sent"] == 1, res.output
    sent = [
        Envelope.from_bytes(r.value) for r in await read_topic(kafka_bootstrap, topics.outbox("TH"))
    ]
    assert [e.header.spec_version for e in sent] == [2, 1]
    assert [d.field for d in sent[1].disclosures] == ["case_number", "is_child"]
    # A recipient without a seal key: the row is refused, nothing sent.
    la = tmp_path / "map-la.json"
    la.write_text(
        json.dumps(
            {**MAPPING, "to": ["LA"], "row_key": "id",
             "fields": {"case_number": "id", "is_child": "child"}}
        )
    )  # fmt: skip
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "D", "child": false}\n', encoding="utf-8")
    res = await asyncio.to_thread(run.invoke, main, [*args[:-1], str(la), "--json", str(other)])
    assert res.exit_code == 1
    assert json.loads(res.stdout.strip().splitlines()[-1])["refused"] == 1
    assert ",SEAL_KEY_MISSING," in (tmp_path / "other.jsonl.errors.csv").read_text("utf-8")
    assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 2
