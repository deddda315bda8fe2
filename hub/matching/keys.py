"""Identifiers to canonical match inputs: the bytes a match key is computed from.

A match key is the threshold OPRF of one of these inputs (``hub.matching.oprf``);
this module only makes the inputs, deterministic and domain-separated, so that
the same person or number written differently gives the same bytes and two
members compute the same key (docs/protocol.md section 13.1, normative)::

    b"trm-match/v1" 0x00 b"phone"    0x00 E164                       (one input)
    b"trm-match/v1" 0x00 b"document" 0x00 STATE 0x00 NUMBER          (one input)
    b"trm-match/v1" 0x00 b"name"     0x00 YYYY-YYYY 0x00 SKELETONS   (two inputs)

- **phone**: E.164 by ``phonenumbers`` with the record's country as the default
  region, after every decimal digit of any script (Thai, Myanmar, Khmer, Lao,
  full-width) is read as its ASCII digit; a number that is not possible and
  valid for its region is refused.
- **document**: the issuing state as ICAO 9303 writes it (ISO 3166 alpha-3, or
  one of ICAO's own codes; ``D`` is DEU) and the number in A-Z0-9, separators
  and fillers removed. A machine-readable zone given as the value is read
  (``hub.matching.mrz``), every check digit verified.
- **name** + year of birth: the name romanised (``hub.matching.romanise``),
  titles dropped, each word reduced to its phonetic skeleton
  (:func:`skeleton`), the skeletons sorted; one input per two-year window that
  contains the year (the even and the odd window), so years one apart always
  share an input and years two apart never do. A Buddhist-era year (after 2400)
  is converted (BE = CE + 543).

A refusal is ``RequestError(MATCH_VALUE_INVALID | MATCH_CHECK_DIGIT_INVALID)``
whose detail says what was expected and never quotes the value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum, unique
from functools import cache
from importlib import resources

import phonenumbers

from hub.errors import Reason, RequestError
from hub.matching.mrz import document_from_mrz, looks_like_mrz
from hub.matching.romanise import romanise

__all__ = [
    "DOMAIN",
    "MAX_VALUE_CHARS",
    "MatchInput",
    "MatchKind",
    "match_inputs",
    "name_skeletons",
    "skeleton",
    "state_alpha3",
]

DOMAIN = b"trm-match/v1"
MAX_VALUE_CHARS = 512  # longer than any name, number or zone (a TD1 zone is 92 with breaks)

_SEP = b"\x00"
_COUNTRY = re.compile(r"[A-Z]{2}")


@unique
class MatchKind(StrEnum):
    """What an identifier is; each kind has its own canonical form and domain."""

    PHONE = "phone"
    DOCUMENT = "document"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class MatchInput:
    """One OPRF input: canonical, domain-separated bytes.

    ``input`` is personal data (a phone number in E.164, a document number, a
    name's skeleton): never logged, and the repr shows only its length.
    """

    kind: MatchKind
    input: bytes

    def __repr__(self) -> str:
        return f"MatchInput(kind={self.kind.value}, input=<{len(self.input)} bytes>)"

    __str__ = __repr__


def _refuse(detail: str) -> RequestError:
    return RequestError(Reason.MATCH_VALUE_INVALID, detail)


def _ascii_digits(text: str) -> str:
    """Every decimal digit, of any script, as its ASCII digit (๐๘๑ -> 081)."""
    return "".join(
        str(unicodedata.digit(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text
    )


def _input(kind: MatchKind, *fields: str) -> MatchInput:
    return MatchInput(kind, _SEP.join([DOMAIN, kind.value.encode(), *(f.encode() for f in fields)]))


# --- phone -----------------------------------------------------------------------------


def _phone(value: str, country: str) -> MatchInput:
    text = _ascii_digits(unicodedata.normalize("NFKC", value)).strip()
    digits = re.sub(r"\D", "", text)
    if not 3 <= len(digits) <= 17:
        raise _refuse(f"expected a phone number of 3 to 17 digits, got {len(digits)}")
    candidates = [text]
    if not text.startswith("+") and digits.startswith("00"):
        candidates.append("+" + digits[2:])  # 00 as the international prefix (0066...)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return _input(MatchKind.PHONE, e164)
    raise _refuse(
        f"expected a phone number valid for its country (default region {country}), "
        "got one that is not possible or not valid (phonenumbers)"
    )


# --- document --------------------------------------------------------------------------

# ICAO 9303 Part 3 codes that are not ISO 3166 alpha-3 (D is Germany in a zone; UTO,
# Utopia, is the state of ICAO's specimens).
_ICAO_CODES = frozenset(
    {
        "GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "XBA", "XIM", "XCC", "XCE",
        "XCO", "XDC", "XEC", "XES", "XMP", "XOM", "XPO", "XXA", "XXB", "XXC", "XXX", "EUE",
        "RKS", "UTO",
    }
)  # fmt: skip
_ICAO_ALPHA2 = {"XK": "RKS"}  # Kosovo: ICAO writes RKS


@cache
def _alpha3() -> dict[str, str]:
    text = resources.files("hub.matching").joinpath("data/iso3166-alpha3.tsv").read_text("utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {a2: _ICAO_ALPHA2.get(a2, a3) for a2, a3 in rows}


def state_alpha3(code: str) -> str:
    """The canonical issuing state: ICAO 9303's three letters for an alpha-2 or alpha-3 code.

    Raises:
        RequestError: MATCH_VALUE_INVALID for a code that is neither.
    """
    upper = code.strip().upper()
    table = _alpha3()
    if upper == "D":
        return "DEU"
    if len(upper) == 2 and upper in table:
        return table[upper]
    if len(upper) == 3 and (upper in _ICAO_CODES or upper in table.values()):
        return upper
    raise _refuse(
        "expected an issuing state as ISO 3166-1 alpha-2 or alpha-3 (or an ICAO 9303 code), "
        f"got {upper[:8]!r}"
    )


_DOC_SEPARATORS = re.compile(r"[\s<\-./_]+")
_DOC_NUMBER = re.compile(r"[A-Z0-9]{2,35}")


def _document(value: str, country: str, issuing_state: str | None) -> MatchInput:
    text = _ascii_digits(unicodedata.normalize("NFKC", value))
    if looks_like_mrz(text):
        mrz = document_from_mrz(text.upper() if text.isascii() else text)
        state = state_alpha3(mrz.issuing_state)
        if issuing_state is not None and state_alpha3(issuing_state) != state:
            raise _refuse(
                f"the issuing state given ({state_alpha3(issuing_state)}) is not the "
                f"machine-readable zone's ({state})"
            )
        return _input(MatchKind.DOCUMENT, state, mrz.number)
    number = _DOC_SEPARATORS.sub("", text.upper())
    if not _DOC_NUMBER.fullmatch(number):
        raise _refuse(
            "expected a document number of 2 to 35 letters A-Z and digits (spaces, '-', '.', "
            f"'/' and '<' are ignored), got {len(number)} characters"
            + ("" if number.isascii() else " with letters outside A-Z")
        )
    state = state_alpha3(issuing_state if issuing_state is not None else country)
    return _input(MatchKind.DOCUMENT, state, number)


# --- name ------------------------------------------------------------------------------

_TITLES_SCRIPT = re.compile(r"^\s*(นางสาว|นาย|นาง|เด็กชาย|เด็กหญิง|ด\.ช\.|ด\.ญ\.)\s*")
_TITLES_LATIN = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr"})
_VOWELS = frozenset("aeiou")
_ASPIRATED = re.compile(r"([ptkgdb])h")


@cache
def _pinyin() -> frozenset[str]:
    text = resources.files("hub.matching").joinpath("data/pinyin-syllables.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _pinyin_split(word: str) -> list[str] | None:
    """``word`` as pinyin syllables (fewest, then the longest first), or None.

    Only the first syllable may begin with a vowel (pinyin writes an apostrophe
    before any other: xi'an), so ``darea`` is not "da re a".
    """
    syllables = _pinyin()
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[n] = []
    for i in range(n - 1, -1, -1):
        if i > 0 and word[i] in _VOWELS:
            continue  # pinyin writes xi'an: a syllable starting with a vowel only begins a word
        for j in range(min(n, i + 6), i, -1):
            rest = best[j]
            fewer = best[i] is None or len(rest or ()) + 1 < len(best[i] or ())
            if rest is not None and word[i:j] in syllables and fewer:
                best[i] = [word[i:j], *rest]
    return best[0]


def skeleton(word: str) -> str:
    """The phonetic skeleton of one lower-case ASCII word (docs/protocol.md 13.1, steps 4-8).

    Spelling variants of one sound are folded (tch, chh -> ch; ck -> k; ph th kh gh dh bh ->
    p t k g d b; sh -> s; j -> ch; v -> w; ee -> i; oo -> u; a doubled letter -> one);
    r after a vowel and before a consonant or the end is dropped; y and w are
    vowels unless they begin the word or a vowel follows; h is a consonant only
    before a vowel. The skeleton is the consonants (ch, zh, ng, nh count as one),
    unless there is at most
    one: then the folded word itself, with vowel y as i and vowel w as o.
    """
    s = word.replace("tch", "ch").replace("chh", "ch").replace("ck", "k")
    s = _ASPIRATED.sub(r"\1", s)
    s = s.replace("sh", "s").replace("j", "ch").replace("v", "w")
    s = s.replace("ee", "i").replace("oo", "u")
    s = re.sub(r"(.)\1+", r"\1", s)
    consonants: list[str] = []
    folded: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else ""
        prev_vowel = bool(folded) and folded[-1][-1] in _VOWELS
        if s[i : i + 2] in ("ch", "zh", "ng", "nh"):
            consonants.append(s[i : i + 2])
            folded.append(s[i : i + 2])
            i += 2
            continue
        if ch in _VOWELS:
            folded.append(ch)
        elif ch in "yw":
            if nxt in _VOWELS or i == 0:
                consonants.append(ch)
                folded.append(ch)
            else:
                folded.append("i" if ch == "y" else "o")
        elif ch == "h":
            if nxt in _VOWELS:
                consonants.append(ch)
                folded.append(ch)
        elif ch == "r" and prev_vowel and nxt not in _VOWELS:
            pass  # a non-rhotic r (Porn, Sar)
        else:
            consonants.append(ch)
            folded.append(ch)
        i += 1
    if len(consonants) >= 2:
        return "".join(consonants)
    return "".join(folded)


def name_skeletons(name: str) -> list[str]:
    """The sorted skeletons of a name's words (the name part of its match inputs).

    Raises:
        RequestError: MATCH_VALUE_INVALID when nothing of the name is left to key on.
    """
    words = romanise(_TITLES_SCRIPT.sub("", unicodedata.normalize("NFC", name)))
    while len(words) > 1 and words[0] in _TITLES_LATIN:
        words = words[1:]
    split = [_pinyin_split(w) for w in words]
    if words and all(s is not None for s in split):
        words = [syllable for s in split for syllable in s or ()]
    skeletons = sorted(skeleton(w) for w in words)
    skeletons = [s for s in skeletons if s]
    if not skeletons:
        raise _refuse("expected a name with at least one letter after romanisation, got none")
    return skeletons


def _birth_year(year: object) -> int:
    if isinstance(year, bool) or not isinstance(year, int):
        raise RequestError(
            Reason.BAD_REQUEST, f"expected a year of birth as an integer, got {type(year).__name__}"
        )
    if year > 2400:
        year -= 543  # Buddhist era (Thailand): BE = CE + 543
    if not 1850 <= year <= 2200:
        raise _refuse(
            "expected a year of birth from 1850 to 2200 (or a Buddhist-era year from 2393 "
            "to 2743), got one outside"
        )
    return year


def _windows(year: int) -> Iterable[int]:
    """The first years of the two two-year windows holding ``year``: the even, then the odd."""
    even = year - year % 2
    return (even, even + 1 if year % 2 else even - 1)


def _name(value: str, birth_year: int | None) -> tuple[MatchInput, ...]:
    if birth_year is None:
        raise _refuse("expected a year of birth with a name (a name alone is too common to key)")
    year = _birth_year(birth_year)
    text = " ".join(name_skeletons(value))
    return tuple(_input(MatchKind.NAME, f"{w}-{w + 1}", text) for w in _windows(year))


# --- the door --------------------------------------------------------------------------


def match_inputs(
    kind: MatchKind | str,
    value: str,
    *,
    country: str,
    birth_year: int | None = None,
    issuing_state: str | None = None,
) -> tuple[MatchInput, ...]:
    """The canonical match inputs of one identifier (one for a phone or a document, two
    for a name: its two birth-year windows).

    Args:
        kind: phone, document or name.
        value: the identifier as written (a number, a document number or zone, a name).
        country: the record's country (ISO 3166 alpha-2): a phone number's default
            region, and a document's issuing state when none is given.
        birth_year: a name's year of birth, CE or Buddhist era; required for a name.
        issuing_state: a document's issuing state (alpha-2 or alpha-3); must agree
            with a machine-readable zone's.

    Raises:
        RequestError: MATCH_VALUE_INVALID (the value cannot be normalised),
            MATCH_CHECK_DIGIT_INVALID (a zone's check digit), UNKNOWN_COUNTRY,
            BAD_REQUEST (an unknown kind, a value that is not text).
    """
    try:
        match_kind = MatchKind(kind)
    except ValueError:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected a match kind among {[k.value for k in MatchKind]}, got {str(kind)[:20]!r}",
        ) from None
    if not isinstance(value, str):
        raise RequestError(
            Reason.BAD_REQUEST, f"expected the value as text, got {type(value).__name__}"
        )
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise RequestError(
            Reason.UNKNOWN_COUNTRY,
            f"expected the record's country as ISO 3166 alpha-2 (TH), got {str(country)[:8]!r}",
        )
    if len(value) > MAX_VALUE_CHARS:
        raise _refuse(f"expected at most {MAX_VALUE_CHARS} characters, got {len(value)}")
    if not value.strip():
        raise _refuse(f"expected a {match_kind.value}, got an empty value")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise RequestError(Reason.BAD_ENCODING, "expected Unicode text, got a lone surrogate")
    if match_kind is MatchKind.PHONE:
        return (_phone(value, country),)
    if match_kind is MatchKind.DOCUMENT:
        return (_document(value, country, issuing_state),)
    return _name(value, birth_year)
