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


HOSTILE_NAME = "Plain [/bold] Name"
LINK = "[link=http://evil.example]CLICK[/link]"


async def test_inbox_shows_received_text_as_data_and_marks_only_what_it_showed(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 (5): markup in a name neither crashes the inbox nor loses events."""
    home = tmp_path / "home"
    write_state(home)
    run = _runner(home, kafka_bootstrap)
    ns = ["--namespace", topics.namespace]
    copies = []
    names = [
        HOSTILE_NAME,
        f"{LINK} :smile:",
        "Esc\x1b[2J\x1b]8;;http://evil.example\x1b\\here\x1b]8;;\x1b\\ \u202egnp.exe\x9b31m",
        "Clean Name",
    ]
    for i, name in enumerate(names):
        payload = {**example("handover_notice"), "names": [{"full_name": name, "lang": "en"}]}
        copies.append(
            delivered_copy(
                "handover_notice",
                payload,
                producer="TH",
                recipient="KH",
                keep={"status", "names"},
                created_at_ms=1_767_300_000_000 + i,
                case_key=f"case-{i}",
                sequence=i + 1,
            )
        )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for env, headers in copies:
            await producer.send_and_wait(
                topics.inbox("KH"), env.to_bytes(), key=b"c", headers=headers, partition=0
            )
    finally:
        await producer.stop()

    def inbox(*extra: str) -> Any:
        return run.invoke(main, ["node", "inbox", "--country", "KH", *ns, *extra])

    # The terminal fails while the table is written: nothing may count as shown.
    from rich.console import Console

    real_print = Console.print

    def broken_print(self: Console, *args: Any, **kwargs: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Console, "print", broken_print)
    broken = await asyncio.to_thread(inbox)
    assert broken.exit_code != 0
    monkeypatch.setattr(Console, "print", real_print)

    for extra in ((), ("--all",), ("--all",)):
        res = await asyncio.to_thread(inbox, *extra)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.output
        assert res.exit_code == 0, res.output
        flat = " ".join(res.stdout.split())  # the table folds long cells
        assert HOSTILE_NAME in flat
        assert LINK in flat
        assert ":smile:" in flat
        assert "Clean Name" in flat
        assert "\x1b" not in res.stdout
        assert "\x9b" not in res.stdout
        assert "\u202e" not in res.stdout
        assert "\\x1b" in res.stdout
    res = await asyncio.to_thread(inbox)  # all four were shown: nothing new
    assert res.exit_code == 0, res.output
    assert "Clean Name" not in res.stdout
    assert "handover_notice" not in res.stdout

    follow_home = tmp_path / "home2"
    write_state(follow_home)
    res = await asyncio.to_thread(
        _runner(follow_home, kafka_bootstrap).invoke,
        main,
        ["node", "inbox", "--country", "KH", *ns, "--json"],
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["fields"]["names"][0]["full_name"] for r in rows] == names  # JSON keeps the data
