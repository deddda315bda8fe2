"""The one error hierarchy of trm-hub, and the reason codes that label it.

Every refusal anywhere in the system carries a :class:`Reason`: the same code
labels rejection records, audit leaves, CLI messages (``rejected: CODE: detail``)
and HTTP error bodies. A foreign exception (fastavro, cryptography, aiokafka,
yaml, json) is wrapped once, at the boundary where it enters, with ``from``.

::

    TrmError                      every error we raise; .reason, .detail
    ├── WireError                 envelope bytes: framing, Avro, size, schema
    │   ├── SignatureError        producer signature, key validity, attestation
    │   └── DisclosureError       the RFC 9901 rules for disclosures
    ├── DeliveryError             replay, producer spoofing, CloudEvents mismatch, clock
    ├── TrustError                trust list: threshold, rollback, malformed
    ├── PolicyError               agreements and the policy engine's refusals
    ├── AuditError                Merkle proofs, checkpoints, replay
    ├── MatchError                threshold OPRF: elements, shares, partial evaluations
    ├── RequestError              bad input at a door: CLI, gateway, importer
    └── OperationalError          configuration, Kafka, files, keys on disk

Reason codes are UPPER_SNAKE and stable: scripts and other countries' nodes
match on them. ``docs/protocol.md`` lists each one with its meaning.
"""

from __future__ import annotations

from enum import StrEnum, unique

__all__ = [
    "AuditError",
    "DeliveryError",
    "DisclosureError",
    "MatchError",
    "OperationalError",
    "PolicyError",
    "Reason",
    "RequestError",
    "SealError",
    "SignatureError",
    "TrmError",
    "TrustError",
    "WireError",
]


@unique
class Reason(StrEnum):
    """Why something was refused. The value is the code on the wire."""

    # --- wire format ------------------------------------------------------
    OVERSIZED = "OVERSIZED"
    MALFORMED_FRAME = "MALFORMED_FRAME"
    MALFORMED_AVRO = "MALFORMED_AVRO"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    INVALID_HEADER = "INVALID_HEADER"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    # --- signatures and keys ---------------------------------------------
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    KEY_REVOKED = "KEY_REVOKED"
    KEY_NOT_VALID_AT_TIME = "KEY_NOT_VALID_AT_TIME"
    KEY_ROLE_NOT_ALLOWED = "KEY_ROLE_NOT_ALLOWED"
    BAD_ATTESTATION = "BAD_ATTESTATION"
    # --- disclosures (RFC 9901 rules applied to Avro) --------------------
    DUPLICATE_DIGEST = "DUPLICATE_DIGEST"
    UNREFERENCED_DISCLOSURE = "UNREFERENCED_DISCLOSURE"
    DUPLICATE_FIELD = "DUPLICATE_FIELD"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    FIELD_TYPE_MISMATCH = "FIELD_TYPE_MISMATCH"
    MALFORMED_DISCLOSURE = "MALFORMED_DISCLOSURE"
    # --- sealed disclosures (protocol v2) ---------------------------------
    SEALING_INVALID = "SEALING_INVALID"
    SEAL_MISMATCH = "SEAL_MISMATCH"
    SEAL_KEY_MISSING = "SEAL_KEY_MISSING"
    KEY_DESTROYED = "KEY_DESTROYED"
    SEALING_REQUIRED = "SEALING_REQUIRED"
    # --- delivery ---------------------------------------------------------
    PRODUCER_MISMATCH = "PRODUCER_MISMATCH"
    CLOUDEVENTS_MISMATCH = "CLOUDEVENTS_MISMATCH"
    REPLAY = "REPLAY"
    SEQUENCE_GAP = "SEQUENCE_GAP"
    CLOCK_SKEW = "CLOCK_SKEW"
    NOT_ADDRESSED = "NOT_ADDRESSED"
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"
    # --- trust list -------------------------------------------------------
    TRUST_MALFORMED = "TRUST_MALFORMED"
    TRUST_THRESHOLD_NOT_MET = "TRUST_THRESHOLD_NOT_MET"
    TRUST_ROLLBACK = "TRUST_ROLLBACK"
    TRUST_EXPIRED = "TRUST_EXPIRED"
    # --- agreements and policy -------------------------------------------
    AGREEMENT_INVALID = "AGREEMENT_INVALID"
    AGREEMENT_UNSIGNED = "AGREEMENT_UNSIGNED"
    AGREEMENT_BAD_SIGNATURE = "AGREEMENT_BAD_SIGNATURE"
    AGREEMENT_NOT_IN_FORCE = "AGREEMENT_NOT_IN_FORCE"
    NO_AGREEMENT = "NO_AGREEMENT"
    EVENT_TYPE_NOT_ALLOWED = "EVENT_TYPE_NOT_ALLOWED"
    PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"
    HANDLING_NOT_ALLOWED = "HANDLING_NOT_ALLOWED"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    CHILD_PROTECTION = "CHILD_PROTECTION"
    # --- audit log --------------------------------------------------------
    INCLUSION_PROOF_INVALID = "INCLUSION_PROOF_INVALID"
    CONSISTENCY_PROOF_INVALID = "CONSISTENCY_PROOF_INVALID"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    CHECKPOINT_BAD_SIGNATURE = "CHECKPOINT_BAD_SIGNATURE"
    LOG_FORK = "LOG_FORK"
    # --- matching: the threshold OPRF (docs/protocol.md 13.2) -------------
    MATCH_ELEMENT_INVALID = "MATCH_ELEMENT_INVALID"
    MATCH_EVALUATION_FORGED = "MATCH_EVALUATION_FORGED"
    MATCH_THRESHOLD_NOT_MET = "MATCH_THRESHOLD_NOT_MET"
    MATCH_SHARE_INVALID = "MATCH_SHARE_INVALID"
    # --- requests at a door (CLI, gateway, importer) ----------------------
    BAD_REQUEST = "BAD_REQUEST"
    BAD_ENCODING = "BAD_ENCODING"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    ROW_KEY_CONFLICT = "ROW_KEY_CONFLICT"
    # --- matching: identifiers to match inputs (hub.matching.keys) --------
    MATCH_VALUE_INVALID = "MATCH_VALUE_INVALID"
    MATCH_CHECK_DIGIT_INVALID = "MATCH_CHECK_DIGIT_INVALID"
    # --- hit/no-hit matching (docs/protocol.md section 13) ----------------
    MATCH_CASE_REQUIRED = "MATCH_CASE_REQUIRED"
    MATCH_NOT_EVALUATOR = "MATCH_NOT_EVALUATOR"
    MATCH_EXPIRED = "MATCH_EXPIRED"
    MATCH_REFERENCE_CONFLICT = "MATCH_REFERENCE_CONFLICT"
    # --- operations -------------------------------------------------------
    CONFIG_INVALID = "CONFIG_INVALID"
    KEY_FILE_INSECURE = "KEY_FILE_INSECURE"
    KAFKA_UNAVAILABLE = "KAFKA_UNAVAILABLE"
    TOOL_MISSING = "TOOL_MISSING"
    # --- matching: the evaluators' budgets (hub.matching.evaluator) ---------
    MATCH_BUDGET_EXHAUSTED = "MATCH_BUDGET_EXHAUSTED"
    # --- the case lifecycle (docs/protocol.md section 14) -------------------
    TRANSITION_REASON_REQUIRED = "TRANSITION_REASON_REQUIRED"


class TrmError(Exception):
    """Base of every error trm-hub raises.

    Args:
        reason: the stable code (see :class:`Reason`).
        detail: what was expected and what arrived, for a human. Never a key,
            never personal data from a payload.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[TrmError], tuple[Reason, str]]:
        # Keeps the two-argument constructor picklable (multiprocessing, Faust).
        return (type(self), (self.reason, self.detail))

    def as_line(self) -> str:
        """The CLI's stderr line for a refused input."""
        return f"rejected: {self.reason}: {self.detail}"


class WireError(TrmError):
    """The bytes are not a well-formed v1 envelope."""


class SignatureError(WireError):
    """A signature does not verify, or the key was not valid for it."""


class DisclosureError(WireError):
    """A disclosure breaks the selective-disclosure rules."""


class SealError(WireError):
    """A sealed (v2) event's parts, keys or ciphertexts are not what was signed."""


class DeliveryError(TrmError):
    """A well-formed event that may not be accepted from where it came."""


class TrustError(TrmError):
    """A trust list is malformed, under-signed or rolled back."""


class PolicyError(TrmError):
    """An agreement is invalid, or the policy forbids a delivery."""


class AuditError(TrmError):
    """The audit log, a proof or a checkpoint does not verify."""


class MatchError(TrmError):
    """A group element, key share or partial evaluation of the threshold OPRF fails its checks."""


class RequestError(TrmError):
    """A request at a door (CLI, gateway, importer) is malformed or not allowed."""


class OperationalError(TrmError):
    """The system cannot do its work: configuration, Kafka, files, tools."""
