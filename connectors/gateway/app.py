"""The HTTP gateway of one country (aiohttp): the door for desks without Kafka.

It runs with that country's key (through a :class:`CountryNode`: every event
it sends is sealed to its recipients, and what it reads is opened with the
country's epoch keys), follows the country's inbox and rejections into memory
(a recipient's REJECTED acknowledgement is listed with the rejections, as a
refusal by that recipient), publishes the country's signed seal-key set at
start (so that other countries can seal to it), and serves the JSON API described
by ``/api/openapi.json`` and the desk web page (``/``, files from
``connectors/static``; no external resource: the Content-Security-Policy says
``default-src 'self'``).

Every refusal is ``{"error": {"reason": CODE, "detail": text}}`` with an HTTP
status from :data:`STATUS`. A request body must be ``application/json`` in
UTF-8, one JSON object without duplicate keys; a submission is validated in
full before anything is sent, so a refused request sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from connectors.sdk import CountryNode, Rejection, Submission
from hub.errors import OperationalError, Reason, RequestError, TrmError

from .auth import DeskUsers, Session
from .desk import ACK_STATUSES, DeskView
from .openapi import openapi_document

__all__ = ["STATUS", "make_app"]

log = logging.getLogger("trm.gateway")

STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "static"
MAX_BODY: Final = 1 << 20

STATUS: Final[dict[Reason, int]] = {
    Reason.UNAUTHENTICATED: 401,
    Reason.FORBIDDEN: 403,
    Reason.NOT_FOUND: 404,
    Reason.METHOD_NOT_ALLOWED: 405,
    Reason.OVERSIZED: 413,
    Reason.UNSUPPORTED_MEDIA_TYPE: 415,
    Reason.KAFKA_UNAVAILABLE: 503,
    Reason.INTERNAL_ERROR: 500,
    Reason.CONFIG_INVALID: 500,
}

VIEW: Final = web.AppKey("view", DeskView)
NODE: Final = web.AppKey("node", CountryNode)
USERS: Final = web.AppKey("users", DeskUsers)
CLOCK: Final[web.AppKey[Callable[[], int]]] = web.AppKey("clock")
REJECTIONS: Final = web.AppKey("rejections", list[Rejection])
TASKS: Final = web.AppKey("tasks", list[asyncio.Task[None]])

_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _error(reason: Reason, detail: str, status: int | None = None) -> web.Response:
    return web.json_response(
        {"error": {"reason": str(reason), "detail": detail}},
        status=status or STATUS.get(reason, 400),
        headers=_SECURITY_HEADERS,
    )


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except TrmError as exc:
        if exc.reason in (Reason.UNAUTHENTICATED, Reason.FORBIDDEN):
            log.info("refused %s %s: %s", request.method, request.path, exc.reason)
        return _error(exc.reason, exc.detail)
    except web.HTTPRequestEntityTooLarge:
        return _error(Reason.OVERSIZED, f"expected a body of at most {MAX_BODY} bytes")
    except web.HTTPNotFound:
        return _error(Reason.NOT_FOUND, f"no such resource: {request.path[:80]}")
    except web.HTTPMethodNotAllowed as exc:
        return _error(
            Reason.METHOD_NOT_ALLOWED,
            f"expected one of {sorted(exc.allowed_methods)} on {request.path[:80]}",
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("gateway error on %s %s", request.method, request.path)
        return _error(Reason.INTERNAL_ERROR, "the gateway failed; nothing was sent")
    for k, v in _SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise RequestError(Reason.BAD_REQUEST, f"duplicate key {k[:40]!r} in the JSON body")
        out[k] = v
    return out


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as one JSON object (see the module docstring).

    Raises:
        RequestError: UNSUPPORTED_MEDIA_TYPE, BAD_ENCODING, BAD_REQUEST.
    """
    if request.content_type != "application/json":
        raise RequestError(
            Reason.UNSUPPORTED_MEDIA_TYPE,
            f"expected Content-Type application/json, got {request.content_type[:60]!r}",
        )
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError(Reason.BAD_ENCODING, f"expected UTF-8, got charset {charset[:30]!r}")
    data = await request.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            Reason.BAD_ENCODING, f"expected UTF-8, byte {exc.start} is 0x{data[exc.start]:02x}"
        ) from exc
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(obj, dict):
        raise RequestError(Reason.BAD_REQUEST, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _session(request: web.Request) -> Session:
    app = request.app
    session = app[USERS].session(request.headers.get("Authorization"), now_ms=app[CLOCK]())
    if session.country != app[NODE].country:  # defence in depth: login already checks
        raise RequestError(Reason.FORBIDDEN, f"a desk of {session.country} on this gateway")
    return session


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
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
        }
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
    request.app[VIEW].acks_sent[record.event_id] = status
    log.info("desk user %s acknowledged %s as %s", session.user, record.event_id, status)
    return web.json_response({"ack_event_id": ack_id}, status=201)


async def sent(request: web.Request) -> web.Response:
    _session(request)
    return web.json_response({"sent": request.app[VIEW].sent_json(request.app[CLOCK]())})


async def rejections(request: web.Request) -> web.Response:
    """The hub's refusals of this country's events, then its recipients' (REJECTED acks)."""
    _session(request)
    found = [*request.app[REJECTIONS], *request.app[VIEW].refused_by_recipients]
    return web.json_response({"rejections": [r.to_json() for r in found]})


async def alerts(request: web.Request) -> web.Response:
    _session(request)
    return web.json_response({"alerts": request.app[VIEW].alerts(request.app[CLOCK]())})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def _follow_inbox(app: web.Application) -> None:
    node, view = app[NODE], app[VIEW]
    while True:
        try:
            async for record in node.inbox(follow=True, include_seen=True, mark_seen=False):
                view.add(record)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the desk alive; the broker may come back
            log.exception("inbox follower stopped; retrying")
            await asyncio.sleep(2)


async def _follow_rejections(app: web.Application) -> None:
    node = app[NODE]
    while True:
        try:
            async for rejection in node.rejections(follow=True):
                app[REJECTIONS].append(rejection)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rejections follower stopped; retrying")
            await asyncio.sleep(2)


async def _announce_seal_keys(app: web.Application) -> None:
    """Publish the country's signed seal-key set, so that others can seal to it (retried)."""
    node = app[NODE]
    while True:
        try:
            signed = await node.announce_seal_keys()
        except asyncio.CancelledError:
            raise
        except OperationalError as exc:  # the broker: try again
            log.warning("seal keys not published yet: %s", exc.reason)
            await asyncio.sleep(2)
            continue
        except TrmError as exc:
            log.warning("seal keys not published: %s: %s", exc.reason, exc.detail)
            return
        if signed is None:
            log.warning(
                "%s holds no signed seal-key set: nobody can seal to it "
                "(trm keys epoch rotate --country %s)",
                node.country,
                node.country,
            )
        else:
            log.info("published %s's seal-key set version %d", node.country, signed.version)
        return


async def _startup(app: web.Application) -> None:
    try:
        await app[NODE].start()
    except TrmError as exc:  # serve anyway: submissions get 503 until the broker is back
        log.warning("Kafka not reachable at startup: %s", exc.reason)
    app[VIEW].load_journal(app[NODE].store.journal())
    app[TASKS].extend(
        [
            asyncio.create_task(_follow_inbox(app)),
            asyncio.create_task(_follow_rejections(app)),
            asyncio.create_task(_announce_seal_keys(app)),
        ]
    )


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


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)


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
) -> web.Application:
    """The gateway application for ``node``'s country."""
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
    app[NODE] = node
    app[USERS] = users
    app[CLOCK] = clock
    app[VIEW] = DeskView(node.country, deadline_ms)
    app[REJECTIONS] = []
    app[TASKS] = []
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    r = app.router
    r.add_get("/", index)
    r.add_static("/static", STATIC_DIR)
    r.add_get("/api/openapi.json", openapi)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_post("/api/events", submit)
    r.add_get("/api/inbox", inbox)
    r.add_get("/api/inbox/{event_id}", inbox_one)
    r.add_post("/api/inbox/{event_id}/ack", acknowledge)
    r.add_get("/api/sent", sent)
    r.add_get("/api/rejections", rejections)
    r.add_get("/api/alerts", alerts)
    return app
