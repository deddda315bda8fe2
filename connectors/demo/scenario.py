"""The demo's story: who sends what to whom, and what must come of it.

Every step names the outcome it expects per recipient (delivered, or refused
with a reason code); the demo exits 0 only if every one is met. Payloads are
the schema examples in ``schemas/examples/``, adjusted to the story.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.demo.setup import REPO
from connectors.sdk import Submission
from hub.wire import EventType, payload_from_json

__all__ = ["Step", "example_payload", "story", "try_it_submission"]


def example_payload(event_type: str, **changes: Any) -> dict[str, Any]:
    """A schema example with some fields changed (JSON values, as a node would send)."""
    path = REPO / "schemas" / "examples" / f"{event_type}.json"
    obj: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    obj.update(changes)
    return dict(payload_from_json(event_type, obj))


# Personal data the demo sends sealed, which must be nowhere but at its
# recipients' nodes (tests/integration/test_hub_demo.py searches for it).
THAI_PASSPORT = "AA7654321"


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a country does, and what must come of it.

    ``expect`` maps each recipient to ``"delivered"`` or the reason code of its
    refusal. ``tamper``: the sealed bytes are altered before sending;
    ``outbox``: written to another country's outbox (a spoofing attempt);
    ``whole``: the reason the whole event must be rejected with.
    """

    key: str
    actor: str
    title: str
    story: str
    submission: Submission
    expect: Mapping[str, str] = field(default_factory=dict)
    tamper: bool = False
    outbox: str | None = None
    whole: str | None = None
    ack_of: str | None = None  # the step whose delivery this acknowledges
    ack_status: str = "RECEIVED"


def try_it_submission(now_ms: int, case_key: str = "case-th-0043") -> dict[str, Any]:
    """A handover notice from Thailand to Cambodia in ``trm node publish``'s file format.

    The demo leaves it in the state directory (``examples/handover-TH-KH.json``)
    for a user to send after the demo; the agreement TH-KH-protection delivers it.
    """
    obj: dict[str, Any] = json.loads(
        (REPO / "schemas" / "examples" / "handover_notice.json").read_text(encoding="utf-8")
    )
    obj["planned_at"] = now_ms + 3 * 86_400_000
    # A child's case goes only to the named protection agency (TH-KH-protection).
    obj["receiving_organisation"] = {"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"}
    return {
        "type": "handover_notice",
        "to": "KH",
        "purpose": "repatriation",
        "handling": "H2",
        "case_key": case_key,
        "payload": obj,
    }


def story(now_ms: int) -> list[Step]:
    """The scenario, in order."""
    day = 86_400_000
    referral = example_payload(
        "referral",
        referred_at=now_ms - day,
        # Consent not yet asked: the agreement sends only its "without consent" fields.
        consent={"status": "NOT_ASKED", "given_by": None, "recorded_at": None, "scope": []},
    )
    handover = example_payload(
        "handover_notice",
        planned_at=now_ms + 3 * day,
        # A child's case goes only to the named protection agency (TH-KH-protection).
        receiving_organisation={"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"},
    )
    alert = example_payload(
        "trafficker_alert",
        valid_from=now_ms - day,
        valid_until=now_ms + 180 * day,
        # The recruiter also travels on a Thai passport.
        documents=[
            {"kind": "PASSPORT", "number": "C1234567", "issuing_country": "VN",
             "expires_on": "2029-03-01"},
            {"kind": "PASSPORT", "number": THAI_PASSPORT, "issuing_country": "TH",
             "expires_on": "2031-01-15"},
        ],
    )  # fmt: skip
    return [
        Step(
            key="referral",
            actor="TH",
            title="Thailand refers a Cambodian child to Cambodia",
            story=(
                "Thailand's social welfare ministry rescued a 16-year-old Cambodian girl from "
                "an online-scam compound and refers her case to Cambodia's MoSVY. Her consent "
                "has not been asked yet, so under TH-KH-protection only the fields allowed "
                "without consent may cross the border."
            ),
            submission=Submission(
                event_type=EventType.REFERRAL,
                recipients=("KH",),
                purpose="repatriation",
                handling="H2",
                case_key="case-th-0042",
                payload=referral,
            ),
            expect={"KH": "delivered"},
        ),
        Step(
            key="handover",
            actor="TH",
            title="Thailand schedules the handover at Aranyaprathet-Poipet",
            story=(
                "The repatriation desk announces the date, the checkpoint, the escort officers "
                "and the girl's needs, so that Cambodian officials can receive her."
            ),
            submission=Submission(
                event_type=EventType.HANDOVER_NOTICE,
                recipients=("KH",),
                purpose="repatriation",
                handling="H2",
                case_key="case-th-0042",
                payload=handover,
            ),
            expect={"KH": "delivered"},
        ),
        Step(
            key="ack",
            actor="KH",
            title="Cambodia acknowledges the handover at the border",
            story="The Poipet transit centre confirms the girl was handed over safely.",
            submission=Submission(
                event_type=EventType.ACKNOWLEDGEMENT,
                recipients=("TH",),
                purpose="repatriation",
                handling="H2",
                case_key="case-th-0042",
                payload={},
            ),
            expect={"TH": "delivered"},
            ack_of="handover",
            ack_status="HANDED_OVER",
        ),
        Step(
            key="alert",
            actor="VN",
            title="Viet Nam alerts four members to a suspected recruiter",
            story=(
                "Viet Nam's criminal police share a trafficker alert under the COMMIT "
                "multilateral baseline: names, aliases, phone numbers and the route used."
            ),
            submission=Submission(
                event_type=EventType.TRAFFICKER_ALERT,
                recipients=("CN", "KH", "LA", "TH"),
                purpose="investigation",
                handling="H1",
                case_key="case-vn-00a1",
                payload=alert,
            ),
            expect=dict.fromkeys(("CN", "KH", "LA", "TH"), "delivered"),
        ),
        Step(
            key="no-agreement",
            actor="TH",
            title="Thailand tries to send the girl's referral to China",
            story=(
                "Thailand and China share only the COMMIT baseline, which covers trafficker "
                "alerts, not victim referrals. The hub refuses, tells Thailand why, and keeps "
                "the original bytes in quarantine for the auditors."
            ),
            submission=Submission(
                event_type=EventType.REFERRAL,
                recipients=("CN",),
                purpose="repatriation",
                handling="H2",
                case_key="case-th-0042",
                payload=referral,
            ),
            expect={"CN": "EVENT_TYPE_NOT_ALLOWED"},
        ),
        Step(
            key="tampered",
            actor="TH",
            title="A referral altered on its way to the hub",
            story=(
                "One byte of a signed referral is changed after signing, as an attacker on "
                "the network might. The signature no longer verifies; nothing is delivered."
            ),
            submission=Submission(
                event_type=EventType.REFERRAL,
                recipients=("KH",),
                purpose="repatriation",
                handling="H2",
                case_key="case-th-0043",
                payload=referral,
            ),
            tamper=True,
            whole="BAD_SIGNATURE",
        ),
        Step(
            key="spoofed",
            actor="TH",
            title="An event signed by Thailand written into Myanmar's outbox",
            story=(
                "Someone with access to Myanmar's outbox replays a Thai event there. The "
                "producer in the signed header is not the outbox's country: refused."
            ),
            submission=Submission(
                event_type=EventType.TRAFFICKER_ALERT,
                recipients=("KH",),
                purpose="investigation",
                handling="H1",
                case_key="case-th-0044",
                payload=alert,
            ),
            outbox="MM",
            whole="PRODUCER_MISMATCH",
        ),
    ]
