"""Erasure of one person, end to end on the real broker, with a recipient that is offline.

Thailand refers a child to Cambodia and Laos (sealed); both nodes open the
referral and keep it in their vaults. Laos then goes offline. Thailand asks
for the case to be erased: Cambodia erases it at once and confirms; the
auditor's replay shows Cambodia CONFIRMED and Laos PENDING. Laos comes back,
reads its inbox, erases and confirms; now both are CONFIRMED. Neither vault
holds the child's name any more, a late copy of the case is not kept again,
and the inclusion proof of the delivery to Cambodia against a checkpoint
signed before the erasure, and the consistency proof from that checkpoint to
the newest, verify: the log never held personal data, so nothing in it changed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.cli.audit import read_replay_input, run_replay
from connectors.sdk import CountryNode, InboxRecord, Submission
from hub.audit.merkle import verify_consistency, verify_inclusion
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.policy import AgreementSet, parse_agreement
from hub.topics import Topics
from hub.wire import Envelope, EventType, payload_fields
from tests.support.canary import scan_files
from tests.support.hub import HUB_KEY, KEYS, example, trust_list
from tests.support.kafka import read_topic
from tests.support.nodes import node_seal_keys
from tests.support.policy import agreement_from_table
from tests.support.procs import TRM, Proc, Worker, wait_for

pytestmark = pytest.mark.kafka
NAME = "សុខ ស្រីពៅ"
POLICY = {
    "TH>KH:referral": payload_fields("referral"),
    "TH>LA:referral": payload_fields("referral"),
    "TH>KH:erasure_request": payload_fields("erasure_request"),
    "TH>LA:erasure_request": payload_fields("erasure_request"),
    "KH>TH:erasure_confirmation": payload_fields("erasure_confirmation"),
    "LA>TH:erasure_confirmation": payload_fields("erasure_confirmation"),
}


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def _checkpoint(text: str) -> tuple[int, bytes]:
    """(size, root) of a signed checkpoint note's body."""
    lines = text.split("\n")
    return int(lines[1]), base64.b64decode(lines[2])


async def test_erasure_end_to_end_with_a_recipient_offline(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust = trust_list()
    agreement = agreement_from_table(POLICY, KEYS, agreement_id="TH-KH-LA")
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(trust.document.to_json()).encode(), [agreement]
    )
    roots = {cc: tmp_path / cc.lower() for cc in ("TH", "KH", "LA")}
    await node_seal_keys(kafka_bootstrap, topics, roots, list(roots), keys=KEYS, trust=trust)
    port = kafka_local.free_port()
    worker = Worker(kafka_bootstrap, topics, home)
    sequencer = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", kafka_bootstrap,
         "--namespace", topics.namespace, "--web-port", str(port),
         "--every-ms", "500", "--every-leaves", "4"],
        home,
        "sequencer",
    )  # fmt: skip
    worker.start()
    sequencer.start()
    procs: list[Proc] = [worker, sequencer]
    nodes = {
        cc: CountryNode(
            cc, KEYS[cc], trust, kafka_bootstrap, topics=topics, state=StateDir(roots[cc])
        )
        for cc in roots
    }
    th, kh, la = nodes["TH"], nodes["KH"], nodes["LA"]
    agreements = AgreementSet.of([parse_agreement(agreement[1])])

    def reader(node: CountryNode) -> Callable[[], Awaitable[list[InboxRecord]]]:
        async def read() -> list[InboxRecord]:
            return [r async for r in node.inbox()]

        return read

    def replay_now() -> dict[str, str] | None:
        """Each recipient's erasure status, once the log has caught up and the replay is clean."""
        report = run_replay(kafka_bootstrap, topics, trust, agreements)
        if not report.ok:  # the sequencer has not logged the latest decisions yet
            return None
        return {e.recipient: e.status for e in report.erasures}

    try:
        referral = Submission(
            EventType.REFERRAL,
            ("KH", "LA"),
            "repatriation",
            "H2",
            "case-erase",
            json.loads(json.dumps(example("referral"))),
        )
        async with th:
            referral_id = await th.publish(referral)
        for node in (kh, la):
            (got,) = await wait_for(reader(node), procs, f"the referral at {node.country}")
            assert got.fields["names"][0]["full_name"] == NAME
            assert node.store.opened(referral_id) is not None  # kept in the vault

        # A checkpoint signed before the erasure, and the delivery to KH in it.
        kh_copy = Envelope.from_bytes(
            (await read_topic(kafka_bootstrap, topics.inbox("KH")))[0].value
        )
        leaf_ref = kh_copy.attestations[-1].leaf_ref

        async def proof_before() -> dict[str, Any] | None:
            try:
                got = await asyncio.to_thread(_get, port, f"/audit/proof?decision_id={leaf_ref}")
            except OSError:
                return None
            return got if got.get("checkpoint") else None

        before = await wait_for(proof_before, procs, "a checkpoint holding the delivery")
        size_before, root_before = _checkpoint(before["checkpoint"])
        assert before["size"] == size_before  # the served checkpoint's size by default
        # What the sequencer serves an auditor already reads (it waits for the
        # transaction's marker): a read_committed read at once finds the checkpoint.
        read = await asyncio.to_thread(read_replay_input, kafka_bootstrap, topics)
        assert before["checkpoint"].encode() in [r.value for r in read.checkpoints]

        # LA is offline from here on; TH asks for the case to be erased.
        async with th:
            request_id = await th.request_erasure("case-erase", reason="DATA_SUBJECT_REQUEST")
        (request,) = await wait_for(reader(kh), procs, "the erasure request at KH")
        assert request.event_type == "erasure_request"
        assert kh.store.opened(referral_id) is None
        assert kh.store.is_erased("case-erase", "TH")

        async def confirmations() -> list[InboxRecord]:
            return [r for r in await reader(th)() if r.event_type == "erasure_confirmation"]

        (from_kh,) = await wait_for(confirmations, procs, "KH's confirmation at TH")
        assert (from_kh.producer, from_kh.correlation_id) == ("KH", request_id)
        assert from_kh.fields["status"] == "ERASED"
        assert from_kh.fields["erased_event_ids"] == [referral_id]

        async def kh_confirmed() -> dict[str, str] | None:
            statuses = await asyncio.to_thread(replay_now)
            return statuses if statuses and statuses.get("KH") == "CONFIRMED" else None

        statuses = await wait_for(kh_confirmed, procs, "KH's erasure in the replay")
        assert statuses == {"KH": "CONFIRMED", "LA": "PENDING"}

        # LA comes back: it reads the request, erases and confirms.
        assert la.store.opened(referral_id) is not None
        (late,) = await wait_for(reader(la), procs, "the erasure request at LA")
        assert late.event_id == request_id
        assert la.store.opened(referral_id) is None
        (from_la,) = await wait_for(confirmations, procs, "LA's confirmation at TH")
        assert from_la.producer == "LA"

        async def both_confirmed() -> dict[str, str] | None:
            statuses = await asyncio.to_thread(replay_now)
            return statuses if statuses and set(statuses.values()) == {"CONFIRMED"} else None

        assert await wait_for(both_confirmed, procs, "both erasures in the replay") == {
            "KH": "CONFIRMED",
            "LA": "CONFIRMED",
        }
        # A late copy of the erased case is not kept again.
        async for _record in kh.inbox(include_seen=True, mark_seen=False):
            pass
        assert kh.store.opened(referral_id) is None
        # Neither recipient's node directory holds the child's name any more.
        names = {NAME.encode(): NAME}
        assert scan_files([roots["KH"], roots["LA"]], names) == {}

        # KH's epoch key destroyed (crypto-shredding): the auditor's replay still passes.
        fresh = kh.keyring.rotate(time.time_ns() // 1_000_000)
        held = kh.keyring.keys()
        old = next(k for k in held if k.key_id != fresh.key_id)
        assert old.not_after_ms is not None
        kh.keyring.destroy(old.key_id, old.not_after_ms)
        assert await asyncio.to_thread(replay_now) == {"KH": "CONFIRMED", "LA": "CONFIRMED"}

        # The proofs against the checkpoint signed before the erasure still verify.
        after = await asyncio.to_thread(
            _get, port, f"/audit/proof?decision_id={leaf_ref}&size={size_before}"
        )
        assert after["proof"] == before["proof"]
        assert after["leaf_hash"] == before["leaf_hash"]
        verify_inclusion(
            after["index"],
            size_before,
            base64.b64decode(after["leaf_hash"]),
            [base64.b64decode(p) for p in after["proof"]],
            root_before,
        )
        newest = await asyncio.to_thread(_get, port, "/audit/proof?decision_id=" + leaf_ref)
        size_now, root_now = _checkpoint(newest["checkpoint"])
        assert newest["size"] == size_now
        assert size_now > size_before
        # No proof past the served checkpoint: its leaves may not be committed yet.
        with pytest.raises(urllib.error.HTTPError) as past:
            await asyncio.to_thread(
                _get, port, f"/audit/proof?decision_id={leaf_ref}&size={size_now + 1}"
            )
        assert past.value.code == 404
        assert f"the served checkpoint's size {size_now}" in past.value.read().decode()
        consistency = await asyncio.to_thread(
            _get, port, f"/audit/consistency?from={size_before}&to={size_now}"
        )
        verify_consistency(
            size_before,
            size_now,
            root_before,
            root_now,
            [base64.b64decode(p) for p in consistency["proof"]],
        )
    finally:
        for node in nodes.values():
            await node.stop()
        worker.stop()
        sequencer.stop()
