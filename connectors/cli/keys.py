"""``trm keys new``: an Ed25519 key pair for a country or the hub.

``trm keys epoch rotate|list|destroy|due|publish``: a country's seal keys
(X25519, one per epoch; ``hub.sealkeys``) and their destruction when the
agreements' retention has run out (docs/operations.md "Seal keys and epochs").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import OperationalError, Reason, TrustError
from hub.home import StateDir, default_bootstrap, state_dir
from hub.keys import key_id_of, load_private_key, raw_public, write_private_key
from hub.policy.agreement import Agreement, load_agreement_file
from hub.sealkeys import (
    DAY_MS,
    EPOCH_MS,
    SIGNER_ROLES,
    DueKey,
    Keyring,
    SealKey,
    SealKeySet,
    due,
    retention_due,
)
from hub.topics import Topics, check_country
from hub.trust import HUB_OWNER, TrustList, load_trust_file, public_key_pem

__all__ = ["cli"]


@click.group(name="keys")
def cli() -> None:
    """Ed25519 signing keys for a country or the hub; seal keys per epoch."""


@cli.command()
@click.option("--country", help="ISO alpha-2 code of the country that will hold the key.")
@click.option("--hub", "for_hub", is_flag=True, help="A key for the hub operator (role hub).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def new(country: str | None, for_hub: bool, out_dir: str, force: bool) -> None:
    """Write OUT/CC.key (private, mode 0600) and OUT/CC.pub; print the key id."""
    if bool(country) == for_hub:
        raise click.UsageError("give exactly one of --country CC or --hub")
    owner = HUB_OWNER if for_hub else check_country(str(country))
    out = Path(out_dir)
    private, public = out / f"{owner}.key", out / f"{owner}.pub"
    if private.exists() and not force:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected no key at {private}; one exists (use --force to replace it, which "
            "orphans everything it signed)",
        )
    key = Ed25519PrivateKey.generate()
    out.mkdir(parents=True, exist_ok=True)
    write_private_key(key, private)
    public.write_bytes(public_key_pem(key.public_key()))
    click.echo(f"{owner} key {key_id_of(raw_public(key.public_key()))}", err=True)
    click.echo(f"private {private} (mode 0600), public {public}", err=True)


# --- seal keys per epoch -----------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _when(ms: int | None) -> str:
    if ms is None:
        return "open-ended"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


@click.group(name="epoch")
def epoch() -> None:
    """Seal keys (X25519) per epoch: rotate, list, destroy when due, publish.

    A country's private seal keys live in .trm/nodes/CC/seal-keys/ (mode 0600);
    each change is signed with .trm/keys/CC.key and published to the registry
    topic <ns>.registry.seal-keys when a broker is known.
    """


cli.add_command(epoch)


def _epoch_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--country", required=True, help="The country whose seal keys (e.g. KH)."),
            click.option("--key", "key_file", help="Signing key (default .trm/keys/CC.key)."),
            click.option("--trust", "trust_file", help="Trust list (default .trm/trust.json)."),
            click.option("--bootstrap", help="Kafka bootstrap servers (default: env, .trm)."),
            click.option("--namespace", default="trm", show_default=True, help="Topic namespace."),
        ]
    ):
        fn = option(fn)
    return fn


@dataclass(frozen=True, slots=True)
class _Signing:
    """What a change of the keyring needs before it is made: the key and the trust list."""

    state: StateDir
    keyring: Keyring
    key: Ed25519PrivateKey
    trust: TrustList


def _signing(country: str, key_file: str | None, trust_file: str | None) -> _Signing:
    cc = check_country(country)
    state = state_dir()
    key = load_private_key(Path(key_file) if key_file else state.private_key(cc))
    trust_path = Path(trust_file) if trust_file else state.trust
    if not trust_path.is_file():
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a trust list at {trust_path}; pass --trust FILE"
        )
    trust = load_trust_file(trust_path)
    # Checked before anything changes: a rotation with no valid signer would leave
    # a new key that no published set names.
    signer = key_id_of(raw_public(key.public_key()))
    now = _now_ms()
    if not any(k.key_id == signer for r in SIGNER_ROLES for k in trust.keys_for(cc, r, now)):
        raise TrustError(
            Reason.KEY_ROLE_NOT_ALLOWED,
            f"expected a root or producer key of {cc} valid now in trust version "
            f"{trust.version}; key {signer[:16]}… is not one",
        )
    return _Signing(state, Keyring.of(state, cc), key, trust)


def _sign_and_publish(s: _Signing, bootstrap: str | None, namespace: str, now_ms: int) -> None:
    """Sign the keyring's keys as the next set version, keep it, publish it if a broker is known."""
    from hub.ops.provision import sign_seal_key_set

    signed = sign_seal_key_set(s.keyring, s.key, s.trust, now_ms)
    path = s.keyring.signed_set_path
    click.echo(f"{signed.country} seal-key set version {signed.version} signed: {path}", err=True)
    _publish(s.state, signed, bootstrap, namespace)


def _publish(state: StateDir, signed: SealKeySet, bootstrap: str | None, namespace: str) -> None:
    try:
        servers = default_bootstrap(bootstrap, state)
    except OperationalError:
        if bootstrap:
            raise
        click.echo(
            "no broker known (--bootstrap, TRM_KAFKA_BOOTSTRAP or .trm/kafka/bootstrap): not "
            f"published; run: trm keys epoch publish --country {signed.country}",
            err=True,
        )
        return
    from hub.app.kafka import default_client_config
    from hub.app.seal_registry import publish_seal_keys

    topics = Topics(namespace)
    client = default_client_config(signed.country, state)
    asyncio.run(publish_seal_keys(servers, topics, signed, client))
    click.echo(f"published to {topics.registry_seal_keys} on {servers}", err=True)


def _agreements(folder: str | None) -> list[Agreement]:
    where = Path(folder) if folder else state_dir().agreements
    files = sorted(where.glob("*.yaml")) + sorted(where.glob("*.yml")) if where.is_dir() else []
    if not files:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected agreements (*.yaml) in {where} to judge retention by; found none "
            "(pass --agreements DIR)",
        )
    return [load_agreement_file(f).agreement for f in files]


@epoch.command()
@_epoch_options
@click.option(
    "--epoch-days",
    type=click.IntRange(min=2),
    default=EPOCH_MS // DAY_MS,
    show_default=True,
    help="How long the new key seals new events.",
)
def rotate(  # noqa: PLR0917 - one parameter per click option
    country: str,
    key_file: str | None,
    trust_file: str | None,
    bootstrap: str | None,
    namespace: str,
    epoch_days: int,
) -> None:
    """Make a new epoch key; the previous one keeps sealing for a day of overlap.

    Prints the new key id. The set of every key is signed and published.
    """
    s = _signing(country, key_file, trust_file)
    now = _now_ms()
    new = s.keyring.rotate(now, epoch_days * DAY_MS)
    click.echo(new.key_id)
    click.echo(
        f"{new.country} seal key {new.key_id[:16]}… seals events created "
        f"{_when(new.not_before_ms)} to {_when(new.not_after_ms)}; rotate before then",
        err=True,
    )
    _sign_and_publish(s, bootstrap, namespace, now)


@epoch.command()
@_epoch_options
@click.option("--key-id", required=True, help="The full key id (64 hex) to destroy.")
@click.option("--yes", is_flag=True, help="Confirm: this can never be undone.")
def destroy(  # noqa: PLR0917 - one parameter per click option
    country: str,
    key_file: str | None,
    trust_file: str | None,
    bootstrap: str | None,
    namespace: str,
    key_id: str,
    yes: bool,
) -> None:
    """Destroy an epoch's private key: every event sealed to it becomes unreadable, forever."""
    if not yes:
        raise click.UsageError(
            "destroying a seal key makes every copy of every event sealed to it unreadable, "
            "forever; add --yes"
        )
    s = _signing(country, key_file, trust_file)
    now = _now_ms()
    gone = s.keyring.destroy(key_id, now)
    click.echo(f"{gone.country} seal key {gone.key_id[:16]}… destroyed", err=True)
    _sign_and_publish(s, bootstrap, namespace, now)


@epoch.command()
@click.option("--country", required=True, help="The country whose seal keys (e.g. KH).")
@click.option("--bootstrap", help="Kafka bootstrap servers (default: env, .trm).")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
@click.option("--trust", "trust_file", help="Trust list (default .trm/trust.json).")
def publish(country: str, bootstrap: str | None, namespace: str, trust_file: str | None) -> None:
    """Publish the last signed seal-key set again (e.g. after a rotation with no broker)."""
    cc = check_country(country)
    state = state_dir()
    keyring = Keyring.of(state, cc)
    trust = load_trust_file(Path(trust_file) if trust_file else state.trust)
    from hub.ops.provision import signed_seal_key_set

    signed = signed_seal_key_set(keyring, trust)
    if signed is None:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a signed set at {keyring.signed_set_path}; run trm keys epoch rotate",
        )
    _publish(state, signed, bootstrap or default_bootstrap(None, state), namespace)


def _key_json(key: SealKey, when: DueKey | None, now_ms: int) -> dict[str, Any]:
    return {
        **key.to_json(),
        "current": key.valid_at(now_ms),
        "due_at_ms": None if when is None else when.due_at_ms,
        "retention_days": None if when is None else when.retention_days,
        "agreement": None if when is None else when.agreement,
    }


@epoch.command(name="list")
@click.option("--country", required=True, help="The country whose seal keys (e.g. KH).")
@click.option("--agreements", "agreements_dir", help="Agreements (default .trm/agreements).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_keys(country: str, agreements_dir: str | None, as_json: bool) -> None:
    """Every epoch key: its window, whether destroyed, and when it falls due."""
    cc = check_country(country)
    keys = Keyring.of(state_dir(), cc).keys()
    try:
        agreements = _agreements(agreements_dir)
    except OperationalError:
        if agreements_dir:
            raise
        agreements = []  # no agreements here: list the keys without due dates
    now = _now_ms()
    for key in keys:
        when = retention_due(key, agreements)
        if as_json:
            click.echo(json.dumps(_key_json(key, when, now)))
            continue
        state = (
            f"destroyed {_when(key.destroyed_at_ms)}"
            if key.destroyed_at_ms is not None
            else "current"
            if key.valid_at(now)
            else "closed"
        )
        due_text = "due: unknown" if when is None else f"due {_when(when.due_at_ms)}"
        click.echo(
            f"{key.key_id}  {_when(key.not_before_ms)} .. {_when(key.not_after_ms)}  "
            f"{state}  {due_text}"
        )
    if not keys:
        click.echo(f"{cc} holds no seal keys yet: trm keys epoch rotate --country {cc}", err=True)


@epoch.command(name="due")
@click.option("--country", required=True, help="The country whose seal keys (e.g. KH).")
@click.option("--agreements", "agreements_dir", help="Agreements (default .trm/agreements).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def due_keys(country: str, agreements_dir: str | None, as_json: bool) -> None:
    """The keys whose retention has run out: destroy each with 'destroy --key-id ID --yes'."""
    cc = check_country(country)
    keys = Keyring.of(state_dir(), cc).keys()
    now = _now_ms()
    found = due(keys, _agreements(agreements_dir), now)
    for d in found:
        if as_json:
            click.echo(json.dumps({**_key_json(d.key, d, now), "reason": d.reason}))
        else:
            click.echo(f"{d.key.key_id}  {d.reason}")
    click.echo(f"{len(found)} of {len(keys)} {cc} seal key(s) due at {_when(now)}", err=True)
