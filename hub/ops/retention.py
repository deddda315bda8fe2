"""Topic retention from the agreements: a lane keeps records while a key could open them.

Every record in ``<ns>.<CC>.outbox|inbox|rejections`` is sealed (protocol v2)
or names a sealed event; once the epoch keys it was sealed to are destroyed
(``trm keys epoch due``) nobody can read it again, so Kafka need not keep it
either. :func:`hub.sealkeys.lane_retention_ms` says how long that is per
country; :func:`apply_lane_retention` sets ``retention.ms`` on the broker. The
audit log (leaves, checkpoints, decisions) keeps everything: it holds no
personal data, and an auditor replays the records still kept with
``trm audit replay --since-ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from hub.errors import OperationalError, Reason
from hub.policy.agreement import Agreement
from hub.sealkeys import lane_retention_ms
from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["apply_lane_retention", "lane_retention"]


def lane_retention(
    agreements: Iterable[Agreement], topics: Topics, countries: Iterable[str] = COMMIT_COUNTRIES
) -> dict[str, int]:
    """``retention.ms`` per country lane topic; a country without flows is left out."""
    kept = list(agreements)
    out: dict[str, int] = {}
    for cc in countries:
        ms = lane_retention_ms(kept, cc)
        if ms is not None:
            for name in (topics.outbox(cc), topics.inbox(cc), topics.rejections(cc)):
                out[name] = ms
    return out


async def apply_lane_retention(
    bootstrap: str,
    retention: Mapping[str, int],
    *,
    client_config: Mapping[str, Any] | None = None,
    timeout_s: float = 120.0,
) -> None:
    """Set ``retention.ms`` on each topic, keeping its other settings; wait until applied.

    Kafka's AlterConfigs replaces a topic's whole override set, so each topic's
    own settings (cleanup policy, timestamp type, min.insync.replicas) are read
    first and sent back with the new retention.

    Raises:
        OperationalError: KAFKA_UNAVAILABLE naming the topic the broker refused,
            or when the cluster does not answer within ``timeout_s`` (retried
            until then: a cluster still forming answers NodeNotReady a while).
    """
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415
    from aiokafka.admin.config_resource import (  # noqa: PLC0415
        ConfigResource,
        ConfigResourceType,
    )
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    names = sorted(retention)
    deadline = time.monotonic() + timeout_s
    while True:  # a cluster still forming answers NodeNotReady for a while
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
        try:
            await admin.start()
            overrides = await _topic_overrides(admin, names)
            responses = await admin.alter_configs(
                [
                    ConfigResource(
                        ConfigResourceType.TOPIC,
                        name,
                        configs={**overrides[name], "retention.ms": str(retention[name])},
                    )
                    for name in names
                ]
            )
            for response in responses:
                for code, message, _type, name in response.resources:
                    if code:
                        raise OperationalError(
                            Reason.KAFKA_UNAVAILABLE,
                            f"the broker refused retention.ms for {name}: error {code} {message}",
                        )
            # KRaft brokers apply a change a moment after the controller accepts it.
            while True:
                now = await _topic_overrides(admin, names)
                if all(now[n].get("retention.ms") == str(retention[n]) for n in names):
                    return
                if time.monotonic() > deadline:
                    raise OperationalError(
                        Reason.KAFKA_UNAVAILABLE,
                        f"the brokers did not apply retention.ms within {timeout_s:.0f} s",
                    )
                await asyncio.sleep(0.2)
        except (KafkaError, _NotDescribed) as exc:
            if time.monotonic() > deadline:
                raise OperationalError(
                    Reason.KAFKA_UNAVAILABLE,
                    f"could not set retention.ms within {timeout_s:.0f} s: {type(exc).__name__}",
                ) from exc
        finally:
            await admin.close()
        await asyncio.sleep(1.0)


class _NotDescribed(Exception):
    """A topic's settings did not come back (not yet known to the broker asked)."""


async def _topic_overrides(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's own settings (not the broker's defaults), as described now."""
    from aiokafka.admin.config_resource import (  # noqa: PLC0415
        ConfigResource,
        ConfigResourceType,
    )

    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    overrides: dict[str, dict[str, str]] = {name: {} for name in names}
    for response in described:
        for err, _msg, _type, name, entries in response.resources:
            if err:
                raise _NotDescribed(name)
            for entry in entries:
                key, value, source = entry[0], entry[1], entry[3]
                # v0 says is_default (a bool); v1+ the source (1: set on the topic)
                topic_level = (not source) if isinstance(source, bool) else source == 1
                if topic_level and value is not None and name in overrides:
                    overrides[name][key] = value
    # Every topic of the plan sets its cleanup policy: without it, what came back
    # is not the topic's own settings, and writing it back would erase them.
    missing = [name for name, found in overrides.items() if "cleanup.policy" not in found]
    if missing:
        raise _NotDescribed(missing[0])
    return overrides
