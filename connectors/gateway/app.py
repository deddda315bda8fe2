"""The HTTP gateway of one country (aiohttp): the door for desks without Kafka.

It runs with that country's key (through a :class:`CountryNode`: every event
it sends is sealed to its recipients, and what it reads is opened with the
country's epoch keys), follows the country's inbox and rejections into memory
(a recipient's REJECTED acknowledgement is listed with the rejections, as a
refusal by that recipient; a notice the hub refused shows as refused on the
sending desk), publishes the country's signed seal-key set at start (so that
other countries can seal to it), and serves the JSON API described by
``/api/openapi.json`` and the desk web page (``/``, and the files of
``connectors/static`` under ``/static/``; no external resource: the
Content-Security-Policy says ``default-src 'self'``).

Every refusal is ``{"error": {"reason": CODE, "detail": text}}`` with an HTTP
status from :data:`STATUS` and the security headers (``errors.py``); no answer
quotes a credential. A request body must be ``application/json`` in UTF-8, one
JSON object read strictly (:func:`hub.textdoc.parse_json`: no key twice,
bounded depth and integers, no lone surrogates) of at most :data:`MAX_BODY`
bytes, the hub's limit for an envelope (:data:`LOGIN_MAX_BODY` for a login);
a submission is validated in full before anything is sent, so a refused
request sends nothing. While the broker is unreachable the desk serves what
it has read and says so once in the log, and once when it is back.

The page's own text comes from the gettext catalogues of ``i18n.py``, read
once at start and served by ``GET /api/i18n/{lang}`` (public: the login form
needs it); each user's language, calendar and time zone are kept in the users
file and changed with ``PUT /api/me/preferences``.

The case view reads the node's case book (:class:`connectors.sdk.CaseBook`,
built from its store at each request: what it sent and what it opened) and
records a status change with :func:`connectors.sdk.record_status`, which
refuses a skip or a step back without a reason (TRANSITION_REASON_REQUIRED)
before anything is sent. With ``alert_every_s``, the gateway also sends the
case book's alerts itself (:func:`connectors.sdk.send_alerts`: a late step to
the country that owns it, suspected re-trafficking to the other side; each
once): first one interval after start, so that the inbox follower has read
what arrived while the gateway was down (an acknowledgement read late must
not raise a false alert), then every interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from aiokafka.errors import KafkaError

from connectors.sdk import CaseBook, CountryNode, Submission, record_status, send_alerts
from connectors.sdk.followup import (
    answers_in,
    approve,
    decline,
    pending_in,
    request_followup,
)
from hub.cases import CaseStatus, TransitionReason
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.textdoc import parse_json
from hub.topics import COMMIT_COUNTRIES
from hub.wire import DEFAULT_MAX_SIZE

from .auth import DeskUsers, Preferences, Session
from .desk import ACK_STATUSES, DeskView
from .errors import SECURITY_HEADERS, STATUS, error_response, status_of
from .i18n import CALENDARS, Catalogues, load_catalogues
from .openapi import openapi_document
from .server import MAX_LINE, OncePer

__all__ = ["LOGIN_MAX_BODY", "MAX_BODY", "STATUS", "make_app"]

log = logging.getLogger("trm.gateway")

STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "static"
#: A request body's limit: the hub's limit for an envelope. A body this large
#: cannot become an envelope the hub accepts (sealing and signing add bytes);
#: one within it that still would not is refused OVERSIZED by the node.
MAX_BODY: Final = DEFAULT_MAX_SIZE
#: A login's body (a user name and a password), read before anyone is known.
LOGIN_MAX_BODY: Final = 16 * 1024
#: Seconds between tries while the broker is unreachable.
RETRY_S: Final = 2.0
#: A log line about the broker at most this often (seconds), however it flaps.
QUIET_S: Final = 60.0

VIEW: Final = web.AppKey("view", DeskView)
NODE: Final = web.AppKey("node", CountryNode)
USERS: Final = web.AppKey("users", DeskUsers)
CLOCK: Final[web.AppKey[Callable[[], int]]] = web.AppKey("clock")
TASKS: Final = web.AppKey("tasks", list[asyncio.Task[None]])
ALERT_EVERY_S: Final = web.AppKey("alert_every_s", float)
STATIC: Final = web.AppKey("static", dict[str, tuple[bytes, str]])
CATALOGUES: Final = web.AppKey("catalogues", Catalogues)


@dataclass
class BrokerLink:
    """Whether the gateway reaches its broker, said in the log once per change.

    Reading, announcing and sending retry while the broker is away: each of
    their failures is expected then, not an error with a traceback. The first
    one logs a warning; a round trip that succeeds again logs that it is back.
    Lines are at most one per :data:`QUIET_S` seconds, however often it flaps.
    """

    bootstrap: str
    clock: Callable[[], float] = time.monotonic
    down_since: float | None = None
    said_down: bool = False
    down: asyncio.Event = field(default_factory=asyncio.Event)
    _once: OncePer = field(init=False)

    def __post_init__(self) -> None:
        self._once = OncePer(QUIET_S, self.clock)

    def lost(self, why: str) -> None:
        if self.down_since is not None:
            return
        self.down_since = self.clock()
        self.down.set()
        self.said_down = self._once.allows("down")  # its return is said only if this was
        if self.said_down:
            log.warning(
                "Kafka at %s is unreachable (%s); the desk shows what it has read, "
                "submissions get 503 KAFKA_UNAVAILABLE; retrying every %.0f s",
                self.bootstrap,
                why,
                RETRY_S,
            )

    def back(self) -> None:
        if self.down_since is None:
            return
        if self.said_down:
            log.info(
                "Kafka at %s is reachable again (after %.0f s)",
                self.bootstrap,
                self.clock() - self.down_since,
            )
        self.down_since = None
        self.down.clear()


LINK: Final = web.AppKey("link", BrokerLink)
QUIET: Final = web.AppKey("quiet", OncePer)  # other retried failures: a line a minute


def _is_broker_failure(exc: BaseException) -> bool:
    return isinstance(exc, KafkaError) or (
        isinstance(exc, OperationalError) and exc.reason is Reason.KAFKA_UNAVAILABLE
    )


def _why(exc: BaseException) -> str:
    return str(exc.reason) if isinstance(exc, TrmError) else type(exc).__name__


def _reason_of_status(status: int) -> Reason:
    return {
        404: Reason.NOT_FOUND,
        405: Reason.METHOD_NOT_ALLOWED,
        413: Reason.OVERSIZED,
        415: Reason.UNSUPPORTED_MEDIA_TYPE,
    }.get(status, Reason.INTERNAL_ERROR if status >= 500 else Reason.BAD_REQUEST)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except TrmError as exc:
        if exc.reason in (Reason.UNAUTHENTICATED, Reason.FORBIDDEN):
            log.info("refused %s %s: %s", request.method, request.path[:80], exc.reason)
        elif _is_broker_failure(exc):
            request.app[LINK].lost(str(exc.reason))
        return error_response(exc.reason, exc.detail, status_of(exc))
    except web.HTTPRequestEntityTooLarge:
        return error_response(Reason.OVERSIZED, f"expected a body of at most {MAX_BODY} bytes")
    except web.HTTPNotFound:
        return error_response(Reason.NOT_FOUND, f"no such resource: {request.path[:80]!r}")
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            Reason.METHOD_NOT_ALLOWED,
            f"expected one of {sorted(exc.allowed_methods)} on {request.path[:80]!r}",
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(
            _reason_of_status(exc.status), f"HTTP {exc.status}: {exc.reason}", exc.status
        )
    except Exception:
        log.exception("gateway error on %s %s", request.method, request.path[:80])
        return error_response(Reason.INTERNAL_ERROR, "the gateway failed; nothing was sent")
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    return response


async def read_json(request: web.Request, *, max_bytes: int = MAX_BODY) -> dict[str, Any]:
    """The request body as one JSON object (see the module docstring).

    Raises:
        RequestError: UNSUPPORTED_MEDIA_TYPE, OVERSIZED, BAD_ENCODING, BAD_REQUEST.
    """
    if request.content_type != "application/json":
        raise RequestError(
            Reason.UNSUPPORTED_MEDIA_TYPE,
            f"expected Content-Type application/json, got {request.content_type[:60]!r}",
        )
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError(Reason.BAD_ENCODING, f"expected UTF-8, got charset {charset[:30]!r}")
    length = request.content_length
    if length is not None and length > max_bytes:  # refused before reading it
        raise RequestError(
            Reason.OVERSIZED, f"request body: expected at most {max_bytes} bytes, got {length}"
        )
    obj = parse_json(await request.read(), what="request body", max_bytes=max_bytes)
    if not isinstance(obj, dict):
        raise RequestError(
            Reason.BAD_REQUEST, f"request body: expected a JSON object, got {type(obj).__name__}"
        )
    return obj


def _session(request: web.Request) -> Session:
    app = request.app
    session = app[USERS].session(request.headers.get("Authorization"), now_ms=app[CLOCK]())
    if session.country != app[NODE].country:  # defence in depth: login already checks
        raise RequestError(Reason.FORBIDDEN, f"a desk of {session.country} on this gateway")
    return session


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, max_bytes=LOGIN_MAX_BODY)
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise RequestError(Reason.BAD_REQUEST, "expected string keys 'user' and 'password'")
    app = request.app
    token, session = app[USERS].login(
        user, password, country=app[NODE].country, now_ms=app[CLOCK]()
    )
    log.info("desk user %s logged in", session.user)
    return web.json_response(
        {
            "token": token,
            "user": session.user,
            "country": session.country,
            "expires_at_ms": session.expires_at_ms,
            "preferences": _preferences(app, session.user).to_json(),
        }
    )


def _preferences(app: web.Application, user: str) -> Preferences:
    found = app[USERS].users.get(user)
    return found.preferences if found is not None else Preferences()


async def me(request: web.Request) -> web.Response:
    session = _session(request)
    return web.json_response(
        {
            "user": session.user,
            "country": session.country,
            "expires_at_ms": session.expires_at_ms,
            "preferences": _preferences(request.app, session.user).to_json(),
        }
    )


async def set_preferences(request: web.Request) -> web.Response:
    """Change the user's language, calendar or time zone (kept across logins)."""
    session = _session(request)
    body = await read_json(request)
    _keys(body, {"locale", "calendar", "time_zone"})
    before = _preferences(request.app, session.user)
    prefs = Preferences.checked(
        body.get("locale", before.locale),
        body.get("calendar", before.calendar),
        body.get("time_zone", before.time_zone),
    )
    request.app[USERS].set_preferences(session.user, prefs)
    log.info("desk user %s set preferences %s/%s", session.user, prefs.locale, prefs.calendar)
    return web.json_response({"preferences": prefs.to_json()})


async def i18n_languages(request: web.Request) -> web.Response:
    return web.json_response(
        {"languages": request.app[CATALOGUES].languages_json(), "calendars": list(CALENDARS)},
        dumps=_dumps,
    )


async def i18n_catalogue(request: web.Request) -> web.Response:
    """One language's messages as JSON (read once at start; an ETag to revalidate)."""
    body, etag = request.app[CATALOGUES].body(request.match_info["lang"])
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(
        body=body,
        content_type="application/json",
        charset="utf-8",
        headers={"ETag": etag, "Cache-Control": "no-cache"},
    )


async def logout(request: web.Request) -> web.Response:
    request.app[USERS].logout(request.headers.get("Authorization"))
    return web.json_response({"ok": True})


async def submit(request: web.Request) -> web.Response:
    session = _session(request)
    body = await read_json(request)
    node = request.app[NODE]
    claimed = body.pop("from", None)
    if claimed is not None and claimed != node.country:
        raise RequestError(
            Reason.FORBIDDEN,
            f"this gateway sends only as {node.country}; the body says from {str(claimed)[:8]!r}",
        )
    submission = Submission.from_json(body)
    event_id = await node.publish(submission)
    request.app[LINK].back()
    entry = node.store.journal("sent")[-1]
    request.app[VIEW].load_journal([entry])
    log.info("desk user %s sent %s %s", session.user, submission.event_type, event_id)
    return web.json_response({"event_id": event_id}, status=201)


async def inbox(request: web.Request) -> web.Response:
    _session(request)
    kind = request.query.get("type")
    return web.json_response(
        {"events": request.app[VIEW].listing(request.app[CLOCK](), kind)}, dumps=_dumps
    )


def _record(request: web.Request) -> Any:
    event_id = request.match_info["event_id"]
    record = request.app[VIEW].records.get(event_id)
    if record is None:
        raise RequestError(Reason.NOT_FOUND, f"no event {event_id[:40]!r} in this inbox")
    return record


async def inbox_one(request: web.Request) -> web.Response:
    _session(request)
    record = _record(request)
    return web.json_response(
        request.app[VIEW].record_json(record, request.app[CLOCK]()), dumps=_dumps
    )


async def acknowledge(request: web.Request) -> web.Response:
    session = _session(request)
    record = _record(request)
    body = await read_json(request)
    unknown = sorted(set(body) - {"status", "reason"})
    if unknown:
        raise RequestError(Reason.BAD_REQUEST, f"unknown key {unknown[0][:40]!r}")
    status = body.get("status", "RECEIVED")
    if status not in ACK_STATUSES:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected status in {list(ACK_STATUSES)}, got {str(status)[:20]!r}"
        )
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise RequestError(Reason.BAD_REQUEST, "expected 'reason' to be a string")
    node = request.app[NODE]
    ack_id = await node.acknowledge(record, status=status, reason=reason)
    request.app[LINK].back()
    request.app[VIEW].acks_sent[record.event_id] = status
    log.info("desk user %s acknowledged %s as %s", session.user, record.event_id, status)
    return web.json_response({"ack_event_id": ack_id}, status=201)


async def sent(request: web.Request) -> web.Response:
    _session(request)
    return web.json_response({"sent": request.app[VIEW].sent_json(request.app[CLOCK]())})


async def rejections(request: web.Request) -> web.Response:
    """The hub's refusals of this country's events, then its recipients' (REJECTED acks)."""
    _session(request)
    view = request.app[VIEW]
    found = [*view.rejections, *view.refused_by_recipients]
    return web.json_response({"rejections": [r.to_json() for r in found]})


async def alerts(request: web.Request) -> web.Response:
    _session(request)
    return web.json_response({"alerts": request.app[VIEW].alerts(request.app[CLOCK]())})


async def referrals(request: web.Request) -> web.Response:
    """Referrals received and sent, with their acknowledgements and refusals."""
    _session(request)
    return web.json_response(request.app[VIEW].referrals(request.app[CLOCK]()), dumps=_dumps)


async def event_detail(request: web.Request) -> web.Response:
    """Any event this desk holds, received or sent, as the node opened or kept it."""
    _session(request)
    event_id = request.match_info["event_id"]
    found = request.app[VIEW].detail_json(event_id, request.app[NODE].store, request.app[CLOCK]())
    if found is None:
        raise RequestError(Reason.NOT_FOUND, f"no event {event_id[:40]!r} at this desk")
    return web.json_response(found, dumps=_dumps)


# --- the case book (docs/protocol.md 14) ---------------------------------------------


def _book(request: web.Request) -> CaseBook:
    return CaseBook.of_node(request.app[NODE], ack_deadline_ms=request.app[VIEW].deadline_ms)


async def cases(request: web.Request) -> web.Response:
    """Every case this node holds events of, newest activity first, and the vocabulary
    of a status change (statuses, reasons, countries)."""
    _session(request)
    found = _book(request).cases(request.app[CLOCK]())
    return web.json_response(
        {
            "cases": [c.to_json() for c in found],
            "statuses": [s.value for s in CaseStatus],
            "transition_reasons": [r.value for r in TransitionReason],
            "countries": list(COMMIT_COUNTRIES),
        },
        dumps=_dumps,
    )


async def cases_overdue(request: web.Request) -> web.Response:
    """Every case's overdue next step, soonest due first (messages hold no personal data)."""
    _session(request)
    found = _book(request).overdue(request.app[CLOCK]())
    return web.json_response({"overdue": [o.to_json() for o in found]}, dumps=_dumps)


async def case_one(request: web.Request) -> web.Response:
    """One case: its summary, its timeline across both countries, its awaited steps."""
    _session(request)
    case_key = request.match_info["case_key"]
    book = _book(request)
    summary = book.summary(case_key, request.app[CLOCK]())  # NOT_FOUND: none held
    return web.json_response(
        {
            "case_key": case_key,
            "countries": list(summary.countries),
            "summary": summary.to_json(),
            "timeline": [e.to_json() for e in book.timeline(case_key)],
            "pending": [p.to_json() for p in book.pending(case_key)],
        },
        dumps=_dumps,
    )


async def case_status(request: web.Request) -> web.Response:
    """Record a status change of a case and send it (a case_update) to ``to``."""
    session = _session(request)
    case_key = request.match_info["case_key"]
    body = await read_json(request)
    keys = ("status", "to", "transition_reason", "next_due_ms", "next_step_owner")
    _keys(body, {*keys, "follow_up_number"}, ("status", "to"))
    to = body["to"]
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(cc, str) for cc in to):
        raise RequestError(Reason.BAD_REQUEST, "expected 'to' to be a list of country codes")
    event_id = await record_status(
        request.app[NODE],
        case_key,
        str(_text_key(body, "status")),
        to=to,
        transition_reason=_text_key(body, "transition_reason"),
        next_due_ms=_int_key(body, "next_due_ms", 0, 2**53),
        next_step_owner=_text_key(body, "next_step_owner"),
        follow_up_number=_int_key(body, "follow_up_number", 1, 99),
    )
    request.app[LINK].back()
    request.app[VIEW].load_journal([request.app[NODE].store.journal("sent")[-1]])
    log.info("desk user %s recorded a status of a case: %s", session.user, event_id)
    return web.json_response({"event_id": event_id}, status=201)


# --- hit/no-hit matching and follow-ups (docs/protocol.md 13) -----------------------

#: What a registration or a query may name: the kinds of match inputs.
MATCH_KINDS: Final = ("phone", "document", "name")
#: Whom a registration is about (a victim only with consent or a rule that allows it).
MATCH_SUBJECTS: Final = ("suspect", "victim")
_MAX_EXPIRES_DAYS: Final = 3650


def _keys(body: dict[str, Any], allowed: set[str], required: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RequestError(
            Reason.BAD_REQUEST, f"unknown key {unknown[0][:40]!r}; expected only {sorted(allowed)}"
        )
    for name in required:
        if body.get(name) is None:
            raise RequestError(Reason.BAD_REQUEST, f"expected key {name!r}, it is missing")


def _text_key(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestError(
            Reason.BAD_REQUEST, f"expected {name!r} to be a string, got {type(value).__name__}"
        )
    return value


def _int_key(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected {name!r} to be an integer in {low}..{high}"
        )
    return value


def _identifier(body: dict[str, Any], extra: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    """The identifier of a registration or a query, checked (never quoted)."""
    _keys(
        body, {"kind", "value", "birth_year", "issuing_state", *extra}, ("kind", "value", *required)
    )
    kind = _text_key(body, "kind")
    if kind not in MATCH_KINDS:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected kind in {list(MATCH_KINDS)}, got {str(kind)[:20]!r}"
        )
    _text_key(body, "value")
    return {
        "kind": kind,
        "value": body["value"],
        "birth_year": _int_key(body, "birth_year", 1900, 2100),
        "issuing_state": _text_key(body, "issuing_state"),
    }


def _matching() -> Any:
    """connectors.sdk.matching, imported when first used (it brings the OPRF's libraries)."""
    try:
        return importlib.import_module("connectors.sdk.matching")
    except ModuleNotFoundError as exc:
        if exc.name != "connectors.sdk.matching":
            raise
        raise OperationalError(
            Reason.CONFIG_INVALID, "hit/no-hit matching is not available in this build"
        ) from None


async def match_register(request: web.Request) -> web.Response:
    """Register one of this country's identifiers for matching; its opaque reference."""
    session = _session(request)
    body = await read_json(request)
    ident = _identifier(body, {"expires_days", "subject", "consent"}, ())
    expires_days = _int_key(body, "expires_days", 1, _MAX_EXPIRES_DAYS)
    subject = _text_key(body, "subject") or "suspect"
    if subject not in MATCH_SUBJECTS:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected subject in {list(MATCH_SUBJECTS)}, got {subject[:20]!r}",
        )
    consent = body.get("consent", False)
    if not isinstance(consent, bool):
        raise RequestError(Reason.BAD_REQUEST, "expected 'consent' to be true or false")
    node = request.app[NODE]
    registration = await _matching().register(
        node,
        ident["kind"],
        ident["value"],
        birth_year=ident["birth_year"],
        issuing_state=ident["issuing_state"],
        expires_days=expires_days or 365,
        subject=subject,
        consent=consent,
    )
    request.app[LINK].back()
    log.info(
        "desk user %s registered a %s as %s", session.user, ident["kind"], registration.reference
    )
    return web.json_response(
        {
            "reference": registration.reference,
            "kind": registration.kind,
            "expires_at_ms": registration.expires_at_ms,
        },
        status=201,
    )


async def match_query(request: web.Request) -> web.Response:
    """Ask the index whether another country knows an identifier: hit or no hit."""
    session = _session(request)
    body = await read_json(request)
    ident = _identifier(body, {"case_ref", "purpose"}, ("case_ref", "purpose"))
    answer = await _matching().query(
        request.app[NODE],
        ident["kind"],
        ident["value"],
        case_ref=_text_key(body, "case_ref"),
        purpose=_text_key(body, "purpose"),
        birth_year=ident["birth_year"],
        issuing_state=ident["issuing_state"],
    )
    request.app[LINK].back()
    log.info(
        "desk user %s queried (%s): %s",
        session.user,
        answer.query_id,
        "hit" if answer.hit else "no hit",
    )
    return web.json_response(
        {
            "hit": answer.hit,
            "owner": answer.owner,
            "reference": answer.reference,
            "kind": answer.kind,
            "query_id": answer.query_id,
        }
    )


async def followup_request(request: web.Request) -> web.Response:
    """Ask a hit's owner for the record behind it (a signed match_followup)."""
    session = _session(request)
    body = await read_json(request)
    required = ("owner", "reference", "query_id", "case_ref", "purpose")
    _keys(body, {*required, "kind"}, required)
    texts = {name: _text_key(body, name) or "" for name in (*required, "kind")}
    event_id = await request_followup(
        request.app[NODE],
        owner=texts["owner"],
        reference=texts["reference"],
        query_id=texts["query_id"],
        case_ref=texts["case_ref"],
        purpose=texts["purpose"],
        match_kind=texts["kind"] or None,
    )
    request.app[LINK].back()
    log.info("desk user %s asked %s to follow up: %s", session.user, texts["owner"], event_id)
    return web.json_response({"event_id": event_id}, status=201)


async def followups_pending(request: web.Request) -> web.Response:
    """Follow-up requests received and not yet answered (no identity data)."""
    _session(request)
    pending = pending_in(request.app[NODE].store)
    return web.json_response({"pending": [r.to_json() for r in pending]}, dumps=_dumps)


async def followups_answers(request: web.Request) -> web.Response:
    """Answers received to this country's follow-ups; an unrequested one flagged."""
    _session(request)
    found = answers_in(request.app[NODE].store)
    return web.json_response({"answers": [a.to_json() for a in found]}, dumps=_dumps)


async def followup_approve(request: web.Request) -> web.Response:
    session = _session(request)
    body = await read_json(request)
    _keys(body, {"reason"})
    event_id = request.match_info["event_id"]
    answer_id = await approve(request.app[NODE], event_id, reason=_text_key(body, "reason"))
    request.app[LINK].back()
    log.info("desk user %s approved follow-up %s", session.user, event_id)
    return web.json_response({"answer_event_id": answer_id}, status=201)


async def followup_decline(request: web.Request) -> web.Response:
    session = _session(request)
    body = await read_json(request)
    _keys(body, {"reason"})
    event_id = request.match_info["event_id"]
    reason = _text_key(body, "reason") or ""
    answer_id = await decline(request.app[NODE], event_id, reason=reason)
    request.app[LINK].back()
    log.info("desk user %s declined follow-up %s", session.user, event_id)
    return web.json_response({"answer_event_id": answer_id}, status=201)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _failed(app: web.Application, what: str, exc: Exception) -> None:
    """A follower or the announcement failed: the broker (said once), or something else."""
    if _is_broker_failure(exc):
        app[LINK].lost(_why(exc))
    elif not app[QUIET].allows((what, _why(exc))):
        return
    elif isinstance(exc, TrmError):
        log.warning(
            "%s stopped: %s: %s; retrying every %.0f s", what, exc.reason, exc.detail, RETRY_S
        )
    else:  # a defect: the traceback is wanted, once a while
        log.exception("%s stopped; retrying every %.0f s", what, RETRY_S)


async def _follow_inbox(app: web.Application) -> None:
    node, view = app[NODE], app[VIEW]
    while True:
        try:
            async for record in node.inbox(follow=True, include_seen=True, mark_seen=False):
                app[LINK].back()
                view.add(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the desk alive; the broker may come back
            _failed(app, "inbox follower", exc)
            await asyncio.sleep(RETRY_S)


async def _follow_rejections(app: web.Application) -> None:
    node, view = app[NODE], app[VIEW]
    while True:
        try:
            async for rejection in node.rejections(follow=True):
                app[LINK].back()
                view.add_rejection(rejection)  # read again after a reconnection: kept once
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _failed(app, "rejections follower", exc)
            await asyncio.sleep(RETRY_S)


async def _watch_broker(app: web.Application) -> None:
    """While the broker is away, a round trip every RETRY_S says when it is back.

    The round trip is a read of this country's rejections topic to its end (a
    follower blocked in a fetch says nothing when the broker returns).
    """
    node, link, view = app[NODE], app[LINK], app[VIEW]
    while True:
        await link.down.wait()
        await asyncio.sleep(RETRY_S)
        try:
            async for rejection in node.rejections():
                view.add_rejection(rejection)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _failed(app, "broker check", exc)
            continue
        link.back()


async def _announce_seal_keys(app: web.Application) -> None:
    """Publish the country's signed seal-key set, so that others can seal to it (retried)."""
    node = app[NODE]
    while True:
        try:
            signed = await node.announce_seal_keys()
        except asyncio.CancelledError:
            raise
        except OperationalError as exc:  # the broker: try again
            _failed(app, "seal-key announcement", exc)
            await asyncio.sleep(RETRY_S)
            continue
        except TrmError as exc:
            log.warning("seal keys not published: %s: %s", exc.reason, exc.detail)
            return
        if signed is None:  # nothing was sent: says nothing about the broker
            log.warning(
                "%s holds no signed seal-key set: nobody can seal to it "
                "(trm keys epoch rotate --country %s)",
                node.country,
                node.country,
            )
        else:
            app[LINK].back()
            log.info("published %s's seal-key set version %d", node.country, signed.version)
        return


async def _send_case_alerts(app: web.Application, every_s: float) -> None:
    """Every ``every_s``, send the case book's new alerts (each is sent once: journaled)."""
    node = app[NODE]
    while True:
        await asyncio.sleep(every_s)
        try:
            sent = await send_alerts(node, now_ms=app[CLOCK]())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker, or a defect: the next round tries again
            _failed(app, "case alerts", exc)
            continue
        if sent:
            app[LINK].back()
        for item, alert_id in sent:  # no case key: kinds, countries and ids only
            log.info("case alert %s sent to %s as %s", item.kind, item.owner, alert_id)


async def _startup(app: web.Application) -> None:
    try:
        await app[NODE].start()
    except TrmError as exc:  # serve anyway: submissions get 503 until the broker is back
        _failed(app, "start", exc)
    app[VIEW].load_journal(app[NODE].store.journal())
    app[TASKS].extend(
        [
            asyncio.create_task(_follow_inbox(app)),
            asyncio.create_task(_follow_rejections(app)),
            asyncio.create_task(_watch_broker(app)),
            asyncio.create_task(_announce_seal_keys(app)),
        ]
    )
    if app[ALERT_EVERY_S] > 0:  # before the announcement: _cleanup awaits the last task
        app[TASKS].insert(0, asyncio.create_task(_send_case_alerts(app, app[ALERT_EVERY_S])))


async def _cleanup(app: web.Application) -> None:
    # The seal-key announcement is short: let it finish (a producer cancelled
    # while it starts is left half-open), unless the broker is away.
    if app[TASKS]:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(app[TASKS][-1]), 5.0)
    for task in app[TASKS]:
        task.cancel()
    for task in app[TASKS]:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app[NODE].stop()


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The desk page's files, read once: only these names are served."""
    files = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[path.name] = (path.read_bytes(), kind)
    return files


def _file(request: web.Request, name: str) -> web.Response:
    found = request.app[STATIC].get(name)
    if found is None:
        raise RequestError(Reason.NOT_FOUND, f"no file {name[:40]!r} in the desk page")
    body, kind = found
    charset = "utf-8" if kind.startswith("text/") or kind.endswith("javascript") else None
    return web.Response(body=body, content_type=kind, charset=charset)


async def index(request: web.Request) -> web.Response:
    return _file(request, "index.html")


async def static(request: web.Request) -> web.Response:
    return _file(request, request.match_info["name"])


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[NODE].country))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_app(
    node: CountryNode,
    users: DeskUsers,
    *,
    deadline_ms: int = 24 * 3600 * 1000,
    clock: Callable[[], int] = _now_ms,
    catalogues: Catalogues | None = None,
    alert_every_s: float = 0.0,
) -> web.Application:
    """The gateway application for ``node``'s country.

    Args:
        alert_every_s: how often the case book's alerts are sent (0: never;
            ``trm node cases --alert`` still sends them).

    Raises:
        OperationalError: CONFIG_INVALID: a desk catalogue missing or not parsing.
    """
    app = web.Application(
        middlewares=[_errors],
        client_max_size=MAX_BODY,
        handler_args={"max_line_size": MAX_LINE, "max_field_size": MAX_LINE},
    )
    app[NODE] = node
    app[USERS] = users
    app[CLOCK] = clock
    app[ALERT_EVERY_S] = alert_every_s
    app[VIEW] = DeskView(node.country, deadline_ms)
    app[TASKS] = []
    app[STATIC] = _static_files()
    app[CATALOGUES] = catalogues or load_catalogues()
    for problem in app[CATALOGUES].problems:
        log.warning("desk catalogue: %s", problem)
    app[LINK] = BrokerLink(node.bootstrap)
    app[QUIET] = OncePer(QUIET_S, time.monotonic)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    r = app.router
    # What openapi.py documents, and nothing else (no HEAD: it would answer
    # without the body a client could check).
    for path, handler in (
        ("/", index),
        ("/static/{name}", static),
        ("/api/openapi.json", openapi),
        ("/api/inbox", inbox),
        ("/api/inbox/{event_id}", inbox_one),
        ("/api/sent", sent),
        ("/api/rejections", rejections),
        ("/api/alerts", alerts),
        ("/api/referrals", referrals),
        ("/api/events/{event_id}", event_detail),
        ("/api/me", me),
        ("/api/i18n", i18n_languages),
        ("/api/i18n/{lang}", i18n_catalogue),
        ("/api/cases", cases),
        ("/api/cases/overdue", cases_overdue),  # before {case_key}: a case is not "overdue"
        ("/api/cases/{case_key}", case_one),
        ("/api/match/followups/pending", followups_pending),
        ("/api/match/followups/answers", followups_answers),
    ):
        r.add_get(path, handler, allow_head=False)
    r.add_put("/api/me/preferences", set_preferences)
    r.add_post("/api/cases/{case_key}/status", case_status)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_post("/api/events", submit)
    r.add_post("/api/inbox/{event_id}/ack", acknowledge)
    r.add_post("/api/match/registrations", match_register)
    r.add_post("/api/match/queries", match_query)
    r.add_post("/api/match/followups", followup_request)
    r.add_post("/api/match/followups/{event_id}/approve", followup_approve)
    r.add_post("/api/match/followups/{event_id}/decline", followup_decline)
    return app
