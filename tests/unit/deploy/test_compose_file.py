"""deploy/compose validated offline: the compose-spec schema and our own rules.

No container engine runs here; the compose-spec JSON schema (vendored from
check-jsonschema, Apache-2.0) is what ``docker compose config`` checks first.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hub.ops import security as ks
from hub.topics import COMMIT_COUNTRIES, principal_of

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - the address the containers must listen on
ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(compose)


def test_the_schema_check_catches_a_typo(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    bad = json.loads(json.dumps(compose))
    bad["services"]["hub-1"]["enviroment"] = {"X": "1"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate(bad)


def test_three_kraft_brokers_from_the_official_image(compose: dict[str, Any]) -> None:
    brokers = {
        n: s for n, s in compose["services"].items() if n.startswith("kafka-") and n[-1].isdigit()
    }
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    for svc in brokers.values():
        # The official image by default; the tests run a local one with its layout.
        assert re.fullmatch(r"\$\{TRM_KAFKA_IMAGE:-apache/kafka:3\.9\.\d+\}", svc["image"])
    entry = (COMPOSE / "broker-entrypoint.sh").read_text(encoding="utf-8")
    assert "process.roles=broker,controller" in entry
    assert "controller.quorum.voters=1@kafka-1:9094,2@kafka-2:9094,3@kafka-3:9094" in entry
    assert "min.insync.replicas=2" in entry
    assert "kafka-storage.sh format" in entry
    assert "PLAINTEXT" not in entry
    subprocess.run(["bash", "-n", str(COMPOSE / "broker-entrypoint.sh")], check=True)
    subprocess.run(["sh", "-n", str(COMPOSE / "provision.sh")], check=True)


def test_listeners_in_the_entrypoint_are_the_ones_security_maps(tmp_path: Path) -> None:
    entry = (COMPOSE / "broker-entrypoint.sh").read_text(encoding="utf-8")
    names = set(re.findall(r"(\w+)://", entry.split("listeners=", 1)[1].splitlines()[0]))
    props = ks.broker_properties(ks.create_material(tmp_path / "s"), mount=Path("/run/secrets/trm"))
    mapped = {p.split(":")[0] for p in props["listener.security.protocol.map"].split(",")}
    assert names == mapped == {"SECURE", "CONTROLLER"}
    assert props["ssl.keystore.location"] == "/run/secrets/trm/broker.p12"
    assert props["ssl.truststore.location"] == "/run/secrets/trm/ca.pem"


def test_a_gateway_per_country_each_with_only_its_own_credentials(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for cc in COMMIT_COUNTRIES:
        user = principal_of(cc)
        gw = services[f"gateway-{user}"]
        assert gw["command"][:3] == ["trm", "gateway", "serve"]
        assert cc in gw["command"]
        assert gw["secrets"] == [f"kafka-{user}.json"]
        assert gw["environment"]["TRM_KAFKA_CLIENT_CONFIG"] == f"/run/secrets/kafka-{user}.json"
        assert (
            compose["secrets"][f"kafka-{user}.json"]["file"] == f"./secrets/credentials/{user}.json"
        )
    hubs = [n for n in services if n.startswith("hub-")]
    assert len(hubs) >= 2
    for n in hubs:
        assert services[n]["secrets"] == ["kafka-hub.json"]
    assert services["kafka-init"]["secrets"] == ["kafka-admin.json"]
    assert compose["networks"]["kafka"]["internal"] is True


def test_sequencer_and_faust_web_servers_and_credentials_from_one_file(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["sequencer"]["command"][:3] == ["trm", "audit", "sequencer"]
    for name in ("hub-1", "hub-2", "sequencer"):
        env = services[name]["environment"]
        assert env["TRM_HUB_WEB_HOST"] == ANY_ADDRESS
        assert env["TRM_KAFKA_CLIENT_CONFIG"] == "/run/secrets/kafka-hub.json"
    assert services["auditor"]["secrets"] == ["kafka-auditor.json"]
    assert services["registry"]["secrets"] == ["kafka-admin.json"]
    for name, svc in services.items():
        if name.startswith("gateway-"):
            cmd = svc["command"]
            assert cmd[cmd.index("--host") + 1] == ANY_ADDRESS, name
        for secret in svc.get("secrets", []):
            # One credentials file per container, named by TRM_KAFKA_CLIENT_CONFIG (or the
            # --credentials of kafka-init): the resolver reads nothing else.
            wanted = f"/run/secrets/{secret}"
            assert wanted in (svc.get("environment") or {}).values() or wanted in " ".join(
                svc["command"]
            ), name
