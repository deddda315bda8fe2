"""Producer signatures verified ahead on a native thread (hub.wire.verify.verify_ahead).

The thread only ever saves work: a verdict is used for the very key, signature
and message that ``hub.keys.ed25519_verify`` is asked about, and anything else
is verified in line, so every outcome is the one without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hub.errors import Reason, SignatureError
from hub.keys import ed25519_verify
from hub.wire import HEADER_PAYLOAD_TYPE, Envelope, native, verify
from hub.wire.envelope import pae
from hub.wire.verify import verify_ahead, verify_ahead_clear
from tests.support.wire import KEYS, KH_KEY, StaticKeys, public_of, sealed

AHEAD = native.AHEAD


@pytest.fixture(autouse=True)
def _nothing_left() -> Iterator[None]:
    verify_ahead_clear()
    yield
    verify_ahead_clear()


def _raws(n: int) -> list[bytes]:
    return [sealed(rng_label=f"ahead-{i}", sequence=i + 1).to_bytes() for i in range(n)]


def _tampered(raw: bytes) -> bytes:
    sig = Envelope.from_bytes(raw).signature.sig
    assert raw.count(sig) == 1
    return raw.replace(sig, bytes([sig[0] ^ 1]) + sig[1:])


def _signed(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(key, signature, message) as verify() asks ed25519_verify about them."""
    env = Envelope.from_bytes(raw)
    key = KEYS.key(env.signature.key_id)
    assert key is not None
    return key.raw, env.signature.sig, pae(HEADER_PAYLOAD_TYPE, env.header_bytes)


def _all_finished(n: int) -> None:
    deadline = time.monotonic() + 10
    while AHEAD.finished() < n:
        assert time.monotonic() < deadline, f"{AHEAD.finished()} of {n} verified after 10 s"
        time.sleep(0.001)


def test_it_is_on_in_the_tests() -> None:
    assert AHEAD is not None, "TRM_VERIFY_AHEAD=0 turns it off; the tests run with it on"


def test_each_verdict_ahead_is_the_verdict_in_line() -> None:
    raws = _raws(12)
    raws[3] = _tampered(raws[3])
    raws[7] = _tampered(raws[7])
    assert verify_ahead(raws, KEYS) == 12
    _all_finished(12)
    for i, raw in enumerate(raws):
        key, sig, message = _signed(raw)
        in_line = bool(native.ed25519_public(key).verify(sig, message))
        assert in_line is (i not in (3, 7))
        assert AHEAD.take(key, sig, message) is in_line
        assert AHEAD.take(key, sig, message) is None  # taken once
    assert len(AHEAD) == 0


def test_verify_takes_them_and_refuses_as_before() -> None:
    raws = _raws(6)
    raws[2] = _tampered(raws[2])
    verify_ahead(raws, KEYS)
    _all_finished(6)
    for i, raw in enumerate(raws):
        if i == 2:
            with pytest.raises(SignatureError) as ahead:
                verify(Envelope.from_bytes(raw), KEYS)
            assert ahead.value.reason is Reason.BAD_SIGNATURE
            with pytest.raises(SignatureError) as in_line:
                verify(Envelope.from_bytes(raw), KEYS)  # nothing ahead now
            assert str(ahead.value) == str(in_line.value)
        else:
            assert verify(Envelope.from_bytes(raw), KEYS).header.sequence == i + 1
    assert len(AHEAD) == 0


def test_a_verdict_is_only_for_its_own_key_and_message() -> None:
    (raw,) = _raws(1)
    key, sig, message = _signed(raw)
    verify_ahead([raw], KEYS)
    _all_finished(1)
    assert AHEAD.take(key, sig, message + b"x") is None
    assert len(AHEAD) == 0  # and forgotten: a second ask is verified in line
    assert ed25519_verify(key, sig, message)
    verify_ahead([raw], KEYS)
    _all_finished(1)
    other = public_of(KH_KEY, "KH", frozenset()).raw
    assert AHEAD.take(other, sig, message) is None
    assert not ed25519_verify(other, sig, message)


def test_unlisted_unreadable_and_duplicate_envelopes_are_left_in_line() -> None:
    raws = _raws(2)
    mangled = [b"", b"\xc3\x01", raws[0][:40], b"\xc3\x01" + b"\xff" * 64]
    assert verify_ahead([*mangled, bytearray(raws[0])], KEYS) == 0  # type: ignore[list-item]
    assert verify_ahead(raws, StaticKeys([])) == 0
    assert verify_ahead([raws[0], raws[0], raws[1]], KEYS) == 2
    assert len(AHEAD) == 2


def test_a_verify_not_yet_started_is_taken_back() -> None:
    raws = _raws(200)
    asked = [_signed(raw) for raw in raws]
    verify_ahead(raws, KEYS)
    # The last ones are most likely still queued behind the first: taken back
    # (None), and verified here; a verdict, if there is one, is the right one.
    answers = [AHEAD.take(*a) for a in reversed(asked)]
    assert set(answers) <= {True, None}
    assert len(AHEAD) == 0
    assert all(ed25519_verify(*a) for a in asked)
    verify_ahead(raws, KEYS)
    verify_ahead_clear()
    assert len(AHEAD) == 0
    assert all(ed25519_verify(*a) for a in asked)


def test_a_new_batch_forgets_the_one_before() -> None:
    first, second = _raws(3), _raws(5)[3:]
    verify_ahead(first, KEYS)
    verify_ahead(second, KEYS)
    _all_finished(2)
    assert len(AHEAD) == 2
    key, sig, message = _signed(first[0])
    assert AHEAD.take(key, sig, message) is None


class _OddKeys:
    """A key directory whose lookups fail or give what is not a key."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def key(self, key_id: str) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("the directory failed"),
        object(),
        type("Raw", (), {"raw": "not bytes"})(),
        type("Raw", (), {"raw": b"\x01" * 31})(),
    ],
    ids=["raises", "no raw", "raw not bytes", "raw of 31 bytes"],
)
def test_a_key_it_cannot_use_is_left_in_line(answer: object) -> None:
    assert verify_ahead(_raws(3), _OddKeys(answer)) == 0  # type: ignore[arg-type]
    assert len(AHEAD) == 0
