"""docs/asyncapi.yaml and protocol.md's topic table: generated from the plan, parsed by AsyncAPI.

The document is regenerated and compared (a drift test, as for the wire
vectors), then parsed by the official ``@asyncapi/parser`` with its Avro
schema parser (npm, exact versions in tests/asyncapi/package-lock.json,
installed by ``make asyncapi-deps``, which ``make test`` runs). No node or no
parser fails the test, never skips it.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import schemas
from hub.asyncapi import (
    AVRO_FORMAT,
    TABLE_BEGIN,
    TABLE_END,
    asyncapi,
    message_headers,
    protocol_table,
    render,
    with_protocol_table,
)
from hub.errors import OperationalError, Reason
from hub.topics import ADMIN, AUDITOR, HUB, Record, Topics

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "asyncapi.yaml"
PROTOCOL = ROOT / "docs" / "protocol.md"
VALIDATOR = ROOT / "tests" / "asyncapi" / "validate.mjs"
REGENERATE = "run: python -m hub.asyncapi --write"


def _validate(path: Path) -> tuple[int, dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is needed to run the AsyncAPI parser: make system-deps"
    assert (VALIDATOR.parent / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "the AsyncAPI parser is not installed: make asyncapi-deps"
    )
    done = subprocess.run(
        [node, str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=VALIDATOR.parent,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_committed_document_is_what_the_plan_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == render(asyncapi()), (
        f"asyncapi.yaml drifted; {REGENERATE}"
    )


def test_protocol_topic_table_is_what_the_plan_generates() -> None:
    text = PROTOCOL.read_text(encoding="utf-8")
    assert TABLE_BEGIN in text
    assert TABLE_END in text
    assert with_protocol_table(text, protocol_table()) == text, (
        f"protocol.md §8 drifted; {REGENERATE}"
    )


def test_protocol_table_without_markers_is_refused() -> None:
    with pytest.raises(OperationalError) as info:
        with_protocol_table("# no markers here\n", protocol_table())
    assert info.value.reason is Reason.CONFIG_INVALID


def test_the_official_parser_accepts_the_document() -> None:
    code, summary = _validate(DOC)
    assert code == 0, summary["errors"]
    assert summary["errors"] == []
    plan = Topics().plan()
    assert summary["channels"] == len(plan)
    assert summary["operations"] == 2 * len(plan)  # one send and one receive per topic
    assert summary["messages"] == len({s.record for s in plan})
    assert summary["avroSchemas"] >= len(schemas.names())


def test_the_official_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    bad_avro = copy.deepcopy(doc)
    bad_avro["components"]["schemas"]["envelope"]["schema"]["fields"][0]["type"] = "bytez"
    bad_binding = copy.deepcopy(doc)
    bad_binding["channels"]["trm_TH_outbox"]["bindings"]["kafka"]["partitions"] = 0
    for name, broken, expected in (
        ("avro", bad_avro, "bytez"),
        ("binding", bad_binding, "partitions"),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(broken), encoding="utf-8")
        code, summary = _validate(path)
        assert code == 1
        assert any(expected in e for e in summary["errors"]), summary


def test_every_topic_of_the_plan_is_a_channel_with_its_kafka_settings() -> None:
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    channels = {c["address"]: c for c in doc["channels"].values()}
    plan = Topics().plan()
    assert set(channels) == {s.name for s in plan}
    for spec in plan:
        kafka = channels[spec.name]["bindings"]["kafka"]
        assert kafka["topic"] == spec.name
        assert kafka["partitions"] == spec.partitions
        config = kafka["topicConfiguration"]
        assert config["cleanup.policy"] == spec.cleanup_policy.split(",")
        assert ("compact" in config["cleanup.policy"]) == spec.compacted
        assert config.get("retention.ms") == spec.retention_ms
        assert (spec.name.endswith(".outbox")) == (
            config.get("message.timestamp.type") == "LogAppendTime"
        )
    # Who sends and receives is the plan's writers and readers.
    ops = doc["operations"]
    outbox = "trm_TH_outbox"
    assert ops[f"{outbox}_send"]["x-trm-principals"] == ["th"]
    assert ops[f"{outbox}_receive"]["x-trm-principals"] == [HUB, AUDITOR]
    assert ops["trm_registry_trust_send"]["x-trm-principals"] == [ADMIN]


def test_avro_payloads_are_the_schema_files() -> None:
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    components = doc["components"]["schemas"]
    assert set(components) == set(schemas.names())
    for name in schemas.names():
        assert components[name] == {"schemaFormat": AVRO_FORMAT, "schema": schemas.load(name)}
    messages = doc["components"]["messages"]
    assert messages["event"]["payload"] == {"$ref": "#/components/schemas/envelope"}
    assert messages["audit_leaf"]["payload"] == {"$ref": "#/components/schemas/audit_leaf"}
    assert set(messages["event"]["headers"]["required"]) == set(message_headers(Record.EVENT))
    assert {"ce_id", "ce_type", "ce_source", "content-type"} <= set(
        messages["delivery"]["headers"]["properties"]
    )
    assert "trm-effect" in messages["delivery"]["headers"]["required"]
    assert messages["quarantined"]["headers"]["required"] == [
        "trm-effect",
        "trm-reason",
        "trm-source",
    ]
