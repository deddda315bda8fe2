"""Real records on the broker decode with the schemas taken from docs/asyncapi.yaml.

A signed event goes through the real hub path (``trm hub worker`` and
``trm audit sequencer`` subprocesses on the session broker): one recipient
allowed, one refused, plus an unparsable record. Then every record on the
outbox, inbox, rejections, quarantine, decisions, audit leaves and checkpoints
topics is read back and checked against the document alone: Avro values
(single-object framing, fingerprint and body) with the Avro schemas the
document carries (fastavro), JSON values with its JSON Schemas, and the
Kafka headers against the headers each message declares.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire.sealing import quarantined_digest
from tests.support.hub import HUB_KEY, KEYS, example, sealed, trust_list
from tests.support.policy import agreement_from_table
from tests.support.wire import SEAL_KEYS

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "asyncapi.yaml"
TRM = str(Path(sys.executable).parent / "trm")
KEEP = ["case_number", "needs", "languages", "is_child", "receiving_organisation"]


class Proc:
    """A ``trm`` subprocess with its log; stopped by the fixture."""

    def __init__(self, args: list[str], home: Path, name: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "TRM_HOME": str(home)}
        self.log = home / f"{name}.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [TRM, *args], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> None:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def hub(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> Iterator[list[Proc]]:
    """The hub worker and the audit sequencer on ``topics``, with TH>KH referrals allowed."""
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    agreement = agreement_from_table({"TH>KH:referral": KEEP}, KEYS)
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, [agreement]))
    ns = ["--bootstrap", kafka_bootstrap, "--namespace", topics.namespace]
    procs = [
        Proc(["hub", "worker", *ns], tmp_path, "hub"),
        Proc(
            [
                "audit",
                "sequencer",
                *ns,
                "--web-port",
                str(kafka_local.free_port()),
                "--every-leaves",
                "1",
                "--every-ms",
                "500",
            ],
            tmp_path,
            "sequencer",
        ),
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()


class Document:
    """docs/asyncapi.yaml as a reader without this code base would use it."""

    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.channels = {c["address"]: c for c in self.doc["channels"].values()}

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            found: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                found = found[part]
            node = found
        return node

    def message(self, topic: str) -> dict[str, Any]:
        (ref,) = self.channels[topic]["messages"].values()
        return self.resolve(ref)

    def avro(self, name: str) -> Any:
        """An Avro schema from components/schemas, as a fastavro parsed schema."""
        component = self.doc["components"]["schemas"][name]
        assert component["schemaFormat"].startswith("application/vnd.apache.avro")
        return parse_schema(component["schema"])

    def payload_avro(self, topic: str) -> Any:
        payload = self.resolve(self.message(topic)["payload"])
        assert payload["schemaFormat"].startswith("application/vnd.apache.avro")
        return parse_schema(payload["schema"])


def _unframe(value: bytes, schema: Any) -> dict[str, Any]:
    """Avro single-object encoding: C3 01, the schema's CRC-64-AVRO, the body."""
    assert value[:2] == b"\xc3\x01"
    crc = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    assert value[2:10] == crc
    body = io.BytesIO(value[10:])
    record: dict[str, Any] = schemaless_reader(body, schema, None)  # type: ignore[assignment]
    assert body.read() == b""  # every byte used
    return record


def _check_headers(doc: Document, r: Any) -> dict[str, bytes]:
    headers = dict(r.headers)
    declared = doc.message(r.topic).get("headers", {"required": []})
    assert set(declared["required"]) <= set(headers), (r.topic, sorted(headers))
    return headers


async def _read(bootstrap: str, wanted: dict[str, int], procs: list[Proc]) -> dict[str, list[Any]]:
    consumer = AIOKafkaConsumer(*wanted, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: dict[str, list[Any]] = {t: [] for t in wanted}
    try:
        async with asyncio.timeout(180):
            while any(len(got[t]) < n for t, n in wanted.items()):
                for p in procs:
                    p.alive()
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        got[r.topic].append(r)
    finally:
        await consumer.stop()
    return got


async def test_records_decode_with_the_schemas_of_the_document(
    kafka_bootstrap: str, topics: Topics, hub: list[Proc]
) -> None:
    doc = Document(DOC)
    now = time.time_ns() // 1_000_000
    # A sealed (v2) event: the envelope the document describes.
    raw, ce = sealed(
        recipients=("CN", "KH"),
        created_at_ms=now,
        sequence=1,
        seal_to={c: SEAL_KEYS[c] for c in ("CN", "KH")},
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.outbox("TH"), raw, key=b"case-0001", headers=ce)
        await producer.send_and_wait(topics.outbox("TH"), b"\xc3\x01garbage", headers=[])
    finally:
        await producer.stop()
    # The document's channels are trm.*: the same plan under the test's namespace.
    as_doc = {name: name.replace(f"{topics.namespace}.", "trm.", 1) for name in topics.all()}
    wanted = {
        topics.outbox("TH"): 2,
        topics.inbox("KH"): 1,
        topics.rejections("TH"): 2,  # CN has no agreement; the garbage does not parse
        topics.quarantine: 2,  # each refusal keeps a copy of the original
        topics.decisions: 4,  # INGESTED, DELIVERED, REJECTED (CN), REJECTED (garbage)
        topics.audit_leaves: 4,
        topics.audit_checkpoints: 1,
    }
    got = await _read(kafka_bootstrap, wanted, hub)

    def records(topic: str) -> list[Any]:
        return [_Renamed(r, as_doc[r.topic]) for r in got[topic]]

    envelope = doc.payload_avro("trm.TH.outbox")
    header_schema, statement_schema = doc.avro("header"), doc.avro("attestation_statement")
    submitted = [r for r in records(topics.outbox("TH")) if r.value == raw]
    assert len(submitted) == 1
    for r in [*submitted, *records(topics.inbox("KH"))]:
        headers = _check_headers(doc, r)
        env = _unframe(r.value, envelope)
        header = _unframe(env["header"], header_schema)
        assert header["producer"] == "TH"
        assert header["recipients"] == ["CN", "KH"]
        assert str(header["event_id"]).encode() == headers["ce_id"]  # logicalType uuid
        assert (
            f"trm.{header['event_type']}.v{header['spec_version']}".encode() == headers["ce_type"]
        )
        assert len(env["signature"]["sig"]) == 64
    (delivered,) = records(topics.inbox("KH"))
    env = _unframe(delivered.value, envelope)
    (attestation,) = env["attestations"]
    statement = _unframe(attestation["statement"], statement_schema)
    assert statement["recipient"] == "KH"
    assert set(statement["fields"]) == set(KEEP) & set(example("referral"))
    # withheld fields removed; only KH's key wrap left
    assert len(env["disclosures"]) + len(env["sealed"]) == len(statement["fields"])
    assert len(env["key_wraps"]) == 1

    rejection = doc.message("trm.TH.rejections")["payload"]
    reasons = []
    for r in records(topics.rejections("TH")):
        _check_headers(doc, r)
        notice = json.loads(r.value)
        jsonschema.validate(notice, rejection)
        reasons.append(notice["reason"])
    assert sorted(reasons) == ["MALFORMED_FRAME", "NO_AGREEMENT"]

    # The quarantine keeps sealed bytes only; each copy names the original's digest.
    quarantined = {
        quarantined_digest(r.value): _check_headers(doc, r) for r in records(topics.quarantine)
    }
    raw_d, garbage_d = (hashlib.sha256(b).digest() for b in (raw, b"\xc3\x01garbage"))
    assert set(quarantined) == {raw_d, garbage_d}
    assert quarantined[raw_d]["trm-reason"] == b"NO_AGREEMENT"
    assert quarantined[garbage_d]["trm-reason"] == b"MALFORMED_FRAME"

    decision = doc.message("trm.hub.decisions")["payload"]
    kinds = []
    for r in records(topics.decisions):
        _check_headers(doc, r)
        record = json.loads(r.value)
        jsonschema.validate(record, decision)
        kinds.append(record["kind"])
    assert sorted(kinds) == ["DELIVERED", "INGESTED", "REJECTED", "REJECTED"]

    leaf_schema = doc.payload_avro("trm.audit.leaves")
    leaves = []
    for r in records(topics.audit_leaves):
        headers = _check_headers(doc, r)
        leaf = _unframe(r.value, leaf_schema)
        assert leaf["decision_id"].encode() == r.key
        leaves.append((int(headers["trm-leaf-index"]), leaf["kind"]))
    assert sorted(i for i, _ in leaves) == list(range(4))
    assert sorted(k for _, k in leaves) == sorted(kinds)

    (checkpoint, *_) = records(topics.audit_checkpoints)
    assert doc.message("trm.audit.checkpoints")["payload"] == {"type": "string"}
    assert checkpoint.value.decode().startswith(f"trm-hub/{topics.namespace}\n")


class _Renamed:
    """A consumer record seen under the document's topic name (namespace ``trm``)."""

    def __init__(self, record: Any, topic: str) -> None:
        self.topic, self.key, self.value, self.headers = (
            topic,
            record.key,
            record.value,
            record.headers,
        )
