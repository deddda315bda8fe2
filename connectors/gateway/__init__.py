"""The HTTP gateway and desk web page of one country node."""

from __future__ import annotations

from .app import STATUS, make_app
from .auth import DeskUser, DeskUsers, Session, hash_password
from .desk import DeskView, NoticeStatus
from .openapi import openapi_document

__all__ = [
    "STATUS",
    "DeskUser",
    "DeskUsers",
    "DeskView",
    "NoticeStatus",
    "Session",
    "hash_password",
    "make_app",
    "openapi_document",
]
