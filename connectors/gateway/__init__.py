"""The HTTP gateway and desk web page of one country node."""

from __future__ import annotations

from .app import LOGIN_MAX_BODY, MAX_BODY, make_app
from .auth import DeskUser, DeskUsers, Session, hash_password
from .desk import DeskView, NoticeStatus
from .errors import STATUS
from .openapi import openapi_document
from .server import MAX_LINE, GatewayRunner, serve

__all__ = [
    "LOGIN_MAX_BODY",
    "MAX_BODY",
    "MAX_LINE",
    "STATUS",
    "DeskUser",
    "DeskUsers",
    "DeskView",
    "GatewayRunner",
    "NoticeStatus",
    "Session",
    "hash_password",
    "make_app",
    "openapi_document",
    "serve",
]
