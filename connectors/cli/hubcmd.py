"""``trm hub worker`` and ``trm hub provision``.

``worker`` runs the Faust hub worker (``hub.app.main``) with its settings from
flags, the environment and the state directory (``.trm/`` or ``TRM_HOME``).
``provision`` publishes the trust list and the signed agreements into the
compacted registry topics, where running hubs pick them up.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from hub.app.kafka import client_env, default_client_config, wait_for_topics
from hub.errors import OperationalError, Reason
from hub.home import default_bootstrap, state_dir
from hub.ops import provision as registry
from hub.ops.broker import create_topics, free_port, require_free_port
from hub.topics import ADMIN, COMMIT_COUNTRIES, HUB, Topics

__all__ = ["cli"]


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
@click.option(
    "--web-host",
    default="127.0.0.1",
    show_default=True,
    envvar="TRM_HUB_WEB_HOST",
    help="The address the web port listens on (0.0.0.0: every interface, as in a container).",
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
    web_host: str,
    countries: str,
    app_id: str | None,
    loglevel: str,
) -> None:
    """Run a hub worker (Faust) until stopped."""
    state = state_dir()
    port = web_port or free_port()
    require_free_port(web_host, port, what="hub worker's web server")
    servers = default_bootstrap(bootstrap, state)
    topics = Topics(namespace)
    key = Path(key_file) if key_file else state.private_key("HUB")
    if not key.exists():
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected the hub's key at {key}; run: trm keys new --hub"
        )
    trust = Path(trust_file) if trust_file else state.trust
    secure = client_env(HUB, state)
    # A secure cluster's topics are made by its operator (kafka up --secure, Compose's
    # kafka-init, Strimzi): the worker waits for them (and for its ACLs) before Faust
    # subscribes. Only a plaintext local broker gets them from here.
    client = default_client_config(HUB, state)
    if client:
        members = tuple(c for c in countries.split(",") if c)
        names = [spec.name for spec in topics.plan(members)]
        click.echo(f"waiting for {len(names)} topics on {servers} ...", err=True)
        asyncio.run(wait_for_topics(servers, names, client))
    else:
        asyncio.run(create_topics(servers, topics.plan()))
    datadir = (state.root / "hub" / namespace).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TRM_HUB_BOOTSTRAP": servers,
        "TRM_HUB_NAMESPACE": namespace,
        "TRM_HUB_KEY": str(key.resolve()),
        "TRM_HUB_WEB_PORT": str(port),
        "TRM_HUB_WEB_HOST": web_host,
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
    """Publish the trust list, signed agreements and seal-key sets into the registry topics.

    The seal-key sets are those of the members whose keyrings the state
    directory holds (nodes/CC/seal-keys/seal-keys.json: a local stack's).
    """
    state = state_dir()
    servers = default_bootstrap(bootstrap, state)
    topics = Topics(namespace)
    trust_path = Path(trust_file) if trust_file else state.trust
    folder = Path(agreements_dir) if agreements_dir else state.agreements
    # The operator writes the registry: on a secure cluster, as the admin principal.
    admin = default_client_config(ADMIN, state)
    done = asyncio.run(registry.provision(servers, topics, trust_path, folder, admin, state=state))
    sealed = f", seal keys of {','.join(done.seal_keys)}" if done.seal_keys else ""
    click.echo(
        f"provisioned trust list v{done.trust.version} and {len(done.agreements)} agreement(s)"
        f"{sealed} into {topics.registry_trust} / {topics.registry_agreements}"
        + (f" / {topics.registry_seal_keys}" if done.seal_keys else "")
    )
