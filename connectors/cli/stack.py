"""``trm up`` / ``trm status`` / ``trm down``: the whole local stack as one thing.

The broker, the hub worker(s), the audit sequencer and one matching evaluator
per share-holding country run in the background with their pid files and logs
in the state directory (``hub/ops/stack.py`` holds the table of services and
does the work).
"""

from __future__ import annotations

import sys

import click

from hub.home import state_dir
from hub.ops import stack

__all__ = ["down", "status", "up"]


@click.command(name="up")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True)
@click.option("--secure", is_flag=True, help="TLS + SASL/SCRAM users and ACLs on the broker.")
@click.option(
    "--timeout", type=float, default=stack.READY_TIMEOUT_S, show_default=True,
    help="Seconds to wait for the services to answer.",
)  # fmt: skip
def up(workers: int, secure: bool, timeout: float) -> None:
    """Start the broker, hub worker(s), audit sequencer and evaluators in the background.

    Starts only what is not running yet, then waits until every service answers
    on its web port. The hub needs its key (keys/HUB.key) in the state
    directory: 'trm demo' makes one, or 'trm keys new --hub'. With the
    countries' keys there too and no shares of the matching key yet, the key
    ceremony runs once ('trm match ceremony'); then one 'trm match evaluator'
    per share holder.
    """
    state = state_dir()
    records = stack.up(state, stack.StackOptions(workers=workers, secure=secure), timeout_s=timeout)
    click.echo(f"the stack is up: broker and {len(records)} service(s); 'trm status' lists them")


@click.command(name="status")
def status() -> None:
    """Each process of the local stack: pid, running or dead, address, log.

    Exit 1 if any process that should run is dead, or nothing is up.
    """
    rows, healthy = stack.status(state_dir())
    if not rows:
        click.echo("the local stack is not up (start it with 'trm up')", err=True)
        sys.exit(1)
    width = max(len(r.name) for r in rows)
    for r in rows:
        word = "running" if r.running else "DEAD"
        pid = f"pid {r.pid}" if r.pid else "no pid"
        click.echo(f"{r.name:<{width}}  {word:<7}  {pid:<11}  {r.where}  log {r.log or '-'}")
    if not healthy:
        click.echo("some of the stack is not running: 'trm up' starts what is missing", err=True)
        sys.exit(1)


@click.command(name="down")
@click.option("--timeout", type=float, default=stack.STOP_TIMEOUT_S, show_default=True,
              help="Seconds before SIGTERM becomes SIGKILL.")  # fmt: skip
def down(timeout: float) -> None:
    """Stop exactly the processes 'trm up' started (by pid, checked), then the broker."""
    lines = stack.down(state_dir(), timeout_s=timeout)
    for line in lines or ["nothing of the local stack was running"]:
        click.echo(line, err=True)
