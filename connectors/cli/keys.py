"""``trm keys new``: an Ed25519 key pair for a country or the hub."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import OperationalError, Reason
from hub.keys import key_id_of, raw_public, write_private_key
from hub.topics import check_country
from hub.trust import HUB_OWNER, public_key_pem

__all__ = ["cli"]


@click.group(name="keys")
def cli() -> None:
    """Ed25519 keys for a country or the hub."""


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
