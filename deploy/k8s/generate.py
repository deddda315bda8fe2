"""Write the Strimzi manifests of deploy/k8s from the same plan as the local broker.

The topics come from the topic plan (``hub.topics.Topics.plan``), the users and
ACLs from ``hub.ops.security.acl_bindings`` (made from the same plan), so a
Kubernetes deployment enforces exactly the lanes that ``trm kafka up --secure``
enforces and that tests/integration checks on a real broker. Run
``python deploy/k8s/generate.py`` after changing either; tests/unit/deploy
fails if the committed files drift from what this writes.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.ops.security import (
    ADMIN,
    AclBinding,
    Operation,
    PatternType,
    ResourceType,
    acl_bindings,
    principal_of,
)
from hub.topics import COMMIT_COUNTRIES, MIN_INSYNC_REPLICAS, REPLICAS, Topics

__all__ = ["CLUSTER", "IMAGE", "NAMESPACE", "STRIMZI_VERSION", "manifests", "write_all"]

CLUSTER = "trm"
NAMESPACE = "trm-hub"
STRIMZI_VERSION = "0.45.0"
KAFKA_VERSION = "3.9.0"  # the newest 3.9 release Strimzi 0.45 runs; local tests use 3.9.2
IMAGE = "ghcr.io/commit-trm/trm-hub:latest"  # built from deploy/compose/Dockerfile
HUB_APP_ID = "trm-hub-trm"  # hub.app.main's default app id for namespace trm
HERE = Path(__file__).resolve().parent

_OPERATION = {
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.CREATE: "Create",
    Operation.DELETE: "Delete",
    Operation.ALTER: "Alter",
    Operation.DESCRIBE: "Describe",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
    Operation.ALL: "All",
}
_PATTERN = {PatternType.LITERAL: "literal", PatternType.PREFIXED: "prefix"}
_RESOURCE = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.CLUSTER: "cluster",
    ResourceType.TRANSACTIONAL_ID: "transactionalId",
}


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "trm-hub", "app.kubernetes.io/component": component}


def kafka_cluster() -> list[dict[str, Any]]:
    """A 3-node KRaft cluster (dual-role node pool), TLS + SCRAM, simple authorization."""
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "Kafka",
        "metadata": {
            "name": CLUSTER,
            "namespace": NAMESPACE,
            "annotations": {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"},
        },
        "spec": {
            "kafka": {
                "version": KAFKA_VERSION,
                "metadataVersion": "3.9-IV0",
                "listeners": [
                    {
                        "name": "tls",
                        "port": 9093,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                    }
                ],
                # Strimzi's "simple" authorization is the StandardAuthorizer in KRaft.
                "authorization": {"type": "simple"},
                "config": {
                    "default.replication.factor": REPLICAS,
                    "min.insync.replicas": MIN_INSYNC_REPLICAS,
                    "offsets.topic.replication.factor": 3,
                    "transaction.state.log.replication.factor": 3,
                    "transaction.state.log.min.isr": 2,
                    "auto.create.topics.enable": False,
                    "allow.everyone.if.no.acl.found": False,
                    "unclean.leader.election.enable": False,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    pool = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaNodePool",
        "metadata": {
            "name": "dual-role",
            "namespace": NAMESPACE,
            "labels": {"strimzi.io/cluster": CLUSTER},
        },
        "spec": {
            "replicas": REPLICAS,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "50Gi",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
        },
    }
    return [kafka, pool]


def kafka_topics(topics: Topics) -> list[dict[str, Any]]:
    """One KafkaTopic per topic of the plan (Kubernetes names are lower case)."""
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {
                "name": spec.name.lower().replace(".", "-").replace("_", "-"),
                "namespace": NAMESPACE,
                "labels": {"strimzi.io/cluster": CLUSTER},
            },
            "spec": {
                "topicName": spec.name,
                "partitions": spec.partitions,
                "replicas": REPLICAS,
                "config": {"min.insync.replicas": MIN_INSYNC_REPLICAS, **spec.config},
            },
        }
        for spec in topics.plan()
    ]


def _operator_bindings(topics: Topics) -> list[AclBinding]:
    # In Kubernetes the operator is not a super user: it writes what the plan says
    # it writes (the registry), and reads it back.
    return [
        AclBinding(ADMIN, ResourceType.TOPIC, spec.name, PatternType.LITERAL, op)
        for spec in topics.plan()
        if ADMIN in spec.writers
        for op in (Operation.READ, Operation.WRITE)
    ]


def kafka_users(topics: Topics) -> list[dict[str, Any]]:
    """A KafkaUser (SCRAM-SHA-512) per country, the hub, the auditor and the operator."""
    by_user: dict[str, list[AclBinding]] = defaultdict(list)
    for b in (*acl_bindings(topics, hub_app_id=HUB_APP_ID), *_operator_bindings(topics)):
        by_user[b.principal].append(b)
    docs = []
    for user in sorted(by_user):
        grouped: dict[tuple[ResourceType, str, PatternType], list[str]] = defaultdict(list)
        for b in sorted(by_user[user]):
            grouped[(b.resource_type, b.resource_name, b.pattern)].append(_OPERATION[b.operation])
        acls = [
            {
                "resource": {
                    "type": _RESOURCE[rtype],
                    "name": name,
                    "patternType": _PATTERN[pattern],
                },
                "operations": sorted(ops),
                "host": "*",
            }
            for (rtype, name, pattern), ops in sorted(grouped.items())
        ]
        docs.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaUser",
                "metadata": {
                    "name": user,
                    "namespace": NAMESPACE,
                    "labels": {"strimzi.io/cluster": CLUSTER},
                },
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {"type": "simple", "acls": acls},
                },
            }
        )
    return docs


def _kafka_env(user: str) -> list[dict[str, Any]]:
    return [
        {"name": "TRM_KAFKA_BOOTSTRAP", "value": f"{CLUSTER}-kafka-bootstrap:9093"},
        {"name": "TRM_KAFKA_SASL_USERNAME", "value": user},
        {"name": "TRM_KAFKA_SASL_PASSWORD_FILE", "value": "/etc/trm/kafka-user/password"},
        {"name": "TRM_KAFKA_CA_FILE", "value": "/etc/trm/kafka-ca/ca.crt"},
        {"name": "TRM_HOME", "value": "/var/lib/trm"},
    ]


def _web_env(port: str | None = None) -> list[dict[str, Any]]:
    """Faust's web server answers the kubelet's probes from outside the pod."""
    env = [{"name": "TRM_HUB_WEB_HOST", "value": "0.0.0.0"}]  # noqa: S104 - in-pod port
    if port:
        env.append({"name": "TRM_HUB_WEB_PORT", "value": port})
    return env


def _kafka_volumes(user: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes = [
        # Strimzi's User Operator writes the SCRAM password into a Secret named after the user.
        {"name": "kafka-user", "secret": {"secretName": user, "defaultMode": 0o400}},
        {"name": "kafka-ca", "secret": {"secretName": f"{CLUSTER}-cluster-ca-cert"}},
    ]
    mounts = [
        {"name": "kafka-user", "mountPath": "/etc/trm/kafka-user", "readOnly": True},
        {"name": "kafka-ca", "mountPath": "/etc/trm/kafka-ca", "readOnly": True},
    ]
    return volumes, mounts


def _state_volumes(key_secret: str) -> list[dict[str, Any]]:
    """TRM_HOME (/var/lib/trm): keys from a Secret, trust list and agreements from ConfigMaps."""
    return [
        {"name": "home", "emptyDir": {}},
        {"name": "keys", "secret": {"secretName": key_secret, "defaultMode": 0o400}},
        {"name": "trust", "configMap": {"name": "trm-trust"}},
        {"name": "agreements", "configMap": {"name": "trm-agreements"}},
    ]


_STATE_MOUNTS: list[dict[str, Any]] = [
    {"name": "home", "mountPath": "/var/lib/trm"},
    {"name": "keys", "mountPath": "/var/lib/trm/keys", "readOnly": True},
    {
        "name": "trust",
        "mountPath": "/var/lib/trm/trust.json",
        "subPath": "trust.json",
        "readOnly": True,
    },
    {"name": "agreements", "mountPath": "/var/lib/trm/agreements", "readOnly": True},
]

_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _faust_deployment(  # noqa: PLR0917 - the few things the two Faust apps differ in
    name: str,
    labels: dict[str, str],
    container: dict[str, Any],
    port: int,
    probe_path: str,
    cpu: str,
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    spec: dict[str, Any],
) -> dict[str, Any]:
    """A Deployment of one Faust app as the hub principal, its probe on its web port."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        # Copies, not one shared dict: the YAML then repeats the labels instead of anchoring them.
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            **spec,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": container["name"],
                            "image": IMAGE,
                            **{k: v for k, v in container.items() if k != "name"},
                            "ports": [{"name": "web", "containerPort": port}],
                            "readinessProbe": {
                                "httpGet": {"path": probe_path, "port": "web"},
                                "periodSeconds": 10,
                            },
                            "resources": {
                                "requests": {"cpu": cpu, "memory": "256Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": _SECURITY_CONTEXT,
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def hub_deployment() -> list[dict[str, Any]]:
    """The hub workers: a Deployment; Faust spreads outbox partitions across replicas."""
    volumes, mounts = _kafka_volumes("hub")
    volumes += _state_volumes("trm-hub-keys")
    mounts += _STATE_MOUNTS
    worker = {
        "name": "worker",
        # Keys, trust list and agreements come from TRM_HOME.
        "args": ["trm", "hub", "worker", "--loglevel", "info"],
        "env": [*_kafka_env("hub"), *_web_env(port="6066")],
    }
    return [
        _faust_deployment(
            "trm-hub", _labels("hub"), worker, 6066, "/hub/status", "250m", volumes, mounts,
            {"replicas": 2},
        )
    ]  # fmt: skip


def audit_sequencer() -> list[dict[str, Any]]:
    """The audit log's single writer: one replica, never two (Recreate), as the hub user."""
    volumes, mounts = _kafka_volumes("hub")
    volumes += [
        {"name": "home", "emptyDir": {}},
        {"name": "keys", "secret": {"secretName": "trm-hub-keys", "defaultMode": 0o400}},
    ]
    mounts += [
        {"name": "home", "mountPath": "/var/lib/trm"},
        {"name": "keys", "mountPath": "/var/lib/trm/keys", "readOnly": True},
    ]
    sequencer = {
        "name": "sequencer",
        "args": ["trm", "audit", "sequencer", "--web-port", "6067"],
        "env": [*_kafka_env("hub"), *_web_env()],
    }
    return [
        _faust_deployment(
            "trm-audit-sequencer", _labels("audit-sequencer"), sequencer, 6067, "/", "100m",
            volumes, mounts, {"replicas": 1, "strategy": {"type": "Recreate"}},
        )
    ]  # fmt: skip


def gateways(countries: tuple[str, ...] = COMMIT_COUNTRIES) -> list[dict[str, Any]]:
    """One gateway (Deployment + Service) per country, each with its own Kafka user."""
    docs: list[dict[str, Any]] = []
    for cc in countries:
        user = principal_of(cc)
        labels = {**_labels("gateway"), "trm.commit/country": cc}
        volumes, mounts = _kafka_volumes(user)
        volumes += _state_volumes(f"trm-{user}-key")
        volumes.append(
            {"name": "node", "persistentVolumeClaim": {"claimName": f"trm-gateway-{user}"}}
        )
        mounts += [*_STATE_MOUNTS, {"name": "node", "mountPath": f"/var/lib/trm/nodes/{cc}"}]
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": f"trm-gateway-{user}",
                    "namespace": NAMESPACE,
                    "labels": labels,
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": f"trm-gateway-{user}",
                    "namespace": NAMESPACE,
                    "labels": labels,
                },
                "spec": {
                    "replicas": 1,
                    # One writer per country node: its producer sequence must not fork.
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "gateway",
                                    "image": IMAGE,
                                    "args": [
                                        "trm",
                                        "gateway",
                                        "serve",
                                        "--country",
                                        cc,
                                        "--host",
                                        "0.0.0.0",  # noqa: S104 - the Service and probe reach it
                                        "--port",
                                        "8080",
                                    ],
                                    "env": _kafka_env(user),
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                    "readinessProbe": {
                                        # Public (no login); answers once the gateway serves.
                                        "httpGet": {"path": "/api/openapi.json", "port": "http"},
                                        "periodSeconds": 10,
                                    },
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "128Mi"},
                                        "limits": {"memory": "512Mi"},
                                    },
                                    "securityContext": _SECURITY_CONTEXT,
                                    "volumeMounts": mounts,
                                }
                            ],
                            "volumes": volumes,
                        },
                    },
                },
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"trm-gateway-{user}",
                    "namespace": NAMESPACE,
                    "labels": labels,
                },
                "spec": {
                    "selector": labels,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            }
        )
    return docs


def network_policy() -> list[dict[str, Any]]:
    """Only trm-hub pods and the gateways reach the brokers' client port."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "trm-kafka-clients", "namespace": NAMESPACE},
            "spec": {
                "podSelector": {"matchLabels": {"strimzi.io/cluster": CLUSTER}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/part-of": "trm-hub"}
                                }
                            },
                            {"podSelector": {"matchLabels": {"strimzi.io/cluster": CLUSTER}}},
                        ],
                        "ports": [{"protocol": "TCP", "port": 9093}],
                    },
                    {
                        # Brokers and controllers talk among themselves; the operator manages them.
                        "from": [
                            {"podSelector": {"matchLabels": {"strimzi.io/cluster": CLUSTER}}},
                            {
                                "podSelector": {
                                    "matchLabels": {"strimzi.io/kind": "cluster-operator"}
                                }
                            },
                        ],
                    },
                ],
            },
        }
    ]


def manifests() -> dict[str, list[dict[str, Any]]]:
    """File name -> documents, for every file this script owns."""
    topics = Topics()
    namespace = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": _labels("namespace")},
        }
    ]
    return {
        "00-namespace.yaml": namespace,
        "10-kafka.yaml": kafka_cluster(),
        "20-topics.yaml": kafka_topics(topics),
        "30-users.yaml": kafka_users(topics),
        "40-hub.yaml": hub_deployment(),
        "45-audit-sequencer.yaml": audit_sequencer(),
        "50-gateways.yaml": gateways(),
        "60-network-policy.yaml": network_policy(),
    }


HEADER = (
    "# Generated by deploy/k8s/generate.py from hub.ops.security and hub.topics.\n"
    "# Do not edit by hand: change the plan and rerun the script.\n"
)


def render(docs: list[dict[str, Any]]) -> str:
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    return HEADER + "---\n" + body


def write_all(directory: Path = HERE) -> list[Path]:
    written = []
    for name, docs in manifests().items():
        path = directory / name
        path.write_text(render(docs), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
