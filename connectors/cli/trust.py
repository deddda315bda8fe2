"""``trm trust build|sign|renew|revoke|verify``: the signed list of who holds which key."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import click

from connectors.cli.files import write_output
from hub.errors import Reason, TrustError
from hub.keys import KeyRole, load_private_key
from hub.signed_doc import SignedDocument, parse_json
from hub.topics import COUNTRY_NAMES, check_country
from hub.trust import (
    HUB_OWNER,
    TRUST_TYPE,
    KeySpec,
    TrustList,
    build_trust_document,
    load_public_key_file,
    load_trust_file,
    renew,
    revoke_key,
)

__all__ = ["COUNTRY_NAMES", "cli"]

_COUNTRY_ROLES = frozenset({KeyRole.ROOT, KeyRole.PRODUCER, KeyRole.WITNESS})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _read_doc(path: Path) -> SignedDocument:
    try:
        obj = parse_json(path.read_bytes())  # strict: a member name twice is refused
    except OSError as exc:
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected a trust list at {path} ({exc.strerror})"
        ) from exc
    except ValueError as exc:  # the strict reader's message: what was wrong, never content
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected a strict JSON trust list at {path}: {exc}"[:300]
        ) from exc
    return SignedDocument.from_json(obj, TRUST_TYPE, TrustError, Reason.TRUST_MALFORMED)


def _write_doc(doc: SignedDocument, path: Path) -> None:
    text = json.dumps(doc.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_output(path, text.encode("utf-8"), what="trust list")


def _expiry_ms(expires: str | None, valid_days: int | None, now_ms: int) -> int | None:
    """``--expires`` (ISO date or date/time) or ``--valid-days`` as ms; None: neither."""
    if expires is not None and valid_days is not None:
        raise click.UsageError("give --expires or --valid-days, not both")
    if valid_days is not None:
        if valid_days < 1:
            raise click.BadParameter(
                f"expected at least 1 day, got {valid_days}", param_hint="--valid-days"
            )
        return now_ms + valid_days * 86_400_000
    if expires is None:
        return None
    try:
        when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"expected an ISO date (2027-01-31) or UTC time (2027-01-31T12:00:00Z), got "
            f"{expires!r}",
            param_hint="--expires",
        ) from exc
    if len(expires) == 10:  # a date alone: its start, UTC
        when = when.replace(tzinfo=dt.UTC)
    if when.tzinfo is None:
        raise click.BadParameter(
            f"expected a time with Z or an offset (it names one instant), got {expires!r}",
            param_hint="--expires",
        )
    at = int(when.timestamp() * 1000)
    if at <= now_ms:
        raise click.BadParameter(
            f"expected a time after now ({_utc(now_ms)}), got {expires!r}",
            param_hint="--expires",
        )
    return at


def _spec(arg: str, not_before_ms: int) -> KeySpec:
    """``FILE`` or ``FILE:role+role``; the owner is the file name up to the first '-' or '.'."""
    file, _, roles_text = arg.partition(":")
    path = Path(file)
    owner = path.name.split(".")[0].split("-")[0].upper()
    if owner != HUB_OWNER:
        check_country(owner)
    if roles_text:
        try:
            roles = frozenset(KeyRole(r) for r in roles_text.split("+"))
        except ValueError as exc:
            raise click.BadParameter(
                f"{arg}: roles are some of {[r.value for r in KeyRole]}"
            ) from exc
    else:
        roles = frozenset({KeyRole.HUB}) if owner == HUB_OWNER else _COUNTRY_ROLES
    return KeySpec(owner, roles, load_public_key_file(path), not_before_ms=not_before_ms)


@click.group(name="trust")
def cli() -> None:
    """Build, sign, renew, revoke and verify trust lists."""


@cli.command()
@click.argument("pubfiles", nargs=-1, required=True)
@click.option("--threshold", type=int, required=True, help="Countries whose roots must sign.")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--version", "version", type=int, default=1, show_default=True)
@click.option("--not-before-ms", type=int, default=None, help="Keys valid from (default now).")
@click.option("--sign", "sign_keys", multiple=True, help="Private key file(s) to sign with.")
@click.option(
    "--expires",
    default=None,
    help="Stale from this UTC time or date (2027-01-31, 2027-01-31T12:00:00Z).",
)
@click.option("--valid-days", type=int, default=None, help="Stale N days from now.")
def build(  # noqa: PLR0917 - one parameter per click option
    pubfiles: tuple[str, ...],
    threshold: int,
    out: str,
    version: int,
    not_before_ms: int | None,
    sign_keys: tuple[str, ...],
    expires: str | None,
    valid_days: int | None,
) -> None:
    """A trust list from CC.pub / HUB.pub files (FILE:role+role to choose roles).

    Past its expiry the hub refuses every event and nodes refuse the list
    (TRUST_EXPIRED) until a renewed version is signed and published.
    """
    now = _now_ms()
    expires_at = _expiry_ms(expires, valid_days, now)
    specs = [_spec(a, now if not_before_ms is None else not_before_ms) for a in pubfiles]
    members = {s.owner: COUNTRY_NAMES.get(s.owner, s.owner) for s in specs if s.owner != HUB_OWNER}
    doc = build_trust_document(
        specs,
        members=members,
        threshold=threshold,
        version=version,
        issued_at_ms=now,
        expires_at_ms=expires_at,
        signers=[load_private_key(Path(k)) for k in sign_keys],
    )
    _write_doc(doc, Path(out))
    click.echo(
        f"trust list v{version}: {len(members)} members, {len(specs)} keys, threshold "
        f"{threshold}, {len(doc.signatures)} signature(s), {_expiry_text(expires_at)} -> {out}",
        err=True,
    )


def _expiry_text(expires_at_ms: int | None) -> str:
    if expires_at_ms is None:
        return "never expires (--expires or --valid-days to set an expiry)"
    return f"expires {_utc(expires_at_ms)}"


def _utc(ms: int) -> str:
    return f"{dt.datetime.fromtimestamp(ms / 1000, dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--key", "key_file", required=True, help="A root key file (mode 0600).")
@click.option("--out", default=None, help="Default: sign in place.")
def sign(file: str, key_file: str, out: str | None) -> None:
    """Add a signature to a trust list (a root key of a member country)."""
    doc = _read_doc(Path(file)).with_signature(load_private_key(Path(key_file)))
    _write_doc(doc, Path(out or file))
    click.echo(f"{len(doc.signatures)} signature(s) on {out or file}", err=True)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--key-id", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--at-ms", type=int, default=None, help="Revoked from (default now).")
@click.option("--reason", default="unspecified", show_default=True)
def revoke(file: str, key_id: str, out: str, at_ms: int | None, reason: str) -> None:
    """The next version with KEY-ID revoked; it needs root signatures again."""
    trust = load_trust_file(file)
    doc = revoke_key(
        trust, key_id, revoked_at_ms=_now_ms() if at_ms is None else at_ms, reason=reason
    )
    _write_doc(doc, Path(out))
    click.echo(
        f"version {trust.version + 1} revokes {key_id[:16]}…; unsigned: "
        f"{trust.threshold} member countries must sign it (trm trust sign)",
        err=True,
    )


@cli.command(name="renew")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--expires", default=None, help="Stale from this UTC time or date.")
@click.option("--valid-days", type=int, default=None, help="Stale N days from now.")
def renew_command(file: str, out: str, expires: str | None, valid_days: int | None) -> None:
    """The next version with the same keys and a new expiry; it needs root signatures again."""
    trust = TrustList.from_signed(_read_doc(Path(file)))  # an expired list may be renewed
    now = _now_ms()
    expires_at = _expiry_ms(expires, valid_days, now)
    _write_doc(renew(trust, issued_at_ms=now, expires_at_ms=expires_at), Path(out))
    click.echo(
        f"version {trust.version + 1}, {_expiry_text(expires_at)}; unsigned: "
        f"{trust.threshold} member countries must sign it (trm trust sign)",
        err=True,
    )


def _summary(trust: TrustList) -> dict[str, Any]:
    signers = trust.signing_countries(trust.roots())
    return {
        "version": trust.version,
        "threshold": trust.threshold,
        "expires_at_ms": trust.expires_at_ms,
        "digest": trust.digest.hex(),
        "members": dict(trust.members),
        "signed_by": sorted(signers),
        "keys": [
            {
                "key_id": k.key_id,
                "owner": k.country,
                "roles": sorted(r.value for r in k.roles),
                "not_before_ms": k.not_before_ms,
                "not_after_ms": k.not_after_ms,
                "revoked_at_ms": k.revoked_at_ms,
            }
            for k in trust.keys.values()
        ],
    }


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--previous", default=None, help="The version before: check the rotation.")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON summary on stdout.")
def verify(file: str, previous: str | None, as_json: bool) -> None:
    """Verify signatures (and the chain from --previous) and expiry; exit 1 if refused."""
    before = load_trust_file(previous) if previous else None
    trust = load_trust_file(file, previous=before)
    trust.check_fresh(_now_ms())
    summary = _summary(trust)
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    click.echo(
        f"trust list v{trust.version} OK: signed by {', '.join(summary['signed_by'])} "
        f"(threshold {trust.threshold}); {_expiry_text(trust.expires_at_ms)}; "
        f"digest {summary['digest'][:16]}…"
    )
    for k in summary["keys"]:
        state = "revoked" if k["revoked_at_ms"] is not None else "active"
        click.echo(f"  {k['owner']:<3} {'+'.join(k['roles']):<24} {k['key_id'][:16]}…  {state}")
