"""The ``trm`` command line (docs/architecture.md "Command line": a contract).

Each verb group lives in its own module and is imported only when used, so
``trm --version`` and ``trm event open`` do not pay for Faust or aiokafka.

Exit status: 0 success; 1 the input was refused (``rejected: CODE: detail`` on
stderr; a path that cannot be read or written is BAD_REQUEST, never a
traceback); 2 usage error.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from connectors.cli.terminal import echo_refusal
from hub import __version__
from hub.errors import Reason, RequestError, TrmError

__all__ = ["main"]

# verb -> ("module" or "module:attribute" of a click command or group, summary);
# the attribute defaults to ``cli``.
_GROUPS: dict[str, tuple[str, str]] = {
    "kafka": ("connectors.cli.kafka", "Local Kafka broker(s) on 127.0.0.1."),
    "keys": ("connectors.cli.keys", "Ed25519 keys for a country or the hub."),
    "trust": ("connectors.cli.trust", "Build, sign, revoke and verify trust lists."),
    "event": ("connectors.cli.event", "Seal, open and redact single events offline."),
    "agreements": ("connectors.cli.agreements", "Check, sign and explain agreements."),
    "hub": ("connectors.cli.hubcmd", "Run and provision the hub."),
    "node": ("connectors.cli.node", "A country node: publish, inbox, ack, rejections."),
    "import": ("connectors.cli.importer", "Batch import from CSV or JSON Lines."),
    "gateway": ("connectors.cli.gateway", "HTTP gateway and desk web page."),
    "audit": ("connectors.cli.audit", "Replay and verify the audit log."),
    "conformance": (
        "connectors.cli.conformance",
        "Check this implementation against the protocol's vector sets.",
    ),
    "demo": ("connectors.cli.demo", "The end-to-end demo scenario."),
    "match": (
        "connectors.cli.match",
        "Hit/no-hit matching: register, query, follow-up, evaluator, ceremony.",
    ),
    "stats": ("connectors.cli.stats", "COMMIT statistics: signed reports, regional table."),
    "up": ("connectors.cli.stack:up", "Start the local stack: broker, hub worker(s), sequencer."),
    "status": ("connectors.cli.stack:status", "What of the local stack runs, where."),
    "down": ("connectors.cli.stack:down", "Stop what 'trm up' started."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _GROUPS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attribute = entry[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return _missing(cmd_name, entry[1])
        command = getattr(module, attribute or "cli", None)
        if not isinstance(command, click.Command):
            return _missing(cmd_name, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Describe groups from the table, so `trm --help` imports nothing heavy.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _GROUPS[name][1]) for name in self.list_commands(ctx)])


def _missing(name: str, summary: str) -> click.Command:
    @click.command(name=name, help=f"{summary} (not available in this build)")
    def _unavailable() -> None:
        raise click.UsageError(f"'trm {name}' is not available in this build")

    return _unavailable


class _Cli(_LazyGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrmError as exc:
            echo_refusal(exc)
            ctx.exit(1)
        except OSError as exc:
            # The last stop for a path a command's own reader did not refuse (a
            # key file that is a directory, an unwritable --out): a refusal, not a
            # traceback. An OSError about no file is a fault: it keeps its traceback.
            if exc.filename is None:
                raise
            why = exc.strerror or type(exc).__name__
            echo_refusal(
                RequestError(Reason.BAD_REQUEST, f"{exc.filename}: expected a usable file ({why})")
            )
            ctx.exit(1)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trm")
def main() -> None:
    """trm-hub: signed, policy-routed exchange of trafficking-case events."""
    # A deployment's own event types ($TRM_EVENT_TYPES), before any command uses them.
    from hub.wire import register_from_environment

    register_from_environment(os.environ)
