"""The demo's identities: six countries' keys, the hub's key, a trust list, agreements,
and each country's epoch seal key (``nodes/<CC>/seal-keys``) with its signed set,
which ``trm hub provision`` (and ``trm up`` on a fresh broker) publishes.

Every key is made fresh for this demo and written to the state directory with
mode 0600. The sample agreements in ``deploy/agreements/`` are EXAMPLES signed
with public example keys; the demo signs them again with its own party keys.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.home import StateDir
from hub.keys import KeyRole, write_private_key
from hub.ops.provision import rotate_seal_keys
from hub.policy import dump_agreement_yaml, load_agreement, load_agreement_file, resign_agreement
from hub.sealkeys import Keyring, SealKeySet
from hub.topics import COMMIT_COUNTRIES, COUNTRY_NAMES
from hub.trust import HUB_OWNER, KeySpec, TrustList, build_trust_document, public_key_pem

__all__ = ["COUNTRY_NAMES", "REPO", "make_identities", "make_seal_keys", "sign_agreements"]

REPO = Path(__file__).resolve().parents[2]
# Keys valid from 2024 so that agreements effective from 2026-01-01 verify.
KEYS_FROM_MS = 1_704_067_200_000


def make_identities(state: StateDir, now_ms: int) -> tuple[dict[str, Ed25519PrivateKey], TrustList]:
    """Fresh keys for the six members and the hub; a trust list signed by all six."""
    state.ensure()
    keys = {cc: Ed25519PrivateKey.generate() for cc in COMMIT_COUNTRIES}
    hub = Ed25519PrivateKey.generate()
    for owner, key in [*keys.items(), (HUB_OWNER, hub)]:
        write_private_key(key, state.private_key(owner))
        state.public_key(owner).write_bytes(public_key_pem(key.public_key()))
    specs = [
        KeySpec(
            cc,
            frozenset({KeyRole.ROOT, KeyRole.PRODUCER, KeyRole.WITNESS}),
            k.public_key(),
            KEYS_FROM_MS,
        )
        for cc, k in keys.items()
    ]
    specs.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), hub.public_key(), KEYS_FROM_MS))
    doc = build_trust_document(
        specs,
        members={cc: COUNTRY_NAMES[cc] for cc in COMMIT_COUNTRIES},
        threshold=4,
        version=1,
        issued_at_ms=now_ms,
        signers=list(keys.values()),
    )
    state.trust.write_text(json.dumps(doc.to_json(), indent=2) + "\n", encoding="utf-8")
    return keys, TrustList.from_signed(doc.to_json())


def sign_agreements(
    state: StateDir, keys: Mapping[str, Ed25519PrivateKey], source: Path | None = None
) -> list[str]:
    """Copy the sample agreements into the state dir, signed by their parties' demo keys."""
    folder = source or REPO / "deploy" / "agreements"
    if state.agreements.exists():
        shutil.rmtree(state.agreements)
    state.agreements.mkdir(parents=True)
    refs = []
    named: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        signed = load_agreement_file(path)
        parties = [keys[p] for p in sorted(signed.agreement.parties) if p in keys]
        fresh = resign_agreement(signed, parties)
        (state.agreements / path.name).write_text(fresh.to_yaml(), encoding="utf-8")
        refs.append(signed.agreement.ref)
        named |= {flow.event_type for flow in signed.agreement.flows}
    if "statistics_report" not in named:
        refs.append(_statistics_agreement(state, keys))
    return refs


def _statistics_agreement(state: StateDir, keys: Mapping[str, Ed25519PrivateKey]) -> str:
    """An EXAMPLE agreement for the demo's statistics reports, every member to every other.

    Only when the sample agreements do not name ``statistics_report`` yet: the
    COMMIT baseline carries these flows (deploy/agreements/make_examples.py).
    """
    from hub.wire import payload_fields  # noqa: PLC0415

    body: dict[str, Any] = {
        "_type": "trm.agreement/v1",
        "id": "COMMIT-statistics-demo",
        "version": 1,
        "title": "EXAMPLE: COMMIT statistics reports among all six members (demo only)",
        "example": True,
        "parties": list(COMMIT_COUNTRIES),
        "effective_from": "2026-01-01T00:00:00Z",
        "effective_until": "2030-12-31T23:59:59Z",
        "flows": [
            {
                "from": "any",
                "to": "any",
                "event_types": {
                    "statistics_report": {
                        "purposes": ["statistics"],
                        "handling": ["H0", "H1", "H2", "H3"],
                        "fields": list(payload_fields("statistics_report")),
                        "retention_days": 1825,
                    }
                },
            }
        ],
    }
    unsigned = load_agreement({"signed": body, "signatures": []}, where="COMMIT-statistics-demo")
    signed = resign_agreement(unsigned, [keys[cc] for cc in COMMIT_COUNTRIES])
    path = state.agreements / "commit-statistics-demo.yaml"
    path.write_text(dump_agreement_yaml(signed.document), encoding="utf-8")
    return signed.agreement.ref


def make_seal_keys(
    state: StateDir, keys: Mapping[str, Ed25519PrivateKey], trust: TrustList, now_ms: int
) -> tuple[SealKeySet, ...]:
    """Each member's epoch seal key in its keyring, and its set signed with its key."""
    keyrings = {cc: Keyring.of(state, cc) for cc in COMMIT_COUNTRIES}
    return rotate_seal_keys(keyrings, keys, trust, now_ms)
