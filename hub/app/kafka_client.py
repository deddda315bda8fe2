"""Kafka client settings for the hub's Faust apps, from ``$TRM_KAFKA_CLIENT_CONFIG``.

On a secure cluster (``trm kafka up --secure``, Compose, Strimzi) the hub
connects as the ``hub`` principal: SASL/SCRAM over TLS with the cluster's CA.
``trm hub worker`` and ``trm audit sequencer`` point ``TRM_KAFKA_CLIENT_CONFIG``
at that principal's credentials file (JSON: ``username``, ``password``,
``sasl_mechanism``, ``security_protocol``, ``ca_pem``; written by
``connectors.kafka_security``). Without it the broker is the plaintext local one.
The password is never logged.
"""

from __future__ import annotations

import json
import os
import ssl
from functools import cache
from pathlib import Path
from typing import Any

from hub.errors import OperationalError, Reason

__all__ = ["ENV", "aiokafka_settings", "faust_credentials"]

ENV = "TRM_KAFKA_CLIENT_CONFIG"


@cache
def aiokafka_settings() -> dict[str, Any]:
    """Keyword arguments for aiokafka clients ({} on a plaintext broker)."""
    path = os.environ.get(ENV)
    if not path:
        return {}
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        ctx = ssl.create_default_context(cadata=cfg["ca_pem"])
        return {
            "security_protocol": cfg.get("security_protocol", "SASL_SSL"),
            "sasl_mechanism": cfg.get("sasl_mechanism", "SCRAM-SHA-512"),
            "sasl_plain_username": cfg["username"],
            "sasl_plain_password": cfg["password"],
            "ssl_context": ctx,
        }
    except (OSError, ValueError, KeyError, ssl.SSLError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a Kafka credentials file (username, password, ca_pem) at {path}: "
            f"{type(exc).__name__}",
        ) from exc


def faust_credentials() -> Any:
    """``faust.SASLCredentials`` for the same settings, or None on a plaintext broker."""
    settings = aiokafka_settings()
    if not settings:
        return None
    import faust  # noqa: PLC0415 - only the Faust apps call this

    return faust.SASLCredentials(
        username=settings["sasl_plain_username"],
        password=settings["sasl_plain_password"],
        ssl_context=settings["ssl_context"],
        mechanism=settings["sasl_mechanism"],
    )
