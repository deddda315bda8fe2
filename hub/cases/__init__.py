"""A victim's case across the border (pure): statuses, their order, timeline, overdue.

docs/protocol.md section 14 specifies the lifecycle events (``case_update``,
``reintegration_report``, ``case_alert``) this package reasons about. Nothing
here reads a clock or a file: the node's case book
(``connectors.sdk.cases``) hands in the events it holds and ``now``.
"""

from .lifecycle import (
    DEFAULT_FOLLOW_UP_MONTHS,
    ORDER,
    CaseStatus,
    Transition,
    TransitionKind,
    TransitionReason,
    add_months,
    check_follow_up_months,
    check_transition,
    follow_up_due_times,
    is_status,
)
from .overdue import (
    DEFAULT_ACK_DEADLINE_MS,
    AlertKind,
    FollowUp,
    OverdueItem,
    acknowledgement_due_at,
    alerts,
    due_at,
    follow_ups,
    open_steps,
    summarise,
)
from .timeline import (
    RECEIVED,
    SENT,
    CaseEvent,
    CaseState,
    CaseSummary,
    TimelineEntry,
    case_state,
    follow_up_done,
    follow_up_of,
    receiving_country,
    timeline,
)

__all__ = [
    "DEFAULT_ACK_DEADLINE_MS",
    "DEFAULT_FOLLOW_UP_MONTHS",
    "ORDER",
    "RECEIVED",
    "SENT",
    "AlertKind",
    "CaseEvent",
    "CaseState",
    "CaseStatus",
    "CaseSummary",
    "FollowUp",
    "OverdueItem",
    "TimelineEntry",
    "Transition",
    "TransitionKind",
    "TransitionReason",
    "acknowledgement_due_at",
    "add_months",
    "alerts",
    "case_state",
    "check_follow_up_months",
    "check_transition",
    "due_at",
    "follow_up_done",
    "follow_up_due_times",
    "follow_up_of",
    "follow_ups",
    "is_status",
    "open_steps",
    "receiving_country",
    "summarise",
    "timeline",
]
