"""RFC 9497 ristretto255-SHA512 byte for byte (Appendix A.1.1), and the refusals of bad elements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.errors import MatchError, Reason
from hub.matching import oprf

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc9497-oprf"
SUITE = json.loads((VECTORS / "ristretto255-sha512.json").read_text(encoding="utf-8"))
MODES = {"OPRF": oprf.MODE_OPRF, "VOPRF": oprf.MODE_VOPRF, "POPRF": oprf.MODE_POPRF}
H = bytes.fromhex


def _mode(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in SUITE["modes"] if m["mode"] == name)
    return found


def _cases(name: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in _mode(name)["vectors"]]


@pytest.mark.parametrize("name", ["OPRF", "VOPRF", "POPRF"])
def test_derive_key_pair(name: str) -> None:
    m = _mode(name)
    sk, pk = oprf.derive_key_pair(H(m["Seed"]), H(m["KeyInfo"]), MODES[name])
    assert sk.hex() == m["skSm"]
    if "pkSm" in m:
        assert pk.hex() == m["pkSm"]


@pytest.mark.parametrize("v", _cases("OPRF"))
def test_oprf_mode(v: dict[str, Any]) -> None:
    sk = H(_mode("OPRF")["skSm"])
    for i, x in enumerate(v["Input"]):
        factor, blinded = oprf.blind(H(x), mode=oprf.MODE_OPRF, blind=H(v["Blind"][i]))
        assert blinded.hex() == v["BlindedElement"][i]
        evaluated = oprf.blind_evaluate(sk, blinded)
        assert evaluated.hex() == v["EvaluationElement"][i]
        assert oprf.finalize(H(x), factor, evaluated, mode=oprf.MODE_OPRF).hex() == v["Output"][i]
        assert oprf.evaluate(sk, H(x), mode=oprf.MODE_OPRF).hex() == v["Output"][i]


@pytest.mark.parametrize("v", _cases("VOPRF"))
def test_voprf_mode(v: dict[str, Any]) -> None:
    m = _mode("VOPRF")
    sk, pk = H(m["skSm"]), H(m["pkSm"])
    blinds = [oprf.blind(H(x), blind=H(b)) for x, b in zip(v["Input"], v["Blind"], strict=True)]
    assert [b.hex() for _, b in blinds] == v["BlindedElement"]
    blinded = [b for _, b in blinds]
    evaluated, proof = oprf.blind_evaluate_batch(sk, blinded, r=H(v["ProofRandomScalar"]))
    assert [e.hex() for e in evaluated] == v["EvaluationElement"]
    assert proof.hex() == v["Proof"]
    assert oprf.verify_proof(oprf.GENERATOR, pk, blinded, evaluated, proof, mode=oprf.MODE_VOPRF)
    outputs = [
        oprf.finalize(H(x), f, e).hex()
        for x, (f, _), e in zip(v["Input"], blinds, evaluated, strict=True)
    ]
    assert outputs == v["Output"]
    assert [oprf.evaluate(sk, H(x)).hex() for x in v["Input"]] == v["Output"]
    if v["Batch"] == 1:  # the RFC's Finalize, proof included
        got = oprf.finalize(
            H(v["Input"][0]),
            blinds[0][0],
            evaluated[0],
            blinded=blinded[0],
            public_key=pk,
            proof=proof,
        )
        assert got.hex() == v["Output"][0]


@pytest.mark.parametrize("v", _cases("POPRF"))
def test_poprf_mode(v: dict[str, Any]) -> None:
    m = _mode("POPRF")
    sk, pk, info = H(m["skSm"]), H(m["pkSm"]), H(v["Info"])
    blinds = [
        oprf.blind(H(x), mode=oprf.MODE_POPRF, blind=H(b))
        for x, b in zip(v["Input"], v["Blind"], strict=True)
    ]
    assert [b.hex() for _, b in blinds] == v["BlindedElement"]
    blinded = [b for _, b in blinds]
    evaluated, proof = oprf.poprf_blind_evaluate(sk, blinded, info, r=H(v["ProofRandomScalar"]))
    assert [e.hex() for e in evaluated] == v["EvaluationElement"]
    assert proof.hex() == v["Proof"]
    outputs = oprf.poprf_finalize(
        [H(x) for x in v["Input"]],
        [f for f, _ in blinds],
        evaluated,
        blinded,
        proof=proof,
        info=info,
        tweaked_key=oprf.poprf_tweaked_key(pk, info),
    )
    assert [o.hex() for o in outputs] == v["Output"]


def test_random_blinds_give_the_same_output() -> None:
    sk, pk = oprf.derive_key_pair(bytes(32), b"trm", oprf.MODE_VOPRF)
    outs = set()
    for _ in range(3):
        factor, blinded = oprf.blind(b"+66812345678")
        evaluated, proof = oprf.blind_evaluate_batch(sk, [blinded])
        outs.add(
            oprf.finalize(
                b"+66812345678",
                factor,
                evaluated[0],
                blinded=blinded,
                public_key=pk,
                proof=proof,
            )
        )
    assert outs == {oprf.evaluate(sk, b"+66812345678")}


# --- refusals ------------------------------------------------------------------------

NOT_CANONICAL = b"\x01" + bytes(31)  # s = 1 is odd: a "negative" field element
BAD_ELEMENTS = [
    pytest.param(oprf.IDENTITY, "identity", id="identity"),
    pytest.param(NOT_CANONICAL, "canonical", id="negative-s"),
    pytest.param(b"\xff" * 32, "canonical", id="over-the-field"),
    pytest.param(bytes(31), "32-byte", id="short"),
    pytest.param(oprf.GENERATOR + b"\x00", "32-byte", id="long"),
]


@pytest.mark.parametrize(("data", "said"), BAD_ELEMENTS)
def test_blind_evaluate_refuses_bad_blinded_elements(data: bytes, said: str) -> None:
    sk, _ = oprf.derive_key_pair(bytes(32), b"k", oprf.MODE_VOPRF)
    with pytest.raises(MatchError) as caught:
        oprf.blind_evaluate_batch(sk, [data])
    assert caught.value.reason is Reason.MATCH_ELEMENT_INVALID
    assert said in caught.value.detail
    assert data.hex() not in caught.value.detail


@pytest.mark.parametrize(("data", "said"), BAD_ELEMENTS)
def test_finalize_refuses_bad_evaluated_elements(data: bytes, said: str) -> None:
    factor, _ = oprf.blind(b"x")
    with pytest.raises(MatchError) as caught:
        oprf.finalize(b"x", factor, data)
    assert caught.value.reason is Reason.MATCH_ELEMENT_INVALID
    assert said in caught.value.detail


def test_a_tampered_proof_is_refused_by_finalize() -> None:
    v = _mode("VOPRF")
    sk, pk = H(v["skSm"]), H(v["pkSm"])
    factor, blinded = oprf.blind(b"x")
    evaluated, proof = oprf.blind_evaluate_batch(sk, [blinded])
    tampered = proof[:-1] + bytes([proof[-1] ^ 1])
    other_key = oprf.derive_key_pair(bytes(32), b"other", oprf.MODE_VOPRF)[1]
    for args in ((pk, tampered), (other_key, proof)):
        with pytest.raises(MatchError) as caught:
            oprf.finalize(
                b"x", factor, evaluated[0], blinded=blinded, public_key=args[0], proof=args[1]
            )
        assert caught.value.reason is Reason.MATCH_EVALUATION_FORGED


def test_verify_proof_refuses_non_canonical_scalars() -> None:
    v = _mode("VOPRF")
    sk, pk = H(v["skSm"]), H(v["pkSm"])
    _, blinded = oprf.blind(b"x")
    evaluated, proof = oprf.blind_evaluate_batch(sk, [blinded])
    order = 2**252 + 27742317777372353535851937790883648493
    # s + L is the same scalar modulo L, but not its canonical encoding
    s_plus_l = (int.from_bytes(proof[32:], "little") + order).to_bytes(32, "little")
    ok = oprf.verify_proof(oprf.GENERATOR, pk, [blinded], evaluated, proof, mode=1)
    assert ok
    assert not oprf.verify_proof(
        oprf.GENERATOR, pk, [blinded], evaluated, proof[:32] + s_plus_l, mode=1
    )
    assert not oprf.verify_proof(oprf.GENERATOR, pk, [blinded], evaluated, proof[:63], mode=1)


def test_zero_blind_and_zero_key_are_refused() -> None:
    with pytest.raises(MatchError):
        oprf.blind(b"x", blind=bytes(32))
    with pytest.raises(MatchError):
        oprf.public_key(bytes(32))


def test_multiply_gives_the_identity_where_libsodium_refuses() -> None:
    assert oprf.multiply(bytes(32), oprf.GENERATOR) == oprf.IDENTITY
    assert oprf.multiply(oprf.random_scalar(), oprf.IDENTITY) == oprf.IDENTITY


def test_expand_message_xmd_rfc9380_k3() -> None:
    """RFC 9380 Appendix K.3, expand_message_xmd(SHA-512), as several implementations quote it."""
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert oprf.expand_message_xmd(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )
    assert oprf.expand_message_xmd(b"abc", dst, 0x20).hex() == (
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    )
    assert oprf.expand_message_xmd(b"abc", dst, 0x80).hex() == (
        "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
        "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
        "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
        "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"
    )
    with pytest.raises(ValueError, match="DST"):
        oprf.expand_message_xmd(b"abc", b"D" * 256, 64)
