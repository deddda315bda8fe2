"""Differential properties (issue 16, point 2), as hypothesis tests beside the fuzz targets.

- Every envelope part and payload decoded by hub.wire (its compiled fast
  reader, falling back to fastavro), by fastavro alone and by Apache ``avro``
  gives the same value, or all three refuse.
- ``hub.signed_doc.canonical_json`` equals an RFC 8785 written independently
  from section 3.2 (``tests.fuzz.targets.independent_jcs``). canonical_json
  calls the ``rfc8785`` package, so comparing it with that package would
  compare it with itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.signed_doc import canonical_json
from hub.wire.codec import payload_codec
from tests.fuzz import targets
from tests.fuzz.targets import AVRO_PARTS, Disagreement, avro_diff, independent_jcs, jcs_diff

SEEDS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
AVRO_SEEDS = sorted(p.read_bytes() for p in (SEEDS / "avro_diff").iterdir())


@st.composite
def mutated_parts(draw: st.DrawFn) -> bytes:
    """A seed of the avro_diff corpus with a few bytes changed, cut or inserted."""
    data = bytearray(draw(st.sampled_from(AVRO_SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(1, max(1, len(data) - 1)))
        action = draw(st.sampled_from(["set", "cut", "insert"]))
        if action == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_parts())
def test_hub_fastavro_and_apache_avro_agree(data: bytes) -> None:
    avro_diff(data)  # raises Disagreement


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(AVRO_PARTS) - 1), st.binary(max_size=64))
def test_decoders_agree_on_any_bytes(index: int, body: bytes) -> None:
    avro_diff(bytes([index]) + body)


def test_a_disagreement_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    seed = next(s for s in AVRO_SEEDS if AVRO_PARTS[s[0]] == "attestation_statement")
    answer = avro_diff(seed)
    assert answer is not None
    assert answer[0] == "value"
    monkeypatch.setattr(targets, "apache_decode", lambda name, body: {"other": name})
    with pytest.raises(Disagreement):
        avro_diff(seed)


_CHARS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: not Unicode text
_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS, max_size=12)
)
JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(_CHARS, max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_canonical_json_equals_an_independent_rfc8785(value: Any) -> None:
    try:
        ours: bytes | None = canonical_json(value)
    except ValueError:
        ours = None
    try:
        theirs: bytes | None = independent_jcs(value)
    except ValueError:
        theirs = None
    assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_jcs_target_holds_on_json_text(value: Any) -> None:
    jcs_diff(json.dumps(value, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    ("number", "text"),
    [  # RFC 8785 appendix B and section 3.2.2.3
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (333333333.3333333, "333333333.3333333"),
        (-1.5e-9, "-1.5e-9"),
    ],
)
def test_independent_jcs_numbers(number: float, text: str) -> None:
    assert independent_jcs(number) == text.encode()
    assert canonical_json(number) == text.encode()


def test_independent_jcs_strings_and_order() -> None:
    value = {"\u20ac": 1, "\r": 2, "\U0001f600": 3, "a\u0001": ["\u000f", '"\\']}
    expected = '{"\\r":2,"a\\u0001":["\\u000f","\\"\\\\"],"\u20ac":1,"\U0001f600":3}'
    assert independent_jcs(value) == expected.encode()
    assert canonical_json(value) == expected.encode()


def test_payload_codecs_exist_for_every_payload_part() -> None:
    for name in AVRO_PARTS[AVRO_PARTS.index("referral") :]:
        assert payload_codec(name).codecs
