"""The state directory (``$TRM_HOME``): where ``make demo``, ``trm up`` and nodes keep things.

Every verb that needs keys, a trust list, agreements or the local broker's
address takes them from flags, or else from here, so that after ``make demo``
``trm node inbox --country KH`` and ``trm audit replay`` need no other flag.

Layout (``$TRM_HOME``, else ``.trm/`` in the working directory)::

    keys/<CC>.key  keys/<CC>.pub     one per country, and keys/HUB.key for the hub
    trust.json                       the signed trust list in force
    agreements/*.yaml                signed agreements
    kafka/bootstrap                  bootstrap servers written by ``trm kafka up``
    kafka/...                        broker data, logs and pid files
    kafka/security/                  CA, SCRAM secrets, credentials/<principal>.json
    nodes/<CC>/                      a country node's own state (inbox dedupe, cursors)
    nodes/<CC>/seal-keys/            its private X25519 epoch keys (hub.sealkeys.Keyring)
    match/public.json                the matching key's public part: threshold, members
                                     {CC: index}, commitments (hub.matching.ceremony)
    keys/match/<CC>.share            a country's share of the matching key (mode 0600)
    run/<service>.pid, .json         processes 'trm up' started (hub/ops/stack.py)
    logs/<service>.log               their output
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hub.errors import OperationalError, Reason

__all__ = ["StateDir", "default_bootstrap", "state_dir"]


@dataclass(frozen=True, slots=True)
class StateDir:
    """Paths inside one state directory; nothing is created until asked."""

    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def private_key(self, owner: str) -> Path:
        """``keys/<owner>.key`` where owner is a country code or ``HUB``."""
        return self.keys / f"{owner}.key"

    def public_key(self, owner: str) -> Path:
        return self.keys / f"{owner}.pub"

    @property
    def trust(self) -> Path:
        return self.root / "trust.json"

    @property
    def agreements(self) -> Path:
        return self.root / "agreements"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def security(self) -> Path:
        """Where ``trm kafka up --secure`` keeps its CA, secrets and credentials."""
        return self.kafka / "security"

    @property
    def bootstrap_file(self) -> Path:
        return self.kafka / "bootstrap"

    @property
    def run(self) -> Path:
        """Pid files and records of the processes ``trm up`` started."""
        return self.root / "run"

    @property
    def logs(self) -> Path:
        """Logs of the processes ``trm up`` started."""
        return self.root / "logs"

    def node(self, country: str) -> Path:
        return self.root / "nodes" / country

    def seal_keys(self, country: str) -> Path:
        """``nodes/<CC>/seal-keys``: the country's private epoch keys (mode 0700)."""
        return self.node(country) / "seal-keys"

    @property
    def match(self) -> Path:
        """``match/``: the matching key's public part (``trm match ceremony``)."""
        return self.root / "match"

    @property
    def match_public(self) -> Path:
        """``match/public.json``: threshold, members and commitments; readable by all."""
        return self.match / "public.json"

    def match_share(self, country: str) -> Path:
        """``keys/match/<CC>.share``: the country's share of the matching key (mode 0600)."""
        return self.keys / "match" / f"{country}.share"

    def ensure(self) -> StateDir:
        """Create the root and keys directories (keys mode 0700)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)
        return self


def state_dir(explicit: str | os.PathLike[str] | None = None) -> StateDir:
    """The state directory: an explicit path, else ``$TRM_HOME``, else ``./.trm``."""
    if explicit is not None:
        return StateDir(Path(explicit))
    env = os.environ.get("TRM_HOME")
    return StateDir(Path(env) if env else Path.cwd() / ".trm")


def default_bootstrap(explicit: str | None = None, state: StateDir | None = None) -> str:
    """Bootstrap servers: a flag, else ``$TRM_KAFKA_BOOTSTRAP``, else ``trm kafka up``'s file."""
    if explicit:
        return explicit
    env = os.environ.get("TRM_KAFKA_BOOTSTRAP")
    if env:
        return env
    where = (state or state_dir()).bootstrap_file
    try:
        text = where.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if not text:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected --bootstrap, TRM_KAFKA_BOOTSTRAP, or {where} written by "
            "'trm kafka up'; found none",
        )
    return text
