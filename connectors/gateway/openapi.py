"""The gateway's OpenAPI 3.1 document (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from connectors.sdk import ACK_STATUSES
from hub.wire import EventType

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


_COMMON = {
    "401": _err("UNAUTHENTICATED: no, unknown or expired token"),
    "403": _err("FORBIDDEN: a desk of another country"),
}


def openapi_document(country: str) -> dict[str, Any]:
    """The document for the gateway of ``country``."""
    record = {"$ref": "#/components/schemas/InboxRecord"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"trm-hub gateway of {country}",
            "version": "1",
            "description": "Submit events, read the verified inbox, acknowledge, see "
            "rejections and overdue handover alerts. Every error is JSON "
            '{"error": {"reason": CODE, "detail": text}}.',
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
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
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/login": {
                "post": {
                    "summary": "Log a desk user in; returns a bearer token",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["user", "password"],
                                    "properties": {
                                        "user": {"type": "string"},
                                        "password": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _ok(
                            "a session",
                            {
                                "type": "object",
                                "properties": {
                                    "token": {"type": "string"},
                                    "user": {"type": "string"},
                                    "country": {"type": "string"},
                                    "expires_at_ms": {"type": "integer"},
                                },
                            },
                        ),
                        "400": _err("BAD_REQUEST / BAD_ENCODING"),
                        **_COMMON,
                    },
                }
            },
            "/api/events": {
                "post": {
                    "summary": "Seal, sign and send one event from this country",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Submission"}
                            }
                        },
                    },
                    "responses": {
                        "201": _ok(
                            "sent; the broker has it",
                            {"type": "object", "properties": {"event_id": {"type": "string"}}},
                        ),
                        "400": _err("BAD_REQUEST, BAD_ENCODING, UNKNOWN_FIELD, INVALID_PAYLOAD"),
                        "413": _err("OVERSIZED"),
                        "415": _err("BAD_REQUEST: not application/json"),
                        "503": _err("KAFKA_UNAVAILABLE: nothing was sent"),
                        **_COMMON,
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
                        "200": _ok(
                            "the inbox",
                            {
                                "type": "object",
                                "properties": {"events": {"type": "array", "items": record}},
                            },
                        ),
                        **_COMMON,
                    },
                }
            },
            "/api/inbox/{event_id}": {
                "get": {
                    "summary": "One inbox event, withheld fields listed",
                    "parameters": [
                        {
                            "name": "event_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _ok("the event", record),
                        "404": _err("NOT_FOUND"),
                        **_COMMON,
                    },
                }
            },
            "/api/inbox/{event_id}/ack": {
                "post": {
                    "summary": "Acknowledge an inbox event to its producer",
                    "parameters": [
                        {
                            "name": "event_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "status": {
                                            "type": "string",
                                            "enum": list(ACK_STATUSES),
                                        },
                                        "reason": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _ok(
                            "acknowledgement sent",
                            {"type": "object", "properties": {"ack_event_id": {"type": "string"}}},
                        ),
                        "400": _err("BAD_REQUEST"),
                        "404": _err("NOT_FOUND"),
                        **_COMMON,
                    },
                }
            },
            "/api/sent": {
                "get": {
                    "summary": "Handover notices this country sent, with acknowledgement status",
                    "responses": {"200": _ok("sent notices", {"type": "object"}), **_COMMON},
                }
            },
            "/api/rejections": {
                "get": {
                    "summary": "Refusals of this country's events: the hub's, then its "
                    "recipients' (a REJECTED acknowledgement; source 'recipient ...')",
                    "responses": {"200": _ok("rejections", {"type": "object"}), **_COMMON},
                }
            },
            "/api/alerts": {
                "get": {
                    "summary": "Overdue handover notices (receiving and sending side)",
                    "responses": {"200": _ok("alerts", {"type": "object"}), **_COMMON},
                }
            },
        },
    }
