"""The sealed (v2) vectors in tests/vectors/sealed/: no drift, and each gives its outcome.

The vectors are applied here as a foreign implementation would apply them,
from the JSON files alone (trust.json, seal-keys.json and the vector), through
``hub.conformance.sealed`` (what ``trm conformance`` runs); good-01's
intermediate values are recomputed from the spec's formulas with independent
primitives (``cryptography``'s ChaCha20-Poly1305 and
Ed25519, pyhpke's HPKE).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from hub.conformance import sealed
from hub.errors import Reason
from hub.trust import TrustList
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    Envelope,
    open_envelope,
    pae,
    payload_record_bytes,
    payload_to_json,
    unseal,
    verify,
)
from tests.vectors import generate_sealed
from tests.vectors.generate_wire import render

SEALED = Path(__file__).resolve().parents[2] / "vectors" / "sealed"
FILES = sealed.vector_files(SEALED)
HPKE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305)


def _load(name: str) -> Any:
    return json.loads((SEALED / name).read_text(encoding="utf-8"))


def _keys() -> TrustList:
    return sealed.key_directory(SEALED)


def _keyring(recipient: str) -> Callable[[str], X25519PrivateKey]:
    return sealed.keyring(SEALED, recipient)


def test_generator_reproduces_the_files_exactly() -> None:
    built = generate_sealed.build()
    assert {p.name for p in SEALED.glob("*.json")} == set(built)
    for name, content in built.items():
        assert (SEALED / name).read_text(encoding="utf-8") == render(content), name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_gives_expected_outcome(path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert vector["description"]
    assert sealed.outcome(vector, _keys(), SEALED) == vector["expected"]


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name.startswith("good-")], ids=lambda p: p.stem
)
def test_open_envelope_reads_what_the_steps_read(path: Path) -> None:
    """The one-call recipient API gives a good vector's values too."""
    vector = json.loads(path.read_text(encoding="utf-8"))
    recipient = vector["recipient"]
    got = open_envelope(
        bytes.fromhex(vector["envelope"]),
        _keys(),
        kafka_headers=None
        if vector["kafka_headers"] is None
        else [(k, v.encode()) for k, v in vector["kafka_headers"]],
        recipient=recipient,
        private_key=None if recipient is None else _keyring(recipient),
    )
    assert (
        payload_to_json(dict(sorted(got.event.fields.items()))) == (vector["expected"]["disclosed"])
    )
    assert sorted(got.event.sealed) == ([] if recipient else vector["expected"]["sealed_fields"])


def _bad() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in FILES if p.name.startswith("bad-")]


def test_every_sealing_reason_has_a_vector_and_every_step_a_refusal() -> None:
    reasons = {v["expected"]["reason"] for v in _bad()}
    assert {Reason.SEALING_INVALID.value, Reason.SEAL_MISMATCH.value} <= reasons
    assert {Reason.SEAL_KEY_MISSING.value, Reason.KEY_DESTROYED.value} <= reasons
    steps = {v["expected"]["step"] for v in _bad()}
    assert steps == {"verify", "ingest", "open"}
    # A vector refused when opening names who opens it and with which key id.
    for v in _bad():
        if v["expected"]["step"] == "open":
            assert v["recipient"] is not None
        if v["expected"]["step"] == "ingest":
            assert v["ingest"] is True


def test_seal_keys_are_what_they_say() -> None:
    for e in _load("seal-keys.json")["keys"]:
        public = bytes.fromhex(e["public_key"])
        assert e["key_id"] == hashlib.sha256(public).hexdigest()
        if e["private_key"] is not None:
            private = X25519PrivateKey.from_private_bytes(bytes.fromhex(e["private_key"]))
            assert private.public_key().public_bytes_raw() == public
        else:
            assert e["destroyed_at_ms"] is not None


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


@pytest.mark.parametrize(
    "name", ["good-01-referral-submission.json", "good-03-acknowledgement.json"]
)
def test_intermediate_values_follow_from_the_spec(name: str) -> None:
    """Recompute every intermediate value from the spec's formulas, without hub.wire."""
    vector = _load(name)
    i = vector["intermediate"]
    event_id = i["event_id"].encode("ascii")
    data_key = _h(i["data_key"])
    listed: set[bytes] = set()
    for d in i["clear_disclosures"]:
        assert _h(d["digest"]) == hashlib.sha256(_h(d["bytes"])).digest()
        listed.add(_h(d["digest"]))
    for s in i["sealed_disclosures"]:
        plaintext, padded = _h(s["plaintext"]), _h(s["padded_plaintext"])
        assert len(padded) % 64 == 0
        assert len(padded) - len(plaintext) < 64
        assert padded == plaintext + bytes(len(padded) - len(plaintext))
        assert _h(s["commitment"]) == hashlib.sha256(plaintext).digest()
        aad = b"trm.sealed.v2\x00" + event_id + b"\x00" + s["field"].encode()
        assert _h(s["aad"]) == aad
        ciphertext = ChaCha20Poly1305(data_key).encrypt(_h(s["nonce"]), padded, aad)
        assert _h(s["ciphertext"]) == ciphertext
        field = s["field"].encode()
        record = bytes([len(field) << 1]) + field + _h(s["commitment"]) + _h(s["nonce"])
        assert _h(s["bytes"]).startswith(record)
        assert _h(s["bytes"]).endswith(ciphertext)
        assert _h(s["digest"]) == hashlib.sha256(b"trm.sealed.v2\x00" + _h(s["bytes"])).digest()
        listed.add(_h(s["digest"]))
    seal_keys = {e["key_id"]: e for e in _load("seal-keys.json")["keys"]}
    for w in i["key_wraps"]:
        info = b"trm.key-wrap.v2\x00" + b"\x00".join(
            [event_id, w["recipient"].encode(), w["key_id"].encode()]
        )
        assert _h(w["info"]) == info
        eks = HPKE.kem.derive_key_pair(_h(w["ikm_e"]))
        assert eks.private_key.to_private_bytes() == _h(w["sk_e"])
        assert eks.public_key.to_public_bytes() == _h(w["enc"])
        private = HPKE.kem.deserialize_private_key(_h(seal_keys[w["key_id"]]["private_key"]))
        opened = HPKE.create_recipient_context(_h(w["enc"]), private, info).open(_h(w["wrapped"]))
        assert opened == data_key
        assert _h(w["digest"]) == hashlib.sha256(b"trm.key-wrap.v2\x00" + _h(w["bytes"])).digest()
        listed.add(_h(w["digest"]))
    decoys = {_h(d) for d in i["decoys"]}
    digests = [_h(d) for d in i["disclosure_digests"]]
    assert digests == sorted(listed | decoys)
    assert len(digests) == len(listed) + len(decoys)
    header = _h(i["header"])
    assert _h(i["pae"]) == pae(HEADER_PAYLOAD_TYPE, header)
    signer = next(e for e in _load("trust.json")["signed"]["keys"] if e["key_id"] == i["key_id"])
    Ed25519PublicKey.from_public_bytes(base64.b64decode(signer["public"])).verify(
        _h(i["signature"]), _h(i["pae"])
    )
    envelope = _h(vector["envelope"])
    assert header in envelope
    assert _h(vector["expected"]["event_digest"]) == hashlib.sha256(header).digest()
    # The payload record: the opened values in schema order, 00 for each absent field.
    event = unseal(
        verify(Envelope.from_bytes(envelope), _keys()),
        recipient=vector["recipient"],
        private_key=_keyring(vector["recipient"]),
    )
    assert payload_record_bytes(event) == _h(i["payload_record"])


def test_every_recipient_of_the_submission_opens_it_alike() -> None:
    vector = _load("good-01-referral-submission.json")
    event = verify(Envelope.from_bytes(_h(vector["envelope"])), _keys())
    opened = [
        unseal(event, recipient=r, private_key=_keyring(r)).fields for r in event.header.recipients
    ]
    assert len(opened) == 2
    assert opened[0] == opened[1]
    assert payload_to_json(dict(sorted(opened[0].items()))) == vector["expected"]["disclosed"]
