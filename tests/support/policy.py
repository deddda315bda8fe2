"""Real, signed agreements for tests that are about delivery, not about agreements.

``agreement_from_table({"TH>KH:referral": [fields...]}, root_keys)`` returns a
registry entry (``id@version``, signed YAML bytes) of one agreement whose
flows allow every purpose and handling code and exactly the listed fields,
signed by every party's root key. The hub runs its real policy engine on it:
there is no switch that turns the policy off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.policy import dump_agreement_yaml, load_agreement, resign_agreement
from hub.wire import HANDLING_CODES, PURPOSES

__all__ = ["DELIVERY_KEEP", "DELIVERY_POLICY", "agreement_from_table"]

# The table the hub-worker tests deliver under: a referral TH->KH keeps these fields.
DELIVERY_KEEP = ["case_number", "needs", "languages", "is_child", "receiving_organisation"]
DELIVERY_POLICY = {
    "TH>KH:referral": DELIVERY_KEEP,
    "KH>TH:acknowledgement": ["status", "acknowledged_event_id"],
}


def agreement_from_table(
    table: Mapping[str, Iterable[str]],
    root_keys: Mapping[str, Ed25519PrivateKey],
    *,
    agreement_id: str = "TEST-delivery",
    effective_from: str = "2020-01-01T00:00:00Z",
) -> tuple[str, bytes]:
    """One signed agreement from ``{"SENDER>RECIPIENT:event_type": fields}``."""
    flows: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for key, fields in table.items():
        pair, _, event_type = key.partition(":")
        sender, _, recipient = pair.partition(">")
        flows[(sender, recipient)][event_type] = {
            "purposes": sorted(PURPOSES),
            "handling": sorted(HANDLING_CODES),
            "fields": sorted(set(fields)),
            "retention_days": 30,
        }
    parties = sorted({c for pair in flows for c in pair})
    body = {
        "_type": "trm.agreement/v1",
        "id": agreement_id,
        "version": 1,
        "title": "TEST agreement: every purpose and handling code, listed fields only",
        "example": True,
        "parties": parties,
        "effective_from": effective_from,
        "effective_until": None,
        "flows": [
            {"from": s, "to": r, "event_types": terms} for (s, r), terms in sorted(flows.items())
        ],
    }
    unsigned = load_agreement({"signed": body, "signatures": []}, where=agreement_id)
    signed = resign_agreement(unsigned, [root_keys[p] for p in parties])
    return signed.agreement.ref, dump_agreement_yaml(signed.document).encode()
