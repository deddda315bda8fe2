"""The hub never holds a decryption key: after a flood of sealed events, no plaintext anywhere.

A broker of its own (so every byte in its data directory is this test's), a
hub worker and the audit sequencer; a flood of sealed referrals carrying
canary values (a child's name in Khmer script, her date of birth, a Thai
passport number), mixed with refused, garbage, tampered, replayed and spoofed
records. Then every file of the broker's data directory and logs, of the hub
worker's and the sequencer's state directories and logs, and every record of
every topic (the quarantine included) is searched for the canaries, as UTF-8
and as their Avro encoding: none may hold one. Only the recipient, opening its
copy with its own seal key, reads them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from hub.keys import write_private_key
from hub.ops.broker import LocalCluster, create_topics, free_port
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import open_envelope
from tests.support.canary import fresh_canaries, scan_files, scan_records
from tests.support.hub import HUB_KEY, KEYS, example, sealed, trust_list
from tests.support.kafka import read_topic, send_records
from tests.support.policy import agreement_from_table
from tests.support.procs import TRM, Proc, Worker, until
from tests.support.wire import SEAL_KEYS, private_keys

pytestmark = pytest.mark.kafka
FLOOD = 140
KEEP = ["case_number", "names", "date_of_birth", "identity_documents", "is_child", "sex"]
POLICY = {"TH>KH:referral": KEEP}


def _now() -> int:
    return time.time_ns() // 1_000_000


def test_no_plaintext_outside_the_recipient_after_a_flood(tmp_path: Path) -> None:
    canaries = fresh_canaries()
    patterns = canaries.patterns()
    payload = canaries.apply(example("referral"))
    cluster = LocalCluster(tmp_path / "kafka", nodes=1)
    cluster.start()
    topics = Topics("canary")
    hub_home = tmp_path / "hub"
    write_private_key(HUB_KEY, hub_home / "keys" / "HUB.key")
    seq_home = tmp_path / "sequencer"
    seq_home.mkdir()
    worker = Worker(cluster.bootstrap, topics, hub_home)
    sequencer = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", cluster.bootstrap,
         "--namespace", topics.namespace, "--key", str(hub_home / "keys" / "HUB.key"),
         "--every-leaves", "20", "--web-port", str(free_port())],
        seq_home,
        "sequencer",
    )  # fmt: skip
    try:
        asyncio.run(create_topics(cluster.bootstrap, topics.plan()))
        trust_doc = json.dumps(trust_list().document.to_json()).encode()
        asyncio.run(
            provision_registry(
                cluster.bootstrap, topics, trust_doc, [agreement_from_table(POLICY, KEYS)]
            )
        )
        worker.start()
        sequencer.start()
        now = _now()
        items: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        goods: list[tuple[bytes, list[tuple[str, bytes]]]] = []
        seq = 0
        for n in range(FLOOD):
            kind = ("good", "good", "refused", "garbage", "tampered", "replay", "spoofed")[n % 7]
            if kind in ("good", "refused", "tampered", "spoofed"):
                seq += 1
                to = ("CN",) if kind == "refused" else ("KH",)
                raw, headers = sealed(
                    recipients=to,
                    created_at_ms=now + n,
                    sequence=seq,
                    payload=payload,
                    seal_to={c: SEAL_KEYS[c] for c in to},
                )
                if kind == "good":
                    goods.append((raw, headers))
                if kind == "tampered":
                    raw = raw[:-5] + bytes([raw[-5] ^ 0x40]) + raw[-4:]
                outbox = topics.outbox("VN" if kind == "spoofed" else "TH")
                items.append((outbox, raw, headers))
            elif kind == "garbage":
                items.append((topics.outbox("TH"), os.urandom(40 + n % 50), []))
            else:
                raw, headers = goods[n % len(goods)] if goods else (b"", [])
                items.append((topics.outbox("TH"), raw, headers))
        asyncio.run(send_records(cluster.bootstrap, items, key=b"case-canary"))
        n_good = sum(1 for n in range(FLOOD) if n % 7 in (0, 1))

        async def inbox() -> list[object]:
            return list(await read_topic(cluster.bootstrap, topics.inbox("KH")))

        async def leaves() -> list[object]:
            return list(await read_topic(cluster.bootstrap, topics.audit_leaves))

        delivered = asyncio.run(until(inbox, worker, n_good))
        # Every decision is a leaf (2 per good and refused record, 1 per other).
        n_leaves = 2 * (n_good + FLOOD // 7) + (FLOOD - n_good - FLOOD // 7)
        asyncio.run(until(leaves, sequencer, n_leaves))
        # The recipient reads the values: the canaries were really sent.
        opened = open_envelope(
            delivered[0].value,  # type: ignore[attr-defined]
            trust_list(),
            require_attestation=True,
            recipient="KH",
            private_key=private_keys("KH"),
        )
        assert opened.event.fields["names"][0]["full_name"] == canaries.khmer_name
        assert opened.event.fields["date_of_birth"] == canaries.date_of_birth

        # No record of any topic holds one, the quarantine included.
        in_topics: dict[str, set[str]] = {}
        quarantined = 0
        for name in topics.all():
            records = asyncio.run(read_topic(cluster.bootstrap, name))
            hits = scan_records(records, patterns)
            if hits:
                in_topics[name] = hits
            if name == topics.quarantine:
                quarantined = len(records)
        assert quarantined >= FLOOD - n_good - FLOOD // 7  # the refusals are there, sealed
        assert in_topics == {}
    finally:
        sequencer.stop()
        worker.stop()
        cluster.stop()
    # No file of the broker (data and logs), the hub worker or the sequencer
    # (state, logs) holds one, as UTF-8 or Avro.
    found = scan_files([tmp_path / "kafka", hub_home, seq_home], patterns)
    assert found == {}
