"""The EXAMPLE deployment: the sample agreements in deploy/agreements, their roots, a hub.

The sample agreements are signed with deterministic EXAMPLE root keys
(``deploy/agreements/make_examples.py``); :data:`TRUST` names those roots and
a test hub key, so the hub, the replay and a node all accept them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from hub.keys import private_key_from_seed
from hub.policy import load_agreement_file
from hub.policy.agreement import AgreementSet
from hub.topics import COMMIT_COUNTRIES
from hub.trust import TrustList
from tests.support.trust import members_trust

__all__ = [
    "AGREEMENTS",
    "AGREEMENTS_DIR",
    "HUB_KEY",
    "TRUST",
    "agreement_file",
    "example_key",
    "example_payload",
]

AGREEMENTS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "agreements"
HUB_KEY = private_key_from_seed(hashlib.sha256(b"test hub key").digest())


def example_key(country: str) -> Ed25519PrivateKey:
    """A country's EXAMPLE root key, as make_examples.py derives it."""
    seed = hashlib.sha256(f"trm-hub EXAMPLE root {country}".encode()).digest()
    return private_key_from_seed(seed)


def example_payload(event_type: str) -> dict[str, Any]:
    """The example payload of an event type (schemas/examples/<type>.json)."""
    text = (schemas.SCHEMA_DIR / "examples" / f"{event_type}.json").read_text(encoding="utf-8")
    payload: dict[str, Any] = json.loads(text)
    return payload


def _trust() -> TrustList:
    roots = {cc: example_key(cc) for cc in COMMIT_COUNTRIES}
    return TrustList.from_signed(members_trust(roots, HUB_KEY, 0))


TRUST = _trust()
AGREEMENTS = AgreementSet.of(load_agreement_file(p) for p in sorted(AGREEMENTS_DIR.glob("*.yaml")))


def agreement_file(ref: str) -> str:
    """The file name in deploy/agreements of the agreement ``id@version``."""
    agreement_id, version = ref.split("@")
    for path in AGREEMENTS_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if f"id: {agreement_id}\n" in text and f"version: {version}\n" in text:
            return path.name
    raise AssertionError(f"no sample agreement {ref}")
