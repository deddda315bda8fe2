"""Serving the gateway: aiohttp's server, with its own refusals in the gateway's shape.

A request that aiohttp refuses before any handler runs (a request line or a
header field over :data:`MAX_LINE` bytes, a malformed request line or header)
is answered by aiohttp's protocol layer, which would write a plain-text body
quoting the start of the offending line: an ``Authorization`` header's token,
say. :class:`GatewayRunner` serves the application with a protocol whose
answer is the gateway's JSON error with its security headers, quoting nothing,
and which logs one line without the request's content.

:func:`serve` listens where it is told, and refuses a port that is busy or out
of range with an :class:`~hub.errors.OperationalError` instead of a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Callable
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hub.errors import OperationalError, Reason

from .errors import error_response

__all__ = [
    "MAX_LINE",
    "GatewayRunner",
    "OncePer",
    "QuietRepeats",
    "check_port",
    "listen",
    "serve",
]

log = logging.getLogger("trm.gateway")

#: The longest request line, and the longest header field, accepted (bytes).
MAX_LINE: Final = 8190


class OncePer:
    """Says yes to a key at most once per ``every_s`` seconds (log lines of a retried failure)."""

    def __init__(self, every_s: float, clock: Callable[[], float]) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last: dict[object, float] = {}

    def allows(self, key: object) -> bool:
        now, last = self.clock(), self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._last[key] = now
        return True


class QuietRepeats(logging.Filter):
    """Lets a log line of the loggers under ``prefix`` through once per ``every_s`` seconds.

    The Kafka client logs each failed connection attempt ("Unable connect to
    ...") at every retry while the broker is away; the gateway says that once
    itself. Keyed by logger and message template, so a different message is
    not held back.
    """

    def __init__(self, prefix: str, every_s: float, clock: Callable[[], float]) -> None:
        super().__init__()
        self.prefix = prefix
        self._once = OncePer(every_s, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        return self._once.allows((record.name, str(record.msg)))


class _Protocol(RequestHandler):
    """aiohttp's HTTP/1.1 protocol, answering its own refusals as the gateway does."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: the answer has begun
            raise ConnectionError("response already started; cannot send an error")
        if status >= 500:
            log.error("gateway error on a request from %s", request.remote, exc_info=exc or True)
            reason, detail = Reason.INTERNAL_ERROR, "the gateway failed; nothing was sent"
        elif isinstance(exc, LineTooLong):
            reason = Reason.BAD_REQUEST
            detail = f"expected a request line and header fields of at most {MAX_LINE} bytes each"
        else:
            reason = Reason.BAD_REQUEST
            detail = f"expected an HTTP/1.1 request ({type(exc).__name__})"
        if status < 500:  # the client's fault: one line, none of its content
            log.info("refused a malformed request from %s: %s", request.remote, reason)
        response = error_response(reason, detail, status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose HTTP-level refusals are the gateway's JSON."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # freezes the app; the settings aiohttp chose
        return _Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            **plain._kwargs,
        )


def check_port(port: int) -> int:
    """``port`` if it is a TCP port number.

    Raises:
        OperationalError: CONFIG_INVALID.
    """
    if not 0 < port < 1 << 16:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a TCP port from 1 to 65535, got {port}"
        )
    return port


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, before anything else starts.

    Raises:
        OperationalError: CONFIG_INVALID: no such port or address of this machine,
            or the port is busy ("port 8470 on 127.0.0.1 is busy ...").
    """
    check_port(port)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise _listen_error(exc, host, port) from exc


async def serve(app: web.Application, host: str, port: int, *, ready: str = "") -> None:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM, then clean up.

    The port is taken first, so a busy one is refused before the application
    starts (connects to Kafka, follows topics).

    Args:
        ready: logged once listening.

    Raises:
        OperationalError: CONFIG_INVALID (see :func:`listen`).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        sock = listen(host, port)
        runner = GatewayRunner(app, handle_signals=False)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
            if ready:
                log.info("%s", ready)
            await stop.wait()
        finally:
            await runner.cleanup()
            sock.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def _listen_error(exc: OSError, host: str, port: int) -> OperationalError:
    if exc.errno == errno.EADDRINUSE:
        return OperationalError(
            Reason.CONFIG_INVALID,
            f"port {port} on {host} is busy (another process listens there); "
            "stop it or pass --port",
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return OperationalError(
            Reason.CONFIG_INVALID, f"expected an address of this machine, got {host!r}"
        )
    if exc.errno == errno.EACCES:
        return OperationalError(
            Reason.CONFIG_INVALID, f"port {port} on {host} needs privileges this process lacks"
        )
    return OperationalError(
        Reason.CONFIG_INVALID, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    )
