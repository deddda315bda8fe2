"""Interop with an HPKE implementation no one here wrote: pyhpke (RFC 9180).

pyhpke has its own KEM, key schedule and contexts (it borrows only X25519,
HKDF and the AEADs from ``cryptography``). It opens what ``hpke_seal`` wraps,
``hpke_open`` opens what it wraps, neither opens a wrap that was changed, and
it reproduces the RFC 9180 A.2 vectors byte for byte, all four modes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey, KEMKeyPair, OpenError

from hub.errors import Reason, SealError
from hub.wire.hpke import ENC_SIZE, SUITE, hpke_open, hpke_seal

PEER = CipherSuite.new(
    KEMId(SUITE.kem), KDFId(SUITE.kdf), AEADId(SUITE.aead)
)  # DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305
VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "hpke" / "rfc9180-a2.json").read_text()
)["vectors"]

INFO = b"trm.key-wrap.v2\x00" + b"0190f3c2-7a4e-7b1c-8d2e-3f4a5b6c7d8e\x00KH\x00" + b"c4" * 32
PLAINTEXTS = [b"", bytes(range(32)), b"\xff" * 1000]


def test_the_peer_is_the_suite_of_the_key_wrap() -> None:
    assert PEER.kem.id is KEMId.DHKEM_X25519_HKDF_SHA256
    assert PEER.kdf.id is KDFId.HKDF_SHA256
    assert PEER.aead.id is AEADId.CHACHA20_POLY1305


@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=["empty", "dek", "1000"])
def test_pyhpke_opens_what_hpke_seal_wrapped(plaintext: bytes) -> None:
    private = X25519PrivateKey.generate()
    enc, ct = hpke_seal(private.public_key(), INFO, plaintext)
    skr = KEMKey.from_pyca_cryptography_key(private)
    assert PEER.create_recipient_context(enc, skr, INFO).open(ct) == plaintext
    # Another info, or another recipient key, does not open it there either.
    with pytest.raises(OpenError):
        PEER.create_recipient_context(enc, skr, INFO + b"!").open(ct)
    other = KEMKey.from_pyca_cryptography_key(X25519PrivateKey.generate())
    with pytest.raises(OpenError):
        PEER.create_recipient_context(enc, other, INFO).open(ct)


@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=["empty", "dek", "1000"])
def test_hpke_open_opens_what_pyhpke_wrapped(plaintext: bytes) -> None:
    private = X25519PrivateKey.generate()
    pkr = KEMKey.from_pyca_cryptography_key(private.public_key())
    enc, sender = PEER.create_sender_context(pkr, INFO)
    ct = sender.seal(plaintext)
    assert len(enc) == ENC_SIZE
    assert hpke_open(private, enc, INFO, ct) == plaintext


def _peer_wrap() -> tuple[X25519PrivateKey, bytes, bytes]:
    private = X25519PrivateKey.generate()
    pkr = KEMKey.from_pyca_cryptography_key(private.public_key())
    enc, sender = PEER.create_sender_context(pkr, INFO)
    return private, enc, sender.seal(bytes(range(32)))


def _mismatch(private: X25519PrivateKey, enc: bytes, info: bytes, ct: bytes) -> None:
    with pytest.raises(SealError) as caught:
        hpke_open(private, enc, info, ct)
    assert caught.value.reason is Reason.SEAL_MISMATCH


def test_a_peer_wrap_for_another_key_is_refused() -> None:
    _, enc, ct = _peer_wrap()
    _mismatch(X25519PrivateKey.generate(), enc, INFO, ct)


@pytest.mark.parametrize("index", [0, 13, ENC_SIZE - 1])
def test_a_peer_wrap_with_a_flipped_enc_bit_is_refused(index: int) -> None:
    private, enc, ct = _peer_wrap()
    for bit in range(8):
        bad = bytearray(enc)
        bad[index] ^= 1 << bit
        _mismatch(private, bytes(bad), INFO, ct)


@pytest.mark.parametrize("index", [0, 20, -1])
def test_a_peer_wrap_with_a_flipped_ciphertext_bit_is_refused(index: int) -> None:
    private, enc, ct = _peer_wrap()
    for bit in range(8):
        bad = bytearray(ct)
        bad[index] ^= 1 << bit
        _mismatch(private, enc, INFO, bytes(bad))


def test_a_peer_wrap_under_another_info_is_refused() -> None:
    private, enc, ct = _peer_wrap()
    _mismatch(private, enc, INFO.replace(b"\x00KH\x00", b"\x00TH\x00"), ct)
    _mismatch(private, enc, b"", ct)
    assert hpke_open(private, enc, INFO, ct) == bytes(range(32))


def _h(record: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(record.get(name, ""))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"mode-{v['mode']}")
def test_pyhpke_reproduces_the_rfc9180_vectors(vector: dict[str, Any]) -> None:
    kem = PEER.kem
    eks = kem.derive_key_pair(_h(vector, "ikmE"))
    skr = kem.derive_key_pair(_h(vector, "ikmR")).private_key
    assert eks.private_key.to_private_bytes() == _h(vector, "skEm")
    assert eks.public_key.to_public_bytes() == _h(vector, "pkEm")
    assert skr.to_private_bytes() == _h(vector, "skRm")
    pkr = kem.deserialize_public_key(_h(vector, "pkRm"))
    sks = pks = None
    if "ikmS" in vector:
        sender_pair = kem.derive_key_pair(_h(vector, "ikmS"))
        sks, pks = sender_pair.private_key, kem.deserialize_public_key(_h(vector, "pkSm"))
        assert sender_pair.public_key.to_public_bytes() == _h(vector, "pkSm")
    info, psk, psk_id = _h(vector, "info"), _h(vector, "psk"), _h(vector, "psk_id")
    enc, sender = PEER.create_sender_context(
        pkr, info, sks=sks, psk=psk, psk_id=psk_id, eks=KEMKeyPair(eks.private_key, eks.public_key)
    )
    assert enc == _h(vector, "enc")
    recipient = PEER.create_recipient_context(enc, skr, info, pks=pks, psk=psk, psk_id=psk_id)
    # Contexts only count up: the two step together through every sequence
    # number to 256, and each listed one must match the RFC byte for byte.
    listed = {e["sequence_number"]: e for e in vector["encryptions"]}
    seen = 0
    for seq in range(max(listed) + 1):
        e = listed.get(seq)
        pt = _h(e, "pt") if e else b"filler"
        aad = _h(e, "aad") if e else f"Count-{seq}".encode()
        ct = sender.seal(pt, aad)
        if e:
            assert ct == _h(e, "ct"), seq
            seen += 1
        assert recipient.open(ct, aad) == pt, seq
    assert seen == len(vector["encryptions"])
    for e in vector["exports"]:
        want = _h(e, "exported_value")
        assert sender.export(_h(e, "exporter_context"), e["L"]) == want
        assert recipient.export(_h(e, "exporter_context"), e["L"]) == want
