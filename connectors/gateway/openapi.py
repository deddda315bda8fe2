"""The gateway's OpenAPI 3.1 document (served at ``/api/openapi.json``).

Every route the gateway serves is here with every status it can answer; each
error is the ``Error`` object. A method a path does not have is answered 405,
listed on each of that path's operations. ``tests/integration/test_gateway_api.py``
walks every route with every method and checks each answer against this.
"""

from __future__ import annotations

from typing import Any

from connectors.sdk import ACK_STATUSES
from connectors.sdk.followup import DECISIONS, IDENTITY_FIELDS
from hub.cases import CaseStatus, TransitionReason
from hub.wire import PURPOSES, EventType

from .i18n import CALENDARS, LANGUAGES
from .server import MAX_LINE

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["reason", "detail"],
            "properties": {
                "reason": {"type": "string", "description": "A hub.errors.Reason code."},
                "detail": {"type": "string"},
            },
        }
    },
}


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*, auth: bool = True, body: bool = False, **more: str) -> dict[str, Any]:
    """The error answers of an operation: those of every request, then its own.

    Args:
        auth: needs a bearer token (401, 403).
        body: reads a JSON body (400, 413, 415).
        more: status (as ``s404``) to description.
    """
    bad = (
        f"BAD_REQUEST: a malformed HTTP request, or a request line or header over {MAX_LINE} bytes"
    )
    out = {
        "400": _err(
            f"{bad}; BAD_REQUEST or BAD_ENCODING: a body that is not one strict UTF-8 JSON "
            "object (a key twice, nesting deeper than 64, an integer over 20 digits, a lone "
            "surrogate), a wrong type or key"
            if body
            else bad
        ),
        "405": _err("METHOD_NOT_ALLOWED: another method on this path (none answers HEAD)"),
        "500": _err("INTERNAL_ERROR (or CONFIG_INVALID): the gateway failed; nothing was sent"),
    }
    if auth:
        out["401"] = _err("UNAUTHENTICATED: no, unknown or expired token (scheme in any case)")
        out["403"] = _err("FORBIDDEN: a desk of another country")
    if body:
        out["413"] = _err("OVERSIZED: a body over the limit")
        out["415"] = _err("UNSUPPORTED_MEDIA_TYPE: not application/json")
    for status, description in more.items():
        out[status.removeprefix("s")] = _err(description)
    return dict(sorted(out.items()))


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_STATUSES = [s.value for s in CaseStatus]

_REFUSAL = {
    "type": "object",
    "required": ["recipient", "reason", "detail"],
    "properties": {
        "recipient": {"type": "string", "description": "empty: the whole event"},
        "reason": {"type": "string", "description": "A hub.errors.Reason code."},
        "detail": {"type": "string"},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _listing(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}},
    }


def _schemas(country: str) -> dict[str, Any]:
    return {
        "Error": _ERROR,
        "Submission": {
            "type": "object",
            "required": ["type", "to", "case_key", "payload"],
            "additionalProperties": False,
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [t.value for t in EventType],  # the registry
                },
                "to": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    ]
                },
                "from": {"type": "string", "description": "If given, must be " + country},
                "purpose": {"type": "string"},
                "handling": {"type": "string", "enum": ["H0", "H1", "H2", "H3"]},
                "case_key": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                "correlation_id": {"type": "string"},
                "payload": {"type": "object"},
            },
        },
        "InboxRecord": {
            "type": "object",
            "required": ["event_id", "type", "from", "fields", "withheld", "status"],
            "properties": {
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "from": {"type": "string"},
                "to": {"type": "array", "items": {"type": "string"}},
                "created_at_ms": {"type": "integer"},
                "case_key": {"type": "string"},
                "purpose": {"type": "string"},
                "handling": {"type": "string"},
                "fields": {"type": "object"},
                "withheld": {"type": "array", "items": {"type": "string"}},
                "agreement": {"type": "string"},
                "status": {"type": "string"},
                "due_at_ms": {"type": ["integer", "null"]},
                "overdue": {"type": "boolean"},
            },
        },
        "SentNotice": {
            "type": "object",
            "description": "A notice this country sent. It is awaited only from the "
            "recipients the hub did not refuse it for; refused for every one, its "
            "status is REFUSED and it is never overdue.",
            "required": ["event_id", "to", "status", "overdue", "awaited_from", "refused"],
            "properties": {
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "to": {"type": "array", "items": {"type": "string"}},
                "case_key": {"type": ["string", "null"]},
                "created_at_ms": {"type": "integer"},
                "status": {
                    "type": "string",
                    "description": "AWAITING_ACK, REFUSED (by the hub, for every "
                    "recipient) or the acknowledgement's status",
                },
                "due_at_ms": {"type": "integer"},
                "overdue": {"type": "boolean"},
                "awaited_from": {"type": "array", "items": {"type": "string"}},
                "refused": {"type": "array", "items": _REFUSAL},
            },
        },
        "Rejection": {
            "type": "object",
            "required": ["event_id", "producer", "recipient", "reason", "detail", "source"],
            "properties": {
                "event_id": {"type": "string"},
                "producer": {"type": "string"},
                "recipient": {"type": "string", "description": "empty: the whole event"},
                "reason": {"type": "string"},
                "detail": {"type": "string"},
                "source": {
                    "type": "string",
                    "description": "where the hub read it (topic/partition/offset), or "
                    "'recipient acknowledgement <id>' for a recipient's refusal",
                },
            },
        },
        "MatchIdentifier": {
            "type": "object",
            "description": "An identifier for hit/no-hit matching (docs/protocol.md 13). "
            "Personal data: never logged, never stored by the gateway, never echoed.",
            "required": ["kind", "value"],
            "additionalProperties": False,
            "properties": {
                "kind": {"type": "string", "enum": ["phone", "document", "name"]},
                "value": {"type": "string"},
                "birth_year": {"type": "integer", "minimum": 1900, "maximum": 2100},
                "issuing_state": {"type": "string"},
                "expires_days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 3650,
                    "description": "registrations only (default 365)",
                },
                "subject": {
                    "type": "string",
                    "enum": ["suspect", "victim"],
                    "description": "registrations only (default suspect; a victim only with "
                    "consent or a rule that allows it)",
                },
                "consent": {
                    "type": "boolean",
                    "description": "registrations only: the victim consented to being findable",
                },
                "case_ref": {"type": "string", "description": "queries only (required)"},
                "purpose": {
                    "type": "string",
                    "enum": sorted(PURPOSES),
                    "description": "queries only (required)",
                },
            },
        },
        "MatchAnswer": {
            "type": "object",
            "required": ["hit", "owner", "reference", "kind", "query_id"],
            "properties": {
                "hit": {"type": "boolean"},
                "owner": {"type": ["string", "null"]},
                "reference": {"type": ["string", "null"]},
                "kind": {"type": ["string", "null"]},
                "query_id": {"type": "string"},
            },
        },
        "FollowupRequest": {
            "type": "object",
            "description": "A follow-up request received: no identity data.",
            "required": [
                "event_id",
                "from",
                "reference",
                "query_id",
                "case_ref",
                "purpose",
                "requested_at_ms",
            ],
            "properties": {
                "event_id": {"type": "string"},
                "from": {"type": "string"},
                "reference": {"type": ["string", "null"]},
                "query_id": {"type": ["string", "null"]},
                "kind": {"type": ["string", "null"]},
                "case_ref": {"type": ["string", "null"]},
                "purpose": {"type": ["string", "null"]},
                "requested_at_ms": {"type": "integer"},
                "agreement": {"type": "string"},
            },
        },
        "FollowupAnswer": {
            "type": "object",
            "description": "An answer received to one of this country's follow-ups. "
            "'requested' false: it answers no request of this country's (flagged; its "
            "identity is empty).",
            "required": ["event_id", "from", "decision", "identity", "withheld", "requested"],
            "properties": {
                "event_id": {"type": "string"},
                "from": {"type": "string"},
                "request_event_id": {"type": ["string", "null"]},
                "reference": {"type": ["string", "null"]},
                "decision": {"type": ["string", "null"], "enum": [*DECISIONS, None]},
                "reason": {"type": ["string", "null"]},
                "decided_at_ms": {"type": ["integer", "null"]},
                "identity": {
                    "type": "object",
                    "propertyNames": {"enum": list(IDENTITY_FIELDS)},
                },
                "withheld": {"type": "array", "items": {"type": "string"}},
                "agreement": {"type": "string"},
                "requested": {"type": "boolean"},
            },
        },
        "Preferences": {
            "type": "object",
            "required": ["locale", "calendar", "time_zone"],
            "properties": {
                "locale": {"type": "string", "enum": list(LANGUAGES)},
                "calendar": {"type": "string", "enum": list(CALENDARS)},
                "time_zone": {
                    "type": ["string", "null"],
                    "description": "an IANA time zone; null: the browser's",
                },
            },
        },
        "Catalogue": {
            "type": "object",
            "description": "One language's messages (gettext, connectors/static/i18n/<lang>.po), "
            "complete: a message missing or broken in a file is given in English.",
            "required": [
                "lang",
                "name",
                "locale",
                "plural_forms",
                "messages",
                "dates",
                "vocabularies",
            ],
            "properties": {
                "lang": {"type": "string", "enum": list(LANGUAGES)},
                "name": {"type": "string"},
                "locale": {"type": "string", "description": "BCP 47, for Intl"},
                "plural_forms": {"type": "string"},
                "messages": {"type": "object", "additionalProperties": {"type": "string"}},
                "dates": {
                    "type": "object",
                    "description": "CLDR's way of writing dates in this language (month "
                    "names, patterns, AM/PM, digits), for a browser whose Intl lacks it",
                },
                "vocabularies": {
                    "type": "object",
                    "description": "Which payload fields hold codes of a vocabulary "
                    "(hub.wire.vocab.FIELD_VOCABULARIES): fields, 'Record.field' -> "
                    "vocabulary names tried in order; prefixes, a vocabulary -> the prefix "
                    "of its messages ('language' and 'date' the page writes itself)",
                    "required": ["fields", "prefixes"],
                    "properties": {
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        },
                        "prefixes": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Acknowledgement": {
            "type": "object",
            "required": ["country", "status", "at_ms"],
            "properties": {
                "country": {"type": "string"},
                "status": {"type": "string", "enum": list(ACK_STATUSES)},
                "at_ms": {"type": ["integer", "null"]},
            },
        },
        "SentReferral": {
            "type": "object",
            "required": ["event_id", "to", "status", "acknowledgements", "refused"],
            "properties": {
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "direction": {"type": "string", "enum": ["sent"]},
                "from": {"type": "string"},
                "to": {"type": "array", "items": {"type": "string"}},
                "case_key": {"type": ["string", "null"]},
                "created_at_ms": {"type": "integer"},
                "status": {
                    "type": "string",
                    "description": "AWAITING_ACK, REFUSED or the last acknowledgement's status",
                },
                "awaited_from": {"type": "array", "items": {"type": "string"}},
                "acknowledgements": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Acknowledgement"},
                },
                "refused": {"type": "array", "items": _REFUSAL},
            },
        },
        "EventDetail": {
            "type": "object",
            "description": "Everything this desk holds of one event it received or sent: the "
            "header as opened, the disclosed fields, what the agreement withheld, the "
            "acknowledgements and refusals, and the payload's Avro schema (to read enums and "
            "dates). A sent event's fields are the plaintext its node kept ('fields_kept').",
            "required": [
                "event_id",
                "type",
                "direction",
                "from",
                "to",
                "fields",
                "withheld",
                "acknowledgements",
                "refused",
                "schema",
            ],
            "properties": {
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "direction": {"type": "string", "enum": ["received", "sent"]},
                "from": {"type": "string"},
                "to": {"type": "array", "items": {"type": "string"}},
                "created_at_ms": {"type": "integer"},
                "case_key": {"type": ["string", "null"]},
                "purpose": {"type": ["string", "null"]},
                "handling": {"type": ["string", "null"]},
                "agreement": {"type": ["string", "null"]},
                "event_digest": {"type": ["string", "null"]},
                "fields": {"type": "object"},
                "withheld": {"type": "array", "items": {"type": "string"}},
                "fields_kept": {"type": "boolean"},
                "status": {
                    "type": "string",
                    "description": "received: NEW, AWAITING_ACK or this desk's acknowledgement; "
                    "sent: AWAITING_ACK, REFUSED, SENT (a type no desk acknowledges) or the "
                    "last acknowledgement's status",
                },
                "due_at_ms": {"type": ["integer", "null"]},
                "overdue": {"type": "boolean"},
                "acknowledgements": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Acknowledgement"},
                },
                "refused": {"type": "array", "items": _REFUSAL},
                "schema": {"type": ["object", "null"], "description": "Avro, JSON form"},
            },
        },
        "CaseSummary": {
            "type": "object",
            "required": ["case_key", "countries", "status", "overdue", "last_event_ms"],
            "properties": {
                "case_key": {"type": "string"},
                "countries": {"type": "array", "items": {"type": "string"}},
                "status": {"type": ["string", "null"], "enum": [*_STATUSES, None]},
                "status_by_country": {"type": "object"},
                "next_due_ms": {"type": ["integer", "null"]},
                "next_step_owner": {"type": ["string", "null"]},
                "overdue": {"type": "boolean"},
                "last_event_ms": {"type": "integer"},
            },
        },
        "TimelineEntry": {
            "type": "object",
            "description": "One event of a case, sent or received: who sent it to whom, "
            "the status it records (with the previous one and the reason of a change "
            "that skipped or went back), what the agreement withheld, the acknowledgements.",
            "required": ["event_id", "event_type", "producer", "recipients", "direction"],
            "properties": {
                "event_id": {"type": "string"},
                "event_type": {"type": "string"},
                "producer": {"type": "string"},
                "recipients": {"type": "array", "items": {"type": "string"}},
                "created_at_ms": {"type": "integer"},
                "direction": {"type": "string", "enum": ["sent", "received"]},
                "status": {"type": ["string", "null"]},
                "previous_status": {"type": ["string", "null"]},
                "transition_reason": {"type": ["string", "null"]},
                "next_due_ms": {"type": ["integer", "null"]},
                "next_step_owner": {"type": ["string", "null"]},
                "withheld": {"type": "array", "items": {"type": "string"}},
                "acknowledgements": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Acknowledgement"},
                },
                "summary": {"type": "object"},
            },
        },
        "OverdueItem": {
            "type": "object",
            "description": "A case's step past its due time (no personal data).",
            "required": ["case_key", "kind", "event_id", "due_at_ms", "owner", "message"],
            "properties": {
                "case_key": {"type": "string"},
                "kind": {"type": "string"},
                "event_id": {"type": "string"},
                "due_at_ms": {"type": "integer"},
                "owner": {"type": "string"},
                "message": {"type": "string"},
                "follow_up_number": {"type": ["integer", "null"]},
            },
        },
        "Alert": {
            "type": "object",
            "required": ["kind", "side", "event_id", "due_at_ms", "message"],
            "properties": {
                "kind": {"type": "string", "enum": ["OVERDUE_ACK"]},
                "side": {"type": "string", "enum": ["receiving", "sending"]},
                "type": {"type": "string", "description": "the overdue event's type"},
                "event_id": {"type": "string"},
                "case_key": {"type": ["string", "null"]},
                "counterpart": {"type": "string"},
                "due_at_ms": {"type": "integer"},
                "message": {"type": "string"},
            },
        },
    }


def openapi_document(country: str) -> dict[str, Any]:
    """The document for the gateway of ``country``."""
    record = {"$ref": "#/components/schemas/InboxRecord"}
    public: list[dict[str, Any]] = []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"trm-hub gateway of {country}",
            "version": "1",
            "description": "Submit events, read the verified inbox, acknowledge, see "
            "rejections and overdue handover alerts; register and query identifiers for "
            "hit/no-hit matching, ask for, approve and decline follow-ups. Every error is JSON "
            '{"error": {"reason": CODE, "detail": text}} with the security headers, '
            "and none quotes a credential.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(country),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/": {
                "get": {
                    "summary": "The desk web page",
                    "security": public,
                    "responses": {
                        "200": {
                            "description": "the page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        **_errors(auth=False),
                    },
                }
            },
            "/static/{name}": {
                "get": {
                    "summary": "A file of the desk web page (desk.js, desk.css, index.html)",
                    "security": public,
                    "parameters": [_path_param("name")],
                    "responses": {
                        "200": {
                            "description": "the file",
                            "content": {
                                kind: {"schema": {"type": "string"}}
                                for kind in ("text/javascript", "text/css", "text/html")
                            },
                        },
                        **_errors(auth=False, s404="NOT_FOUND: no such file of the page"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": public,
                    "responses": {
                        "200": _ok("the OpenAPI document", {"type": "object"}),
                        **_errors(auth=False),
                    },
                }
            },
            "/api/login": {
                "post": {
                    "summary": "Log a desk user in; returns a bearer token",
                    "description": "The body is at most 16 KiB. After five failed logins "
                    "for one user name within 15 minutes, the next are refused for a while.",
                    "security": public,
                    "requestBody": _json_body(
                        {
                            "type": "object",
                            "required": ["user", "password"],
                            "properties": {
                                "user": {"type": "string"},
                                "password": {"type": "string"},
                            },
                        }
                    ),
                    "responses": {
                        "200": _ok(
                            "a session",
                            {
                                "type": "object",
                                "required": ["token", "user", "country", "expires_at_ms"],
                                "properties": {
                                    "token": {"type": "string"},
                                    "user": {"type": "string"},
                                    "country": {"type": "string"},
                                    "expires_at_ms": {"type": "integer"},
                                },
                            },
                        ),
                        **_errors(
                            auth=False,
                            body=True,
                            s401="UNAUTHENTICATED: unknown user or wrong password (one "
                            "answer for both), or too many failed logins",
                            s403="FORBIDDEN: a desk user of another country",
                        ),
                    },
                }
            },
            "/api/logout": {
                "post": {
                    "summary": "End the session of the bearer token given, if any",
                    "security": [{}, {"bearer": []}],
                    "responses": {
                        "200": _ok(
                            "logged out (also when the token was unknown)",
                            {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                        ),
                        **_errors(auth=False),
                    },
                }
            },
            "/api/events": {
                "post": {
                    "summary": "Seal, sign and send one event from this country",
                    "description": "The body is at most the hub's limit for an envelope; "
                    "an event whose sealed envelope would still be over that limit is "
                    "refused OVERSIZED before anything is sent.",
                    "requestBody": _json_body({"$ref": "#/components/schemas/Submission"}),
                    "responses": {
                        "201": _ok(
                            "sent; the broker has it",
                            {
                                "type": "object",
                                "required": ["event_id"],
                                "properties": {"event_id": {"type": "string"}},
                            },
                        ),
                        **_errors(
                            body=True,
                            s400="BAD_REQUEST, BAD_ENCODING, UNKNOWN_FIELD, INVALID_PAYLOAD, "
                            "INVALID_HEADER, UNKNOWN_COUNTRY, SEAL_KEY_MISSING; or a malformed "
                            f"HTTP request, a request line or header over {MAX_LINE} bytes",
                            s403="FORBIDDEN: a desk of another country, or a body claiming "
                            "another producer",
                            s413="OVERSIZED: a body over the limit, or an envelope over the "
                            "hub's limit; nothing was sent",
                            s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED: the gateway's trust "
                            "list is past its expiry): nothing was sent",
                        ),
                    },
                }
            },
            "/api/inbox": {
                "get": {
                    "summary": "Verified events delivered to this country, newest first",
                    "parameters": [
                        {
                            "name": "type",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _ok("the inbox", _listing("events", "InboxRecord")),
                        **_errors(),
                    },
                }
            },
            "/api/inbox/{event_id}": {
                "get": {
                    "summary": "One inbox event, withheld fields listed",
                    "parameters": [_path_param("event_id")],
                    "responses": {
                        "200": _ok("the event", record),
                        **_errors(s404="NOT_FOUND: no such event in this inbox"),
                    },
                }
            },
            "/api/inbox/{event_id}/ack": {
                "post": {
                    "summary": "Acknowledge an inbox event to its producer",
                    "parameters": [_path_param("event_id")],
                    "requestBody": _json_body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "status": {"type": "string", "enum": list(ACK_STATUSES)},
                                "reason": {"type": "string"},
                            },
                        }
                    ),
                    "responses": {
                        "201": _ok(
                            "acknowledgement sent",
                            {
                                "type": "object",
                                "required": ["ack_event_id"],
                                "properties": {"ack_event_id": {"type": "string"}},
                            },
                        ),
                        **_errors(
                            body=True,
                            s404="NOT_FOUND: no such event in this inbox",
                            s413="OVERSIZED: a body over the limit, or an acknowledgement "
                            "over the hub's limit; nothing was sent",
                            s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED): nothing was sent",
                        ),
                    },
                }
            },
            "/api/sent": {
                "get": {
                    "summary": "Handover notices this country sent: acknowledged, awaited "
                    "or refused by the hub (with the reason)",
                    "responses": {
                        "200": _ok("sent notices", _listing("sent", "SentNotice")),
                        **_errors(),
                    },
                }
            },
            "/api/rejections": {
                "get": {
                    "summary": "Refusals of this country's events: the hub's, then its "
                    "recipients' (a REJECTED acknowledgement; source 'recipient ...')",
                    "responses": {
                        "200": _ok("rejections", _listing("rejections", "Rejection")),
                        **_errors(),
                    },
                }
            },
            "/api/alerts": {
                "get": {
                    "summary": "Overdue handover notices (receiving and sending side)",
                    "responses": {
                        "200": _ok("alerts", _listing("alerts", "Alert")),
                        **_errors(),
                    },
                }
            },
            **_desk_paths(),
            **_match_paths(),
        },
    }


_MATCH_ERRORS = (
    "BAD_REQUEST (a key missing, unknown or of the wrong type), or the matching "
    "service's refusal of the identifier or the query (MATCH_* codes: a value that "
    "cannot be normalised, a query without a case reference or purpose, a budget "
    "used up, too few evaluators answering); the detail never quotes the identifier"
)


def _answer_sent(what: str) -> dict[str, Any]:
    return _ok(
        what,
        {
            "type": "object",
            "required": ["answer_event_id"],
            "properties": {"answer_event_id": {"type": "string"}},
        },
    )


def _decision(summary: str, *, reason_required: bool) -> dict[str, Any]:
    reason: dict[str, Any] = {"type": "string", "maxLength": 500}
    return {
        "post": {
            "summary": summary,
            "parameters": [_path_param("event_id")],
            "requestBody": _json_body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["reason"] if reason_required else [],
                    "properties": {"reason": reason},
                }
            ),
            "responses": {
                "201": _answer_sent("the signed answer is sent to the requester"),
                **_errors(
                    body=True,
                    s400="BAD_REQUEST: "
                    + ("no reason, " if reason_required else "")
                    + "a reason over 500 characters, a request answered already; "
                    "or a malformed body",
                    s404="NOT_FOUND: no such follow-up request received"
                    + (
                        ""
                        if reason_required
                        else ", or no registration kept under its "
                        "reference (expired or erased): decline it"
                    ),
                    s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED): nothing was sent",
                ),
            },
        }
    }


def _match_paths() -> dict[str, Any]:
    """Hit/no-hit matching and the follow-up of a hit (docs/protocol.md 13)."""
    identifier = {"$ref": "#/components/schemas/MatchIdentifier"}
    return {
        "/api/match/registrations": {
            "post": {
                "summary": "Register one of this country's identifiers for matching",
                "description": "Its match keys go to the hub's index with a fresh opaque "
                "reference; the identifier itself stays in this node's vault, for an "
                "approved follow-up.",
                "requestBody": _json_body(identifier),
                "responses": {
                    "201": _ok(
                        "registered",
                        {
                            "type": "object",
                            "required": ["reference", "kind", "expires_at_ms"],
                            "properties": {
                                "reference": {"type": "string"},
                                "kind": {"type": "string"},
                                "expires_at_ms": {"type": "integer"},
                            },
                        },
                    ),
                    **_errors(
                        body=True,
                        s400=_MATCH_ERRORS,
                        s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED): nothing was registered",
                    ),
                },
            }
        },
        "/api/match/queries": {
            "post": {
                "summary": "Does another country know this identifier? Hit or no hit",
                "description": "Names a case reference and a purpose (refused without). A "
                "hit names the owner country, an opaque reference and the kind, nothing else.",
                "requestBody": _json_body(identifier),
                "responses": {
                    "200": _ok("the answer", {"$ref": "#/components/schemas/MatchAnswer"}),
                    **_errors(
                        body=True,
                        s400=_MATCH_ERRORS,
                        s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED)",
                    ),
                },
            }
        },
        "/api/match/followups": {
            "post": {
                "summary": "Ask a hit's owner for the record behind it (a signed follow-up "
                "request; the hub refuses it without an agreement flow)",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["owner", "reference", "query_id", "case_ref", "purpose"],
                        "properties": {
                            "owner": {"type": "string"},
                            "reference": {"type": "string"},
                            "query_id": {"type": "string"},
                            "case_ref": {"type": "string"},
                            "purpose": {"type": "string", "enum": sorted(PURPOSES)},
                            "kind": {"type": "string"},
                        },
                    }
                ),
                "responses": {
                    "201": _ok(
                        "sent; the broker has it",
                        {
                            "type": "object",
                            "required": ["event_id"],
                            "properties": {"event_id": {"type": "string"}},
                        },
                    ),
                    **_errors(
                        body=True,
                        s400="BAD_REQUEST, UNKNOWN_COUNTRY, SEAL_KEY_MISSING; or a malformed body",
                        s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED): nothing was sent",
                    ),
                },
            }
        },
        "/api/match/followups/pending": {
            "get": {
                "summary": "Follow-up requests received and not yet answered (no identity data)",
                "responses": {
                    "200": _ok("pending requests", _listing("pending", "FollowupRequest")),
                    **_errors(),
                },
            }
        },
        "/api/match/followups/answers": {
            "get": {
                "summary": "Answers received to this country's follow-up requests",
                "responses": {
                    "200": _ok("answers", _listing("answers", "FollowupAnswer")),
                    **_errors(),
                },
            }
        },
        "/api/match/followups/{event_id}/approve": _decision(
            "Approve a follow-up request: send the registration behind its reference, "
            "as the agreement in force allows",
            reason_required=False,
        ),
        "/api/match/followups/{event_id}/decline": _decision(
            "Decline a follow-up request with a reason (a signed answer)", reason_required=True
        ),
    }


def _case_paths() -> dict[str, Any]:
    """The case book of this node (docs/protocol.md 14)."""
    case_key = _path_param("case_key")
    return {
        "/api/cases": {
            "get": {
                "summary": "Every case this node holds events of, newest activity first; "
                "and the statuses, reasons and countries a status change may name",
                "responses": {
                    "200": _ok(
                        "the cases",
                        {
                            "type": "object",
                            "required": ["cases", "statuses", "transition_reasons"],
                            "properties": {
                                "cases": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/CaseSummary"},
                                },
                                "statuses": {"type": "array", "items": {"enum": _STATUSES}},
                                "transition_reasons": {
                                    "type": "array",
                                    "items": {"enum": [r.value for r in TransitionReason]},
                                },
                                "countries": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    **_errors(),
                },
            }
        },
        "/api/cases/overdue": {
            "get": {
                "summary": "The overdue next steps of every case (a handover not "
                "acknowledged in time, a follow-up not reported), soonest due first",
                "responses": {
                    "200": _ok("overdue steps", _listing("overdue", "OverdueItem")),
                    **_errors(),
                },
            }
        },
        "/api/cases/{case_key}": {
            "get": {
                "summary": "One case: its timeline across both countries and its awaited steps",
                "parameters": [case_key],
                "responses": {
                    "200": _ok(
                        "the case",
                        {
                            "type": "object",
                            "required": ["case_key", "countries", "summary", "timeline"],
                            "properties": {
                                "case_key": {"type": "string"},
                                "countries": {"type": "array", "items": {"type": "string"}},
                                "summary": {"$ref": "#/components/schemas/CaseSummary"},
                                "timeline": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/TimelineEntry"},
                                },
                                "pending": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/OverdueItem"},
                                },
                            },
                        },
                    ),
                    **_errors(s404="NOT_FOUND: this node holds no event of that case"),
                },
            }
        },
        "/api/cases/{case_key}/status": {
            "post": {
                "summary": "Record a status change of a case and send it as a case_update",
                "description": "Checked against this country's previous status of the "
                "case: a change that skips a step or goes back needs a transition_reason "
                "(refused TRANSITION_REASON_REQUIRED otherwise, nothing sent); the "
                "recipients see the previous status, the new one and the reason.",
                "parameters": [case_key],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["status", "to"],
                        "properties": {
                            "status": {"type": "string", "enum": _STATUSES},
                            "to": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            "transition_reason": {
                                "type": ["string", "null"],
                                "enum": [*(r.value for r in TransitionReason), None],
                            },
                            "next_due_ms": {"type": ["integer", "null"]},
                            "next_step_owner": {"type": ["string", "null"]},
                            "follow_up_number": {"type": ["integer", "null"]},
                        },
                    }
                ),
                "responses": {
                    "201": _ok(
                        "sent; the broker has it",
                        {
                            "type": "object",
                            "required": ["event_id"],
                            "properties": {"event_id": {"type": "string"}},
                        },
                    ),
                    **_errors(
                        body=True,
                        s400="TRANSITION_REASON_REQUIRED: a skip or a step back without a "
                        "reason; BAD_REQUEST: a status, reason, number or country that is not "
                        "one; UNKNOWN_COUNTRY, SEAL_KEY_MISSING, INVALID_PAYLOAD; or a "
                        "malformed body. Nothing was sent.",
                        s413="OVERSIZED: nothing was sent",
                        s503="KAFKA_UNAVAILABLE (or TRUST_EXPIRED): nothing was sent",
                    ),
                },
            }
        },
    }


def _desk_paths() -> dict[str, Any]:
    """Referrals, the detail of one event, the user's preferences, the page's languages."""
    prefs = {"$ref": "#/components/schemas/Preferences"}
    public: list[dict[str, Any]] = []
    return {
        **_case_paths(),
        "/api/referrals": {
            "get": {
                "summary": "Referrals received (with this desk's acknowledgement) and sent "
                "(with each recipient's acknowledgement or refusal), newest first",
                "responses": {
                    "200": _ok(
                        "referrals",
                        {
                            "type": "object",
                            "required": ["received", "sent"],
                            "properties": {
                                "received": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/InboxRecord"},
                                },
                                "sent": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/SentReferral"},
                                },
                            },
                        },
                    ),
                    **_errors(),
                },
            }
        },
        "/api/events/{event_id}": {
            "get": {
                "summary": "One event this desk received or sent, in full",
                "parameters": [_path_param("event_id")],
                "responses": {
                    "200": _ok("the event", {"$ref": "#/components/schemas/EventDetail"}),
                    **_errors(s404="NOT_FOUND: no such event at this desk"),
                },
            }
        },
        "/api/me": {
            "get": {
                "summary": "The logged-in user and their preferences",
                "responses": {
                    "200": _ok(
                        "the user",
                        {
                            "type": "object",
                            "required": ["user", "country", "preferences"],
                            "properties": {
                                "user": {"type": "string"},
                                "country": {"type": "string"},
                                "expires_at_ms": {"type": "integer"},
                                "preferences": prefs,
                            },
                        },
                    ),
                    **_errors(),
                },
            }
        },
        "/api/me/preferences": {
            "put": {
                "summary": "Change the user's language, calendar or time zone (kept in the "
                "users file: they follow the user across logins)",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "locale": {"type": "string", "enum": list(LANGUAGES)},
                            "calendar": {"type": "string", "enum": list(CALENDARS)},
                            "time_zone": {"type": ["string", "null"]},
                        },
                    }
                ),
                "responses": {
                    "200": _ok(
                        "the preferences now",
                        {
                            "type": "object",
                            "required": ["preferences"],
                            "properties": {"preferences": prefs},
                        },
                    ),
                    **_errors(
                        body=True,
                        s400="BAD_REQUEST: an unknown key, a language, calendar or time zone "
                        "the desk does not know; or a malformed body",
                        s404="NOT_FOUND: the user was removed from the users file",
                    ),
                },
            }
        },
        "/api/i18n": {
            "get": {
                "summary": "The languages and calendars the desk offers",
                "security": public,
                "responses": {
                    "200": _ok(
                        "languages",
                        {
                            "type": "object",
                            "required": ["languages", "calendars"],
                            "properties": {
                                "languages": {"type": "array", "items": {"type": "object"}},
                                "calendars": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    **_errors(auth=False),
                },
            }
        },
        "/api/i18n/{lang}": {
            "get": {
                "summary": "One language's messages for the desk page (public: the login "
                "form needs them); an ETag to revalidate",
                "security": public,
                "parameters": [_path_param("lang")],
                "responses": {
                    "200": _ok("the catalogue", {"$ref": "#/components/schemas/Catalogue"}),
                    "304": {"description": "not modified (If-None-Match matched the ETag)"},
                    **_errors(auth=False, s404="NOT_FOUND: a language the desk does not speak"),
                },
            }
        },
    }
