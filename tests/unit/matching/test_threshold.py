"""The t-of-n split of the RFC 9497 key: shares of the vectors' skSm reproduce the vectors;
forged, missing and duplicated partial evaluations are refused and named."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import MatchError, Reason
from hub.matching import oprf
from hub.matching.threshold import (
    Commitments,
    KeyShare,
    PartialEvaluation,
    combine,
    deal,
    examine,
    partial_evaluate,
    refresh,
    verify_partial,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc9497-oprf"
SUITE = json.loads((VECTORS / "ristretto255-sha512.json").read_text(encoding="utf-8"))
VOPRF = next(m for m in SUITE["modes"] if m["mode"] == "VOPRF")
OPRF = next(m for m in SUITE["modes"] if m["mode"] == "OPRF")
H = bytes.fromhex
MEMBERS = (1, 2, 3, 4, 5, 6)  # KH CN LA MM TH VN


def _scalar(label: str) -> bytes:
    return oprf.scalar_reduce(hashlib.sha512(label.encode()).digest())


def _deal(
    secret: bytes, t: int = 3, label: str = "test"
) -> tuple[Commitments, dict[int, KeyShare]]:
    coefficients = [_scalar(f"{label}/{j}") for j in range(1, t)]
    commitments, shares = deal(secret, t, MEMBERS, coefficients=coefficients)
    return commitments, {s.index: s for s in shares}


SUBSETS = [(1, 2, 3), (4, 5, 6), (1, 3, 6), (2, 4, 5), (6, 1, 4)]


@pytest.mark.parametrize("subset", SUBSETS, ids=lambda s: "-".join(map(str, s)))
def test_shares_of_the_vectors_key_reproduce_the_voprf_vectors(subset: tuple[int, ...]) -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    assert commitments.public_key().hex() == VOPRF["pkSm"]
    for v in VOPRF["vectors"]:
        for i, x in enumerate(v["Input"]):
            factor, blinded = oprf.blind(H(x), blind=H(v["Blind"][i]))
            assert blinded.hex() == v["BlindedElement"][i]
            partials = [partial_evaluate(shares[j], commitments, blinded) for j in subset]
            evaluated = combine(commitments, blinded, partials)
            assert evaluated.hex() == v["EvaluationElement"][i]
            assert oprf.finalize(H(x), factor, evaluated).hex() == v["Output"][i]


@pytest.mark.parametrize("subset", SUBSETS[:3], ids=lambda s: "-".join(map(str, s)))
def test_shares_of_the_vectors_key_reproduce_the_oprf_vectors(subset: tuple[int, ...]) -> None:
    # the same combination, with the OPRF-mode key and inputs hashed in OPRF mode
    commitments, shares = _deal(H(OPRF["skSm"]), label="oprf")
    for v in OPRF["vectors"]:
        x = H(v["Input"][0])
        factor, blinded = oprf.blind(x, mode=oprf.MODE_OPRF, blind=H(v["Blind"][0]))
        partials = [partial_evaluate(shares[j], commitments, blinded) for j in subset]
        evaluated = combine(commitments, blinded, partials)
        assert evaluated.hex() == v["EvaluationElement"][0]
        assert oprf.finalize(x, factor, evaluated, mode=oprf.MODE_OPRF).hex() == v["Output"][0]


def test_each_partial_is_an_rfc9497_voprf_evaluation_under_its_share() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    p = partial_evaluate(shares[4], commitments, blinded)
    pk4 = commitments.share_public_key(4)
    assert pk4 == oprf.public_key(shares[4].scalar)
    assert oprf.verify_proof(oprf.GENERATOR, pk4, [blinded], [p.evaluated], p.proof, mode=1)


def test_more_valid_partials_than_the_threshold_are_fine() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _factor, blinded = oprf.blind(b"\x00", blind=H(VOPRF["vectors"][0]["Blind"][0]))
    partials = [partial_evaluate(s, commitments, blinded) for s in shares.values()]
    assert (
        combine(commitments, blinded, partials).hex() == VOPRF["vectors"][0]["EvaluationElement"][0]
    )


def test_t_minus_one_partials_are_refused() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    partials = [partial_evaluate(shares[j], commitments, blinded) for j in (2, 5)]
    with pytest.raises(MatchError) as caught:
        combine(commitments, blinded, partials)
    assert caught.value.reason is Reason.MATCH_THRESHOLD_NOT_MET
    assert "expected 3" in caught.value.detail
    assert "got 2" in caught.value.detail
    with pytest.raises(MatchError) as none:
        combine(commitments, blinded, [])
    assert none.value.reason is Reason.MATCH_THRESHOLD_NOT_MET


def test_duplicates_do_not_count_twice() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    p1, p2 = (partial_evaluate(shares[j], commitments, blinded) for j in (1, 2))
    with pytest.raises(MatchError) as caught:
        combine(commitments, blinded, [p1, p2, p2])
    assert caught.value.reason is Reason.MATCH_SHARE_INVALID
    assert "share 2" in caught.value.detail


def _forgeries(
    commitments: Commitments, shares: dict[int, KeyShare], blinded: bytes
) -> dict[str, PartialEvaluation]:
    honest = partial_evaluate(shares[3], commitments, blinded)
    # a wrong scalar with a proof that is valid for that scalar's own public key
    wrong = KeyShare(3, _scalar("not the share"))
    wrong_pk = oprf.public_key(wrong.scalar)
    z = oprf.multiply(wrong.scalar, blinded)
    proof = oprf.generate_proof(wrong.scalar, oprf.GENERATOR, wrong_pk, [blinded], [z], mode=1)
    flipped = bytearray(honest.proof)
    flipped[5] ^= 0x40
    other = partial_evaluate(shares[5], commitments, blinded)
    return {
        "wrong-scalar": PartialEvaluation(3, z, proof),
        "tampered-proof": dataclasses.replace(honest, proof=bytes(flipped)),
        "swapped-index": dataclasses.replace(other, index=3),
        "evaluation-of-another-element": partial_evaluate(
            shares[3], commitments, oprf.blind(b"other")[1]
        ),
        "honest-element-other-proof": dataclasses.replace(honest, proof=other.proof),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "wrong-scalar",
        "tampered-proof",
        "swapped-index",
        "evaluation-of-another-element",
        "honest-element-other-proof",
    ],
)
def test_a_forged_partial_is_refused_and_named(kind: str) -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    forged = _forgeries(commitments, shares, blinded)[kind]
    with pytest.raises(MatchError) as caught:
        verify_partial(commitments, blinded, forged)
    assert caught.value.reason is Reason.MATCH_EVALUATION_FORGED
    assert "share 3" in caught.value.detail
    good = [partial_evaluate(shares[j], commitments, blinded) for j in (1, 2, 4)]
    with pytest.raises(MatchError) as combined:
        combine(commitments, blinded, [good[0], forged, good[1]])
    assert combined.value.reason is Reason.MATCH_EVALUATION_FORGED
    assert "share 3" in combined.value.detail
    # the auditor's view: the cheater is named and the valid ones still combine
    found = examine(commitments, blinded, [*good, forged])
    assert [r.index for r in found.refused] == [3]
    assert found.valid == (1, 2, 4)
    assert found.evaluated == combine(commitments, blinded, good)


def test_malformed_partials_are_refused() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    honest = partial_evaluate(shares[1], commitments, blinded)
    with pytest.raises(MatchError) as identity:
        verify_partial(commitments, blinded, dataclasses.replace(honest, evaluated=oprf.IDENTITY))
    assert identity.value.reason is Reason.MATCH_ELEMENT_INVALID
    assert "share 1" in identity.value.detail
    with pytest.raises(MatchError) as zero:
        verify_partial(commitments, blinded, dataclasses.replace(honest, index=0))
    assert zero.value.reason is Reason.MATCH_SHARE_INVALID
    with pytest.raises(MatchError) as bad_blinded:
        partial_evaluate(shares[1], commitments, oprf.IDENTITY)
    assert bad_blinded.value.reason is Reason.MATCH_ELEMENT_INVALID


def test_partial_bytes_round_trip_and_refusals() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    p = partial_evaluate(shares[6], commitments, blinded)
    data = p.to_bytes()
    assert len(data) == 98
    assert data[:2] == b"\x00\x06"
    assert PartialEvaluation.from_bytes(data) == p
    for bad, reason in (
        (data[:-1], Reason.MATCH_SHARE_INVALID),
        (b"\x00\x00" + data[2:], Reason.MATCH_SHARE_INVALID),
        (data[:2] + bytes(32) + data[34:], Reason.MATCH_ELEMENT_INVALID),
        (data[:66] + b"\xff" * 32, Reason.MATCH_ELEMENT_INVALID),
    ):
        with pytest.raises(MatchError) as caught:
            PartialEvaluation.from_bytes(bad)
        assert caught.value.reason is reason


def test_a_share_that_does_not_match_the_commitments_is_refused() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x")
    stranger = KeyShare(2, shares[3].scalar)
    with pytest.raises(MatchError) as caught:
        commitments.check_share(stranger)
    assert caught.value.reason is Reason.MATCH_SHARE_INVALID
    with pytest.raises(MatchError):
        partial_evaluate(stranger, commitments, blinded)


def test_key_share_repr_hides_the_scalar() -> None:
    _, shares = _deal(H(VOPRF["skSm"]))
    text = repr(shares[1]) + str(shares[1])
    assert shares[1].scalar.hex() not in text
    assert "hidden" in text


def test_commitments_are_checked() -> None:
    commitments, _ = _deal(H(VOPRF["skSm"]))
    with pytest.raises(MatchError):
        Commitments(3, commitments.coefficients[:2])
    with pytest.raises(MatchError):
        Commitments(3, (oprf.IDENTITY, *commitments.coefficients[1:]))
    with pytest.raises(MatchError):
        Commitments(3, (b"\x01" + bytes(31), *commitments.coefficients[1:]))


def test_refresh_keeps_the_key_and_old_shares_do_not_mix_with_new() -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    renewed, new = refresh(commitments, list(shares.values()))
    new_by_index = {s.index: s for s in new}
    assert renewed.public_key() == commitments.public_key()
    assert renewed.coefficients[1:] != commitments.coefficients[1:]
    v = VOPRF["vectors"][0]
    _, blinded = oprf.blind(H(v["Input"][0]), blind=H(v["Blind"][0]))
    fresh = [partial_evaluate(new_by_index[j], renewed, blinded) for j in (2, 4, 6)]
    assert combine(renewed, blinded, fresh).hex() == v["EvaluationElement"][0]
    # a stolen old share cannot evaluate against the new commitments ...
    with pytest.raises(MatchError):
        partial_evaluate(shares[1], renewed, blinded)
    # ... and its old-commitment partial does not verify in the new epoch
    stale = partial_evaluate(shares[1], commitments, blinded)
    with pytest.raises(MatchError) as caught:
        combine(renewed, blinded, [stale, *fresh[:2]])
    assert caught.value.reason is Reason.MATCH_EVALUATION_FORGED


def test_deal_refuses_bad_plans() -> None:
    secret = _scalar("s")
    for t, indices in ((4, (1, 2, 3)), (0, (1, 2)), (2, (1, 1, 2)), (2, (0, 1, 2))):
        with pytest.raises(MatchError) as caught:
            deal(secret, t, indices)
        assert caught.value.reason is Reason.MATCH_SHARE_INVALID


@settings(max_examples=25, deadline=None)
@given(
    secret=st.binary(min_size=64, max_size=64),
    t=st.integers(min_value=1, max_value=5),
    extra=st.integers(min_value=0, max_value=3),
    data=st.data(),
)
def test_any_t_shares_of_a_random_secret_evaluate_like_the_secret(
    secret: bytes, t: int, extra: int, data: st.DataObject
) -> None:
    key = oprf.scalar_reduce(secret)
    if key == bytes(32):
        return
    n = t + extra
    indices = data.draw(
        st.lists(st.integers(1, 500), min_size=n, max_size=n, unique=True), label="indices"
    )
    commitments, shares = deal(key, t, indices)
    subset = data.draw(st.permutations(shares), label="order")[:t]
    x = data.draw(st.binary(max_size=40), label="input")
    factor, blinded = oprf.blind(x)
    partials = [partial_evaluate(s, commitments, blinded) for s in subset]
    assert oprf.finalize(x, factor, combine(commitments, blinded, partials)) == oprf.evaluate(
        key, x
    )
    if t > 1:
        with pytest.raises(MatchError) as caught:
            combine(commitments, blinded, partials[:-1])
        assert caught.value.reason is Reason.MATCH_THRESHOLD_NOT_MET


def test_every_three_of_six_agree() -> None:
    commitments, shares = _deal(_scalar("every"))
    _, blinded = oprf.blind(b"y")
    partials = {j: partial_evaluate(s, commitments, blinded) for j, s in shares.items()}
    results = {
        combine(commitments, blinded, [partials[j] for j in combo])
        for combo in itertools.combinations(MEMBERS, 3)
    }
    assert len(results) == 1


def test_distributed_refresh_keeps_the_key_without_anyone_holding_it() -> None:
    from hub.matching.threshold import apply_refresh, deal_zero

    commitments, shares = _deal(H(VOPRF["skSm"]))
    dealt = [deal_zero(3, MEMBERS) for _ in MEMBERS]  # each member deals a sharing of zero
    renewed = {}
    for i in MEMBERS:
        contributions = [(commits, values[i]) for commits, values in dealt]
        renewed[i] = apply_refresh(shares[i], commitments, contributions)
    new_commitments = {c for c, _ in renewed.values()}
    assert len(new_commitments) == 1  # every member computes the same public part
    (public,) = new_commitments
    assert public.public_key() == commitments.public_key()
    v = VOPRF["vectors"][1]
    _, blinded = oprf.blind(H(v["Input"][0]), blind=H(v["Blind"][0]))
    partials = [partial_evaluate(renewed[j][1], public, blinded) for j in (3, 5, 6)]
    assert combine(public, blinded, partials).hex() == v["EvaluationElement"][0]
    # a contribution whose value does not match its commitments is refused and named
    commits, values = dealt[1]
    bad = [(dealt[0][0], dealt[0][1][2]), (commits, values[3])]  # member 3's value sent to 2
    with pytest.raises(MatchError) as caught:
        apply_refresh(shares[2], commitments, bad)
    assert caught.value.reason is Reason.MATCH_SHARE_INVALID
    assert "contribution 2" in caught.value.detail
    # a "sharing of zero" with a non-zero constant term would change the key
    secret_commits, secret_shares = deal(_scalar("not zero"), 3, MEMBERS)
    with pytest.raises(MatchError) as moved:
        apply_refresh(
            shares[2],
            commitments,
            [(secret_commits.coefficients, secret_shares[1].scalar)],
        )
    assert "identity" in moved.value.detail


@settings(max_examples=60, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=97), flip=st.integers(min_value=1, max_value=255)
)
def test_any_changed_byte_of_a_partial_is_refused(position: int, flip: int) -> None:
    commitments, shares = _deal(H(VOPRF["skSm"]))
    _, blinded = oprf.blind(b"x", blind=_scalar("fixed blind"))
    data = bytearray(partial_evaluate(shares[4], commitments, blinded).to_bytes())
    data[position] ^= flip
    with pytest.raises(MatchError) as caught:
        verify_partial(commitments, blinded, PartialEvaluation.from_bytes(bytes(data)))
    assert caught.value.reason in {
        Reason.MATCH_EVALUATION_FORGED,
        Reason.MATCH_ELEMENT_INVALID,
        Reason.MATCH_SHARE_INVALID,
    }
