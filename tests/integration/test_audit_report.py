"""The auditor's page on the real broker: hub and sequencer subprocesses carry known traffic,
``trm audit replay --html`` writes the page, and its per-corridor numbers are what was sent;
an inclusion proof it shows verifies against the hub's signed checkpoint on the topic."""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from connectors.cli import main as trm_main
from connectors.cli.audit import read_replay_input, run_replay
from hub.audit.flows import month_of
from hub.audit.leaf import AuditLeaf
from hub.audit.log import origin_of
from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.note import verify_checkpoint
from hub.audit.replay import hub_public_keys
from hub.audit.report import leaves_command
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import Envelope, cloudevents_headers, seal
from tests.support.audit_page import Page, resolve
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

HOUR = 3_600_000


def _seal(  # noqa: PLR0917 - the header fields, in the order a reader says them
    producer: str,
    event_type: str,
    to: list[str],
    purpose: str,
    handling: str,
    seq: int,
    created: int,
    payload: dict[str, object] | None = None,
    correlation_id: str | None = None,
) -> tuple[str, Envelope]:
    env = seal(
        event_type,
        payload or example_payload(event_type),
        producer=producer,
        key=example_key(producer),
        recipients=to,
        purpose=purpose,
        handling=handling,
        case_key=f"case-{producer}-{seq}",
        sequence=seq,
        created_at_ms=created,
        correlation_id=correlation_id,
    )
    return producer, env


def _traffic(now: int) -> tuple[list[tuple[str, Envelope]], list[tuple[str, Envelope]]]:
    """Referrals TH -> KH, alerts VN -> KH and TH, referrals LA -> MM (refused); then
    KH's acknowledgements of the first two referrals, an hour after them."""
    first = [
        _seal("TH", "referral", ["KH"], "repatriation", "H2", i, now - 2 * HOUR)
        for i in (1, 2, 3, 4)
    ]
    first += [
        _seal("VN", "trafficker_alert", ["KH", "TH"], "investigation", "H1", i, now - 2 * HOUR)
        for i in (1, 2, 3)
    ]
    first += [
        _seal("LA", "referral", ["MM"], "repatriation", "H2", i, now - 2 * HOUR) for i in (1, 2)
    ]  # refused: TH-LA and the baseline carry no LA referral to MM
    acks = []
    for n, (_, ref) in enumerate(first[:2], start=1):
        payload = example_payload("acknowledgement") | {
            "acknowledged_event_id": ref.header.event_id,
            "acknowledged_event_digest": ref.event_digest,
            "acknowledged_at": now - HOUR,
        }
        acks.append(
            _seal(
                "KH", "acknowledgement", ["TH"], "repatriation", "H2", n, now - HOUR,
                payload, correlation_id=ref.header.event_id,
            )
        )  # fmt: skip
    return first, acks


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


def test_the_auditors_page_shows_what_was_sent_and_proves_it(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(TRUST.document.to_json()).encode()
    blobs = [
        (a.agreement.ref, (AGREEMENTS_DIR / agreement_file(a.agreement.ref)).read_bytes())
        for a in AGREEMENTS.entries
    ]
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, blobs))
    (tmp_path / "trust.json").write_bytes(trust_doc)
    ns = topics.namespace
    hub = Proc(
        [TRM, "hub", "worker", "--bootstrap", kafka_bootstrap, "--namespace", ns,
         "--trust", str(tmp_path / "trust.json"), "--web-port", str(kafka_local.free_port())],
        tmp_path,
        "hub",
    )  # fmt: skip
    seq = Proc(
        [TRM, "audit", "sequencer", "--bootstrap", kafka_bootstrap, "--namespace", ns,
         "--web-port", str(kafka_local.free_port()), "--every-leaves", "10", "--every-ms", "500"],
        tmp_path,
        "sequencer",
    )  # fmt: skip
    now = time.time_ns() // 1_000_000
    first, acks = _traffic(now)
    hub.start()
    seq.start()
    try:
        asyncio.run(_publish(kafka_bootstrap, topics, first))

        def delivered(n: int) -> bool:
            report = run_replay(kafka_bootstrap, topics, TRUST, AGREEMENTS)
            return report.counts.get("outbox_records", 0) == n and report.ok

        # The referrals are delivered before KH acknowledges them (the hub routes a reply
        # to the producer of the event it answers, which it must have taken in).
        wait_until(lambda: delivered(len(first)), "the first events decided", [hub, seq])
        between = time.time_ns() // 1_000_000  # the first events decided, no ack sent yet
        asyncio.run(_publish(kafka_bootstrap, topics, acks))

        def settled() -> bool:
            report = run_replay(kafka_bootstrap, topics, TRUST, AGREEMENTS)
            decided = report.counts.get("outbox_records", 0) == len(first) + len(acks)
            return decided and report.ok and report.checkpoint_size == report.leaves > 0

        wait_until(settled, "every event decided, sequenced and checkpointed", [hub, seq])
        page_file, report_file = tmp_path / "audit.html", tmp_path / "audit.json"
        result = CliRunner(env={"TRM_HOME": str(tmp_path)}).invoke(
            trm_main,
            ["audit", "replay", "--bootstrap", kafka_bootstrap, "--namespace", ns,
             "--trust", str(tmp_path / "trust.json"), "--agreements", str(AGREEMENTS_DIR),
             "--html", str(page_file), "--report", str(report_file)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        doc = json.loads(report_file.read_text(encoding="utf-8"))
        page = Page()
        page.feed(page_file.read_text(encoding="utf-8"))
    finally:
        seq.stop()
        hub.stop()

    # Every number on the page is the report's ...
    for path, value, _shown in page.numbers:
        assert resolve(doc, path) == value, path
    # ... and the page's per-corridor flow counts are what was sent.
    shown: Counter[tuple[str, str, str, str, str]] = Counter()
    for path, value, _ in page.numbers:
        parts = path.split("/")
        if parts[:2] == ["flows", "counts"]:
            c = doc["flows"]["counts"][int(parts[2])]
            shown[(c["producer"], c["recipient"], c["event_type"], c["month"], parts[3])] += value
    sent: Counter[tuple[str, str, str, str, str]] = Counter()
    for cc, env in first + acks:
        month = month_of(env.header.created_at_ms)
        outcome = "refused" if cc == "LA" else "delivered"
        for to in env.header.recipients:
            sent[(cc, to, env.header.event_type.value, month, outcome)] += 1
    assert +shown == sent
    # The deliveries per agreement and corridor add up to the same.
    by_corridor: Counter[tuple[str, str]] = Counter()
    for path, value, _ in page.numbers:
        parts = path.split("/")
        if parts[0] == "sharing" and parts[2] == "delivered":
            row = doc["sharing"][int(parts[1])]
            by_corridor[(row["producer"], row["recipient"])] += value
    sent_by_corridor: Counter[tuple[str, str]] = Counter()
    for (producer, recipient, _type, _month, outcome), n in sent.items():
        if outcome == "delivered":
            sent_by_corridor[(producer, recipient)] += n
    assert by_corridor == sent_by_corridor
    # KH acknowledged two referrals an hour after they were made.
    (ack_row,) = [r for r in doc["ack_summary"] if r["event_type"] == "referral"]
    assert (ack_row["producer"], ack_row["recipient"], ack_row["n"]) == ("TH", "KH", 2)
    assert ack_row["median_ms"] == ack_row["max_ms"] == HOUR

    # A window around the first events: the acknowledgements after it still count (their
    # outbox records are read), and the page's command for a count lists just its leaves.
    window = (now - 60_000, between)
    windowed = run_replay(
        kafka_bootstrap, topics, TRUST, AGREEMENTS, since_ms=window[0], until_ms=window[1]
    )
    assert windowed.ok, windowed.findings
    assert [(a.event_type, a.elapsed_ms) for a in windowed.flows.ack_times] == [
        ("referral", HOUR),
        ("referral", HOUR),
    ]
    assert "acknowledgement" not in {c.event_type for c in windowed.flows.counts}
    share = next(s for s in windowed.sharing if s["event_type"] == "referral")
    assert share["delivered"] == 4
    argv = shlex.split(leaves_command(share["select"], ns))
    assert argv[-4:] == ["--since-ms", str(window[0]), "--until-ms", str(window[1])]
    listed = CliRunner(env={"TRM_HOME": str(tmp_path)}).invoke(
        trm_main,
        [*argv[1:], "--bootstrap", kafka_bootstrap, "--trust", str(tmp_path / "trust.json"),
         "--agreements", str(AGREEMENTS_DIR), "--json"],
    )  # fmt: skip
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.splitlines()) == 4
    assert "4 leaves" in listed.stderr

    # A proof the page shows verifies against the hub-signed checkpoint on the topic.
    assert page.proofs
    data = read_replay_input(kafka_bootstrap, topics)
    proof = page.proofs[0]
    index, size = int(proof["data-index"]), int(proof["data-size"])
    assert bytes.fromhex(proof["data-leaf"]) == data.leaves[index].value
    AuditLeaf.from_bytes(data.leaves[index].value)  # a real leaf of the log
    signed = [
        verify_checkpoint(r.value, origin_of(ns), hub_public_keys(TRUST))[1]
        for r in data.checkpoints
    ]
    (checkpoint,) = {cp for cp in signed if cp.size == size}
    assert checkpoint.root.hex() == proof["data-root"] == doc["root"]
    verify_inclusion(
        index,
        size,
        leaf_hash(bytes.fromhex(proof["data-leaf"])),
        [bytes.fromhex(h) for h in proof["data-proof"].split()],
        checkpoint.root,
    )
