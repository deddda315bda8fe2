"""The gateway under aiohttp's test client, served the way ``trm gateway serve`` serves it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.gateway import GatewayRunner

__all__ = ["GatewayTestServer"]


class GatewayTestServer(TestServer):
    """A :class:`TestServer` with the gateway's runner (its HTTP-level errors are JSON)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return GatewayRunner(self.app, **kwargs)
