"""A deployment's own event type, registered from a directory, through the real hub.

The type is not in the code: ``TRM_EVENT_TYPES`` names a temporary directory
with its schema and registration. A node seals and publishes it, the hub
worker (a subprocess given the same directory) routes it under a signed test
agreement that has a flow for it, and the recipient verifies it and gets only
the fields the agreement covers. A second recipient with no flow for the type
is refused: registering a type grants nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk import WITHHELD, CountryNode, InboxRecord, Rejection, Submission
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire.eventtypes import ENV_VAR, EventType, register_from, unregister
from tests.support.eventtypes import WELFARE_CHECK, WELFARE_PAYLOAD, write_welfare_check
from tests.support.hub import HUB_KEY, KEYS, trust_list
from tests.support.nodes import node_seal_keys
from tests.support.policy import agreement_from_table
from tests.support.procs import Worker, until

pytestmark = pytest.mark.kafka
COVERED = ["check_id", "outcome", "visited_at"]


@pytest.fixture
def welfare_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The type's directory, registered here and named to every subprocess."""
    directory = write_welfare_check(tmp_path / "event-types")
    monkeypatch.setenv(ENV_VAR, str(directory))
    assert WELFARE_CHECK not in EventType  # not a type of the project
    register_from(directory)
    try:
        yield directory
    finally:
        unregister(WELFARE_CHECK)


async def test_registered_type_is_routed_redacted_and_verified(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, welfare_dir: Path
) -> None:
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    # TH and CN are parties of another flow, but no flow carries a welfare check to CN.
    agreement = agreement_from_table(
        {f"TH>KH:{WELFARE_CHECK}": COVERED, "TH>CN:trafficker_alert": ["kind"]},
        KEYS,
        agreement_id="TEST-welfare",
    )
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(trust_list().document.to_json()).encode(), [agreement]
    )
    roots = {"TH": tmp_path / "th", "KH": tmp_path / "kh", "CN": tmp_path / "cn"}
    await node_seal_keys(kafka_bootstrap, topics, roots, roots, keys=KEYS, trust=trust_list())
    worker = Worker(kafka_bootstrap, topics, home)
    worker.start()
    try:
        th = CountryNode(
            "TH", KEYS["TH"], trust_list(), kafka_bootstrap,
            topics=topics, state=StateDir(tmp_path / "th"),
        )  # fmt: skip
        kh = CountryNode(
            "KH", KEYS["KH"], trust_list(), kafka_bootstrap,
            topics=topics, state=StateDir(tmp_path / "kh"),
        )  # fmt: skip
        sub = Submission.from_json(
            {"type": WELFARE_CHECK, "to": ["KH", "CN"], "case_key": "case-wc",
             "payload": WELFARE_PAYLOAD}
        )  # fmt: skip
        assert sub.purpose == "reintegration"  # the registered default purpose
        async with th:
            event_id = await th.publish(sub)

        async def kh_inbox() -> list[InboxRecord]:
            return [r async for r in kh.inbox()]

        (record,) = await until(kh_inbox, worker)
        assert record.event_id == event_id
        assert record.event_type == WELFARE_CHECK
        assert (record.producer, record.purpose) == ("TH", "reintegration")
        assert "TEST-welfare@" in record.agreement  # the hub's attestation names it
        assert record.fields == {k: WELFARE_PAYLOAD[k] for k in COVERED}
        assert record.get("social_worker_notes") is WITHHELD  # not covered: withheld
        assert record.summary == {"outcome": "SAFE"}  # the registered summary

        async def th_rejections() -> list[Rejection]:
            return [r async for r in th.rejections()]

        (refused,) = await until(th_rejections, worker)
        assert (refused.event_id, refused.recipient) == (event_id, "CN")
        assert refused.reason == "EVENT_TYPE_NOT_ALLOWED"  # a flow, but not for this type
        worker.alive()
    finally:
        worker.stop()
