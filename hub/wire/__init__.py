"""The trm-hub wire format (pure): Avro envelopes with verifiable redaction.

A producer :func:`seal`\\ s a payload: each field becomes a salted
:class:`Disclosure` whose SHA-256 is listed in the signed :class:`Header`.
In a sealed (v2) event every field but the policy attributes is encrypted
(:class:`SealedDisclosure`) and its data key wrapped to each recipient
(:class:`KeyWrap`, HPKE). The hub :func:`redact`\\ s (drops disclosures,
changes nothing else) and :func:`attest`\\ s; a recipient :func:`verify`\\ s
the producer's signature and every disclosure it received, and
:func:`unseal`\\ s a sealed one. ``docs/protocol.md`` sections 2-5 specify it.
"""

from __future__ import annotations

from .cloudevents import CONTENT_TYPE, ce_time, check_cloudevents, cloudevents_headers
from .disclosures import Disclosure, KeyWrap, SealedDisclosure
from .envelope import Attestation, Envelope, Header, Signature, pae
from .eventtypes import (
    EventType,
    EventTypeSpec,
    register_from,
    register_from_environment,
)
from .jsonmap import from_json_value, payload_from_json, payload_to_json, to_json_value
from .seal import (
    DeliveredCopy,
    Rng,
    attest,
    deliver_copy,
    new_event_id,
    payload_fields,
    redact,
    seal,
)
from .sealing import RecipientKey
from .verify import (
    DeliveredEvent,
    Finding,
    VerificationResult,
    VerifiedEvent,
    check_key,
    open_envelope,
    payload_record_bytes,
    require_every_wrap,
    unseal,
    verification_result,
    verify,
    verify_attestation,
)
from .vocab import (
    ATTESTATION_PAYLOAD_TYPE,
    DEFAULT_MAX_SIZE,
    DELIVERED_MAX_SIZE,
    HANDLING_CODES,
    HEADER_PAYLOAD_TYPE,
    MAX_ATTESTATIONS,
    MAX_DIGESTS,
    MAX_RECIPIENTS,
    POLICY_ATTRIBUTES,
    PURPOSES,
    SALT_SIZE,
    SEALED_VERSION,
    SPEC_VERSION,
)

__all__ = [
    "ATTESTATION_PAYLOAD_TYPE",
    "CONTENT_TYPE",
    "DEFAULT_MAX_SIZE",
    "DELIVERED_MAX_SIZE",
    "HANDLING_CODES",
    "HEADER_PAYLOAD_TYPE",
    "MAX_ATTESTATIONS",
    "MAX_DIGESTS",
    "MAX_RECIPIENTS",
    "POLICY_ATTRIBUTES",
    "PURPOSES",
    "SALT_SIZE",
    "SEALED_VERSION",
    "SPEC_VERSION",
    "Attestation",
    "DeliveredCopy",
    "DeliveredEvent",
    "Disclosure",
    "Envelope",
    "EventType",
    "EventTypeSpec",
    "Finding",
    "Header",
    "KeyWrap",
    "RecipientKey",
    "Rng",
    "SealedDisclosure",
    "Signature",
    "VerificationResult",
    "VerifiedEvent",
    "attest",
    "ce_time",
    "check_cloudevents",
    "check_key",
    "cloudevents_headers",
    "deliver_copy",
    "from_json_value",
    "new_event_id",
    "open_envelope",
    "pae",
    "payload_fields",
    "payload_from_json",
    "payload_record_bytes",
    "payload_to_json",
    "redact",
    "register_from",
    "register_from_environment",
    "require_every_wrap",
    "seal",
    "to_json_value",
    "unseal",
    "verification_result",
    "verify",
    "verify_attestation",
]
