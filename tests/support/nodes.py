"""Shared material for connector tests: fixed keys, a trust list, hub-attested copies,
and every country's seal keys (:func:`node_seal_keys`: nodes seal by default).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.home import StateDir
from hub.keys import KeyDirectory, private_key_from_seed, write_private_key
from hub.ops.provision import provision_seal_keys
from hub.sealkeys import Keyring, SealKeyDirectory
from hub.topics import Topics
from hub.trust import TrustList
from hub.wire import Envelope, attest, cloudevents_headers, payload_from_json, redact, seal
from tests.support.trust import members_trust

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000
COUNTRIES = ("KH", "CN", "LA", "MM", "TH", "VN")
KEYS: dict[str, Ed25519PrivateKey] = {
    cc: private_key_from_seed(bytes([0x60 + i]) * 32) for i, cc in enumerate(COUNTRIES)
}
HUB_KEY = private_key_from_seed(b"\x77" * 32)
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def trust_list() -> TrustList:
    doc = members_trust(KEYS, HUB_KEY, T0 - DAY)
    return TrustList.from_signed(doc.to_json(), previous=None)


def write_state(root: Path, countries: Iterable[str] = COUNTRIES) -> None:
    """A state directory with keys/<CC>.key (0600) and trust.json."""
    for cc in countries:
        write_private_key(KEYS[cc], root / "keys" / f"{cc}.key")
    (root / "trust.json").write_text(json.dumps(trust_list().document.to_json()))


def example(event_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{event_type}.json").read_text("utf-8"))
    return data


def delivered_copy(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    producer: str,
    recipient: str,
    keep: Iterable[str],
    created_at_ms: int,
    sequence: int = 1,
    case_key: str = "case-1",
    purpose: str = "repatriation",
    hub_key: Ed25519PrivateKey = HUB_KEY,
    attest_for: str | None = None,
) -> tuple[Envelope, list[tuple[str, bytes]]]:
    """What the hub would write to ``recipient``'s inbox: sealed, redacted, attested."""
    env = seal(
        event_type,
        payload_from_json(event_type, payload),
        producer=producer,
        key=KEYS[producer],
        recipients=[recipient],
        purpose=purpose,
        handling="H2",
        case_key=case_key,
        sequence=sequence,
        created_at_ms=created_at_ms,
    )
    red = redact(env, keep)
    fields = sorted(d.field for d in red.disclosures)
    out = attest(
        red,
        recipient=attest_for or recipient,
        agreement_id=f"{producer}-{recipient}",
        agreement_version=1,
        fields=fields,
        leaf_ref="decision:test",
        hub_key=hub_key,
        attested_at_ms=created_at_ms + 1,
    )
    return out, cloudevents_headers(out.header)


# Test seal keys: one epoch from a day before T0 for ten years, so that events
# created at T0 (fixed clocks) and now (the real clock) both find a key.
SEAL_FROM = T0 - DAY
SEAL_EPOCH = 3650 * DAY


async def node_seal_keys(
    bootstrap: str,
    topics: Topics,
    states: Path | Mapping[str, Path],
    countries: Iterable[str] = COUNTRIES,
    *,
    keys: Mapping[str, Ed25519PrivateKey] = KEYS,
    trust: KeyDirectory | None = None,
    client: dict[str, Any] | None = None,
) -> SealKeyDirectory:
    """An epoch seal key for each country in its node's keyring, the sets published.

    ``states``: one state directory for every node (a CLI test's home), or each
    country's own.
    """

    def root(cc: str) -> Path:
        return states if isinstance(states, Path) else states[cc]

    keyrings = {cc: Keyring.of(StateDir(root(cc)), cc) for cc in countries}
    return await provision_seal_keys(
        bootstrap,
        topics,
        keyrings,
        keys,
        trust if trust is not None else trust_list(),
        now_ms=SEAL_FROM,
        epoch_ms=SEAL_EPOCH,
        client=client,
    )
