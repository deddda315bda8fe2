"""The words of the wire format: purposes, handling codes, coded values, limits.

The event types are registered in ``hub/wire/eventtypes.py``. Some payload
fields are strings whose values come from a vocabulary (an organisation's kind,
a country code, a purpose) rather than Avro enums, so that a value added later
stays readable by an older reader; :data:`FIELD_VOCABULARIES` says which field
takes which, once, for every reader that shows or checks them (the desk page
gets it with its catalogue: ``connectors/gateway/i18n.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ATTESTATION_ALLOWANCE",
    "ATTESTATION_PAYLOAD_TYPE",
    "CONSENT_GIVERS",
    "COUNTRY_CODE",
    "DEFAULT_MAX_SIZE",
    "DELIVERED_MAX_SIZE",
    "FIELD_VOCABULARIES",
    "HANDLING_CODES",
    "HEADER_PAYLOAD_TYPE",
    "KEY_ID_HEX",
    "MAX_ATTESTATIONS",
    "MAX_DIGESTS",
    "MAX_RECIPIENTS",
    "ORGANISATION_KINDS",
    "POLICY_ATTRIBUTES",
    "PURPOSES",
    "SALT_SIZE",
    "SEALED_VERSION",
    "SEAL_PAD",
    "SPEC_VERSION",
    "SPEC_VERSIONS",
    "shown",
]

COUNTRY_CODE: Final = re.compile(r"^[A-Z]{2}\Z")  # a member, producer or recipient
KEY_ID_HEX: Final = re.compile(r"^[0-9a-f]{64}\Z")  # a key id: SHA-256, lowercase hex
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

#: What an organisation is (``Organisation.kind``, a string in the schemas).
ORGANISATION_KINDS: Final = frozenset(
    {"government", "police", "shelter", "ngo", "embassy", "international", "other"}
)

#: Who gave a consent (``Consent.given_by``): the person or a guardian; any other
#: value is a role in the producer's words, shown as sent.
CONSENT_GIVERS: Final = frozenset({"self", "guardian"})

FIELD_VOCABULARIES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # ISO 3166-1 alpha-2 country codes (hub.topics.COUNTRY_NAMES names COMMIT's).
        "BorderCheckpoint.from_country": ("country",),
        "BorderCheckpoint.to_country": ("country",),
        "CaseAlert.step_owner": ("country",),
        "CaseUpdate.next_step_owner": ("country",),
        "DetentionNotice.citizenship": ("country",),
        "IdentityDocument.issuing_country": ("country",),
        "Place.country": ("country",),
        "Referral.citizenship": ("country",),
        "RegisteredDocument.issuing_state": ("country",),
        "Route.from_country": ("country",),
        "Route.to_country": ("country",),
        "Route.via": ("country",),
        "StatisticsReport.reporting_country": ("country",),
        "TraffickerAlert.nationalities": ("country",),
        # The words of this module and of the registries.
        "CaseAlert.about_event_type": ("event_type",),
        "Consent.given_by": ("consent_giver",),
        "Consent.scope": ("purpose", "country"),
        "MatchFollowup.match_kind": ("match_kind",),
        "MatchFollowup.purpose": ("purpose",),
        "Organisation.kind": ("organisation_kind",),
        # BCP 47 language tags.
        "DetentionNotice.languages": ("language",),
        "HandoverNotice.languages": ("language",),
        "LocalizedText.lang": ("language",),
        "PersonName.lang": ("language",),
        "Referral.languages": ("language",),
        # ISO 8601 calendar dates, possibly partial (YYYY, YYYY-MM, YYYY-MM-DD).
        "DetentionNotice.date_of_birth": ("date",),
        "HandoverNotice.date_of_birth": ("date",),
        "IdentityDocument.expires_on": ("date",),
        "Period.end": ("date",),
        "Period.start": ("date",),
        "Referral.date_of_birth": ("date",),
        "Referral.recruitment_date": ("date",),
        "TraffickerAlert.date_of_birth": ("date",),
    }
)
"""The string payload fields whose values are codes, by ``Record.field`` (the Avro
record's name without namespace, then the field's), each with the vocabularies
its values come from, tried in order (``Consent.scope`` holds purposes or country
codes): ``country`` (ISO 3166-1 alpha-2), ``purpose`` (:data:`PURPOSES`),
``organisation_kind`` (:data:`ORGANISATION_KINDS`), ``consent_giver``
(:data:`CONSENT_GIVERS`), ``match_kind`` (``hub.matching.MatchKind``),
``event_type`` (``hub.wire.EventType``), ``language`` (a BCP 47 tag) and ``date``
(an ISO 8601 calendar date, possibly partial). A value in none of its field's
vocabularies is shown as sent: the vocabularies are open to values added later,
and ``Consent.given_by`` to a role in the producer's words.
"""


def shown(value: object, limit: int = 64) -> str:
    """``repr(value)`` cut to ``limit`` characters: details quote input, boundedly."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
