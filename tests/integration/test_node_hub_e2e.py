"""CountryNode through the real hub worker (a subprocess): publish -> policy ->
redacted, attested delivery -> verified inbox -> acknowledgement back; refusal
reasons in the producer's rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.sdk import WITHHELD, CountryNode, InboxRecord, Rejection, Submission
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from tests.support.hub import HUB_KEY, KEYS, example, trust_list
from tests.support.nodes import node_seal_keys
from tests.support.policy import agreement_from_table
from tests.support.procs import Worker, until

pytestmark = pytest.mark.kafka
KEEP = ["case_number", "needs", "languages", "is_child", "receiving_organisation"]
POLICY = {"TH>KH:referral": KEEP, "KH>TH:acknowledgement": ["status", "acknowledged_event_id"]}


async def test_node_through_hub_worker(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    agreement = agreement_from_table(POLICY, KEYS, agreement_id="TH-KH")
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(trust_list().document.to_json()).encode(), [agreement]
    )
    roots = {"TH": tmp_path / "th", "KH": tmp_path / "kh", "CN": tmp_path / "cn"}
    await node_seal_keys(kafka_bootstrap, topics, roots, roots, keys=KEYS, trust=trust_list())
    worker = Worker(kafka_bootstrap, topics, home)
    worker.start()
    try:
        th = CountryNode(
            "TH",
            KEYS["TH"],
            trust_list(),
            kafka_bootstrap,
            topics=topics,
            state=StateDir(tmp_path / "th"),
        )
        kh = CountryNode(
            "KH",
            KEYS["KH"],
            trust_list(),
            kafka_bootstrap,
            topics=topics,
            state=StateDir(tmp_path / "kh"),
        )
        sub = Submission.from_json(
            {
                "type": "referral",
                "to": ["KH", "CN"],
                "case_key": "case-e2e",
                "payload": example("referral"),
            }
        )
        async with th:
            event_id = await th.publish(sub)

        async def kh_inbox() -> list[InboxRecord]:
            return [r async for r in kh.inbox()]

        (record,) = await until(kh_inbox, worker)
        assert record.event_id == event_id
        assert record.get("names") is WITHHELD  # the agreement does not cover names
        assert set(record.fields) == set(KEEP) & set(example("referral"))
        assert "TH-KH@" in record.agreement

        async def th_rejections() -> list[Rejection]:
            return [r async for r in th.rejections()]

        rejections = await until(th_rejections, worker)
        assert [(r.event_id, r.recipient, r.reason) for r in rejections][:1] == [
            (event_id, "CN", "NO_AGREEMENT")
        ]

        async with kh:
            ack_id = await kh.acknowledge(record, status="ACCEPTED")

        async def th_inbox() -> list[InboxRecord]:
            return [r async for r in th.inbox()]

        (ack,) = await until(th_inbox, worker)
        assert ack.event_id == ack_id
        assert ack.event_type == "acknowledgement"
        assert ack.fields["acknowledged_event_id"] == event_id
        assert ack.fields["status"] == "ACCEPTED"
        assert await kh_inbox() == []  # dedupe: nothing new on a second pass
        worker.alive()
    finally:
        worker.stop()
