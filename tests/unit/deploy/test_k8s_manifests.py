"""deploy/k8s validated offline: Strimzi CRD schemas and Kubernetes' own schemas.

No cluster runs here. The Strimzi CRDs are generated from Strimzi's API model
and CRD generator (both on Maven Central, see deploy/k8s/crd-tool/pom.xml),
which is how Strimzi builds its install files. Kubernetes core objects are
checked with kubernetes-validate's schemas in strict mode. Both checks reject
unknown fields, which a real API server would silently prune.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from hub.app.kafka import default_client_config
from hub.ops import security as ks
from hub.topics import COMMIT_COUNTRIES, Topics, principal_of

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - the address the containers must listen on
ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
KUBE_VERSION = "1.31.0"
CRDS = {
    "Kafka": "io.strimzi.api.kafka.model.kafka.Kafka",
    "KafkaNodePool": "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
}


def _load_generator() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("trm_k8s_generate", K8S / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


@pytest.fixture(scope="module")
def strimzi_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """kind -> openAPIV3Schema of the v1beta2 CRD, generated from Strimzi's jars."""
    cache_dir = Path(os.environ.get("TRM_STRIMZI_CRDS", Path.home() / ".cache/trm/strimzi-crds"))
    pom = K8S / "crd-tool" / "pom.xml"
    version = _pom_version(pom)
    out = cache_dir / version
    if not all((out / f"{kind}.yaml").exists() for kind in CRDS):
        assert shutil.which("mvn"), "mvn is needed to fetch Strimzi's CRD generator"
        out.mkdir(parents=True, exist_ok=True)
        cp_file = tmp_path_factory.mktemp("crd") / "cp.txt"
        subprocess.run(
            [
                "mvn",
                "-q",
                "-f",
                str(pom),
                "dependency:build-classpath",
                f"-Dmdep.outputFile={cp_file}",
            ],
            check=True,
            timeout=300,
        )
        targets = [f"{cls}={out / kind}.yaml" for kind, cls in CRDS.items()]
        subprocess.run(
            [
                "java",
                "-cp",
                cp_file.read_text().strip(),
                "io.strimzi.crdgenerator.CrdGenerator",
                "--yaml",
                "--api-versions",
                "v1beta2",
                "--storage-version",
                "v1beta2",
                *targets,
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
    schemas = {}
    for kind in CRDS:
        crd = yaml.safe_load((out / f"{kind}.yaml").read_text(encoding="utf-8"))
        assert crd["spec"]["names"]["kind"] == kind
        (v,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
        schemas[kind] = _strict(v["schema"]["openAPIV3Schema"])
    return schemas


def _pom_version(pom: Path) -> str:
    import xml.etree.ElementTree as ET

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:strimzi.version", ns)  # noqa: S314
    assert node is not None
    assert node.text
    return node.text


def _strict(schema: Any) -> Any:
    """Close every object schema (as kubeconform -strict does): unknown fields fail."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def test_every_manifest_is_valid(strimzi_schemas: dict[str, dict[str, Any]]) -> None:
    docs = _docs()
    kinds = {d["kind"] for d in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Deployment", "Service"} <= kinds
    for doc in docs:
        if doc["apiVersion"].startswith("kafka.strimzi.io/"):
            assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
            jsonschema.validate(doc, strimzi_schemas[doc["kind"]])
        else:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_the_strict_check_catches_a_typo(strimzi_schemas: dict[str, dict[str, Any]]) -> None:
    user = next(d for d in _docs() if d["kind"] == "KafkaUser")
    bad = copy.deepcopy(user)
    bad["spec"]["authentication"]["tpye"] = "scram-sha-512"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, strimzi_schemas["KafkaUser"])
    bad2 = copy.deepcopy(user)
    bad2["spec"]["authorization"]["acls"][0]["operations"] = ["Wirte"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad2, strimzi_schemas["KafkaUser"])
    deployment = next(d for d in _docs() if d["kind"] == "Deployment")
    bad3 = copy.deepcopy(deployment)
    bad3["spec"]["replcas"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad3, KUBE_VERSION, strict=True)


def test_manifests_match_the_generator() -> None:
    gen = _load_generator()
    for name, docs in gen.manifests().items():
        assert (K8S / name).read_text(encoding="utf-8") == gen.render(docs), (
            f"{name} drifted; run python deploy/k8s/generate.py"
        )


def test_cluster_is_kraft_three_nodes_tls_scram_with_authorization() -> None:
    docs = _docs()
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    pool = next(d for d in docs if d["kind"] == "KafkaNodePool")
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True
        assert listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2


def test_topics_and_users_cover_every_country_and_match_the_local_acls() -> None:
    docs = _docs()
    t = Topics()
    topic_names = {d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"}
    assert topic_names == set(t.all())
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    assert {principal_of(cc) for cc in COMMIT_COUNTRIES} | {"hub", "auditor"} <= set(users)
    # Each country's KafkaUser grants exactly what the local broker grants it.
    for cc in COMMIT_COUNTRIES:
        user = principal_of(cc)
        granted = {
            (a["resource"]["type"], a["resource"]["name"], op)
            for a in users[user]["spec"]["authorization"]["acls"]
            for op in a["operations"]
        }
        local = {
            (b.resource_type.name.lower(), b.resource_name, b.operation.name.title())
            for b in ks.acl_bindings(t)
            if b.principal == user
        }
        assert granted == local
        assert ("topic", t.outbox(cc), "Write") in granted
        assert ("topic", t.audit_checkpoints, "Write") in granted  # a witness's cosignatures
        assert ("topic", t.registry_seal_keys, "Write") in granted  # its own seal-key sets
        assert ("topic", t.match_requests, "Write") in granted  # its match messages
        own = {t.outbox(cc), t.audit_checkpoints, t.registry_seal_keys, t.match_requests}
        assert not any(op == "Write" and name not in own for _, name, op in granted)


def test_workloads_take_credentials_from_strimzi_secrets() -> None:
    for doc in _docs():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        user = env["TRM_KAFKA_SASL_USERNAME"]
        secrets = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}
        assert secrets["kafka-user"] == user  # the User Operator's Secret for that KafkaUser
        assert container["securityContext"]["runAsNonRoot"] is True
        assert "PLAINTEXT" not in str(env)


def _containers() -> dict[str, dict[str, Any]]:
    """Deployment name -> its (single) container."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in _docs()
        if d["kind"] == "Deployment"
    }


def test_every_kafka_client_pod_resolves_its_own_user_through_the_one_resolver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The env and mounts each pod gets make the client resolver pick that pod's KafkaUser."""
    material = ks.create_material(tmp_path / "ca")
    users = {d["metadata"]["name"] for d in _docs() if d["kind"] == "KafkaUser"}
    pods = _containers()
    assert {"trm-hub", "trm-audit-sequencer"} <= set(pods)
    for name, container in pods.items():
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["TRM_KAFKA_SASL_USERNAME"] in users, name
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        for var in ("TRM_KAFKA_SASL_PASSWORD_FILE", "TRM_KAFKA_CA_FILE"):
            assert str(Path(env[var]).parent) in mounted, (name, var)
        # The Secret files, as Strimzi would mount them, under tmp_path.
        password = tmp_path / name / "password"
        password.parent.mkdir()
        password.write_text("s3cret\n", encoding="utf-8")
        monkeypatch.delenv("TRM_KAFKA_CLIENT_CONFIG", raising=False)
        monkeypatch.setenv("TRM_KAFKA_SASL_USERNAME", env["TRM_KAFKA_SASL_USERNAME"])
        monkeypatch.setenv("TRM_KAFKA_SASL_PASSWORD_FILE", str(password))
        monkeypatch.setenv("TRM_KAFKA_CA_FILE", str(material.ca_cert))
        cfg = default_client_config("ignored", None)
        assert cfg["security_protocol"] == "SASL_SSL"
        assert cfg["sasl_plain_username"] == env["TRM_KAFKA_SASL_USERNAME"]
        assert cfg["sasl_plain_password"] == "s3cret"


def test_probes_reach_servers_that_listen_outside_the_pod() -> None:
    pods = _containers()
    for name in ("trm-hub", "trm-audit-sequencer"):
        container = pods[name]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["TRM_HUB_WEB_HOST"] == ANY_ADDRESS, name
        (port,) = container["ports"]
        assert container["readinessProbe"]["httpGet"]["port"] == port["name"]
        assert str(port["containerPort"]) in {env.get("TRM_HUB_WEB_PORT"), *container["args"]}
    assert pods["trm-hub"]["readinessProbe"]["httpGet"]["path"] == "/hub/status"
    gateways = [c for n, c in pods.items() if n.startswith("trm-gateway-")]
    assert len(gateways) == len(COMMIT_COUNTRIES)
    for container in gateways:
        args = container["args"]
        assert args[args.index("--host") + 1] == ANY_ADDRESS
        assert container["readinessProbe"]["httpGet"]["path"] == "/api/openapi.json"


def test_one_audit_sequencer_runs_beside_the_hub() -> None:
    (seq,) = [
        d
        for d in _docs()
        if d["kind"] == "Deployment"
        and d["spec"]["template"]["spec"]["containers"][0]["args"][:3]
        == ["trm", "audit", "sequencer"]
    ]
    assert seq["spec"]["replicas"] == 1
    assert seq["spec"]["strategy"] == {"type": "Recreate"}  # never two writers at once
