"""Publishing the registry: the trust list and signed agreements the hub reads.

The hub loads both from compacted topics (``<ns>.registry.trust``, keyed by
version; ``<ns>.registry.agreements``, keyed by ``id@version``). The operator
publishes them here, as the admin principal on a secure cluster; nothing is
published that the hub would refuse to load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from hub.app.registry import parse_agreement, trust_key
from hub.ops.broker import create_topics
from hub.topics import Topics
from hub.trust import TrustList, load_trust_file

__all__ = ["Provisioned", "provision", "provision_registry"]


async def provision_registry(
    bootstrap: str,
    topics: Topics,
    trust_doc: bytes,
    agreements: list[tuple[str, bytes]],
    client: dict[str, Any] | None = None,
) -> None:
    """Write a trust list and agreements into the registry topics (acks=all)."""
    version = int(json.loads(trust_doc)["signed"]["version"])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **(client or {})
    )
    await producer.start()
    try:
        await producer.send_and_wait(topics.registry_trust, trust_doc, key=trust_key(version))
        for name, blob in agreements:
            await producer.send_and_wait(topics.registry_agreements, blob, key=name.encode())
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What :func:`provision` published."""

    trust: TrustList
    agreements: tuple[str, ...]


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
) -> Provisioned:
    """Create the topics, then publish a trust list file and a folder of agreements.

    Raises:
        TrmError: the trust list does not verify, or an agreement would not load.
    """
    trust, trust_doc, blobs = _load(trust_path, agreements_dir)
    await create_topics(bootstrap, topics.plan(), client_config=client)
    await provision_registry(bootstrap, topics, trust_doc, blobs, client)
    return Provisioned(trust, tuple(ref for ref, _ in blobs))
