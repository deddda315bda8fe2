"""The HPKE key wrap: RFC 9180 A.2 vectors, an independent key schedule, refusals.

The reference below is RFC 9180 sections 4, 5.1, 5.2 and 5.3 written out over
plain primitives (X25519, HMAC-SHA256, HKDF-Expand, ChaCha20-Poly1305); it
shares no code with ``cryptography``'s HPKE. It reproduces every value of every
mode of the published vectors, then checks ``hpke_seal``'s output is RFC 9180
base mode and ``hpke_open`` opens what RFC 9180 base mode makes.
"""

from __future__ import annotations

import hmac
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import Reason, SealError, TrmError, WireError
from hub.wire import hpke as hpke_module
from hub.wire.hpke import ENC_SIZE, SUITE, TAG_SIZE, HpkeSuite, hpke_open, hpke_seal

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors" / "hpke"
VECTOR_FILE = VECTORS_DIR / "rfc9180-a2.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text())["vectors"]
MODE_NAMES = {0: "base", 1: "psk", 2: "auth", 3: "auth_psk"}


def _id(vector: dict[str, Any]) -> str:
    return MODE_NAMES[vector["mode"]]


def _h(vector: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(vector.get(name, ""))


# --- RFC 9180 over plain primitives -----------------------------------------

VERSION = b"HPKE-v1"
NH = 32  # HKDF-SHA256 output
NK = 32  # ChaCha20Poly1305 key
NN = 12  # ChaCha20Poly1305 nonce
NSECRET = 32  # DHKEM(X25519, HKDF-SHA256)
KEM_SUITE_ID = b"KEM" + (0x0020).to_bytes(2, "big")  # section 4.1
HPKE_SUITE_ID = b"HPKE" + b"\x00\x20" + b"\x00\x01" + b"\x00\x03"  # section 5.1


def raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    # HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM); an empty salt is HashLen zeros.
    return hmac.digest(salt or bytes(NH), VERSION + suite_id + label + ikm, "sha256")


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + VERSION + suite_id + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled_info).derive(prk)


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """Section 7.1.3 for X25519: (skXm, pkXm)."""
    dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE_ID, dkp_prk, b"sk", b"", 32)
    return sk, raw(X25519PrivateKey.from_private_bytes(sk).public_key())


def extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, NSECRET)


def dh(sk: bytes, pk: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(sk).exchange(X25519PublicKey.from_public_bytes(pk))


def encap(sk_e: bytes, pk_r: bytes, sk_s: bytes | None = None) -> tuple[bytes, bytes]:
    """Encap / AuthEncap (section 4.1) with a given ephemeral key: (shared_secret, enc)."""
    enc = raw(X25519PrivateKey.from_private_bytes(sk_e).public_key())
    secret = dh(sk_e, pk_r)
    kem_context = enc + pk_r
    if sk_s is not None:
        secret += dh(sk_s, pk_r)
        kem_context += raw(X25519PrivateKey.from_private_bytes(sk_s).public_key())
    return extract_and_expand(secret, kem_context), enc


def decap(enc: bytes, sk_r: bytes, pk_s: bytes | None = None) -> bytes:
    """Decap / AuthDecap (section 4.1)."""
    pk_r = raw(X25519PrivateKey.from_private_bytes(sk_r).public_key())
    secret = dh(sk_r, enc)
    kem_context = enc + pk_r
    if pk_s is not None:
        secret += dh(sk_r, pk_s)
        kem_context += pk_s
    return extract_and_expand(secret, kem_context)


@dataclass(frozen=True, slots=True)
class Context:
    key_schedule_context: bytes
    secret: bytes
    key: bytes
    base_nonce: bytes
    exporter_secret: bytes

    def nonce(self, seq: int) -> bytes:
        """ComputeNonce (section 5.2)."""
        return bytes(a ^ b for a, b in zip(self.base_nonce, seq.to_bytes(NN, "big"), strict=True))

    def seal(self, seq: int, aad: bytes, pt: bytes) -> bytes:
        return ChaCha20Poly1305(self.key).encrypt(self.nonce(seq), pt, aad)

    def open(self, seq: int, aad: bytes, ct: bytes) -> bytes:
        return ChaCha20Poly1305(self.key).decrypt(self.nonce(seq), ct, aad)

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Section 5.3."""
        return labeled_expand(HPKE_SUITE_ID, self.exporter_secret, b"sec", exporter_context, length)


def key_schedule(
    mode: int, shared_secret: bytes, info: bytes, psk: bytes = b"", psk_id: bytes = b""
) -> Context:
    """KeySchedule (section 5.1)."""
    psk_id_hash = labeled_extract(HPKE_SUITE_ID, b"", b"psk_id_hash", psk_id)
    info_hash = labeled_extract(HPKE_SUITE_ID, b"", b"info_hash", info)
    ksc = bytes([mode]) + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_SUITE_ID, shared_secret, b"secret", psk)
    return Context(
        key_schedule_context=ksc,
        secret=secret,
        key=labeled_expand(HPKE_SUITE_ID, secret, b"key", ksc, NK),
        base_nonce=labeled_expand(HPKE_SUITE_ID, secret, b"base_nonce", ksc, NN),
        exporter_secret=labeled_expand(HPKE_SUITE_ID, secret, b"exp", ksc, NH),
    )


def context_of(vector: dict[str, Any]) -> Context:
    shared = decap(_h(vector, "enc"), _h(vector, "skRm"), _h(vector, "pkSm") or None)
    return key_schedule(
        vector["mode"], shared, _h(vector, "info"), _h(vector, "psk"), _h(vector, "psk_id")
    )


# --- the vectors --------------------------------------------------------------


def test_the_vectors_are_rfc9180_a2_and_match_their_text() -> None:
    script = VECTORS_DIR / "extract_rfc9180.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [v["mode"] for v in VECTORS] == [0, 1, 2, 3]
    for vector in VECTORS:
        assert (vector["kem_id"], vector["kdf_id"], vector["aead_id"]) == (0x0020, 0x0001, 0x0003)
        assert [e["sequence_number"] for e in vector["encryptions"]] == [0, 1, 2, 4, 255, 256]
        assert len(vector["exports"]) == 3


def test_suite_constants_are_the_vectors_suite() -> None:
    assert (SUITE.kem, SUITE.kdf, SUITE.aead) == (0x0020, 0x0001, 0x0003)
    assert SUITE.suite_id == HPKE_SUITE_ID == b"HPKE\x00\x20\x00\x01\x00\x03"
    p256_aes128 = HpkeSuite(kem=0x0010, kdf=0x0001, aead=0x0001)
    assert p256_aes128.suite_id == b"HPKE\x00\x10\x00\x01\x00\x01"
    assert ENC_SIZE == 32
    assert TAG_SIZE == 16


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_key_pairs_derive_from_their_ikm(vector: dict[str, Any]) -> None:
    for role in ("E", "R", "S"):
        if f"ikm{role}" not in vector:
            continue
        sk, pk = derive_key_pair(_h(vector, f"ikm{role}"))
        assert sk == _h(vector, f"sk{role}m"), role
        assert pk == _h(vector, f"pk{role}m"), role
    assert _h(vector, "enc") == _h(vector, "pkEm")


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_kem_shared_secret_both_sides(vector: dict[str, Any]) -> None:
    sk_s = _h(vector, "skSm") or None
    sender_secret, enc = encap(_h(vector, "skEm"), _h(vector, "pkRm"), sk_s)
    assert enc == _h(vector, "enc")
    assert sender_secret == _h(vector, "shared_secret")
    assert decap(enc, _h(vector, "skRm"), _h(vector, "pkSm") or None) == sender_secret
    if sk_s is not None:
        # Auth modes: the KEM authenticates the sender; another sender key gives another secret.
        assert decap(enc, _h(vector, "skRm"), _h(vector, "pkRm")) != sender_secret


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_key_schedule(vector: dict[str, Any]) -> None:
    ctx = context_of(vector)
    assert ctx.key_schedule_context == _h(vector, "key_schedule_context")
    assert ctx.secret == _h(vector, "secret")
    assert ctx.key == _h(vector, "key")
    assert ctx.base_nonce == _h(vector, "base_nonce")
    assert ctx.exporter_secret == _h(vector, "exporter_secret")


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_every_encryption(vector: dict[str, Any]) -> None:
    ctx = context_of(vector)
    for e in vector["encryptions"]:
        seq, pt, aad, ct = e["sequence_number"], _h(e, "pt"), _h(e, "aad"), _h(e, "ct")
        assert ctx.nonce(seq) == _h(e, "nonce"), seq
        assert ctx.seal(seq, aad, pt) == ct, seq
        assert ctx.open(seq, aad, ct) == pt, seq
        with pytest.raises(InvalidTag):
            ctx.open(seq + 1, aad, ct)


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_every_exported_value(vector: dict[str, Any]) -> None:
    ctx = context_of(vector)
    for e in vector["exports"]:
        assert ctx.export(_h(e, "exporter_context"), e["L"]) == _h(e, "exported_value")


def test_cryptography_hpke_opens_the_base_vector() -> None:
    """The module's own suite object opens the RFC's mode-0, sequence-0 encryption.

    Single shot is sequence 0 only, and only base mode; the vector's first
    encryption carries aad "Count-0", which ``_decrypt_with_aad`` takes.
    """
    (base,) = (v for v in VECTORS if v["mode"] == 0)
    first = base["encryptions"][0]
    assert first["sequence_number"] == 0
    private = X25519PrivateKey.from_private_bytes(_h(base, "skRm"))
    assert raw(private.public_key()) == _h(base, "pkRm")
    wrapped = _h(base, "enc") + _h(first, "ct")
    suite = hpke_module._SUITE
    pt = rust_openssl.hpke._decrypt_with_aad(
        suite, wrapped, private, info=_h(base, "info"), aad=_h(first, "aad")
    )
    assert pt == _h(first, "pt")
    with pytest.raises(InvalidTag):
        rust_openssl.hpke._decrypt_with_aad(suite, wrapped, private, info=_h(base, "info"))
    with pytest.raises(InvalidTag):
        rust_openssl.hpke._decrypt_with_aad(
            suite, wrapped, private, info=b"another info", aad=_h(first, "aad")
        )


# --- hpke_seal / hpke_open ----------------------------------------------------

INFO = b"trm.key-wrap.v2\x00" + b"0190f3c2-7a4e-7b1c-8d2e-3f4a5b6c7d8e\x00TH\x00" + b"ab" * 32
DEK = bytes(range(32))


def _pair() -> tuple[X25519PrivateKey, X25519PublicKey]:
    private = X25519PrivateKey.generate()
    return private, private.public_key()


def test_hpke_seal_is_rfc9180_base_mode() -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    assert len(enc) == ENC_SIZE
    assert len(ct) == len(DEK) + TAG_SIZE
    sk_r = private.private_bytes_raw()
    ctx = key_schedule(0, decap(enc, sk_r), INFO)
    assert ctx.open(0, b"", ct) == DEK
    # Base mode with this info and no aad: another mode or info does not open it.
    with pytest.raises(InvalidTag):
        key_schedule(1, decap(enc, sk_r), INFO, b"p" * 32, b"id").open(0, b"", ct)
    with pytest.raises(InvalidTag):
        key_schedule(0, decap(enc, sk_r), INFO + b"x").open(0, b"", ct)


def test_hpke_open_opens_rfc9180_base_mode() -> None:
    private, public = _pair()
    sk_e = X25519PrivateKey.generate().private_bytes_raw()
    shared, enc = encap(sk_e, raw(public))
    ct = key_schedule(0, shared, INFO).seal(0, b"", DEK)
    assert hpke_open(private, enc, INFO, ct) == DEK


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=300), info=st.binary(max_size=100))
def test_round_trip(plaintext: bytes, info: bytes) -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, info, plaintext)
    assert len(ct) == len(plaintext) + TAG_SIZE
    assert hpke_open(private, enc, info, ct) == plaintext


def test_every_seal_is_fresh() -> None:
    _, public = _pair()
    first, second = hpke_seal(public, INFO, DEK), hpke_seal(public, INFO, DEK)
    assert first[0] != second[0]
    assert first[1] != second[1]


def _refused(private: X25519PrivateKey, enc: bytes, info: bytes, ct: bytes) -> SealError:
    with pytest.raises(SealError) as caught:
        hpke_open(private, enc, info, ct)
    assert caught.value.reason is Reason.SEAL_MISMATCH
    return caught.value


def _flips(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        out.append(bytes(flipped))
    return out


def test_another_private_key_cannot_open() -> None:
    _, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    err = _refused(X25519PrivateKey.generate(), enc, INFO, ct)
    assert isinstance(err, WireError)
    assert isinstance(err, TrmError)
    assert "does not" in err.detail


def test_every_flipped_bit_of_enc_or_ct_is_refused() -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    for bad_enc in _flips(enc):
        _refused(private, bad_enc, INFO, ct)
    for bad_ct in _flips(ct):
        _refused(private, enc, INFO, bad_ct)
    assert hpke_open(private, enc, INFO, ct) == DEK


@pytest.mark.parametrize(
    "other_info",
    [b"", INFO[:-1], INFO + b"\x00", INFO.replace(b"\x00TH\x00", b"\x00KH\x00")],
    ids=["empty", "shorter", "longer", "another-recipient"],
)
def test_another_info_cannot_open(other_info: bytes) -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    _refused(private, enc, other_info, ct)


def test_changed_ciphertext_length_is_refused() -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    _refused(private, enc, INFO, ct[:-1])
    _refused(private, enc, INFO, ct + b"\x00")
    _refused(private, enc, INFO, ct[1:])


@pytest.mark.parametrize("size", [0, 1, 31, 33, 64])
def test_enc_of_the_wrong_size_is_refused(size: int) -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    err = _refused(private, (enc * 3)[:size], INFO, ct)
    assert f"enc of {ENC_SIZE} bytes; got {size} bytes" in err.detail


@pytest.mark.parametrize("size", [0, 1, 15])
def test_ciphertext_shorter_than_the_tag_is_refused(size: int) -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    err = _refused(private, enc, INFO, ct[:size])
    assert f"at least {TAG_SIZE} bytes; got {size} bytes" in err.detail


def test_a_low_order_enc_is_refused() -> None:
    private, _ = _pair()
    # All zero and 1: X25519 points whose shared secret is all zero.
    for enc in (bytes(32), (1).to_bytes(32, "little")):
        _refused(private, enc, INFO, bytes(48))


@pytest.mark.parametrize("point", [bytes(32), (1).to_bytes(32, "little")], ids=["zero", "one"])
def test_a_low_order_public_key_cannot_be_sealed_to(point: bytes) -> None:
    with pytest.raises(SealError) as caught:
        hpke_seal(X25519PublicKey.from_public_bytes(point), INFO, DEK)
    assert caught.value.reason is Reason.SEAL_KEY_MISSING
    assert "low-order" in caught.value.detail


def test_refusals_name_no_key_and_no_plaintext() -> None:
    private, public = _pair()
    enc, ct = hpke_seal(public, INFO, DEK)
    other = X25519PrivateKey.generate()
    errors = [
        _refused(other, enc, INFO, ct),
        _refused(private, enc[:-1], INFO, ct),
        _refused(private, enc, INFO, ct[:3]),
        _refused(private, enc, b"x", ct),
    ]
    secrets = [
        DEK,
        private.private_bytes_raw(),
        other.private_bytes_raw(),
        raw(public),
        enc,
        ct,
        decap(enc, private.private_bytes_raw()),
    ]
    for err in errors:
        text = f"{err} {err.detail!r} {err.as_line()} {err.__cause__!r}"
        for secret in secrets:
            assert secret.hex() not in text
            assert repr(secret)[2:-1] not in text
