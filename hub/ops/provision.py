"""Publishing the registry: the trust list, signed agreements and seal-key sets.

The hub loads the first two from compacted topics (``<ns>.registry.trust``,
keyed by version; ``<ns>.registry.agreements``, keyed by ``id@version``). The
operator publishes them here, as the admin principal on a secure cluster;
nothing is published that the hub would refuse to load.

Seal keys (``hub.sealkeys``): each country's epoch keys live in its keyring
(``nodes/<CC>/seal-keys/``); :func:`sign_seal_key_set` signs the keyring's
next set version (``trm keys epoch`` and provisioning both use it),
:func:`rotate_seal_keys` gives every member a key valid now, and
:func:`provision_seal_keys` does that and publishes the sets to
``<ns>.registry.seal-keys``, where nodes find the keys they seal to. A local
state directory that holds the members' keyrings (the demo's) has its signed
sets published again by :func:`provision` (a fresh broker starts empty).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.app.registry import trust_key
from hub.app.seal_registry import publish_seal_keys
from hub.errors import OperationalError, Reason
from hub.home import StateDir
from hub.keys import KeyDirectory
from hub.ops.broker import create_topics
from hub.ops.retention import apply_lane_retention, lane_retention
from hub.policy import parse_agreement
from hub.sealkeys import EPOCH_MS, Keyring, SealKeyDirectory, SealKeySet
from hub.signed_doc import parse_json
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import TrustList, load_trust_file

__all__ = [
    "Provisioned",
    "provision",
    "provision_registry",
    "provision_seal_keys",
    "publish_seal_key_sets",
    "registry_records",
    "rotate_seal_keys",
    "sign_seal_key_set",
    "signed_seal_key_set",
    "state_seal_key_sets",
]


def registry_records(
    topics: Topics, trust_doc: bytes, agreements: Sequence[tuple[str, bytes]]
) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of a registry's records, in the order they are written.

    The agreements come first and the trust list last, each acknowledged
    (acks=all) before the next is sent. A hub builds no registry before a trust
    list is published (``hub.app.registry.build_registry``; its own pinned
    ``trust.json`` does not count) and reads the registry topics once more when
    it sees a new one, so it judges with every agreement published with that
    list. A hub that judged before them refused the first events (NO_AGREEMENT):
    the Compose test caught it.
    """
    version = int(json.loads(trust_doc)["signed"]["version"])
    return [
        *((topics.registry_agreements, name.encode(), blob) for name, blob in agreements),
        (topics.registry_trust, trust_key(version), trust_doc),
    ]


async def provision_registry(
    bootstrap: str,
    topics: Topics,
    trust_doc: bytes,
    agreements: list[tuple[str, bytes]],
    client: dict[str, Any] | None = None,
) -> None:
    """Write agreements, then the trust list, into the registry topics (acks=all).

    See :func:`registry_records` for why in that order.
    """
    records = registry_records(topics, trust_doc, agreements)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **(client or {})
    )
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What :func:`provision` published."""

    trust: TrustList
    agreements: tuple[str, ...]
    seal_keys: tuple[str, ...] = ()  # the countries whose signed seal-key sets
    retention: Mapping[str, int] = field(default_factory=dict)  # lane topic -> retention.ms


# --- seal keys ---------------------------------------------------------------------


def signed_seal_key_set(keyring: Keyring, trust: KeyDirectory) -> SealKeySet | None:
    """The last set signed from ``keyring`` (``seal-keys.json``), verified; None if none yet.

    Raises:
        OperationalError: CONFIG_INVALID when the file is not JSON.
        TrustError: the set no longer verifies against ``trust``.
    """
    try:
        obj = parse_json(keyring.signed_set_path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a signed seal-key set in {keyring.signed_set_path}"
        ) from exc
    return SealKeySet.from_signed(obj, trust)


def sign_seal_key_set(
    keyring: Keyring, key: Ed25519PrivateKey, trust: KeyDirectory, now_ms: int
) -> SealKeySet:
    """Sign every key of ``keyring`` as its country's next set version and keep it.

    The set is verified as readers will verify it (it must follow the last one
    signed here) before it is written to ``keyring.signed_set_path``.

    Raises:
        TrustError: ``key`` may not sign the country's set at ``now_ms``; a rollback.
    """
    previous = signed_seal_key_set(keyring, trust)
    version = max(keyring.version, previous.version if previous else 0) + 1
    doc = keyring.seal_key_set(version, now_ms).with_signature(key)
    signed = SealKeySet.from_signed(doc, trust, previous=previous)
    path = keyring.signed_set_path
    path.write_text(json.dumps(signed.to_json(), indent=2) + "\n", encoding="utf-8")
    return signed


def rotate_seal_keys(
    keyrings: Mapping[str, Keyring],
    keys: Mapping[str, Ed25519PrivateKey],
    trust: KeyDirectory,
    now_ms: int,
    *,
    epoch_ms: int = EPOCH_MS,
) -> tuple[SealKeySet, ...]:
    """Every member a seal key valid at ``now_ms``, and its signed set.

    A keyring with no key valid at ``now_ms`` is rotated (a new epoch key for
    ``[now_ms, now_ms + epoch_ms)``) and its next set signed with the country's
    key from ``keys``; a keyring that has one keeps it, and its last signed set
    (signed now if there is none), so running this again changes nothing.

    Raises:
        OperationalError: CONFIG_INVALID for a country without a signing key.
        TrustError: a key may not sign its country's set.
    """
    out = []
    for cc, keyring in sorted(keyrings.items()):
        key = keys.get(cc)
        if key is None:
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected {cc}'s signing key to sign its seal-key set"
            )
        held = keyring.keys()
        current = any(k.valid_at(now_ms) for k in held)
        signed = signed_seal_key_set(keyring, trust) if current else None
        if not current:
            keyring.rotate(now_ms, epoch_ms)
        out.append(signed or sign_seal_key_set(keyring, key, trust, now_ms))
    return tuple(out)


async def publish_seal_key_sets(
    bootstrap: str,
    topics: Topics,
    sets: tuple[SealKeySet, ...],
    client: dict[str, Any] | None = None,
) -> SealKeyDirectory:
    """Publish verified seal-key sets to ``<ns>.registry.seal-keys``; return them as a directory."""
    for signed in sets:
        await publish_seal_keys(bootstrap, topics, signed, client)
    return SealKeyDirectory(MappingProxyType({s.country: s for s in sets}))


async def provision_seal_keys(
    bootstrap: str,
    topics: Topics,
    keyrings: Mapping[str, Keyring],
    keys: Mapping[str, Ed25519PrivateKey],
    trust: KeyDirectory,
    *,
    now_ms: int,
    epoch_ms: int = EPOCH_MS,
    client: dict[str, Any] | None = None,
) -> SealKeyDirectory:
    """Rotate every member's seal keys as needed (:func:`rotate_seal_keys`) and publish them.

    On a secure cluster ``client`` is the admin's (a super user) or, per
    country, that country's own credentials (every member may write the topic).
    """
    sets = rotate_seal_keys(keyrings, keys, trust, now_ms, epoch_ms=epoch_ms)
    return await publish_seal_key_sets(bootstrap, topics, sets, client)


def state_seal_key_sets(state: StateDir, trust: KeyDirectory) -> tuple[SealKeySet, ...]:
    """The signed seal-key sets of the members whose keyrings are in ``state`` (a local stack)."""
    found = []
    for cc in COMMIT_COUNTRIES:
        signed = signed_seal_key_set(Keyring.of(state, cc), trust)
        if signed is not None:
            found.append(signed)
    return tuple(found)


def _load(trust_path: Path, folder: Path) -> tuple[TrustList, bytes, list[tuple[str, bytes]]]:
    trust = load_trust_file(trust_path)  # refuse to publish a list that does not verify
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    blobs = []
    for f in files:
        blob = f.read_bytes()
        # refuse to publish what the hub would refuse to load
        blobs.append((parse_agreement(blob).agreement.ref, blob))
    return trust, trust_path.read_bytes(), blobs


async def provision(
    bootstrap: str,
    topics: Topics,
    trust_path: Path,
    agreements_dir: Path,
    client: dict[str, Any] | None = None,
    *,
    state: StateDir | None = None,
) -> Provisioned:
    """Create the topics, then publish a trust list file and a folder of agreements.

    With ``state``, also the signed seal-key sets of the members whose
    keyrings it holds (:func:`state_seal_key_sets`). Each country lane's
    retention is then set from the agreements (``hub.ops.retention``).

    Raises:
        TrmError: the trust list does not verify, an agreement would not load,
            or a seal-key set does not verify.
    """
    trust, trust_doc, blobs = _load(trust_path, agreements_dir)
    sets = state_seal_key_sets(state, trust) if state is not None else ()
    await create_topics(bootstrap, topics.plan(), client_config=client)
    # The seal keys too before the trust list: a hub that sees the list can seal
    # what it quarantines to the producer's key (readers check each set against it).
    await publish_seal_key_sets(bootstrap, topics, sets, client)
    await provision_registry(bootstrap, topics, trust_doc, blobs, client)
    retention = lane_retention(
        (parse_agreement(blob).agreement for _ref, blob in blobs), topics, sorted(trust.countries)
    )
    await apply_lane_retention(bootstrap, retention, client_config=client)
    return Provisioned(
        trust,
        tuple(ref for ref, _ in blobs),
        tuple(s.country for s in sets),
        retention,
    )
