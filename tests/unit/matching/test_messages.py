"""Match messages: every kind round-trips, and every refusal has its reason."""

from __future__ import annotations

import dataclasses

import pytest

import schemas
from hub.errors import Reason, TrmError
from hub.matching.messages import (
    MATCH_MAX_SIZE,
    MATCH_PAYLOAD_TYPE,
    Answer,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
    Query,
    Refused,
    is_reference,
    new_reference,
    open_message,
    seal_message,
)
from hub.wire.codec import frame, part
from hub.wire.envelope import Signature, pae
from tests.support.matching import (
    BODIES,
    PARTIES,
    SIGNER,
    element,
    match_key,
    message_id,
    partial,
    sample,
)
from tests.support.wire import KEYS, KH_KEY, T0, TH_KEY, counter_rng, seeded_key

NOW = T0 + 1000
_id = message_id
_key = match_key
_element = element
_partial = partial


def _message(kind: MatchMessageKind, **changes: object) -> MatchMessage:
    message = sample(kind)
    return dataclasses.replace(message, **changes) if changes else message  # type: ignore[arg-type]


def _refused(data: bytes, reason: Reason, **kw: int) -> TrmError:
    with pytest.raises(TrmError) as caught:
        open_message(data, KEYS, now_ms=kw.get("now_ms", NOW))
    assert caught.value.reason is reason, caught.value
    return caught.value


def _resign(message_bytes: bytes, key: object = TH_KEY) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert isinstance(key, Ed25519PrivateKey)
    from hub.keys import signer_key_id

    sig = Signature(signer_key_id(key), key.sign(pae(MATCH_PAYLOAD_TYPE, message_bytes)))
    wire = {"message": message_bytes, "signature": sig.to_record()}
    return frame("match_signed", part("match_signed").encode(wire))


@pytest.mark.parametrize("kind", list(MatchMessageKind))
def test_every_kind_seals_and_opens_as_it_was(kind: MatchMessageKind) -> None:
    message = _message(kind)
    data = seal_message(message, SIGNER[message.sender])
    assert len(data) < MATCH_MAX_SIZE
    opened = open_message(data, KEYS, now_ms=NOW)
    if kind is MatchMessageKind.EVALUATION:  # partials come back as the threshold's class
        assert isinstance(opened.body, Evaluation)
        assert [(p.index, p.evaluated, p.proof) for p in opened.body.partials] == [
            (p.index, p.evaluated, p.proof)
            for p in BODIES[kind].partials  # type: ignore[union-attr]
        ]
        opened = dataclasses.replace(opened, body=BODIES[kind])
    assert opened == message


def test_a_flipped_byte_anywhere_is_refused_and_never_crashes() -> None:
    data = seal_message(_message(MatchMessageKind.QUERY), TH_KEY)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(TrmError):
            open_message(bytes(bad), KEYS, now_ms=NOW)


def test_a_tampered_message_is_bad_signature() -> None:
    message = _message(MatchMessageKind.QUERY)
    data = seal_message(message, TH_KEY)
    body = message.body
    assert isinstance(body, Query)
    other = dataclasses.replace(message, body=dataclasses.replace(body, case_ref="X"))
    wrapper = part("match_signed").decode(data[10:])
    wrapper["message"] = other.encode()
    forged = frame("match_signed", part("match_signed").encode(wrapper))
    _refused(forged, Reason.BAD_SIGNATURE)


def test_spoofed_sender_is_producer_mismatch() -> None:
    # KH signs (validly, with its own key) a message that says it is from TH.
    message = _message(MatchMessageKind.QUERY)
    error = _refused(seal_message(message, KH_KEY), Reason.PRODUCER_MISMATCH)
    assert "KH" in error.detail
    assert "TH" in error.detail


def test_a_member_cannot_speak_as_the_hub() -> None:
    message = _message(MatchMessageKind.ANSWER)
    _refused(seal_message(message, TH_KEY), Reason.PRODUCER_MISMATCH)


def test_unknown_key_is_refused() -> None:
    data = seal_message(_message(MatchMessageKind.QUERY), seeded_key("stranger"))
    _refused(data, Reason.UNKNOWN_KEY)


def test_oversized_is_refused_before_anything_else() -> None:
    _refused(b"\xc3\x01" + b"\x00" * MATCH_MAX_SIZE, Reason.OVERSIZED)


def test_not_a_frame_and_trailing_bytes() -> None:
    _refused(b"hello", Reason.MALFORMED_FRAME)
    data = seal_message(_message(MatchMessageKind.QUERY), TH_KEY)
    _refused(data + b"\x00", Reason.MALFORMED_AVRO)
    _refused(seal_message(_message(MatchMessageKind.QUERY), TH_KEY)[:-3], Reason.MALFORMED_AVRO)


def test_envelope_fingerprint_is_not_a_match_message() -> None:
    data = seal_message(_message(MatchMessageKind.QUERY), TH_KEY)
    _refused(frame("envelope", data[10:]), Reason.UNKNOWN_SCHEMA)


def test_clock_bounds() -> None:
    data = seal_message(_message(MatchMessageKind.QUERY), TH_KEY)
    _refused(data, Reason.CLOCK_SKEW, now_ms=T0 - 10 * 60 * 1000)
    _refused(data, Reason.CLOCK_SKEW, now_ms=T0 + 2 * 60 * 60 * 1000)


def _record(kind: MatchMessageKind) -> dict[str, object]:
    data = seal_message(_message(kind), SIGNER[PARTIES[kind][0]])
    wrapper = part("match_signed").decode(data[10:])
    rec: dict[str, object] = part("match_message").decode(wrapper["message"][10:])
    return rec


def _signed_record(rec: dict[str, object], key: object = TH_KEY) -> bytes:
    return _resign(frame("match_message", part("match_message").encode(rec)), key)


def test_validly_signed_but_invalid_fields_are_invalid_payload() -> None:
    rec = _record(MatchMessageKind.REGISTER)
    body = dict(rec["body"])  # type: ignore[call-overload]
    changes: tuple[dict[str, object], ...] = (
        {"reference": "TH-CASE-1"},
        {"keys": [b"short"]},
        {"keys": []},
        {"keys": [_key(1), _key(1)]},
        {"subject": "witness"},
        {"match_kind": "email"},
    )
    for change in changes:
        bad = {**rec, "body": ("trm.match.v1.Register", {**body, **change})}
        _refused(_signed_record(bad), Reason.INVALID_PAYLOAD)


def test_kind_and_body_must_agree() -> None:
    rec = _record(MatchMessageKind.REGISTER)
    rec["kind"] = "QUERY"
    _refused(_signed_record(rec), Reason.INVALID_PAYLOAD)


def test_a_query_without_case_ref_or_purpose_is_match_case_required() -> None:
    rec = _record(MatchMessageKind.QUERY)
    name, body = "trm.match.v1.Query", rec["body"]
    for change in ({"case_ref": ""}, {"purpose": "curiosity"}, {"case_ref": "has space"}):
        bad = {**rec, "body": (name, {**body, **change})}  # type: ignore[dict-item]
        _refused(_signed_record(bad), Reason.MATCH_CASE_REQUIRED)


def test_directions_are_enforced() -> None:
    with pytest.raises(TrmError) as caught:
        _message(MatchMessageKind.REGISTER, recipient="KH")
    assert caught.value.reason is Reason.INVALID_PAYLOAD
    with pytest.raises(TrmError):
        _message(MatchMessageKind.EVALUATE, recipient="TH")  # addresses itself
    with pytest.raises(TrmError):
        _message(MatchMessageKind.QUERY, correlation_id=_id("5"))
    with pytest.raises(TrmError):
        _message(MatchMessageKind.ANSWER, correlation_id=None)


def test_answers_say_hit_with_all_three_or_nothing() -> None:
    with pytest.raises(TrmError):
        Answer(_id("1"), False, "KH", None, None)
    with pytest.raises(TrmError):
        Answer(_id("1"), True, "KH", None, "phone")
    assert Answer(_id("1"), False).owner is None


def test_evaluation_budget_and_partials() -> None:
    with pytest.raises(TrmError):
        Evaluation(_id("1"), (_partial(1),), 101, 100, "2026-01-01")
    with pytest.raises(TrmError):
        Evaluation(_id("1"), (_partial(1, 2), _partial(2, 3)), 1, 100, "2026-01-01")
    with pytest.raises(TrmError):
        Evaluation(_id("1"), (_partial(1),), 1, 100, "1 Jan")


def test_refused_carries_only_reason_codes() -> None:
    with pytest.raises(TrmError):
        Refused("NOPE", "x")
    assert Refused.of(TrmError(Reason.REPLAY, "d" * 900)).detail == "d" * 500


def test_repr_hides_keys_and_elements() -> None:
    for kind in (MatchMessageKind.REGISTER, MatchMessageKind.QUERY, MatchMessageKind.EVALUATE):
        text = repr(_message(kind))
        for n in (1, 2, 3):
            assert _key(n).hex()[:16] not in text
            assert repr(_key(n))[:20] not in text
            assert repr(_element(n))[:20] not in text


def test_references() -> None:
    ref = new_reference(counter_rng("r"))
    assert is_reference(ref)
    assert len(ref) == 32
    assert not is_reference("TH-2026-1")
    assert not is_reference(ref.upper())


def test_schemas_are_known_and_released() -> None:
    assert {"match_message", "match_signed"} <= set(schemas.names())
    for name in ("match_message", "match_signed"):
        assert schemas.load(f"{name}@1") == schemas.load(name)
