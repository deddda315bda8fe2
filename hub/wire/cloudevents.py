"""CloudEvents 1.0 binary-mode Kafka headers: copies of the signed header.

Standard tools read them; verification never does. A record whose headers
disagree with its signed header is refused (CLOUDEVENTS_MISMATCH).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from hub.errors import DeliveryError, Reason

from .envelope import Header
from .vocab import shown

__all__ = ["CONTENT_TYPE", "ce_time", "check_cloudevents", "cloudevents_headers", "content_type"]

CONTENT_TYPE: Final = "application/vnd.trm.envelope.v2+avro"  # a sealed event's (the default)


def content_type(spec_version: int) -> str:
    """The envelope's media type: ``application/vnd.trm.envelope.v<spec_version>+avro``."""
    return f"application/vnd.trm.envelope.v{spec_version}+avro"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def ce_time(created_at_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-02T03:04:05.678Z``."""
    return f"{_ce_second(created_at_ms // 1000)}{created_at_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _ce_second(second: int) -> str:
    """``2026-01-02T03:04:05.`` (the hub sees many events a second: formatted once)."""
    return (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.")


def cloudevents_headers(header: Header) -> list[tuple[str, bytes]]:
    """The Kafka headers for an event, in a fixed order."""
    pairs = [
        ("ce_specversion", "1.0"),
        ("ce_id", header.event_id),
        ("ce_source", f"urn:trm:{header.producer}"),
        ("ce_type", f"trm.{header.event_type.value}.v{header.spec_version}"),
        ("ce_time", ce_time(header.created_at_ms)),
        ("content-type", content_type(header.spec_version)),
        ("ce_dataschema", f"urn:trm:schema:sha256:{header.payload_schema.hex()}"),
    ]
    return [(k, v.encode("utf-8")) for k, v in pairs]


def check_cloudevents(
    kafka_headers: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None],
    header: Header,
) -> list[tuple[str, bytes]]:
    """Refuse a record whose CloudEvents headers differ from the signed header.

    Each expected header must be present exactly once with exactly the
    expected value; other headers (tracing and the like) are ignored. Returns
    the expected headers (:func:`cloudevents_headers`), which the record has.

    Raises:
        DeliveryError: CLOUDEVENTS_MISMATCH.
    """
    expected_headers = cloudevents_headers(header)
    if type(kafka_headers) is tuple and list(kafka_headers) == expected_headers:
        return expected_headers  # exactly these headers, in this order: every rule holds
    pairs = kafka_headers.items() if isinstance(kafka_headers, Mapping) else kafka_headers
    seen: dict[str, list[bytes | None]] = {}
    for name, value in pairs:
        seen.setdefault(name, []).append(value)
    for name, expected in expected_headers:
        got = seen.get(name)
        if got is None:
            raise DeliveryError(
                Reason.CLOUDEVENTS_MISMATCH, f"expected Kafka header {name}, found none"
            )
        if len(got) != 1:
            raise DeliveryError(
                Reason.CLOUDEVENTS_MISMATCH,
                f"expected Kafka header {name} once, found it {len(got)} times",
            )
        if got[0] != expected:
            raise DeliveryError(
                Reason.CLOUDEVENTS_MISMATCH,
                f"expected Kafka header {name}={expected.decode()!r} as in the signed header, "
                f"got {shown(got[0])}",
            )
    return expected_headers
