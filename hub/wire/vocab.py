"""The words of the wire format: purposes, handling codes, limits.

The event types are registered in ``hub/wire/eventtypes.py``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTESTATION_ALLOWANCE",
    "ATTESTATION_PAYLOAD_TYPE",
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
    "SEAL_PAD",
    "SPEC_VERSION",
    "SPEC_VERSIONS",
    "shown",
]

SPEC_VERSION: Final = 1  # the unsealed protocol (and every attestation statement)
SEALED_VERSION: Final = 2  # sealed disclosures (docs/protocol.md section 2.9)
SPEC_VERSIONS: Final = frozenset({SPEC_VERSION, SEALED_VERSION})

# The payload fields the agreements judge by, and the only ones: in a sealed
# event they alone stay in the clear (where the schema has them), the policy
# engine reads nothing else, and an auditor keeps just these of each original
# event to judge it again (hub.audit.replay).
POLICY_ATTRIBUTES: Final = frozenset(
    {"is_child", "best_interest_assessment", "consent", "receiving_organisation"}
)
SEAL_PAD: Final = 64  # a sealed plaintext is zero-padded to a multiple of this

# DSSE payload types: what the producer's and the hub's signatures are over.
HEADER_PAYLOAD_TYPE: Final = "application/vnd.trm.header.v1+avro"
ATTESTATION_PAYLOAD_TYPE: Final = "application/vnd.trm.attestation.v1+avro"

# Kafka's default message.max.bytes is 1 MiB + a little; an envelope must fit.
DEFAULT_MAX_SIZE: Final = 1_000_000
# A delivered copy is an accepted envelope (at most DEFAULT_MAX_SIZE, less what was
# withheld) plus the hub's attestation: a statement of the recipient, the agreement,
# the disclosed fields' names and the leaf reference, and a signature. Names of a
# registered type's fields are short, so 8 KiB holds it; an inbox reader allows it.
ATTESTATION_ALLOWANCE: Final = 8 * 1024
DELIVERED_MAX_SIZE: Final = DEFAULT_MAX_SIZE + ATTESTATION_ALLOWANCE
MAX_DIGESTS: Final = 256  # disclosure digests in a header, decoys included
MAX_ATTESTATIONS: Final = 16
MAX_RECIPIENTS: Final = 64
SALT_SIZE: Final = 16


PURPOSES: Final = frozenset(
    {
        "victim_identification",
        "victim_protection",
        "repatriation",
        "reintegration",
        "family_tracing",
        "investigation",
        "prosecution",
        "statistics",
    }
)

# After Europol SIENA: H0 use only to fight crime; H1 not as court evidence
# without the sender's permission; H2 no onward sharing without permission;
# H3 other stated restrictions.
HANDLING_CODES: Final = frozenset({"H0", "H1", "H2", "H3"})


def shown(value: object, limit: int = 64) -> str:
    """``repr(value)`` cut to ``limit`` characters: details quote input, boundedly."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
