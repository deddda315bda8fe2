"""``trm kafka up|down|status``: the local broker(s) the demo and tests run on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from connectors import kafka_local
from connectors.state import StateDir, state_dir
from hub.errors import OperationalError, Reason
from hub.topics import Topics

__all__ = ["cli"]


def _data_dir(state: StateDir, data_dir: str | None) -> Path:
    return Path(data_dir) if data_dir else state.kafka


@click.group(name="kafka")
def cli() -> None:
    """Local Apache Kafka (KRaft) on 127.0.0.1."""


@cli.command()
@click.option("--nodes", type=click.Choice(["1", "3"]), default="1", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Default: .trm/kafka")
@click.option("--secure", is_flag=True, help="TLS + SASL/SCRAM users and ACLs per country.")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
def up(nodes: str, data_dir: str | None, secure: bool, namespace: str) -> None:
    """Fetch the jars if missing, start the broker(s), create the topics.

    Prints the bootstrap servers on stdout (and writes them to
    .trm/kafka/bootstrap, where every other verb looks by default).
    """
    state = state_dir()
    where = _data_dir(state, data_dir)
    existing = kafka_local.load_cluster(where)
    if existing is not None and any(existing.pids()):
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected no broker running from {where}; one is (pids "
            f"{[p for p in existing.pids() if p]}): run 'trm kafka down' first",
        )
    n = int(nodes)
    topics = Topics(namespace)
    if secure:
        _up_secure(state, where, n, topics)
        return
    cluster = kafka_local.LocalCluster(where, nodes=n)
    click.echo(f"starting {n} Kafka {kafka_local.KAFKA_VERSION} node(s) in {where} ...", err=True)
    cluster.start()
    created = asyncio.run(
        kafka_local.create_topics(
            cluster.bootstrap,
            topics.all(),
            namespace=topics,
            replication_factor=min(3, n),
            min_insync_replicas=2 if n >= 3 else 1,
        )
    )
    _publish_bootstrap(state, where, cluster.bootstrap)
    click.echo(f"{len(created)} topics created, {len(topics.all())} in place", err=True)
    click.echo(cluster.bootstrap)


def _up_secure(state: StateDir, where: Path, nodes: int, topics: Topics) -> None:
    try:
        from connectors import kafka_security
    except ImportError as exc:
        raise OperationalError(
            Reason.TOOL_MISSING, "expected connectors.kafka_security for --secure; not installed"
        ) from exc
    setup = kafka_security.provision_secure(state, topics=topics)
    cluster = kafka_local.LocalCluster(
        where,
        nodes=nodes,
        extra_properties=setup.broker_properties,
        format_args=setup.format_args,
        client_listener=kafka_security.CLIENT_LISTENER,
        client_config=setup.admin_config,
    )
    click.echo(f"starting {nodes} secure Kafka node(s) in {where} ...", err=True)
    cluster.start()
    asyncio.run(
        kafka_local.create_topics(
            cluster.bootstrap,
            topics.all(),
            namespace=topics,
            replication_factor=min(3, nodes),
            min_insync_replicas=2 if nodes >= 3 else 1,
            client_config=setup.admin_config,
        )
    )
    setup.finish_sync(cluster.bootstrap)
    _publish_bootstrap(state, where, cluster.bootstrap)
    click.echo(f"TLS + SCRAM credentials in {kafka_security.security_dir(state)}", err=True)
    click.echo(cluster.bootstrap)


def _publish_bootstrap(state: StateDir, where: Path, bootstrap: str) -> None:
    # Only the default data dir is "the" local broker other verbs find by default.
    if where.resolve() == state.kafka.resolve():
        state.bootstrap_file.parent.mkdir(parents=True, exist_ok=True)
        state.bootstrap_file.write_text(bootstrap + "\n", encoding="utf-8")


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="Default: .trm/kafka")
def down(data_dir: str | None) -> None:
    """Stop exactly the broker processes 'trm kafka up' started (by pid)."""
    state = state_dir()
    where = _data_dir(state, data_dir)
    cluster = kafka_local.load_cluster(where)
    if cluster is None:
        click.echo(f"no local Kafka was started from {where}", err=True)
        return
    running = [p for p in cluster.pids() if p]
    cluster.stop()
    if where.resolve() == state.kafka.resolve():
        state.bootstrap_file.unlink(missing_ok=True)
    click.echo(f"stopped {len(running)} broker process(es) {running}", err=True)


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="Default: .trm/kafka")
def status(data_dir: str | None) -> None:
    """Which broker processes are running, on which ports. Exit 1 if none."""
    where = _data_dir(state_dir(), data_dir)
    cluster = kafka_local.load_cluster(where)
    if cluster is None:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected a local Kafka started from {where}; found none"
        )
    pids = cluster.pids()
    for i, (pid, log) in enumerate(zip(pids, cluster.log_files, strict=True)):
        state_word = f"running pid {pid}" if pid else "stopped"
        click.echo(f"node {i + 1}: {state_word}  log {log}")
    click.echo(f"bootstrap: {cluster.bootstrap}")
    if not any(pids):
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected running brokers from {where}; all are stopped"
        )
