"""The HTTP gateway and desk web page of one country node."""

from __future__ import annotations

from .app import LOGIN_MAX_BODY, MAX_BODY, make_app
from .auth import DeskUser, DeskUsers, Preferences, Session, hash_password
from .desk import DeskView, NoticeStatus
from .errors import STATUS
from .i18n import CALENDARS, LANGUAGES, Catalogues, load_catalogues
from .openapi import openapi_document
from .server import MAX_LINE, GatewayRunner, serve

__all__ = [
    "CALENDARS",
    "LANGUAGES",
    "LOGIN_MAX_BODY",
    "MAX_BODY",
    "MAX_LINE",
    "STATUS",
    "Catalogues",
    "DeskUser",
    "DeskUsers",
    "DeskView",
    "GatewayRunner",
    "NoticeStatus",
    "Preferences",
    "Session",
    "hash_password",
    "load_catalogues",
    "make_app",
    "openapi_document",
    "serve",
]
