"""``trm demo``: the end-to-end story on a local broker (what ``make demo`` runs)."""

from __future__ import annotations

import sys

import click

__all__ = ["cli"]


@click.command(name="demo")
@click.option("--secure", is_flag=True, help="TLS + SASL/SCRAM users and ACLs on the broker.")
def cli(secure: bool) -> None:
    """Start the local stack (trm up), six country nodes; tell the story; check every outcome.

    The broker, hub worker and audit sequencer keep running afterwards
    ('trm status'), so what is published after the demo is routed and logged;
    'trm down' stops them.
    """
    from rich.console import Console

    from connectors.demo.run import run_demo
    from hub.home import state_dir

    sys.exit(run_demo(state_dir(), Console(), secure=secure))
