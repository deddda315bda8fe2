"""Desk users of one gateway: scrypt-hashed passwords, short-lived bearer tokens.

The users file (``<state>/nodes/<CC>/desk-users.json``, mode 0600) holds, per
user, the country, the scrypt parameters, salt and hash (never a password),
and the user's preferences: the desk's language, the calendar convention
(Gregorian or the Thai Buddhist era) and optionally a time zone, set with
``trm gateway user add|set --locale th --calendar buddhist`` or by the user on
the page (``PUT /api/me/preferences``), so they follow the user across logins.
It is written whole (a temporary file renamed over it), and a running gateway
reads it again when it changed (one ``stat`` per login or request): a user
added or reset with ``trm gateway user add`` counts at once, and a reset ends
that user's sessions. A file that cannot be read (torn by another writer, not
0600) changes nothing: the users read before stay, and a warning says why.
Tokens are 32 random bytes (URL-safe base64); the gateway keeps only their
SHA-256 in memory, so a memory dump does not hand out sessions, and a restart
logs everyone out. The ``Bearer`` scheme is matched without regard to case
(RFC 9110, section 11.1).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from hub.durable import held_lock, write_atomic
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.textdoc import parse_json
from hub.topics import check_country

from .i18n import CALENDARS, LANGUAGES

__all__ = ["DeskUser", "DeskUsers", "Preferences", "Session", "hash_password"]

# RFC 7914 parameters; n=2**14 keeps a login under ~50 ms on a small machine.
_N: Final = 2**14
_R: Final = 8
_P: Final = 1
TOKEN_TTL_MS: Final = 8 * 3600 * 1000
# Online guessing: after this many failed logins for one user name within the
# window, further attempts are refused without checking the password.
MAX_FAILURES: Final = 5
FAILURE_WINDOW_MS: Final = 15 * 60 * 1000
# A users file is a few hundred bytes per user.
MAX_USERS_FILE: Final = 1 << 20
# RFC 9110 credentials: the scheme, one or more spaces, a token68.
_BEARER: Final = re.compile(r"([A-Za-z]+) +([A-Za-z0-9._~+/-]+=*) *")

log = logging.getLogger("trm.gateway")


def hash_password(password: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """The stored form of a password (scrypt)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return {"kdf": "scrypt", "n": _N, "r": _R, "p": _P, "salt": salt.hex(), "hash": digest.hex()}


@dataclass(frozen=True, slots=True)
class Preferences:
    """How the desk speaks to one user: language, calendar convention, time zone.

    ``time_zone`` None: the browser's own. Built only through :meth:`checked`.
    """

    locale: str = "en"
    calendar: str = "gregorian"
    time_zone: str | None = None

    @classmethod
    def checked(cls, locale: Any, calendar: Any, time_zone: Any) -> Preferences:
        """Preferences from untrusted values.

        Raises:
            RequestError: BAD_REQUEST naming what was expected.
        """
        if locale not in LANGUAGES:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a language in {list(LANGUAGES)}, got {str(locale)[:20]!r}",
            )
        if calendar not in CALENDARS:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a calendar in {list(CALENDARS)}, got {str(calendar)[:20]!r}",
            )
        if time_zone is not None:
            try:
                if not isinstance(time_zone, str) or len(time_zone) > 64:
                    raise ValueError(time_zone)
                zoneinfo.ZoneInfo(time_zone)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                raise RequestError(
                    Reason.BAD_REQUEST,
                    f"expected an IANA time zone (Asia/Bangkok), got {str(time_zone)[:40]!r}",
                ) from None
        return cls(str(locale), str(calendar), time_zone)

    def to_json(self) -> dict[str, Any]:
        return {"locale": self.locale, "calendar": self.calendar, "time_zone": self.time_zone}


@dataclass(frozen=True, slots=True)
class DeskUser:
    name: str
    country: str
    secret: Mapping[str, Any]
    preferences: Preferences = Preferences()

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


_Stamp = tuple[int, int, int]  # inode, size, modification time (ns)


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_users(path: Path) -> dict[str, DeskUser]:
    """The users in ``path``; a missing file holds none.

    Raises:
        OperationalError: KEY_FILE_INSECURE (not 0600), CONFIG_INVALID.
    """
    try:
        if path.stat().st_mode & 0o077:
            raise OperationalError(
                Reason.KEY_FILE_INSECURE, f"expected {path} to be mode 0600 (it holds hashes)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a readable desk users file at {path}: {exc.strerror}"
        ) from exc
    try:
        obj = parse_json(data, what=f"desk users file {path}", max_bytes=MAX_USERS_FILE)
        entries = obj["users"] if isinstance(obj, dict) else None
        if not isinstance(entries, list):
            raise RequestError(Reason.BAD_REQUEST, "expected an object with a list 'users'")
        users: dict[str, DeskUser] = {}
        for u in entries:
            name, country, secret = (u.get(k) for k in ("name", "country", "secret"))
            if not (
                isinstance(name, str) and isinstance(country, str) and isinstance(secret, dict)
            ):
                raise RequestError(
                    Reason.BAD_REQUEST, "expected each user to have a name, country and secret"
                )
            users[name] = DeskUser(name, check_country(country), secret, _preferences(name, u))
    except (TrmError, AttributeError) as exc:
        why = exc.detail if isinstance(exc, TrmError) else "expected each user to be an object"
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a desk users file at {path}: {why}"
        ) from exc
    return users


def _preferences(name: str, entry: Mapping[str, Any]) -> Preferences:
    """A user's stored preferences; ones that are not (a hand edit) give the defaults."""
    try:
        return Preferences.checked(
            entry.get("locale", "en"), entry.get("calendar", "gregorian"), entry.get("time_zone")
        )
    except RequestError as exc:
        log.warning("desk user %s: preferences not read, defaults instead: %s", name, exc.detail)
        return Preferences()


class DeskUsers:
    """The users file and the live sessions of one gateway."""

    def __init__(self, users: Mapping[str, DeskUser], path: Path | None = None) -> None:
        self.users = dict(users)
        self.path = path
        self._stamp = _stamp(path) if path is not None else None
        self._sessions: dict[bytes, Session] = {}
        self._failures: dict[str, list[int]] = {}

    @classmethod
    def load(cls, path: Path) -> DeskUsers:
        """Read the users file; a missing file means no users (nobody can log in).

        Raises:
            OperationalError: KEY_FILE_INSECURE (not 0600), CONFIG_INVALID.
        """
        stamp = _stamp(path)  # before reading: a change after it is read again
        users = cls(_read_users(path), path)
        users._stamp = stamp
        return users

    def refresh(self) -> None:
        """Read the users file again if it changed since it was last read.

        A file that cannot be read changes nothing (a warning says why); it is
        read again at its next change. Users removed or whose entry changed (a
        password reset) lose their sessions.
        """
        if self.path is None:
            return
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            users = _read_users(self.path)
        except OperationalError as exc:
            log.warning(
                "desk users file not read again, keeping the %d users read before: %s: %s",
                len(self.users),
                exc.reason,
                exc.detail,
            )
            return
        changed = {
            n for n in self.users.keys() | users.keys() if _who(self.users, n) != _who(users, n)
        }
        self.users = users
        self._sessions = {k: s for k, s in self._sessions.items() if s.user not in changed}
        log.info(
            "desk users read again: %d users, %d added, reset or removed", len(users), len(changed)
        )

    def add(
        self, name: str, country: str, password: str, preferences: Preferences | None = None
    ) -> None:
        """Add or replace a user and write the file whole (0600, renamed into place).

        A reset keeps the user's preferences unless ``preferences`` are given.
        """
        if len(password) < 10:
            raise RequestError(Reason.BAD_REQUEST, "expected a password of 10 characters or more")
        secret = hash_password(password)
        with self._changing():
            before = self.users.get(name)
            prefs = preferences or (before.preferences if before is not None else Preferences())
            self.users[name] = DeskUser(name, check_country(country), secret, prefs)
            self._write()

    def set_preferences(self, name: str, preferences: Preferences) -> DeskUser:
        """Change one user's preferences and write the file whole; sessions go on.

        Raises:
            RequestError: NOT_FOUND for an unknown user.
        """
        with self._changing():
            user = self.users.get(name)
            if user is None:
                raise RequestError(Reason.NOT_FOUND, f"no desk user {name[:40]!r}")
            self.users[name] = replace(user, preferences=preferences)
            self._write()
        return self.users[name]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Read the file again and hold it for one change (read, change, write).

        The gateway (a user's own preferences) and ``trm gateway user add``
        (a password reset) are two processes writing one file: each holds an
        exclusive lock on ``<file>.lock`` from its read to its rename, so that
        neither writes back what the other just replaced.
        """
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with held_lock(self.path.with_name(self.path.name + ".lock")):
            self.refresh()
            yield

    def _write(self) -> None:
        if self.path is None:
            return
        body = {
            "users": [
                {
                    "name": u.name,
                    "country": u.country,
                    "secret": dict(u.secret),
                    **u.preferences.to_json(),
                }
                for u in sorted(self.users.values(), key=lambda u: u.name)
            ]
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(body, indent=1, ensure_ascii=False).encode("utf-8"))
        self._stamp = _stamp(self.path)

    def login(self, name: str, password: str, *, country: str, now_ms: int) -> tuple[str, Session]:
        """A new token for a user of ``country``.

        Raises:
            RequestError: UNAUTHENTICATED (unknown user or wrong password: the
                same answer for both), FORBIDDEN (a user of another country).
        """
        self.refresh()
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
        self.refresh()
        token = _bearer_token(authorization)
        if token is None:
            raise RequestError(
                Reason.UNAUTHENTICATED, "expected an 'Authorization: Bearer <token>' header"
            )
        key = hashlib.sha256(token.encode("ascii")).digest()
        session = self._sessions.get(key)
        if session is None:
            raise RequestError(Reason.UNAUTHENTICATED, "unknown or expired token; log in again")
        if now_ms >= session.expires_at_ms:
            del self._sessions[key]
            raise RequestError(Reason.UNAUTHENTICATED, "token expired; log in again")
        return session

    def logout(self, authorization: str | None) -> None:
        token = _bearer_token(authorization)
        if token is not None:
            self._sessions.pop(hashlib.sha256(token.encode("ascii")).digest(), None)


def _who(users: Mapping[str, DeskUser], name: str) -> tuple[str, Mapping[str, Any]] | None:
    """What a session stands on: the user's country and password (not preferences)."""
    user = users.get(name)
    return None if user is None else (user.country, user.secret)


def _bearer_token(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` credential (any case of the scheme), or None."""
    match = _BEARER.fullmatch(authorization or "")
    if match is None or match.group(1).lower() != "bearer":
        return None
    return match.group(2)
