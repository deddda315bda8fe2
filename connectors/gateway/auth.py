"""Desk users of one gateway: scrypt-hashed passwords, short-lived bearer tokens.

The users file (``<state>/nodes/<CC>/desk-users.json``, mode 0600) holds, per
user, the country, the scrypt parameters, salt and hash; never a password.
Tokens are 32 random bytes (URL-safe base64); the gateway keeps only their
SHA-256 in memory, so a memory dump does not hand out sessions, and a restart
logs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hub.errors import OperationalError, Reason, RequestError
from hub.topics import check_country

__all__ = ["DeskUser", "DeskUsers", "Session", "hash_password"]

# RFC 7914 parameters; n=2**14 keeps a login under ~50 ms on a small machine.
_N: Final = 2**14
_R: Final = 8
_P: Final = 1
TOKEN_TTL_MS: Final = 8 * 3600 * 1000
# Online guessing: after this many failed logins for one user name within the
# window, further attempts are refused without checking the password.
MAX_FAILURES: Final = 5
FAILURE_WINDOW_MS: Final = 15 * 60 * 1000


def hash_password(password: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """The stored form of a password (scrypt)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return {"kdf": "scrypt", "n": _N, "r": _R, "p": _P, "salt": salt.hex(), "hash": digest.hex()}


@dataclass(frozen=True, slots=True)
class DeskUser:
    name: str
    country: str
    secret: Mapping[str, Any]

    def check(self, password: str) -> bool:
        s = self.secret
        try:
            digest = hashlib.scrypt(
                password.encode("utf-8"),
                salt=bytes.fromhex(str(s["salt"])),
                n=int(s["n"]),
                r=int(s["r"]),
                p=int(s["p"]),
                dklen=32,
            )
        except (KeyError, ValueError):
            return False
        return hmac.compare_digest(digest.hex(), str(s.get("hash", "")))


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    country: str
    expires_at_ms: int


class DeskUsers:
    """The users file and the live sessions of one gateway."""

    def __init__(self, users: Mapping[str, DeskUser], path: Path | None = None) -> None:
        self.users = dict(users)
        self.path = path
        self._sessions: dict[bytes, Session] = {}
        self._failures: dict[str, list[int]] = {}

    @classmethod
    def load(cls, path: Path) -> DeskUsers:
        """Read the users file; a missing file means no users (nobody can log in)."""
        if not path.exists():
            return cls({}, path)
        if path.stat().st_mode & 0o077:
            raise OperationalError(
                Reason.KEY_FILE_INSECURE, f"expected {path} to be mode 0600 (it holds hashes)"
            )
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            users = {
                u["name"]: DeskUser(u["name"], check_country(u["country"]), u["secret"])
                for u in obj["users"]
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected a desk users file at {path}: {exc}"
            ) from exc
        return cls(users, path)

    def add(self, name: str, country: str, password: str) -> None:
        """Add or replace a user and write the file (0600)."""
        if len(password) < 10:
            raise RequestError(Reason.BAD_REQUEST, "expected a password of 10 characters or more")
        self.users[name] = DeskUser(name, check_country(country), hash_password(password))
        if self.path is not None:
            body = {
                "users": [
                    {"name": u.name, "country": u.country, "secret": dict(u.secret)}
                    for u in sorted(self.users.values(), key=lambda u: u.name)
                ]
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, json.dumps(body, indent=1).encode("utf-8"))
            finally:
                os.close(fd)

    def login(self, name: str, password: str, *, country: str, now_ms: int) -> tuple[str, Session]:
        """A new token for a user of ``country``.

        Raises:
            RequestError: UNAUTHENTICATED (unknown user or wrong password: the
                same answer for both), FORBIDDEN (a user of another country).
        """
        recent = [t for t in self._failures.get(name, []) if now_ms - t < FAILURE_WINDOW_MS]
        if len(recent) >= MAX_FAILURES:
            raise RequestError(
                Reason.UNAUTHENTICATED,
                f"too many failed logins for this user; try again in "
                f"{(FAILURE_WINDOW_MS - (now_ms - recent[0])) // 60000 + 1} minutes",
            )
        user = self.users.get(name)
        if user is None or not user.check(password):
            if user is None:  # spend the same time as a real check
                hash_password(password, salt=b"\x00" * 16)
            self._failures[name] = [*recent, now_ms]
            raise RequestError(Reason.UNAUTHENTICATED, "unknown user or wrong password")
        self._failures.pop(name, None)
        if user.country != country:
            raise RequestError(
                Reason.FORBIDDEN,
                f"user {name!r} is a desk of {user.country}; this gateway serves {country}",
            )
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        session = Session(user.name, user.country, now_ms + TOKEN_TTL_MS)
        self._sessions[hashlib.sha256(token.encode()).digest()] = session
        return token, session

    def session(self, authorization: str | None, *, now_ms: int) -> Session:
        """The session of an ``Authorization: Bearer <token>`` header.

        Raises:
            RequestError: UNAUTHENTICATED.
        """
        if not authorization or not authorization.startswith("Bearer "):
            raise RequestError(
                Reason.UNAUTHENTICATED, "expected an 'Authorization: Bearer <token>' header"
            )
        key = hashlib.sha256(authorization[7:].strip().encode()).digest()
        session = self._sessions.get(key)
        if session is None:
            raise RequestError(Reason.UNAUTHENTICATED, "unknown or expired token; log in again")
        if now_ms >= session.expires_at_ms:
            del self._sessions[key]
            raise RequestError(Reason.UNAUTHENTICATED, "token expired; log in again")
        return session

    def logout(self, authorization: str | None) -> None:
        if authorization and authorization.startswith("Bearer "):
            self._sessions.pop(hashlib.sha256(authorization[7:].strip().encode()).digest(), None)
