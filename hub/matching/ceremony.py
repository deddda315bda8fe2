"""The key ceremony: a dealer makes the t-of-n shares, checks each, hands them out, forgets the key.

Files (paths from :class:`hub.home.StateDir`)::

    match/public.json          the public part, readable by anyone:
                               {"type": "trm.match-public/v1", "suite": "ristretto255-SHA512",
                                "epoch": 0, "created_at_ms": ..., "threshold": 3,
                                "members": {"CN": 1, "KH": 2, ...},
                                "commitments": [hex C_0, ..., hex C_{t-1}]}
    keys/match/<CC>.share      one per country, mode 0600, for that country only:
                               {"type": "trm.match-share/v1", "country": "TH", "index": 5,
                                "epoch": 0, "threshold": 3, "commitments": [...],
                                "share": hex s_i}

A share file carries the commitments it belongs to, so :func:`load_share`
checks ``G * s_i`` against them on its own; given the public part, it also
checks that both name the same commitments, epoch, country and index.

What the dealer does (:func:`deal_ceremony`): draw the key ``k`` and the
polynomial's other coefficients with libsodium's generator into a
``bytearray``, compute the commitments and the shares (each checked against
the commitments), then overwrite the key's buffer with zeros. The key is
never written to disk and never printed.

What Python cannot guarantee: ``rbcl`` takes ``bytes`` (immutable), so the
key and the coefficients are copied into ``bytes`` objects that are freed but
not overwritten; the allocator may keep them in memory until reused, and the
OS may have paged them out. The ceremony therefore runs on a machine that is
then powered off (docs/operations.md "The matching key ceremony"); the zeroing
here narrows the window, it does not close it.

A proactive refresh (:func:`refresh_ceremony`) adds a fresh sharing of zero to
every share: the key and every match key stay the same, the commitments
``C_1 .. C_{t-1}`` change and the epoch goes up, and a share stolen before the
refresh no longer combines with new ones.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hub.errors import MatchError, OperationalError, Reason, TrmError
from hub.home import StateDir
from hub.keys import check_private_key_file
from hub.matching import oprf
from hub.matching.threshold import Commitments, KeyShare, deal, refresh
from hub.signed_doc import parse_json

__all__ = [
    "DEFAULT_MEMBERS",
    "DEFAULT_THRESHOLD",
    "PUBLIC_TYPE",
    "SHARE_TYPE",
    "Ceremony",
    "MatchPublic",
    "ShareFile",
    "deal_ceremony",
    "load_public",
    "load_share",
    "parse_public",
    "parse_share",
    "refresh_ceremony",
    "write_ceremony",
]

PUBLIC_TYPE = "trm.match-public/v1"
SHARE_TYPE = "trm.match-share/v1"
DEFAULT_MEMBERS = ("KH", "CN", "LA", "MM", "TH", "VN")
DEFAULT_THRESHOLD = 3
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_MAX_FILE = 64 * 1024


def _bad(what: str, detail: str) -> MatchError:
    return MatchError(Reason.MATCH_SHARE_INVALID, f"{what}: {detail}"[:300])


@dataclass(frozen=True, slots=True)
class MatchPublic:
    """The public part of the ceremony: who holds which index, and the commitments."""

    threshold: int
    members: Mapping[str, int]
    commitments: Commitments
    epoch: int = 0
    created_at_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", MappingProxyType(dict(self.members)))
        if self.threshold != self.commitments.threshold:
            raise _bad("public part", "threshold and commitments disagree")
        indices = list(self.members.values())
        if len(set(indices)) != len(indices) or not all(
            isinstance(i, int) and 1 <= i <= 0xFFFF for i in indices
        ):
            raise _bad("public part", "expected distinct member indices from 1")
        if not all(_COUNTRY.match(c) for c in self.members):
            raise _bad("public part", "expected member country codes (alpha-2, upper case)")
        if not 1 <= self.threshold <= len(self.members):
            raise _bad(
                "public part",
                f"expected a threshold from 1 to {len(self.members)}, got {self.threshold}",
            )

    def public_key(self) -> bytes:
        return self.commitments.public_key()

    def index_of(self, country: str) -> int:
        """The share index of ``country``.

        Raises:
            MatchError: MATCH_SHARE_INVALID if the country holds no share.
        """
        try:
            return self.members[country]
        except KeyError:
            raise _bad(
                "public part", f"expected a member among {sorted(self.members)}, got {country!r}"
            ) from None

    def country_of(self, index: int) -> str | None:
        """The country holding share ``index`` (to name a cheating evaluator)."""
        return next((c for c, i in self.members.items() if i == index), None)

    def to_json(self) -> bytes:
        body = {
            "type": PUBLIC_TYPE,
            "suite": oprf.SUITE,
            "epoch": self.epoch,
            "created_at_ms": self.created_at_ms,
            "threshold": self.threshold,
            "members": dict(sorted(self.members.items())),
            "commitments": [c.hex() for c in self.commitments.coefficients],
        }
        return (json.dumps(body, indent=2) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Ceremony:
    """What a ceremony made: the public part and each country's share (secret)."""

    public: MatchPublic
    shares: Mapping[str, KeyShare] = field(repr=False)


# --- reading ----------------------------------------------------------------------


def _field(obj: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _bad(what, f"expected {name!r} as {kind.__name__}")
    return value


def _hex(text: Any, size: int, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]*", text):
        raise _bad(what, "expected lower-case hex")
    data = bytes.fromhex(text) if len(text) % 2 == 0 else b""
    if len(data) != size:
        raise _bad(what, f"expected {size} bytes of hex")
    return data


def _commitments(obj: dict[str, Any], what: str) -> Commitments:
    threshold = _field(obj, "threshold", int, what)
    listed = _field(obj, "commitments", list, what)
    if len(listed) > 0xFFFF:
        raise _bad(what, "too many commitments")
    return Commitments(threshold, tuple(_hex(c, oprf.ELEMENT_BYTES, what) for c in listed))


def _object(data: bytes, what: str, kind: str, keys: set[str]) -> dict[str, Any]:
    if len(data) > _MAX_FILE:
        raise _bad(what, f"expected at most {_MAX_FILE} bytes")
    try:
        obj = parse_json(data)
    except ValueError as exc:
        raise _bad(what, f"expected JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise _bad(what, "expected a JSON object")
    if obj.get("type") != kind:
        raise _bad(what, f"expected type {kind!r}")
    if set(obj) != keys:
        raise _bad(what, f"expected exactly the members {sorted(keys)}")
    return obj


def parse_public(data: bytes, what: str = "public part") -> MatchPublic:
    """The public part from its JSON bytes, every field checked.

    Raises:
        MatchError: MATCH_SHARE_INVALID (or MATCH_ELEMENT_INVALID inside) for anything amiss.
    """
    keys = {"type", "suite", "epoch", "created_at_ms", "threshold", "members", "commitments"}
    obj = _object(data, what, PUBLIC_TYPE, keys)
    if obj["suite"] != oprf.SUITE:
        raise _bad(what, f"expected suite {oprf.SUITE!r}")
    members = _field(obj, "members", dict, what)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in members.values()):
        raise _bad(what, "expected member indices as integers")
    return MatchPublic(
        threshold=_field(obj, "threshold", int, what),
        members=members,
        commitments=_commitments(obj, what),
        epoch=_field(obj, "epoch", int, what),
        created_at_ms=_field(obj, "created_at_ms", int, what),
    )


@dataclass(frozen=True, slots=True)
class ShareFile:
    """A share file's contents: whose share, of which epoch, and its commitments."""

    country: str
    epoch: int
    commitments: Commitments
    share: KeyShare = field(repr=False)


def parse_share(data: bytes, what: str = "share file") -> ShareFile:
    """A share file's contents, the share checked against the commitments it carries.

    Raises:
        MatchError: MATCH_SHARE_INVALID for anything amiss (never quoting the share).
    """
    keys = {"type", "country", "index", "epoch", "threshold", "commitments", "share"}
    obj = _object(data, what, SHARE_TYPE, keys)
    country = _field(obj, "country", str, what)
    if not _COUNTRY.match(country):
        raise _bad(what, "expected 'country' as an alpha-2 code")
    commitments = _commitments(obj, what)
    share = KeyShare(_field(obj, "index", int, what), _hex(obj["share"], oprf.SCALAR_BYTES, what))
    commitments.check_share(share)
    return ShareFile(country, _field(obj, "epoch", int, what), commitments, share)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected {what} at {path} ({exc.strerror or exc})"
        ) from exc


def load_public(path: Path) -> MatchPublic:
    """Read ``match/public.json``.

    Raises:
        OperationalError: CONFIG_INVALID if missing; MatchError if it does not check.
    """
    return parse_public(_read(path, "the matching public part"), str(path))


def load_share(path: Path, public: MatchPublic | None = None) -> KeyShare:
    """Read a country's share file: mode 0600, checked against its commitments (and
    against ``public`` when given: same commitments, epoch, country and index).

    Raises:
        OperationalError: KEY_FILE_INSECURE if group or others may read it;
            CONFIG_INVALID if missing.
        MatchError: MATCH_SHARE_INVALID if it does not check.
    """
    check_private_key_file(path)
    parsed = parse_share(_read(path, "a matching key share"), str(path))
    if public is not None:
        if parsed.commitments != public.commitments or parsed.epoch != public.epoch:
            raise _bad(
                str(path),
                f"expected the commitments of epoch {public.epoch} in the public part; the "
                f"share file has epoch {parsed.epoch}"
                + ("" if parsed.epoch != public.epoch else " with other commitments"),
            )
        if public.members.get(parsed.country) != parsed.share.index:
            raise _bad(
                str(path),
                f"expected {parsed.country} to hold index "
                f"{public.members.get(parsed.country)}, the file says {parsed.share.index}",
            )
    return parsed.share


# --- the ceremony -----------------------------------------------------------------


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


def _plan(countries: Sequence[str], threshold: int) -> dict[str, int]:
    if len(set(countries)) != len(countries) or not countries:
        raise _bad("ceremony", f"expected distinct member countries, got {list(countries)}")
    for c in countries:
        if not _COUNTRY.match(c):
            raise _bad("ceremony", f"expected alpha-2 country codes, got {c!r}")
    if not 2 <= threshold <= len(countries):
        raise _bad(
            "ceremony",
            f"expected a threshold from 2 to the number of members ({len(countries)}), "
            f"got {threshold}",
        )
    # indices in alphabetical order of the country codes: stable, and says nothing else
    return {c: i for i, c in enumerate(sorted(countries), start=1)}


def deal_ceremony(countries: Sequence[str], threshold: int, *, now_ms: int) -> Ceremony:
    """Make the key, split it t-of-n among ``countries``, check every share, wipe the key.

    Raises:
        MatchError: MATCH_SHARE_INVALID for a bad plan (countries, threshold).
    """
    members = _plan(countries, threshold)
    secret = bytearray(oprf.random_scalar())
    coefficients = [bytearray(oprf.random_scalar()) for _ in range(threshold - 1)]
    try:
        commitments, shares = deal(
            bytes(secret),
            threshold,
            list(members.values()),
            coefficients=[bytes(a) for a in coefficients],
        )
    finally:
        _wipe(secret)
        for a in coefficients:
            _wipe(a)
    by_index = {s.index: s for s in shares}
    public = MatchPublic(threshold, members, commitments, epoch=0, created_at_ms=now_ms)
    return Ceremony(public, {c: by_index[i] for c, i in members.items()})


def refresh_ceremony(ceremony: Ceremony, *, now_ms: int) -> Ceremony:
    """New shares of the same key for every member (epoch + 1).

    Raises:
        MatchError: MATCH_SHARE_INVALID unless every member's share is given and checks.
    """
    public = ceremony.public
    missing = sorted(set(public.members) - set(ceremony.shares))
    if missing:
        raise _bad("refresh", f"expected every member's share; missing {missing}")
    shares = [ceremony.shares[c] for c in sorted(public.members)]
    for c in public.members:
        if ceremony.shares[c].index != public.members[c]:
            raise _bad("refresh", f"expected {c}'s share to have index {public.members[c]}")
    commitments, renewed = refresh(public.commitments, shares)
    by_index = {s.index: s for s in renewed}
    new_public = MatchPublic(
        public.threshold,
        public.members,
        commitments,
        epoch=public.epoch + 1,
        created_at_ms=now_ms,
    )
    return Ceremony(new_public, {c: by_index[i] for c, i in public.members.items()})


def _share_json(public: MatchPublic, country: str, share: KeyShare) -> bytes:
    body = {
        "type": SHARE_TYPE,
        "country": country,
        "index": share.index,
        "epoch": public.epoch,
        "threshold": public.threshold,
        "commitments": [c.hex() for c in public.commitments.coefficients],
        "share": share.scalar.hex(),
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_ceremony(state: StateDir, ceremony: Ceremony) -> list[Path]:
    """Write the public part (mode 0644) and each share (mode 0600), then read every
    share back and check it against the public part.

    Returns the paths written, the public part first.

    Raises:
        MatchError: MATCH_SHARE_INVALID if a share read back does not check.
    """
    public_path = state.match_public
    public_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = public_path.with_name(public_path.name + ".tmp")
    tmp.write_bytes(ceremony.public.to_json())
    tmp.chmod(0o644)
    tmp.replace(public_path)
    written = [public_path]
    for country in sorted(ceremony.shares):
        path = state.match_share(country)
        _write_private(path, _share_json(ceremony.public, country, ceremony.shares[country]))
        written.append(path)
    public = load_public(public_path)
    for country in sorted(ceremony.shares):
        try:
            got = load_share(state.match_share(country), public)
        except TrmError as exc:
            raise _bad(f"{country}'s share read back", exc.detail) from exc
        if got != ceremony.shares[country]:
            raise _bad(f"{country}'s share read back", "expected the share just written")
    return written
