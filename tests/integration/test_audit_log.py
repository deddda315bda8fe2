"""The audit log on the real broker: hub + sequencer subprocesses, replay, proofs, restart."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from click.testing import CliRunner

from connectors.cli import main as trm_main
from connectors.cli.audit import read_replay_input, run_replay
from hub.app.kafka import read_all
from hub.audit.leaf import AuditLeaf
from hub.decision import EFFECT_HEADER
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics, leaf_writer
from hub.wire import Envelope, cloudevents_headers, seal
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    agreement_file,
    example_key,
    example_payload,
)
from tests.support.procs import TRM, Proc, wait_until

pytestmark = pytest.mark.kafka


def _events(n: int, start_seq: int) -> list[tuple[str, Envelope]]:
    now = time.time_ns() // 1_000_000
    out = []
    for i in range(n):
        seq = start_seq + i
        if i % 3 == 0:
            env = seal(
                "trafficker_alert",
                example_payload("trafficker_alert"),
                producer="VN",
                key=example_key("VN"),
                recipients=["KH", "TH"],
                purpose="investigation",
                handling="H1",
                case_key=f"alert-{seq}",
                sequence=seq,
                created_at_ms=now,
            )
            out.append(("VN", env))
        elif i % 3 == 1:
            env = seal(
                "referral",
                example_payload("referral"),
                producer="TH",
                key=example_key("TH"),
                recipients=["KH"],
                purpose="repatriation",
                handling="H2",
                case_key=f"case-{seq}",
                sequence=seq,
                created_at_ms=now,
            )
            out.append(("TH", env))
        else:
            env = seal(
                "referral",
                example_payload("referral"),
                producer="LA",
                key=example_key("LA"),
                recipients=["MM"],
                purpose="repatriation",
                handling="H2",
                case_key=f"case-{seq}",
                sequence=seq,
                created_at_ms=now,
            )
            out.append(("LA", env))
    return out


async def _publish(bootstrap: str, topics: Topics, events: list[tuple[str, Envelope]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for cc, env in events:
            await producer.send(
                topics.outbox(cc),
                env.to_bytes(),
                key=env.header.case_key.encode(),
                headers=list(cloudevents_headers(env.header)),
            )
        await producer.flush()
    finally:
        await producer.stop()


def test_hub_and_sequencer_make_a_log_that_replays_clean(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (f"{a.agreement.id}@{a.agreement.version}", (AGREEMENTS_DIR / name).read_bytes())
        for a, name in ((a, agreement_file(a.agreement.ref)) for a in AGREEMENTS.entries)
    ]
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    (tmp_path / "trust.json").write_bytes(trust_doc)
    ns = topics.namespace
    hub = Proc(
        [
            TRM,
            "hub",
            "worker",
            "--bootstrap",
            kafka_bootstrap,
            "--namespace",
            ns,
            "--trust",
            str(tmp_path / "trust.json"),
        ],
        tmp_path,
        "hub",
    )
    web_port = kafka_local.free_port()
    seq = Proc(
        [
            TRM,
            "audit",
            "sequencer",
            "--bootstrap",
            kafka_bootstrap,
            "--namespace",
            ns,
            "--web-port",
            str(web_port),
            "--every-leaves",
            "20",
            "--every-ms",
            "1000",
        ],
        tmp_path,
        "sequencer",
    )
    hub.start()
    seq.start()
    try:
        first = _events(30, 1)
        asyncio.run(_publish(kafka_bootstrap, topics, first))

        # 30 events -> 30 INGESTED/REJECTED + deliveries; wait until some leaves exist, then crash
        def leaves() -> int:
            return len(read_replay_input(kafka_bootstrap, topics).leaves)

        wait_until(lambda: leaves() >= 20, "first leaves", [hub, seq])
        seq.stop(signal.SIGKILL)
        second = _events(30, 31)
        asyncio.run(_publish(kafka_bootstrap, topics, second))
        seq.start()

        # Every outbox record decided and sequenced, and a checkpoint covering all of it.
        def settled() -> bool:
            data = read_replay_input(kafka_bootstrap, topics)
            decided = {AuditLeaf.from_bytes(r.value).record.source for r in data.leaves}
            return len(data.outboxes) == 60 and all(r.where in decided for r in data.outboxes)

        wait_until(settled, "all 60 events in the log", [hub, seq])
        time.sleep(2.5)  # the timer publishes the final checkpoint
        report = run_replay(kafka_bootstrap, topics, TRUST, AGREEMENTS)
        assert report.ok, [f.to_json() for f in report.findings][:10]
        assert [f for f in report.findings if f.kind != "SEQUENCE_GAP"] == []
        assert report.checkpoint_size == report.leaves
        data = read_replay_input(kafka_bootstrap, topics)
        ids = [AuditLeaf.from_bytes(r.value).decision_id for r in data.leaves]
        assert len(ids) == len(set(ids)), "a decision was sequenced twice after the crash"
        assert report.counts["inbox_records"] > 0

        # A recipient proves its delivery is in the signed log, by the attestation's leaf ref.
        inbox = next(r for r in data.inboxes)
        leaf_ref = Envelope.from_bytes(inbox.value).attestations[-1].leaf_ref
        env = {**os.environ, "TRM_HOME": str(tmp_path)}
        result = CliRunner(env=env).invoke(
            trm_main,
            [
                "audit",
                "proof",
                "--decision-id",
                leaf_ref,
                "--namespace",
                ns,
                "--url",
                f"http://127.0.0.1:{web_port}",
                "--trust",
                str(tmp_path / "trust.json"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "OK: decision" in result.output

        # The CLI replay agrees and writes its reports.
        result = CliRunner(env=env).invoke(
            trm_main,
            [
                "audit",
                "replay",
                "--bootstrap",
                kafka_bootstrap,
                "--namespace",
                ns,
                "--trust",
                str(tmp_path / "trust.json"),
                "--agreements",
                str(AGREEMENTS_DIR),
                "--report",
                str(tmp_path / "r.json"),
                "--html",
                str(tmp_path / "r.html"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "r.json").read_text())["ok"] is True
        assert "Everything verifies." in (tmp_path / "r.html").read_text()

        # Tamper on the broker: write straight into KH's inbox; replay exits 1 naming it.
        forged = _events(1, 99)[0][1]
        asyncio.run(_raw_write(kafka_bootstrap, topics.inbox("KH"), forged.to_bytes()))
        result = CliRunner(env=env).invoke(
            trm_main,
            [
                "audit",
                "replay",
                "--bootstrap",
                kafka_bootstrap,
                "--namespace",
                ns,
                "--trust",
                str(tmp_path / "trust.json"),
                "--agreements",
                str(AGREEMENTS_DIR),
            ],
        )
        assert result.exit_code == 1
        assert "INJECTION" in result.output
    finally:
        seq.stop()
        hub.stop()


async def _raw_write(
    bootstrap: str, topic: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, headers=headers or [])
    finally:
        await producer.stop()


def _replay_kinds(bootstrap: str, topics: Topics) -> dict[str, int]:
    return run_replay(bootstrap, topics, TRUST, AGREEMENTS).summary()


def _wait_for_kind(bootstrap: str, topics: Topics, kind: str, procs: list[Proc]) -> dict[str, int]:
    deadline = time.monotonic() + 60
    while True:
        for p in procs:
            p.alive()
        kinds = _replay_kinds(bootstrap, topics)
        if kind in kinds or time.monotonic() > deadline:
            return kinds
        time.sleep(1.0)


def test_tampering_on_the_broker_is_caught_by_replay(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """Each tamper of the audit issue, done to the real topics, named by the replay."""
    from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

    from hub.audit.log import origin_of
    from hub.audit.note import Checkpoint, sign_note
    from hub.wire import attest, redact

    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    ns = topics.namespace
    hub = Proc(
        [
            TRM,
            "hub",
            "worker",
            "--bootstrap",
            kafka_bootstrap,
            "--namespace",
            ns,
            "--web-port",
            str(kafka_local.free_port()),
        ],
        tmp_path,
        "hub",
    )
    seq = Proc(
        [
            TRM,
            "audit",
            "sequencer",
            "--bootstrap",
            kafka_bootstrap,
            "--namespace",
            ns,
            "--web-port",
            str(kafka_local.free_port()),
            "--every-ms",
            "500",
        ],
        tmp_path,
        "sequencer",
    )
    hub.start()
    seq.start()
    try:
        asyncio.run(_publish(kafka_bootstrap, topics, _events(9, 1)))

        def clean() -> bool:
            report = run_replay(kafka_bootstrap, topics, TRUST, AGREEMENTS)
            decided = report.counts.get("outbox_records", 0) == 9
            return decided and report.ok and report.checkpoint_size == report.leaves > 0

        wait_until(clean, "a clean, checkpointed log", [hub, seq])
        hub.stop()  # from here on nothing new is decided

        # A dropped outbox record: written while no hub decides it.
        ((_, dropped),) = _events(2, 50)[1:2]  # a TH referral to KH
        asyncio.run(_publish(kafka_bootstrap, topics, [("TH", dropped)]))
        assert "DROP" in _replay_kinds(kafka_bootstrap, topics)

        # An altered disclosure: a delivered record, one value byte changed, in KH's inbox.
        data = read_replay_input(kafka_bootstrap, topics)
        rec = next(r for r in data.inboxes if r.topic == topics.inbox("KH"))
        disclosure = Envelope.from_bytes(rec.value).disclosures[0].raw
        changed = disclosure[:-1] + bytes([disclosure[-1] ^ 1])
        asyncio.run(
            _raw_write(
                kafka_bootstrap, topics.inbox("KH"), rec.value.replace(disclosure, changed, 1)
            )
        )
        assert "ALTERATION" in _replay_kinds(kafka_bootstrap, topics)

        # A delivery beyond the agreement, logged by a dishonest hub as if allowed.
        leaky = attest(
            redact(dropped, ["names", "case_number"]),
            recipient="LA",
            agreement_id="COMMIT-baseline",
            agreement_version=1,
            fields=["case_number", "names"],
            leaf_ref="decision:leak",
            hub_key=HUB_KEY,
            attested_at_ms=time.time_ns() // 1_000_000,
        )
        decision = {
            "kind": "DELIVERED",
            "event_id": dropped.header.event_id,
            "producer": "TH",
            "recipient": "LA",
            "event_digest": dropped.event_digest.hex(),
            "delivered_digest": hashlib.sha256(leaky.to_bytes()).hexdigest(),
            "fields": ["case_number", "names"],
            "agreement": "COMMIT-baseline@1",
            "reason": "",
            "detail": "",
            "source": "forged",
            "decided_at_ms": 0,
            "registry": "forged",
        }
        asyncio.run(_raw_write(kafka_bootstrap, topics.inbox("LA"), leaky.to_bytes()))
        asyncio.run(
            _raw_write(
                kafka_bootstrap,
                topics.decisions,
                json.dumps(decision).encode(),
                [("trm-effect", b"decision:leak")],
            )
        )
        assert "BEYOND_AGREEMENT" in _wait_for_kind(
            kafka_bootstrap, topics, "BEYOND_AGREEMENT", [seq]
        )

        # A forked checkpoint: the hub's key signs a different root at a logged size.
        size = len(read_replay_input(kafka_bootstrap, topics).leaves)
        fork = Checkpoint(origin_of(ns), size, hashlib.sha256(b"another history").digest())
        note = sign_note(fork.text(), origin_of(ns), HUB_KEY)
        asyncio.run(_raw_write(kafka_bootstrap, topics.audit_checkpoints, note.to_bytes()))
        assert "FORK" in _replay_kinds(kafka_bootstrap, topics)
        seq.stop()

        # A leaf removed: the leaves topic rewritten without its first record.
        async def delete_first_leaf() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
            await admin.start()
            try:
                tp = TopicPartition(topics.audit_leaves, 0)
                await admin.delete_records({tp: RecordsToDelete(before_offset=1)})
            finally:
                await admin.close()

        asyncio.run(delete_first_leaf())
        report = run_replay(kafka_bootstrap, topics, TRUST, AGREEMENTS)
        # The honest checkpoints now reach past the shortened topic.
        assert any(f.kind == "FORK" and "leaves were removed" in f.detail for f in report.findings)
        assert not report.ok
    finally:
        seq.stop()
        hub.stop()


def _hub_and_sequencer(bootstrap: str, topics: Topics, tmp_path: Path) -> tuple[Proc, Proc]:
    """A hub worker and a sequencer (checkpoints every 10 leaves or 500 ms), not started."""
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    asyncio.run(provision_registry(bootstrap, topics, trust_doc, blobs))
    ns = topics.namespace
    hub = Proc(
        [TRM, "hub", "worker", "--bootstrap", bootstrap, "--namespace", ns,
         "--web-port", str(kafka_local.free_port())],
        tmp_path,
        "hub",
    )  # fmt: skip
    seq = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", bootstrap, "--namespace", ns,
         "--web-port", str(kafka_local.free_port()), "--every-leaves", "10", "--every-ms", "500"],
        tmp_path,
        "sequencer",
    )  # fmt: skip
    return hub, seq


def _settled(bootstrap: str, topics: Topics, n: int) -> Callable[[], bool]:
    """True once the replay finds a clean log of ``n`` events, checkpointed whole."""

    def check() -> bool:
        report = run_replay(bootstrap, topics, TRUST, AGREEMENTS)
        decided = report.counts.get("outbox_records", 0) == n
        return decided and report.ok and report.checkpoint_size == report.leaves > 0

    return check


def _unique_leaves(bootstrap: str, topics: Topics) -> list[str]:
    """The decision ids of the leaves, as an auditor reads them; each must appear once."""
    ids = [
        AuditLeaf.from_bytes(r.value).decision_id
        for r in read_replay_input(bootstrap, topics).leaves
    ]
    assert len(ids) == len(set(ids)), "a decision was sequenced twice"
    return ids


def test_sequencer_restarts_from_its_store_and_rebuilds_a_damaged_one(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """A clean restart resumes from the store on disk (no rebuild); a store with a
    flipped byte is refused, rebuilt from the leaves topic, and the log stays one log."""
    hub, seq = _hub_and_sequencer(kafka_bootstrap, topics, tmp_path)
    store = tmp_path / "audit-data" / topics.namespace / "audit-log"
    rebuilt = "rebuilding it from the leaves topic"

    def settled(n: int) -> Callable[[], bool]:
        return _settled(kafka_bootstrap, topics, n)

    def unique_leaves() -> int:
        return len(_unique_leaves(kafka_bootstrap, topics))

    hub.start()
    seq.start()
    try:
        asyncio.run(_publish(kafka_bootstrap, topics, _events(12, 1)))
        wait_until(settled(12), "a clean, checkpointed log of 12 events", [hub, seq])
        seq.stop()
        leaves = unique_leaves()
        assert (store / "level-00.hashes").stat().st_size == 32 * leaves
        assert (store / "index.sqlite").exists()

        # A clean restart: the store is used as it is, the new decisions appended after it.
        seq.start()
        asyncio.run(_publish(kafka_bootstrap, topics, _events(9, 13)))
        wait_until(settled(21), "the log of 21 events after a clean restart", [hub, seq])
        assert rebuilt not in seq.log.read_text(errors="replace")
        seq.stop()
        leaves = unique_leaves()
        assert (store / "level-00.hashes").stat().st_size == 32 * leaves

        # A flipped byte in the stored leaf hashes: refused, rebuilt, same log.
        level0 = store / "level-00.hashes"
        data = bytearray(level0.read_bytes())
        data[32 * 3] ^= 0x01
        level0.write_bytes(bytes(data))
        seq.start()
        asyncio.run(_publish(kafka_bootstrap, topics, _events(6, 22)))
        wait_until(settled(27), "the log of 27 events after a rebuild", [hub, seq])
        assert rebuilt in seq.log.read_text(errors="replace")
        assert unique_leaves() > leaves
    finally:
        seq.stop()
        hub.stop()


async def _open_batch_of_a_dead_sequencer(
    bootstrap: str, topics: Topics, logged: set[str]
) -> tuple[AIOKafkaProducer, int]:
    """What a sequencer killed mid-batch leaves: the leaves of every decision not yet
    logged, sent under the sequencer's transactional id and on the broker, the
    transaction never committed. Returns the producer (still open) and the count."""
    decisions = await read_all(bootstrap, [topics.decisions])
    zombie = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=leaf_writer(topics.audit_group),
        enable_idempotence=True,
        acks="all",
    )
    await zombie.start()
    await zombie.begin_transaction()
    sent = 0
    for _topic, _key, value, headers, _ts in decisions:
        decision_id = dict(headers)[EFFECT_HEADER].decode()
        if decision_id in logged or not value:
            continue
        leaf = AuditLeaf.from_decision(decision_id, value).to_bytes()
        await zombie.send_and_wait(topics.audit_leaves, leaf, key=decision_id.encode(), partition=0)
        sent += 1
    return zombie, sent


def test_a_sequencer_killed_with_a_batch_open_is_fenced_and_its_leaves_never_count(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """The 3-broker fault test once found 9 decisions logged twice: a sequencer
    killed with a batch of leaves on its way, its successor reading the topic's
    end before they were readable, and writing the same decisions again.

    Here the batch is on the broker, under the sequencer's transactional id,
    never committed, when the next sequencer starts: its start fences the dead
    one (the open batch is aborted, and the dead one can no longer commit it),
    it writes those decisions itself, and an auditor's replay finds each
    decision once and every checkpoint consistent with the leaves.
    """
    hub, seq = _hub_and_sequencer(kafka_bootstrap, topics, tmp_path)
    hub.start()
    seq.start()
    try:
        asyncio.run(_publish(kafka_bootstrap, topics, _events(6, 1)))
        wait_until(_settled(kafka_bootstrap, topics, 6), "a clean log of 6 events", [hub, seq])
        seq.stop()
        logged = set(_unique_leaves(kafka_bootstrap, topics))
        first = len(asyncio.run(read_all(kafka_bootstrap, [topics.decisions])))
        assert first == len(logged)

        # Six more events, decided by the hub while no sequencer runs.
        asyncio.run(_publish(kafka_bootstrap, topics, _events(6, 7)))
        wait_until(
            lambda: len(asyncio.run(read_all(kafka_bootstrap, [topics.decisions]))) == 2 * first,
            "the hub's decisions of 6 more events",
            [hub],
        )

        async def scenario() -> tuple[int, int, type[BaseException] | None]:
            zombie, open_leaves = await _open_batch_of_a_dead_sequencer(
                kafka_bootstrap, topics, logged
            )
            try:
                # Every leaf of the open batch is on the broker (read uncommitted).
                raw = await read_all(kafka_bootstrap, [topics.audit_leaves])
                assert len(raw) == len(logged) + open_leaves
                seq.start()
                await asyncio.to_thread(
                    wait_until,
                    _settled(kafka_bootstrap, topics, 12),
                    "a clean log of 12 events after the fence",
                    [hub, seq],
                )
                refused: type[BaseException] | None = None
                try:
                    await zombie.commit_transaction()
                except KafkaError as exc:
                    refused = type(exc)
                raw = await read_all(kafka_bootstrap, [topics.audit_leaves])
                return open_leaves, len(raw), refused
            finally:
                await zombie.stop()

        open_leaves, raw_leaves, refused = asyncio.run(scenario())
        assert open_leaves == first  # the whole second half was in the dead one's batch
        ids = _unique_leaves(kafka_bootstrap, topics)
        assert len(ids) == 2 * first
        # The aborted leaves are still in the topic; read committed, they are not the log.
        assert raw_leaves == len(ids) + open_leaves
        assert refused is ProducerFenced, f"expected the dead writer fenced, got {refused}"
    finally:
        seq.stop()
        hub.stop()
