"""Issue 16 (4): an event too large for the hub is refused OVERSIZED before it is sent.

``trm node publish`` with a 10 MB ``case_number`` said ``KAFKA_UNAVAILABLE
…MessageSizeTooLargeError`` while the broker was up, and used a sequence number
(the audit replay then warned SEQUENCE_GAP). Now the sealed envelope is measured
against the hub's one limit (``hub.wire.DEFAULT_MAX_SIZE``) before a number is
taken; and should the broker still refuse a record as too large (a topic's
``max.message.bytes`` set lower), that is OVERSIZED too and the number is given
back. The importer publishes through the same SDK path.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from click.testing import CliRunner

from connectors.cli import main
from connectors.sdk import CountryNode, Submission
from hub.errors import Reason, TrmError
from hub.home import StateDir
from hub.topics import Topics
from hub.wire import DEFAULT_MAX_SIZE, Envelope
from tests.support.kafka import read_topic
from tests.support.nodes import KEYS, example, node_seal_keys, trust_list, write_state

pytestmark = pytest.mark.kafka

MB = 1_000_000


def _submission(path: Path, case_number: str, case_key: str = "c-1") -> str:
    payload = {**example("referral"), "case_number": case_number}
    doc = {"type": "referral", "to": "KH", "case_key": case_key, "payload": payload}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _sequence_file(home: Path) -> Path:
    return home / "nodes" / "TH" / "sequence"


async def test_publish_refuses_an_oversized_event_without_using_a_number(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_state(home)
    await node_seal_keys(kafka_bootstrap, topics, home)
    run = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap})
    ns = ["--namespace", topics.namespace]
    for size, extra in ((10 * MB, ()), (2 * MB, ()), (2 * MB, ("--unsealed",)),
                        (DEFAULT_MAX_SIZE, ())):  # fmt: skip
        big = _submission(tmp_path / "big.json", "N" * size)
        res = await asyncio.to_thread(
            run.invoke, main, ["node", "publish", "--country", "TH", *ns, *extra, big]
        )
        assert res.exception is None or isinstance(res.exception, SystemExit), res.output
        assert res.exit_code == 1, (size, res.output)
        assert res.stderr.startswith("rejected: OVERSIZED: "), (size, res.stderr)
        assert "KAFKA_UNAVAILABLE" not in res.stderr
        assert "bytes" in res.stderr  # says what is allowed
        if size < 5 * MB:  # (10 MB of JSON is refused on reading, before it is parsed)
            assert f"at most {DEFAULT_MAX_SIZE} bytes (the hub's limit)" in res.stderr
        assert "NNNN" not in res.stderr  # never the content
        assert not _sequence_file(home).exists() or _sequence_file(home).read_text() == "0"
    # A good file after a refused one in the same call: nothing is sent at all.
    good = _submission(tmp_path / "good.json", "TH-2026-1", "c-2")
    res = await asyncio.to_thread(
        run.invoke, main, ["node", "publish", "--country", "TH", *ns, good, big]
    )
    assert res.exit_code == 1
    assert res.stderr.startswith("rejected: OVERSIZED: ")
    assert await read_topic(kafka_bootstrap, topics.outbox("TH")) == []

    res = await asyncio.to_thread(
        run.invoke, main, ["node", "publish", "--country", "TH", *ns, good]
    )
    assert res.exit_code == 0, res.output
    sent = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    assert [Envelope.from_bytes(r.value).header.sequence for r in sent] == [1]  # no gap
    assert _sequence_file(home).read_text() == "1"


async def _limit_topic(bootstrap: str, topic: str, max_bytes: int) -> None:
    """Set ``max.message.bytes`` on one topic and wait until the broker applies it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        described = await admin.describe_configs([resource])
        own: dict[str, Any] = {}
        for response in described:
            for _err, _msg, _type, _name, entries in response.resources:
                for entry in entries:
                    source = entry[3]
                    topic_level = (not source) if isinstance(source, bool) else source == 1
                    if topic_level and entry[1] is not None:
                        own[entry[0]] = entry[1]
        own["max.message.bytes"] = str(max_bytes)
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=own)])
        for _ in range(100):
            described = await admin.describe_configs([resource])
            values = {e[0]: e[1] for r in described for res in r.resources for e in res[4]}
            if values.get("max.message.bytes") == str(max_bytes):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the broker did not apply max.message.bytes to {topic}")
    finally:
        await admin.close()


async def test_a_broker_refusing_a_record_as_too_large_is_oversized_and_uses_no_number(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["KH"])
    await _limit_topic(kafka_bootstrap, topics.outbox("TH"), 20_000)
    node = CountryNode("TH", KEYS["TH"], trust_list(), kafka_bootstrap, topics=topics,
                       state=StateDir(tmp_path))  # fmt: skip

    def sub(case_number: str, case_key: str) -> Submission:
        payload = {**example("referral"), "case_number": case_number}
        return Submission.from_json(
            {"type": "referral", "to": "KH", "case_key": case_key, "payload": payload}
        )

    async with node:
        with pytest.raises(TrmError) as info:
            await node.publish(sub("N" * 50_000, "c-1"))  # under the hub's limit, over the topic's
        assert info.value.reason is Reason.OVERSIZED
        assert "NNNN" not in info.value.detail
        assert node.store.last_sequence() == 0
        first = await node.publish(sub("TH-2026-1", "c-2"))
        second = await node.publish(sub("TH-2026-2", "c-3"))
    sent = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    envs = [Envelope.from_bytes(r.value) for r in sent]
    assert [e.header.event_id for e in envs] == [first, second]
    assert [e.header.sequence for e in envs] == [1, 2]  # no gap
