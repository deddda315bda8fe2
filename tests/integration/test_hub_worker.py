"""The hub worker (a subprocess) on the real broker: delivery, refusals, restart."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from hub.audit.leaf import AuditLeaf
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import Envelope, open_envelope
from hub.wire.sealing import quarantined_digest
from tests.support.hub import HUB_KEY, KEYS, example, sealed, trust_list
from tests.support.kafka import collect_records, send_records
from tests.support.policy import DELIVERY_KEEP, DELIVERY_POLICY, agreement_from_table
from tests.support.procs import REPO, TRM, Worker
from tests.support.trust import with_expiry

pytestmark = pytest.mark.kafka
KEEP, POLICY = DELIVERY_KEEP, DELIVERY_POLICY


def _now() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def hub_home(tmp_path: Path) -> Path:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    return tmp_path


@pytest.fixture
def worker(kafka_bootstrap: str, topics: Topics, hub_home: Path) -> Iterator[Worker]:
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    agreement = agreement_from_table(POLICY, KEYS)
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, [agreement]))
    w = Worker(kafka_bootstrap, topics, hub_home)
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _reasons(records: list[Any]) -> list[str]:
    return sorted(json.loads(r.value)["reason"] for r in records)


async def test_hub_delivers_redacted_and_refuses_with_reasons(
    kafka_bootstrap: str, topics: Topics, worker: Worker
) -> None:
    now = _now()
    good, good_h = sealed(recipients=("KH", "CN"), created_at_ms=now, sequence=1)
    spoofed, spoofed_h = sealed(producer="TH", created_at_ms=now, sequence=2)
    forged, forged_h = sealed(producer="TH", key=KEYS["VN"], created_at_ms=now, sequence=3)
    env = Envelope.from_bytes(good)
    i = good.index(env.signature.sig)
    tampered = good[:i] + bytes([good[i] ^ 1]) + good[i + 1 :]
    await send_records(
        kafka_bootstrap,
        [
            (topics.outbox("TH"), good, good_h),
            (topics.outbox("VN"), spoofed, spoofed_h),  # TH's event in VN's outbox
            (topics.outbox("TH"), forged, forged_h),  # signed with VN's key
            (topics.outbox("TH"), tampered, good_h),
            (topics.outbox("TH"), good, good_h),  # a replay
            (topics.outbox("TH"), b"\xc3\x01garbage", []),
        ],
        key=b"case-0001",
    )
    got = await collect_records(
        kafka_bootstrap,
        {
            topics.inbox("KH"): 1,
            topics.inbox("CN"): 0,
            topics.rejections("TH"): 5,
            topics.rejections("VN"): 1,
            topics.quarantine: 6,
            topics.decisions: 8,
        },
        worker,
    )
    worker.alive()  # bad input did not kill it
    (delivered,) = got[topics.inbox("KH")]
    opened = open_envelope(
        delivered.value, trust_list(), kafka_headers=delivered.headers, require_attestation=True
    )
    assert opened.event.disclosed == frozenset(KEEP) & frozenset(example("referral"))
    assert "names" not in opened.event.fields
    assert opened.attestation is not None
    assert opened.attestation.recipient == "KH"
    th = _reasons(got[topics.rejections("TH")])
    assert "NO_AGREEMENT" in th  # CN refused
    assert "REPLAY" in th
    assert "BAD_SIGNATURE" in th
    assert any(r in th for r in ("UNKNOWN_KEY", "KEY_ROLE_NOT_ALLOWED"))
    assert len(th) == 5
    assert _reasons(got[topics.rejections("VN")]) == ["PRODUCER_MISMATCH"]
    assert got[topics.inbox("CN")] == []  # refused: nothing delivered
    kept = [quarantined_digest(r.value) for r in got[topics.quarantine]]
    assert hashlib.sha256(good).digest() in kept
    assert hashlib.sha256(tampered).digest() in kept
    assert not any(good in r.value for r in got[topics.quarantine])  # sealed, not readable
    for r in got[topics.decisions]:  # each decision makes an audit leaf (AUDIT's schema)
        leaf = AuditLeaf.from_decision(dict(r.headers)["trm-effect"].decode(), r.value)
        assert AuditLeaf.from_bytes(leaf.to_bytes()) == leaf
    kinds = sorted(json.loads(r.value)["kind"] for r in got[topics.decisions])
    assert kinds.count("DELIVERED") == 1
    assert kinds.count("INGESTED") == 1
    assert kinds.count("REJECTED") == 6


async def test_hub_restart_after_sigkill_delivers_each_event_once(
    kafka_bootstrap: str, topics: Topics, worker: Worker
) -> None:
    total = 300
    now = _now()
    items = []
    for n in range(total):
        raw, headers = sealed(created_at_ms=now + n, sequence=n + 1)
        items.append((topics.outbox("TH"), raw, headers))
    await send_records(kafka_bootstrap, items, key=b"case-0001")
    # kill the worker mid-flood
    consumer = AIOKafkaConsumer(
        topics.inbox("KH"), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen = 0
    try:
        async with asyncio.timeout(120):
            while seen < total // 5:
                worker.alive()
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen += len(records)
    finally:
        await consumer.stop()
    worker.stop(signal.SIGKILL)
    assert seen < total, "the worker finished before it could be killed mid-flood"
    worker.start()
    got = await collect_records(kafka_bootstrap, {topics.inbox("KH"): total}, worker, within_s=180)
    ids = [dict(r.headers)["ce_id"] for r in got[topics.inbox("KH")]]
    assert len(set(ids)) == total  # none lost
    assert len(ids) == total  # none delivered twice


async def test_hub_refuses_every_event_under_an_expired_trust_list_until_renewed(
    kafka_bootstrap: str, topics: Topics, hub_home: Path
) -> None:
    expired = with_expiry(trust_list(), _now() - 60_000, KEYS)  # stale a minute ago
    agreement = agreement_from_table(POLICY, KEYS)
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(expired.to_json()).encode(), [agreement]
    )
    w = Worker(kafka_bootstrap, topics, hub_home)
    w.start()
    try:
        now = _now()
        first, first_h = sealed(created_at_ms=now, sequence=1)
        second, second_h = sealed(created_at_ms=now + 1, sequence=2)
        await send_records(
            kafka_bootstrap,
            [(topics.outbox("TH"), first, first_h), (topics.outbox("TH"), second, second_h)],
            key=b"case-0001",
        )
        got = await collect_records(
            kafka_bootstrap,
            {topics.rejections("TH"): 2, topics.decisions: 2, topics.inbox("KH"): 0},
            w,
        )
        assert _reasons(got[topics.rejections("TH")]) == ["TRUST_EXPIRED", "TRUST_EXPIRED"]
        detail = json.loads(got[topics.rejections("TH")][0].value)["detail"]
        assert "version 1 expired at" in detail
        assert f"({expired.expires_at_ms})" in detail
        decisions = [json.loads(r.value) for r in got[topics.decisions]]
        assert [(d["kind"], d["reason"]) for d in decisions] == [("REJECTED", "TRUST_EXPIRED")] * 2
        assert got[topics.inbox("KH")] == []
        log = w.log.read_text(errors="replace")
        assert log.count("TRUST_EXPIRED: every event is refused") == 1, w.log_tail()
        assert "case-0001" not in log  # no case key (or anything of the event) in the warning
        # Renewal: version 2 without expiry, signed by the roots of version 1.
        renewed = with_expiry(expired, None, KEYS, version=2)
        await provision_registry(
            kafka_bootstrap, topics, json.dumps(renewed.to_json()).encode(), []
        )
        async with asyncio.timeout(60):
            while "registry in force: trust-v2" not in w.log.read_text(errors="replace"):
                w.alive()
                await asyncio.sleep(0.5)
        third, third_h = sealed(created_at_ms=_now(), sequence=3)
        await send_records(
            kafka_bootstrap, [(topics.outbox("TH"), third, third_h)], key=b"case-0001"
        )
        got = await collect_records(kafka_bootstrap, {topics.inbox("KH"): 1}, w)
        assert [r.value for r in got[topics.inbox("KH")]] != []
        assert Envelope.from_bytes(got[topics.inbox("KH")][0].value).header.sequence == 3
    finally:
        w.stop()


def test_provision_cli_publishes_registry(kafka_bootstrap: str, hub_home: Path) -> None:
    ns = Topics("p" + os.urandom(4).hex())
    (hub_home / "trust.json").write_text(json.dumps(trust_list().document.to_json()))
    (hub_home / "agreements").mkdir()
    sample = REPO / "deploy" / "agreements" / "th-kh-protection.v1.yaml"
    (hub_home / "agreements" / "th-kh.yaml").write_bytes(sample.read_bytes())
    out = subprocess.run(
        [TRM, "hub", "provision", "--bootstrap", kafka_bootstrap, "--namespace", ns.namespace],
        cwd=hub_home, env={**os.environ, "TRM_HOME": str(hub_home)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "trust list v1 and 1 agreement" in out.stdout
    from hub.app.kafka import read_all

    records = asyncio.run(read_all(kafka_bootstrap, [ns.registry_trust, ns.registry_agreements]))
    assert {r[1] for r in records} == {b"trust/0000000001", b"TH-KH-protection@1"}


FLOOD = int(os.environ.get("TRM_HUB_FLOOD", "10000"))


async def test_hub_flood_of_mixed_events_is_fully_accounted_for(
    kafka_bootstrap: str, topics: Topics, worker: Worker
) -> None:
    """Every record sent ends as decisions: delivered or rejected, none lost or doubled."""
    now = _now()
    items: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
    expected: list[str] = []  # per record, in send order: what must become of it
    goods: list[tuple[bytes, list[tuple[str, bytes]]]] = []
    seq = 0
    for n in range(FLOOD):
        kind = ("good", "good", "refused", "garbage", "tampered", "replay", "spoofed")[n % 7]
        if kind == "replay" and not goods:
            kind = "good"
        if kind in ("good", "refused", "tampered", "spoofed"):
            seq += 1
            to = ("CN",) if kind == "refused" else ("KH",)
            raw, headers = sealed(recipients=to, created_at_ms=now + n, sequence=seq)
            if kind == "good":
                goods.append((raw, headers))
            if kind == "tampered":
                raw = raw[:-5] + bytes([raw[-5] ^ 0x40]) + raw[-4:]
            outbox = topics.outbox("VN" if kind == "spoofed" else "TH")
            items.append((outbox, raw, headers))
        elif kind == "garbage":
            items.append((topics.outbox("TH"), os.urandom(40 + n % 50), []))
        else:
            raw, headers = goods[n % len(goods)]
            items.append((topics.outbox("TH"), raw, headers))
        expected.append(kind)
    await send_records(kafka_bootstrap, items, key=b"case-0001")
    n_good = expected.count("good")
    # decisions: 2 per good and refused record (INGESTED + outcome), 1 per whole rejection
    n_decisions = 2 * (n_good + expected.count("refused")) + sum(
        expected.count(k) for k in ("garbage", "tampered", "replay", "spoofed")
    )
    got = await collect_records(
        kafka_bootstrap,
        {topics.decisions: n_decisions, topics.inbox("KH"): n_good},
        worker,
        within_s=600,
    )
    worker.alive()
    decisions = [json.loads(r.value) for r in got[topics.decisions]]
    by_source: dict[str, list[str]] = {}
    for d in decisions:
        by_source.setdefault(d["source"], []).append(
            d["kind"] if d["kind"] != "REJECTED" else f"REJECTED:{d['reason']}"
        )
    assert len(decisions) == n_decisions  # nothing decided twice
    assert len(by_source) == FLOOD  # every record sent has its decisions
    # One key, so each outbox's records sit in one partition in send order.
    want = {"good": "DELIVERED INGESTED", "refused": "INGESTED REJECTED:NO_AGREEMENT",
            "replay": "REJECTED:REPLAY", "spoofed": "REJECTED:PRODUCER_MISMATCH"}  # fmt: skip
    for outbox in {t for t, _r, _h in items}:
        kinds = [k for (t, _r, _h), k in zip(items, expected, strict=True) if t == outbox]
        sources = sorted(
            (s for s in by_source if s.startswith(outbox + "/")),
            key=lambda s: int(s.rsplit("/", 1)[1]),
        )
        assert len(sources) == len(kinds)
        for source, kind in zip(sources, kinds, strict=True):
            seen = " ".join(sorted(by_source[source]))
            if kind in want:
                assert seen == want[kind], (source, kind, seen)
            else:  # garbage, tampered: refused whole with a wire or signature reason
                assert seen.startswith("REJECTED:"), (source, kind, seen)
                assert " " not in seen, (source, kind, seen)
    ids = [dict(r.headers)["ce_id"] for r in got[topics.inbox("KH")]]
    assert len(ids) == n_good
    assert len(set(ids)) == n_good
    replays = [v for v in by_source.values() if v == ["REJECTED:REPLAY"]]
    assert len(replays) == expected.count("replay")
