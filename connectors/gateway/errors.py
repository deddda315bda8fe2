"""The gateway's one shape of refusal: ``{"error": {"reason": CODE, "detail": text}}``.

Every error answer, from a handler, from routing or from aiohttp's HTTP layer,
is built here, with the HTTP status of its reason (:data:`STATUS`) and the
security headers every answer carries (:data:`SECURITY_HEADERS`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from aiohttp import web

from hub.errors import OperationalError, Reason, TrmError

__all__ = ["SECURITY_HEADERS", "STATUS", "error_response", "status_of"]

STATUS: Final = MappingProxyType(
    {
        Reason.UNAUTHENTICATED: 401,
        Reason.FORBIDDEN: 403,
        Reason.NOT_FOUND: 404,
        Reason.METHOD_NOT_ALLOWED: 405,
        Reason.OVERSIZED: 413,
        Reason.UNSUPPORTED_MEDIA_TYPE: 415,
        Reason.KAFKA_UNAVAILABLE: 503,
        Reason.TRUST_EXPIRED: 503,
        Reason.INTERNAL_ERROR: 500,
        Reason.CONFIG_INVALID: 500,
    }
)
"""The HTTP status of a refusal's reason; any other reason is the request's fault (400)."""

SECURITY_HEADERS: Final = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
)


def status_of(error: TrmError) -> int:
    """The HTTP status for ``error``: :data:`STATUS`, else 500 for an operational
    failure (the gateway's, not the request's) and 400 for the rest."""
    default = 500 if isinstance(error, OperationalError) else 400
    return STATUS.get(error.reason, default)


def error_response(reason: Reason, detail: str, status: int | None = None) -> web.Response:
    """The JSON refusal, with the security headers."""
    return web.json_response(
        {"error": {"reason": str(reason), "detail": detail}},
        status=status or STATUS.get(reason, 400),
        headers=dict(SECURITY_HEADERS),
    )
