"""Ed25519 in native code (``hub/native``, ``ed25519-dalek``) against ``cryptography``.

``hub.keys.ed25519_verify`` and ``ed25519_sign`` are where the hub verifies
and signs; they use the native Ed25519 when :mod:`hub.wire.native` is enabled
and ``cryptography`` (OpenSSL) otherwise. Unlike the native wire walk, which
only ever says "not sure", this part decides, so it is held to the standards'
vectors and to ``cryptography`` on every one of them and on mutated inputs:

- RFC 8032 section 7.1 TEST 1-3: the same public key and the same signature
  bytes from both (Ed25519 signing is deterministic);
- Wycheproof ``ed25519_test.json``: all 151 verdicts;
- ed25519-speccheck's 12 edge cases: the verdicts PyCA and OpenSSL 3.0 give
  (cofactorless, s < L; small-order and non-canonical A accepted);
- generated and mutated signatures, keys and messages: the same verdict.

``tests/vectors/ed25519/README.md`` says where the vectors come from.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import keys
from hub.keys import ed25519_sign, ed25519_verify, private_key_from_seed, raw_public
from hub.wire import _native, native

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519"
RFC8032 = json.loads((VECTORS / "rfc8032-7.1.json").read_text())
WYCHEPROOF = json.loads((VECTORS / "wycheproof-ed25519_test.json").read_text())
SPECCHECK = json.loads((VECTORS / "speccheck-cases.json").read_text())
# results.md of ed25519-speccheck, the PyCA and OpenSSL-3.0 rows: V V V V X X X X X X X V
SPECCHECK_VERDICTS = [True] * 4 + [False] * 7 + [True]

L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
# The eight points of small order (RFC 7748's blocklist as encodings), and two non-canonical ones.
SMALL_ORDER = [
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
]


def pyca(raw: bytes, signature: bytes, message: bytes) -> bool:
    """``cryptography``'s verdict, the reference."""
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def dalek(raw: bytes, signature: bytes, message: bytes) -> bool:
    """The native verdict, without hub.keys' cache."""
    try:
        return _native.Ed25519Public(raw).verify(signature, message)
    except ValueError:
        return False


@pytest.fixture(params=["native", "cryptography"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """hub.keys with the native Ed25519 on, and with it off (``TRM_WIRE_NATIVE=0``)."""
    monkeypatch.setattr(native, "ENABLED", request.param == "native")
    return str(request.param)


def test_the_native_module_is_built() -> None:
    # make builds it; a clean clone's `make test` must test it, never skip it
    assert native.BUILT
    assert native.ENABLED


def wycheproof_cases() -> Iterator[tuple[int, bytes, bytes, bytes, bool]]:
    for group in WYCHEPROOF["testGroups"]:
        raw = bytes.fromhex(group["publicKey"]["pk"])
        for case in group["tests"]:
            assert case["result"] in ("valid", "invalid")
            yield (
                case["tcId"],
                raw,
                bytes.fromhex(case["sig"]),
                bytes.fromhex(case["msg"]),
                case["result"] == "valid",
            )


def test_wycheproof(implementation: str) -> None:
    cases = list(wycheproof_cases())
    assert len(cases) == WYCHEPROOF["numberOfTests"] == 151
    wrong = [
        (tc, expected)
        for tc, raw, sig, msg, expected in cases
        if ed25519_verify(raw, sig, msg) != expected
        or dalek(raw, sig, msg) != expected
        or pyca(raw, sig, msg) != expected
    ]
    assert wrong == []
    assert sum(expected for *_, expected in cases) == 88  # both kinds are there (63 invalid)


def test_speccheck_edge_cases(implementation: str) -> None:
    assert len(SPECCHECK) == len(SPECCHECK_VERDICTS) == 12
    for case, expected in zip(SPECCHECK, SPECCHECK_VERDICTS, strict=True):
        raw, sig, msg = (
            bytes.fromhex(case["pub_key"]),
            bytes.fromhex(case["signature"]),
            bytes.fromhex(case["message"]),
        )
        assert pyca(raw, sig, msg) is expected, case
        assert dalek(raw, sig, msg) is expected, case
        assert ed25519_verify(raw, sig, msg) is expected, case


@pytest.mark.parametrize("vector", RFC8032, ids=[v["test"] for v in RFC8032])
def test_rfc8032_sign_and_verify(vector: dict[str, str], implementation: str) -> None:
    seed, public, message, signature = (
        bytes.fromhex(vector[k]) for k in ("secret_key", "public_key", "message", "signature")
    )
    key = private_key_from_seed(seed)
    assert raw_public(key.public_key()) == public
    assert _native.Ed25519Private(seed).public() == public
    assert ed25519_sign(key, message) == signature
    assert _native.Ed25519Private(seed).sign(message) == signature
    assert ed25519_verify(public, signature, message)
    assert not ed25519_verify(public, signature, message + b"\x00")


def test_signers_of_several_keys_keep_apart(implementation: str) -> None:
    # hub.keys remembers a native twin per key object: interleaved keys each sign as themselves
    signers = [private_key_from_seed(bytes([i]) * 32) for i in range(20)]
    for _ in range(2):
        for key in signers:
            message = raw_public(key.public_key())
            assert ed25519_sign(key, message) == key.sign(message)


def test_malformed_keys_and_signatures_verify_nothing(implementation: str) -> None:
    key = private_key_from_seed(b"\x07" * 32)
    raw, message = raw_public(key.public_key()), b"a message"
    signature = key.sign(message)
    assert ed25519_verify(raw, signature, message)
    assert not ed25519_verify(raw[:31], signature, message)
    assert not ed25519_verify(raw + b"\x00", signature, message)
    assert not ed25519_verify(raw, signature[:63], message)
    assert not ed25519_verify(raw, signature + b"\x00", message)
    assert not ed25519_verify(raw, b"", message)
    # 32 bytes that are no point of the curve (y = 2 has no x): a key that verifies nothing
    off_curve = (2).to_bytes(32, "little")
    assert not pyca(off_curve, signature, message)
    assert not ed25519_verify(off_curve, signature, message)
    with pytest.raises(ValueError, match="32 bytes"):
        _native.Ed25519Public(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        _native.Ed25519Private(b"short")
    assert "07" not in repr(_native.Ed25519Private(b"\x07" * 32))


def _mutations(
    raw: bytes, sig: bytes, msg: bytes, draw: Callable[..., Any]
) -> list[tuple[bytes, bytes, bytes]]:
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    out = [(raw, sig, msg)]
    for n in (1, 2, 8):  # s + nL: the same scalar mod L, refused for s >= L
        if s + n * L < 2**256:
            out.append((raw, r + (s + n * L).to_bytes(32, "little"), msg))
    small = draw(st.sampled_from(SMALL_ORDER))
    out += [
        (small, sig, msg),  # another key, of small order
        (raw, small + sig[32:], msg),  # R of small order
        (small, small + bytes(32), msg),  # small A and R, s = 0
        (raw, sig, msg[:-1] if msg else b"\x00"),
    ]
    for target in range(3):
        parts = [bytearray(raw), bytearray(sig), bytearray(msg)]
        if parts[target]:
            bit = draw(st.integers(0, len(parts[target]) * 8 - 1))
            parts[target][bit // 8] ^= 1 << (bit % 8)
        out.append((bytes(parts[0]), bytes(parts[1]), bytes(parts[2])))
    return out


@settings(max_examples=150, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=300), data=st.data())
def test_same_verdict_as_cryptography_on_mutated_inputs(
    seed: bytes, msg: bytes, data: st.DataObject
) -> None:
    key = private_key_from_seed(seed)
    raw, sig = raw_public(key.public_key()), key.sign(msg)
    assert _native.Ed25519Private(seed).sign(msg) == sig
    for case in _mutations(raw, sig, msg, data.draw):
        assert dalek(*case) == pyca(*case), case


@settings(max_examples=200, deadline=None)
@given(
    raw=st.binary(min_size=32, max_size=32),
    r=st.binary(min_size=32, max_size=32),
    s=st.integers(0, L - 1),
    msg=st.binary(max_size=64),
)
def test_same_verdict_on_random_keys_and_signatures(
    raw: bytes, r: bytes, s: int, msg: bytes
) -> None:
    # s below L, so that the keys' decoding and the equation are what is compared
    sig = r + s.to_bytes(32, "little")
    assert dalek(raw, sig, msg) == pyca(raw, sig, msg)


@pytest.mark.parametrize("msg", [b"", b"any message", bytes(range(256))])
def test_a_key_is_hashed_as_its_bytes_are(msg: bytes, implementation: str) -> None:
    # A = the identity written non-canonically (y = p + 1), R = the identity, s = 0:
    # [0]B = R + [k]A for every k, so it verifies for any message -- in both, because
    # both hash A's bytes as received and compare R by its encoding (speccheck 10-11)
    identity_alias, identity = bytes.fromhex("ee" + "ff" * 30 + "7f"), bytes([1]) + bytes(31)
    assert pyca(identity_alias, identity + bytes(32), msg)
    assert dalek(identity_alias, identity + bytes(32), msg)
    assert ed25519_verify(identity_alias, identity + bytes(32), msg)
    # R written non-canonically (y = p + 1) never equals the encoding of a computed point
    assert not pyca(identity_alias, identity_alias + bytes(32), msg)
    assert not ed25519_verify(identity_alias, identity_alias + bytes(32), msg)


def test_bytes_like_arguments(implementation: str) -> None:
    # as cryptography takes them; the native code reads bytes only, hub.keys converts
    key = private_key_from_seed(b"\x09" * 32)
    raw, message = raw_public(key.public_key()), b"a message"
    signature = ed25519_sign(key, bytearray(message))
    assert signature == key.sign(message)
    assert ed25519_sign(key, memoryview(message)) == signature
    assert ed25519_verify(bytearray(raw), memoryview(signature), bytearray(message))
    assert not ed25519_verify(bytearray(raw), memoryview(signature), bytearray(b"another"))


def test_verifies_from_several_threads() -> None:
    # the native verify lets go of the GIL; answers stay each thread's own
    keys_ = [private_key_from_seed(bytes([i + 1]) * 32) for i in range(4)]
    cases = [
        (raw_public(k.public_key()), k.sign(bytes([i]) * 500), bytes([i]) * 500)
        for i, k in enumerate(keys_)
    ]
    wrong: list[int] = []

    def work(i: int) -> None:
        raw, sig, msg = cases[i]
        other = cases[(i + 1) % len(cases)]
        for _ in range(200):
            if not ed25519_verify(raw, sig, msg) or ed25519_verify(raw, other[1], msg):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_hub_keys_use_the_native_verify_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # the switch works both ways: with it off, hub.keys never reaches the native module
    calls: list[bytes] = []
    real = keys._native_public

    def counted(raw: bytes) -> Any:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(keys, "_native_public", counted)
    key = private_key_from_seed(b"\x05" * 32)
    raw, sig = raw_public(key.public_key()), key.sign(b"m")
    assert ed25519_verify(raw, sig, b"m")
    assert calls == [raw]
    monkeypatch.setattr(native, "ENABLED", False)
    assert ed25519_verify(raw, sig, b"m")
    assert calls == [raw]
