"""hub.matching.keys: the exact bytes of each kind, refusals without personal data,
the repr, the year windows, and the cost of a name."""

from __future__ import annotations

import time

import pytest

from hub.errors import Reason, RequestError, TrmError
from hub.matching.keys import MatchInput, MatchKind, match_inputs, skeleton, state_alpha3
from hub.matching.mrz import check_digit
from hub.matching.romanise import romanise, thai_to_latin


def test_phone_bytes_are_domain_separated_e164() -> None:
    (got,) = match_inputs("phone", "081-234-5678", country="TH")
    assert got == MatchInput(MatchKind.PHONE, b"trm-match/v1\x00phone\x00+66812345678")


def test_document_bytes_name_state_and_number() -> None:
    (got,) = match_inputs(MatchKind.DOCUMENT, "aa 123-4567", country="VN", issuing_state="th")
    assert got.input == b"trm-match/v1\x00document\x00THA\x00AA1234567"


def test_name_gives_one_input_per_two_year_window() -> None:
    got = match_inputs("name", "Nguyễn Văn An", country="VN", birth_year=1991)
    assert [m.input for m in got] == [
        b"trm-match/v1\x00name\x001990-1991\x00an ngyn wn",
        b"trm-match/v1\x00name\x001991-1992\x00an ngyn wn",
    ]
    even = match_inputs("name", "Nguyen Van An", country="VN", birth_year=1990)
    assert [m.input.split(b"\x00")[2] for m in even] == [b"1990-1991", b"1989-1990"]


@pytest.mark.parametrize(("year", "shared"), [(1990, 2), (1991, 1), (1989, 1), (1992, 0)])
def test_years_one_apart_share_an_input_and_two_apart_none(year: int, shared: int) -> None:
    base = {m.input for m in match_inputs("name", "Somchai", country="TH", birth_year=1990)}
    other = {m.input for m in match_inputs("name", "Somchai", country="TH", birth_year=year)}
    assert len(base & other) == shared


def test_buddhist_era_years_are_converted() -> None:
    be = match_inputs("name", "สมชาย ใจดี", country="TH", birth_year=2533)
    ce = match_inputs("name", "Somchai Jaidee", country="TH", birth_year=1990)
    assert be == ce


def test_the_repr_hides_the_input() -> None:
    (got,) = match_inputs("phone", "+66 81 234 5678", country="TH")
    assert "812" not in repr(got)
    assert "812" not in str(got)
    assert repr(got) == "MatchInput(kind=phone, input=<31 bytes>)"


_ZONE = "P<UTOSECRET<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<<<\nSECRET9999UTO7408122F1204159ZE184226B<<<<<10"
SECRET_VALUES = [
    ("phone", "+66 99 999 99", {}),
    ("document", "SECRET99É", {"issuing_state": "TH"}),
    ("document", _ZONE, {}),
    ("name", "Secretname Person", {}),
    ("name", "Secretname Person", {"birth_year": 1700}),
    ("document", "AB123456", {"issuing_state": "QQ"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "value", "extra"), SECRET_VALUES)
def test_a_refusal_never_quotes_the_value(kind: str, value: str, extra: dict[str, object]) -> None:
    with pytest.raises(RequestError) as caught:
        match_inputs(kind, value, country="TH", **extra)  # type: ignore[arg-type]
    assert caught.value.reason in (Reason.MATCH_VALUE_INVALID, Reason.MATCH_CHECK_DIGIT_INVALID)
    message = caught.value.as_line().lower()
    assert "secret" not in message
    assert "99" not in message
    assert "expected" in message


def test_a_bad_check_digit_names_the_field() -> None:
    zone = (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<11"
    )
    with pytest.raises(RequestError) as caught:
        match_inputs("document", zone, country="TH")
    assert caught.value.reason is Reason.MATCH_CHECK_DIGIT_INVALID
    assert "composite" in caught.value.detail


def test_check_digits_follow_icao_9303() -> None:
    # ICAO 9303 Part 3, 4.9: the worked example, and the specimen's fields.
    assert check_digit("520727") == "3"
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("<<<") == "0"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"kind": "email", "value": "x", "country": "TH"}, Reason.BAD_REQUEST),
        ({"kind": "phone", "value": "0812345678", "country": "th"}, Reason.UNKNOWN_COUNTRY),
        ({"kind": "phone", "value": "0812345678", "country": "THA"}, Reason.UNKNOWN_COUNTRY),
        ({"kind": "phone", "value": "   ", "country": "TH"}, Reason.MATCH_VALUE_INVALID),
        ({"kind": "phone", "value": "1" * 600, "country": "TH"}, Reason.MATCH_VALUE_INVALID),
        ({"kind": "name", "value": "An", "country": "TH", "birth_year": "1990"},
         Reason.BAD_REQUEST),
        ({"kind": "name", "value": "An", "country": "TH", "birth_year": True},
         Reason.BAD_REQUEST),
        ({"kind": "name", "value": "\ud800", "country": "TH", "birth_year": 1990},
         Reason.BAD_ENCODING),
    ],
)  # fmt: skip
def test_each_refusal_has_its_reason(kwargs: dict[str, object], reason: Reason) -> None:
    kind = kwargs.pop("kind")
    value = kwargs.pop("value")
    with pytest.raises(TrmError) as caught:
        match_inputs(kind, value, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason is reason


def test_states_are_icao_three_letters() -> None:
    assert state_alpha3("TH") == "THA"
    assert state_alpha3("vnm") == "VNM"
    assert state_alpha3("D") == "DEU"
    assert state_alpha3("XK") == "RKS"
    assert state_alpha3("XXA") == "XXA"  # stateless person (ICAO 9303)


def test_skeleton_rules() -> None:
    assert skeleton("somchai") == skeleton("somchay") == "smch"
    assert skeleton("jaidee") == skeleton("chaidi") == "chd"
    assert skeleton("an") == "an"
    assert skeleton("anh") == "anh"  # one consonant: the vowels stay
    assert skeleton("pornthip") == skeleton("phonthip") == "pntp"
    assert skeleton("rattana") == skeleton("ratna") == "rtn"
    assert skeleton("vichai") == skeleton("wichai")
    assert skeleton("kaew") == skeleton("kaeo") == "kaeo"


def test_romanisation_of_each_script() -> None:
    assert romanise("Nguyễn Văn Đức") == ["nguyen", "van", "duc"]
    assert romanise("張偉") == romanise("张伟") == ["zhang", "wei"]
    assert romanise("ေမာင္ေမာင္") == romanise("မောင် မောင်")  # Zawgyi, Unicode
    assert romanise("ជា សុភា") == ["chea", "sophea"]
    assert thai_to_latin("สมชาย") == "somchai"
    assert thai_to_latin("จันทร์โอชา") == "chanocha"
    assert thai_to_latin("ประยุทธ์") == "prayut"


def test_a_name_is_sub_millisecond() -> None:
    names = ["Nguyễn Văn An", "สมชาย ใจดี", "ជា សុភា", "ေမာင္ေမာင္", "張偉"]
    for name in names:  # the transliterators are made once, on first use
        match_inputs("name", name, country="TH", birth_year=1990)
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        for name in names:
            match_inputs("name", name, country="TH", birth_year=1990)
    per_name_ms = (time.perf_counter() - start) * 1000 / (rounds * len(names))
    print(f"match_inputs for a name: {per_name_ms:.3f} ms")
    assert per_name_ms < 1.0


def test_the_core_imports_no_kafka() -> None:
    import subprocess
    import sys

    code = "import sys, hub.matching.keys; print('faust' in sys.modules, 'aiokafka' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def _td2(number: str) -> str:
    """A TD2 zone (2 x 36) for ``number``, long-number rule past 9 characters."""
    if len(number) <= 9:
        head = number.ljust(9, "<")
        start, optional = head + check_digit(head), "<" * 7
    else:
        start = number[:9] + "<"
        optional = (number[9:] + check_digit(number)).ljust(7, "<")
    birth, expiry = "900115", "310630"
    second = f"{start}KHM{birth}{check_digit(birth)}F{expiry}{check_digit(expiry)}{optional}"
    composite = second[0:10] + second[13:20] + second[21:35]
    return "I<KHMSOK<<CHAN".ljust(36, "<") + "\n" + second + check_digit(composite)


@pytest.mark.parametrize("number", ["N0123456", "N01234567890"])
def test_a_td2_zone_gives_state_and_number(number: str) -> None:
    (got,) = match_inputs("document", _td2(number), country="TH")
    assert got.input == b"trm-match/v1\x00document\x00KHM\x00" + number.encode()
    (typed,) = match_inputs("document", number, country="KH")
    assert typed == got


def test_a_zone_in_lower_case_is_read_and_a_changed_one_is_refused() -> None:
    zone = _td2("N0123456")
    assert match_inputs("document", zone.lower(), country="TH") == match_inputs(
        "document", zone, country="TH"
    )
    changed = zone.replace("N0123456", "N0123457")
    with pytest.raises(RequestError) as caught:
        match_inputs("document", changed, country="TH")
    assert caught.value.reason is Reason.MATCH_CHECK_DIGIT_INVALID
    assert "document number" in caught.value.detail
