"""``trm node publish | inbox | ack | rejections`` on the real broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from connectors.cli import main
from hub.topics import Topics
from hub.wire import Envelope
from tests.support.kafka import read_topic
from tests.support.nodes import delivered_copy, example, node_seal_keys, write_state

pytestmark = pytest.mark.kafka


def _runner(home: Path, bootstrap: str) -> CliRunner:
    return CliRunner(
        env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": bootstrap, "COLUMNS": "250"}
    )


def _sub(path: Path, obj: Any) -> str:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return str(path)


async def test_node_cli_round(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    await node_seal_keys(kafka_bootstrap, topics, home)  # nodes seal to each other
    run = _runner(home, kafka_bootstrap)
    ns = ["--namespace", topics.namespace]
    good = _sub(
        tmp_path / "a.json",
        {
            "type": "handover_notice",
            "to": "KH",
            "case_key": "c-1",
            "payload": example("handover_notice"),
        },
    )
    bad = _sub(
        tmp_path / "b.json",
        {
            "type": "handover_notice",
            "to": "KH",
            "case_key": "c-2",
            "payload": {"planned_at": "soon"},
        },
    )
    latin1 = tmp_path / "c.json"
    latin1.write_bytes('{"type": "referral", "note": "é"}'.encode("latin-1"))

    res = await asyncio.to_thread(
        run.invoke, main, ["node", "publish", "--country", "TH", *ns, good, bad]
    )
    assert res.exit_code == 1
    assert "rejected: INVALID_PAYLOAD" in res.stderr
    assert "planned_at" in res.stderr
    res = await asyncio.to_thread(
        run.invoke, main, ["node", "publish", "--country", "TH", *ns, str(latin1)]
    )
    assert res.exit_code == 1
    assert "rejected: BAD_ENCODING" in res.stderr
    assert await read_topic(kafka_bootstrap, topics.outbox("TH")) == []  # nothing half-sent

    res = await asyncio.to_thread(
        run.invoke, main, ["node", "publish", "--country", "TH", *ns, good]
    )
    assert res.exit_code == 0, res.output
    event_id = res.stdout.strip()
    sent = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    assert [Envelope.from_bytes(r.value).header.event_id for r in sent] == [event_id]

    env, headers = delivered_copy(
        "handover_notice",
        example("handover_notice"),
        producer="TH",
        recipient="KH",
        keep={"status", "names", "checkpoint"},
        created_at_ms=1_767_300_000_000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.inbox("KH"), env.to_bytes(), key=b"c", headers=headers)
        await producer.send_and_wait(
            topics.rejections("TH"),
            json.dumps(
                {
                    "event_id": event_id,
                    "producer": "TH",
                    "recipient": "KH",
                    "reason": "NO_AGREEMENT",
                    "detail": "none",
                    "source": "s",
                }
            ).encode(),
        )
    finally:
        await producer.stop()

    res = await asyncio.to_thread(
        run.invoke, main, ["node", "inbox", "--country", "KH", *ns, "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["event_id"] for r in rows] == [env.header.event_id]
    assert "escort_officers" in rows[0]["withheld"]
    assert rows[0]["fields"]["names"][0]["full_name"] == "សុខ ស្រីពៅ"
    res = await asyncio.to_thread(run.invoke, main, ["node", "inbox", "--country", "KH", *ns])
    assert res.exit_code == 0
    assert "handover_notice" not in res.stdout  # already shown: dedupe across runs
    res = await asyncio.to_thread(
        run.invoke, main, ["node", "inbox", "--country", "KH", *ns, "--all"]
    )
    assert "handover_notice" in res.stdout
    assert "withheld" in res.stdout

    res = await asyncio.to_thread(
        run.invoke,
        main,
        ["node", "ack", "--country", "KH", *ns, env.header.event_id, "--status", "ACCEPTED"],
    )
    assert res.exit_code == 0, res.output
    acks = await read_topic(kafka_bootstrap, topics.outbox("KH"))
    assert Envelope.from_bytes(acks[0].value).header.event_id == res.stdout.strip()
    res = await asyncio.to_thread(
        run.invoke,
        main,
        ["node", "ack", "--country", "KH", *ns, "0190aaaa-0000-7000-8000-000000000000"],
    )
    assert res.exit_code == 1
    assert "rejected: NOT_FOUND" in res.stderr

    res = await asyncio.to_thread(
        run.invoke, main, ["node", "rejections", "--country", "TH", *ns, "--json"]
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["reason"] == "NO_AGREEMENT"

    res = await asyncio.to_thread(run.invoke, main, ["node", "inbox", "--country", "kh", *ns])
    assert res.exit_code == 1
    assert "UNKNOWN_COUNTRY" in res.stderr


async def test_node_refuses_another_countrys_key(kafka_bootstrap: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    (home / "keys" / "TH.key").write_bytes((home / "keys" / "KH.key").read_bytes())
    run = _runner(home, kafka_bootstrap)
    good = _sub(
        tmp_path / "a.json", {"type": "referral", "to": "KH", "case_key": "c", "payload": {}}
    )
    res = await asyncio.to_thread(run.invoke, main, ["node", "publish", "--country", "TH", good])
    assert res.exit_code == 1
    assert "rejected: KEY_ROLE_NOT_ALLOWED" in res.stderr
    assert "not a producer key of TH" in res.stderr
