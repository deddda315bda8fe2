"""``trm match ceremony``: make (or refresh) the t-of-n shares of the matching key.

The dealer's ceremony of docs/operations.md "The matching key ceremony": the
key is drawn, split among the members (default 3 of the trust list's members,
else of KH CN LA MM TH VN), every share checked against the public
commitments, the public part written to ``$TRM_HOME/match/public.json`` and
each country's share to ``$TRM_HOME/keys/match/<CC>.share`` (mode 0600); the
key itself is never written and its buffer is overwritten.

``--refresh`` makes new shares of the same key (a proactive refresh: match
keys do not change, old shares stop combining with new ones); it needs every
member's share file in this state directory.
"""

from __future__ import annotations

import json
import time

import click

from hub.errors import OperationalError, Reason, TrmError
from hub.home import StateDir, state_dir
from hub.matching.ceremony import (
    DEFAULT_MEMBERS,
    DEFAULT_THRESHOLD,
    Ceremony,
    deal_ceremony,
    load_public,
    load_share,
    refresh_ceremony,
    write_ceremony,
)
from hub.trust import load_trust_file

__all__ = ["ceremony"]


def _members(given: str | None, state: StateDir) -> tuple[list[str], str]:
    if given:
        return [c.strip() for c in given.split(",") if c.strip()], "--members"
    if state.trust.is_file():
        try:
            return sorted(load_trust_file(state.trust).countries), str(state.trust)
        except TrmError as exc:  # say so, and fall back to the default plan
            return list(DEFAULT_MEMBERS), f"the default members ({state.trust}: {exc.reason})"
    return list(DEFAULT_MEMBERS), "the default members"


def _refresh(state: StateDir, now_ms: int) -> Ceremony:
    public = load_public(state.match_public)
    shares = {c: load_share(state.match_share(c), public) for c in sorted(public.members)}
    return refresh_ceremony(Ceremony(public, shares), now_ms=now_ms)


@click.command(name="ceremony")
@click.option(
    "--members",
    help="Comma-separated country codes (default: the trust list's members, else "
    + ",".join(DEFAULT_MEMBERS)
    + ").",
)
@click.option(
    "--threshold",
    type=int,
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="How many members' evaluations make a match key.",
)
@click.option("--refresh", is_flag=True, help="New shares of the same key (epoch + 1).")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing key: every match key changes and the index must be rebuilt.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the public part as JSON.")
def ceremony(
    members: str | None, threshold: int, refresh: bool, force: bool, as_json: bool
) -> None:
    """Deal the matching key's shares (or refresh them) into $TRM_HOME."""
    state = state_dir()
    now_ms = time.time_ns() // 1_000_000
    if refresh:
        if members:
            raise click.UsageError("--refresh keeps the members; do not give --members")
        made = _refresh(state, now_ms)
        source = "the existing ceremony"
    else:
        if state.match_public.exists() and not force:
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected no matching key at {state.match_public}; one exists (use --refresh "
                "for new shares of the same key, or --force to replace the key, which changes "
                "every match key)",
            )
        countries, source = _members(members, state)
        made = deal_ceremony(countries, threshold, now_ms=now_ms)
    written = write_ceremony(state, made)
    public = made.public
    if as_json:
        click.echo(json.dumps(json.loads(public.to_json()), sort_keys=True))
    else:
        click.echo(
            f"matching key epoch {public.epoch}: {public.threshold} of {len(public.members)} "
            f"({', '.join(f'{c}={i}' for c, i in sorted(public.members.items()))}), "
            f"members from {source}"
        )
        click.echo(f"public key {public.public_key().hex()}")
    click.echo(f"public part {written[0]}", err=True)
    for path in written[1:]:
        click.echo(f"share {path} (mode 0600; checked against the commitments)", err=True)
    click.echo(
        "the dealer's key was not written and its buffer was overwritten; hand each share "
        "file to its country only (docs/operations.md)",
        err=True,
    )
