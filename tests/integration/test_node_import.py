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


# --- issue 16: the importer's doors on the real broker -------------------------------

DOOR_MAP = {
    "type": "referral",
    "to": ["KH"],
    "row_key": ["id"],
    "fields": {
        "case_number": "id",
        "names.0.full_name": "name",
        "names.0.lang": {"const": "km-Latn"},
        "consent.status": "consent",
        "consent.scope": {"column": "scope", "as": "list", "default": []},
    },
}


async def _setup(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> tuple[Path, CliRunner, list[str]]:
    home = tmp_path / "home"
    write_state(home)
    await node_seal_keys(kafka_bootstrap, topics, home, ["KH"])
    run = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap})
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump(DOOR_MAP), encoding="utf-8")
    args = ["import", "--country", "TH", "--namespace", topics.namespace, "--map", str(mapping)]
    return home, run, args


async def _opened(kafka_bootstrap: str, topics: Topics, home: Path) -> list[dict[str, object]]:
    from hub.home import StateDir
    from hub.sealkeys import Keyring
    from hub.wire import unseal, verify

    kh = Keyring.of(StateDir(home), "KH")
    sent = [
        Envelope.from_bytes(r.value) for r in await read_topic(kafka_bootstrap, topics.outbox("TH"))
    ]
    return [
        dict(unseal(verify(e, trust_list()), recipient="KH", private_key=kh.private).fields)
        for e in sent
    ]


async def test_csv_broken_row_never_swallows_the_next_rows(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home, run, args = await _setup(kafka_bootstrap, topics, tmp_path)
    data = tmp_path / "export.csv"
    data.write_text(
        "id,name,consent,scope\n"
        'R1,Sok Sreypov,GIVEN,"repatriation\n'  # the quote is never closed
        "R2,Chan Dara,GIVEN,family_tracing\n"
        "R3,Nary Kim,NOT_ASKED,\n"
        "R2,Chan Dara,GIVEN,repatriation\n",  # the same row key, other content
        encoding="utf-8",
    )
    res = await asyncio.to_thread(run.invoke, main, [*args, "--json", str(data)])
    assert res.exit_code == 1, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["sent"], summary["refused"]) == (4, 2, 2)
    errors = list(
        csv.DictReader((tmp_path / "export.csv.errors.csv").read_text("utf-8").splitlines())
    )
    assert [(e["row"], e["reason"]) for e in errors] == [
        ("2", "BAD_REQUEST"),
        ("5", "ROW_KEY_CONFLICT"),
    ]
    assert "Chan" not in json.dumps(errors)
    progress = [json.loads(x)["progress"] for x in res.stderr.splitlines() if x.startswith("{")]
    assert progress[-1]["rows"] == 4
    # KH gets R2 and R3 as they were written, and nothing of them inside another row.
    opened = await _opened(kafka_bootstrap, topics, home)
    assert sorted(str(o["case_number"]) for o in opened) == ["R2", "R3"]
    assert not any("Nary" in json.dumps(o["consent"]) for o in opened)


async def test_jsonl_hostile_rows_refused_and_the_rest_sent(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home, run, args = await _setup(kafka_bootstrap, topics, tmp_path)
    data = tmp_path / "rows.jsonl"
    lines = [
        '{"id": "J1", "name": "' + "x" * 2_000_000 + '", "consent": "NOT_ASKED"}',
        "[" * 100_000 + "]" * 100_000,
        '{"id": "J3", "name": "\\ud800", "consent": "NOT_ASKED"}',
        '{"id": "J4", "n": ' + "7" * 5001 + "}",
        '{"id": "J5", "consent": "NOT_ASKED", "consent": "GIVEN"}',
        '{"id": "J6", "name": "Mey", "consent": "NOT_ASKED"}',
        '{"id": "J7", "name": "Sophea", "consent": "NOT_ASKED"}',
    ]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = await asyncio.to_thread(run.invoke, main, [*args, "--json", str(data)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["sent"], summary["refused"]) == (7, 2, 5)
    errors = list(
        csv.DictReader((tmp_path / "rows.jsonl.errors.csv").read_text("utf-8").splitlines())
    )
    assert [(e["row"], e["reason"]) for e in errors] == [
        ("1", "OVERSIZED"),
        ("2", "BAD_REQUEST"),
        ("3", "BAD_ENCODING"),
        ("4", "BAD_REQUEST"),
        ("5", "BAD_REQUEST"),
    ]
    # A re-run sends nothing again and is not stuck on the refused rows.
    res = await asyncio.to_thread(run.invoke, main, [*args, "--json", str(data)])
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["already_sent"], summary["refused"]) == (0, 2, 5)
    opened = await _opened(kafka_bootstrap, topics, home)
    assert sorted(str(o["case_number"]) for o in opened) == ["J6", "J7"]


async def test_ctrl_c_prints_what_was_sent_and_a_rerun_resumes(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    import os
    import signal
    import time

    from tests.support.procs import REPO, TRM

    home, _, args = await _setup(kafka_bootstrap, topics, tmp_path)
    data = tmp_path / "big.csv"
    total = 800
    data.write_text(
        "id,name,consent,scope\n" + "".join(f"B{i},Name {i},NOT_ASKED,\n" for i in range(total)),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRM_HOME": str(home),
        "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap,
    }
    # A shell runs a background job with SIGINT ignored, and an ignored signal stays
    # ignored through exec: give the importer the default disposition a terminal's
    # Ctrl-C meets, whatever ran this test.
    proc = await asyncio.create_subprocess_exec(
        TRM, *args, "--json", str(data),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    journal = home / "nodes" / "TH" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"state":"sent"') >= 20:
            break
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Aborted!" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped"] == "interrupted"
    assert "run the same command again" in summary["resume"]
    assert 20 <= summary["sent"] < total
    assert summary["rows"] == summary["sent"]
    assert summary["total"] == total
    assert summary["last_line"] == summary["rows"] + 1
    assert any(json.loads(x).get("progress") for x in err.splitlines() if x.startswith("{"))
    # Text mode says the same in words.
    again = await asyncio.create_subprocess_exec(
        TRM, *args, str(data),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out_b, err_b = await asyncio.wait_for(again.communicate(), 300)
    assert again.returncode == 0, err_b.decode()
    assert f"already sent {summary['sent']}" in out_b.decode()
    sent = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    assert len({Envelope.from_bytes(r.value).header.event_id for r in sent}) == total
