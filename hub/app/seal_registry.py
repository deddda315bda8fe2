"""Seal-key sets on Kafka: a country publishes its set, every reader takes the newest verified.

Records of ``<ns>.registry.seal-keys`` (compacted, one partition) are keyed
``<CC>/<version:010d>`` and hold a country's signed seal-key set (UTF-8 JSON,
``hub.sealkeys``). Each version has its own key, so compaction keeps them all.
Every country may write the topic (Kafka ACLs cannot restrict a writer to some
keys), so the record key only places a set; what counts is its signature: a
reader verifies each country's versions in order against the trust list and
keeps the newest that chains (:meth:`hub.sealkeys.SealKeyDirectory.from_documents`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from hub.app.kafka import read_all
from hub.keys import KeyDirectory
from hub.sealkeys import SealKeyDirectory, SealKeySet
from hub.topics import Topics, check_country

__all__ = ["publish_seal_keys", "read_seal_keys", "seal_keys_key"]

log = logging.getLogger(__name__)


def seal_keys_key(country: str, version: int) -> bytes:
    """The record key of version ``version`` of ``country``'s set: ``<CC>/<version:010d>``."""
    return f"{check_country(country)}/{version:010d}".encode()


async def publish_seal_keys(
    bootstrap: str,
    topics: Topics,
    keys: SealKeySet,
    client_config: Mapping[str, Any] | None = None,
) -> None:
    """Write a verified seal-key set to the registry topic (acks=all, idempotent).

    Only a :class:`SealKeySet` (parsed and verified) is accepted, so nothing is
    published that readers would refuse.
    """
    value = json.dumps(keys.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **(client_config or {})
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.registry_seal_keys, value, key=seal_keys_key(keys.country, keys.version)
        )
    finally:
        await producer.stop()


async def read_seal_keys(
    bootstrap: str,
    topics: Topics,
    trust: KeyDirectory,
    client_config: Mapping[str, Any] | None = None,
) -> SealKeyDirectory:
    """The newest verified seal-key set of every country now in the registry topic.

    A record that does not verify (malformed, signed by a key that may not
    sign it, a rollback) is logged by its reason code and skipped.
    """
    rows = await read_all(bootstrap, [topics.registry_seal_keys], **dict(client_config or {}))
    blobs = [value for _topic, _key, value, _headers, _ts in rows if value is not None]
    directory, refused = SealKeyDirectory.from_documents(blobs, trust)
    for error in refused:
        log.warning("registry: seal-key set refused: %s", error)
    return directory
