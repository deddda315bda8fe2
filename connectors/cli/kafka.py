"""``trm kafka up|down|status``: the local broker(s) the demo and tests run on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from hub.errors import OperationalError, Reason
from hub.home import StateDir, default_bootstrap, state_dir
from hub.ops import broker as kafka_local
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
            topics.plan(),
            replication_factor=min(3, n),
            min_insync_replicas=2 if n >= 3 else 1,
        )
    )
    _publish_bootstrap(state, where, cluster.bootstrap)
    click.echo(f"{len(created)} topics created, {len(topics.all())} in place", err=True)
    click.echo(cluster.bootstrap)


def _up_secure(state: StateDir, where: Path, nodes: int, topics: Topics) -> None:
    from hub.ops import security

    click.echo(f"starting {nodes} secure Kafka node(s) in {where} ...", err=True)
    cluster = security.start_secure_cluster(state, topics=topics, nodes=nodes, data_dir=where)
    _publish_bootstrap(state, where, cluster.bootstrap)
    click.echo(f"TLS + SCRAM credentials in {security.security_dir(state)}", err=True)
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
    for i, pid in enumerate(cluster.foreign_pids()):
        if pid is not None:
            click.echo(
                f"node {i + 1}: pid {pid} now belongs to another process; left alone", err=True
            )
    cluster.stop()  # signals only its own processes; forgets every recorded pid
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
    foreign = cluster.foreign_pids()
    for i, (pid, log) in enumerate(zip(pids, cluster.log_files, strict=True)):
        state_word = f"running pid {pid}" if pid else "stopped"
        if foreign[i] is not None:
            state_word += f" (its pid {foreign[i]} now belongs to another process)"
        click.echo(f"node {i + 1}: {state_word}  log {log}")
    click.echo(f"bootstrap: {cluster.bootstrap}")
    if not any(pids):
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected running brokers from {where}; all are stopped"
        )


@cli.group()
def secure() -> None:
    """Security material and ACLs for a self-hosted cluster (Compose, bare metal)."""


@secure.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--host", "hosts", multiple=True, help="A broker host name (repeat).")
@click.option("--country", "countries", multiple=True, help="A member (default: COMMIT six).")
def material(directory: str, hosts: tuple[str, ...], countries: tuple[str, ...]) -> None:
    """Write a CA, the broker keystore, SCRAM passwords and per-principal credentials."""
    from hub.ops import security
    from hub.topics import COMMIT_COUNTRIES

    m = security.create_material(
        Path(directory),
        countries=countries or COMMIT_COUNTRIES,
        broker_hosts=hosts or ("localhost", "127.0.0.1"),
    )
    click.echo(f"security material in {m.directory} for {', '.join(sorted(m.passwords))}")


@secure.command(name="broker-properties")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--mount", type=click.Path(), default=None, help="Where brokers see DIRECTORY.")
def broker_properties(directory: str, mount: str | None) -> None:
    """Print the brokers' TLS/SASL/ACL properties for that material."""
    from hub.ops import security

    props = security.broker_properties(
        security.load_material(Path(directory)), mount=Path(mount) if mount else None
    )
    for key, value in props.items():
        click.echo(f"{key}={value}")


@secure.command(name="format-args")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
def format_args(directory: str) -> None:
    """Print StorageTool's --add-scram arguments, one per line."""
    from hub.ops import security

    click.echo("\n".join(security.scram_format_args(security.load_material(Path(directory)))))


@secure.command()
@click.option("--bootstrap", required=True)
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="The admin's credentials file.",
)
@click.option("--namespace", default="trm", show_default=True)
@click.option("--topics", "with_topics", is_flag=True, help="Also create the topics.")
@click.option("--replication-factor", type=int, default=3, show_default=True)
@click.option("--country", "countries", multiple=True, help="A member (default: COMMIT six).")
@click.option("--hub-app-id", default=None)
def acls(  # noqa: PLR0917 - one parameter per click option
    bootstrap: str,
    credentials: str,
    namespace: str,
    with_topics: bool,
    replication_factor: int,
    countries: tuple[str, ...],
    hub_app_id: str | None,
) -> None:
    """Create the ACLs of the topic plan (and with --topics, the topics) on a cluster."""
    from hub.app.kafka import client_config_from_file
    from hub.ops import security
    from hub.topics import COMMIT_COUNTRIES

    admin = client_config_from_file(Path(credentials))
    members = countries or COMMIT_COUNTRIES
    topics = Topics(namespace)
    bindings = security.acl_bindings(topics, members, hub_app_id=hub_app_id)
    if with_topics:
        asyncio.run(security.ensure_topics(bootstrap, admin, topics, members, replication_factor))
    asyncio.run(security.apply_acls(bootstrap, admin, bindings))
    click.echo(f"{len(bindings)} ACLs in force on {bootstrap}")


@cli.command()
@click.option(
    "--agreements",
    "agreements_dir",
    type=click.Path(file_okay=False),
    help="Signed agreements (default: the state directory's).",
)
@click.option("--bootstrap", default=None, help="Default: the state directory's broker.")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
@click.option("--apply", "apply_it", is_flag=True, help="Set it on the broker (else print).")
def retention(
    agreements_dir: str | None, bootstrap: str | None, namespace: str, apply_it: bool
) -> None:
    """Each country's lane topics kept as long as the agreements keep their events.

    Every record there is sealed to epoch keys destroyed when the agreements'
    retention has run (trm keys epoch due); after that plus one epoch no key
    could open it, so the broker deletes it (docs/operations.md section 4a).
    """
    from connectors.cli.agreements import load_directory
    from hub.app.kafka import default_client_config
    from hub.ops.retention import apply_lane_retention, lane_retention
    from hub.topics import ADMIN

    state = state_dir()
    agreements = load_directory(Path(agreements_dir) if agreements_dir else state.agreements)
    plan = lane_retention((e.agreement for e in agreements.entries), Topics(namespace))
    for name, ms in sorted(plan.items()):
        click.echo(f"{name}\tretention.ms={ms}\t({ms // 86_400_000} days)")
    if apply_it:
        asyncio.run(
            apply_lane_retention(
                default_bootstrap(bootstrap, state),
                plan,
                client_config=default_client_config(ADMIN, state),
            )
        )
        click.echo(f"set on {len(plan)} topics", err=True)
