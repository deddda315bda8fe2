"""``trm hub worker`` and ``trm hub provision``.

``worker`` runs the Faust hub worker (``hub.app.main``) with its settings from
flags, the environment and the state directory (``.trm/`` or ``TRM_HOME``).
``provision`` publishes the trust list and the signed agreements into the
compacted registry topics, where running hubs pick them up.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from connectors import kafka_local, kafka_security
from connectors.state import default_bootstrap, state_dir
from hub.app.registry import parse_agreement
from hub.errors import OperationalError, Reason
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import load_trust_file

__all__ = ["cli", "provision_registry"]


@click.group(name="hub")
def cli() -> None:
    """Run and provision the hub."""


@cli.command()
@click.option("--bootstrap", help="Kafka bootstrap servers (default: TRM_KAFKA_BOOTSTRAP, .trm).")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
@click.option(
    "--key", "key_file", type=click.Path(dir_okay=False), help="Hub key (.trm/keys/HUB.key)."
)
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False), help="Pinned trust list.")
@click.option(
    "--web-port",
    type=int,
    default=None,
    envvar="TRM_HUB_WEB_PORT",
    help="Faust web port (default: a free one); /hub/status is served there.",
)
@click.option("--countries", default=",".join(COMMIT_COUNTRIES), show_default=True)
@click.option("--app-id", default=None, help="Consumer group (default trm-hub-<namespace>).")
@click.option("--loglevel", default="warn", show_default=True)
def worker(  # noqa: PLR0917 - one parameter per click option
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    web_port: int | None,
    countries: str,
    app_id: str | None,
    loglevel: str,
) -> None:
    """Run a hub worker (Faust) until stopped."""
    state = state_dir()
    servers = default_bootstrap(bootstrap, state)
    topics = Topics(namespace)
    key = Path(key_file) if key_file else state.private_key("HUB")
    if not key.exists():
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected the hub's key at {key}; run: trm keys new --hub"
        )
    trust = Path(trust_file) if trust_file else state.trust
    secure = kafka_security.client_env(kafka_security.HUB, state)
    # A secure cluster's topics are made by its operator (kafka up --secure, Compose's
    # kafka-init, Strimzi): whatever credentials the environment gives mean "secure".
    if not kafka_security.default_client_config(kafka_security.HUB, state):
        asyncio.run(kafka_local.create_topics(servers, topics.all(), namespace=topics))
    datadir = (state.root / "hub" / namespace).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TRM_HUB_BOOTSTRAP": servers,
        "TRM_HUB_NAMESPACE": namespace,
        "TRM_HUB_KEY": str(key.resolve()),
        "TRM_HUB_WEB_PORT": str(web_port or kafka_local.free_port()),
        "TRM_HUB_COUNTRIES": countries,
        "TRM_HUB_DATADIR": str(datadir),
    }
    env.update(secure)  # TRM_KAFKA_CLIENT_CONFIG: the hub principal's credentials
    if trust.exists():
        env["TRM_HUB_TRUST"] = str(trust.resolve())
    if app_id:
        env["TRM_HUB_APP_ID"] = app_id
    argv = [sys.executable, "-m", "faust", "-A", "hub.app.main", "worker", "-l", loglevel]
    os.execve(sys.executable, argv, env)  # noqa: S606 - the worker replaces this process


async def provision_registry(
    bootstrap: str,
    topics: Topics,
    trust_doc: bytes,
    agreements: list[tuple[str, bytes]],
    client: dict[str, Any] | None = None,
) -> None:
    """Write a trust list and agreements into the registry topics (acks=all)."""
    from aiokafka import AIOKafkaProducer

    from hub.app.registry import trust_key

    version = int(json.loads(trust_doc)["signed"]["version"])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **(client or {})
    )
    await producer.start()
    try:
        await producer.send_and_wait(topics.registry_trust, trust_doc, key=trust_key(version))
        for name, blob in agreements:
            await producer.send_and_wait(topics.registry_agreements, blob, key=name.encode())
    finally:
        await producer.stop()


@cli.command()
@click.option("--bootstrap", help="Kafka bootstrap servers (default: TRM_KAFKA_BOOTSTRAP, .trm).")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
@click.option(
    "--trust", "trust_file", type=click.Path(dir_okay=False), help="Default .trm/trust.json"
)
@click.option(
    "--agreements",
    "agreements_dir",
    type=click.Path(file_okay=False),
    help="Agreements dir.",
)
def provision(
    bootstrap: str | None, namespace: str, trust_file: str | None, agreements_dir: str | None
) -> None:
    """Publish the trust list and signed agreements into the registry topics."""
    state = state_dir()
    servers = default_bootstrap(bootstrap, state)
    topics = Topics(namespace)
    trust_path = Path(trust_file) if trust_file else state.trust
    trust = load_trust_file(trust_path)  # refuse to publish a list that does not verify
    folder = Path(agreements_dir) if agreements_dir else state.agreements
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    blobs = []
    for f in files:
        blob = f.read_bytes()
        # refuse to publish what the hub would refuse to load
        blobs.append((parse_agreement(blob).agreement.ref, blob))
    # The operator writes the registry: on a secure cluster, as the admin principal.
    admin = kafka_security.default_client_config(kafka_security.ADMIN, state)
    asyncio.run(
        kafka_local.create_topics(servers, topics.all(), namespace=topics, client_config=admin)
    )
    asyncio.run(provision_registry(servers, topics, trust_path.read_bytes(), blobs, admin))
    click.echo(
        f"provisioned trust list v{trust.version} and {len(blobs)} agreement(s) "
        f"into {topics.registry_trust} / {topics.registry_agreements}"
    )
