"""ICAO 9303 machine-readable zones: the issuing state and document number, check digits checked.

A travel document's MRZ, given as the value of a document match key, is read
here: TD3 (passports, two lines of 44), TD2 (two lines of 36) and TD1 (identity
cards, three lines of 30), with the long document number of TD1 and TD2 (a
``<`` in the number's check digit position, the rest of the number and its
check digit in the optional data). Every check digit (7-3-1 weights, ICAO 9303
Part 3 section 4.9) is verified: the document number's, the dates', the
optional data's (TD3) and the composite one. Only the issuing state and the
number are kept; the name, dates and sex are read for their check digits only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import Reason, RequestError

__all__ = ["MrzDocument", "check_digit", "document_from_mrz", "looks_like_mrz"]

_LINE = re.compile(r"[A-Z0-9<]+")
# The layouts: (lines, line length, name).
_FORMATS = {(2, 44): "TD3", (2, 36): "TD2", (3, 30): "TD1"}
_WEIGHTS = (7, 3, 1)


@dataclass(frozen=True, slots=True)
class MrzDocument:
    """What a match key takes from an MRZ: the issuing state as written (``D`` for
    Germany) and the document number without fillers."""

    issuing_state: str
    number: str


def _value(ch: str) -> int:
    if ch.isdigit():
        return ord(ch) - 48
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    return 0  # the filler <


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of ``field``: digits, A-Z as 10-35, ``<`` as 0; weights 7-3-1."""
    return str(sum(_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def _lines(value: str) -> list[str]:
    lines = [line.strip() for line in value.strip().splitlines() if line.strip()]
    if len(lines) == 1:
        one = lines[0]
        for (count, width), _name in _FORMATS.items():
            if len(one) == count * width:
                return [one[i * width : (i + 1) * width] for i in range(count)]
    return lines


def looks_like_mrz(value: str) -> bool:
    """True for a value written as an MRZ: two or three lines, or one line the length
    of a whole zone (72, 88 or 90 characters), with a filler ``<`` in it."""
    stripped = value.strip()
    if "<" not in stripped:
        return False
    return "\n" in stripped or "\r" in stripped or len(stripped) in (72, 88, 90)


def _check(field: str, digit: str, what: str, *, filler_ok: bool = False) -> None:
    if filler_ok and digit == "<" and set(field) <= {"<"}:
        return
    if digit != check_digit(field):
        raise RequestError(
            Reason.MATCH_CHECK_DIGIT_INVALID,
            f"expected the machine-readable zone's {what} check digit to match its field "
            "(ICAO 9303 weights 7-3-1), got one that does not",
        )


def _long_number(number: str, digit: str, optional: str, what: str) -> str:
    """The document number, its check digit verified (with the long-number rule)."""
    if digit != "<":
        _check(number, digit, what)
        return number.replace("<", "")
    rest = optional.split("<", 1)[0]
    if len(rest) < 2:
        raise RequestError(
            Reason.MATCH_VALUE_INVALID,
            "the machine-readable zone's long document number has no check digit "
            "in the optional data",
        )
    whole = number + rest[:-1]
    _check(whole, rest[-1], what)
    return whole.replace("<", "")


def document_from_mrz(value: str) -> MrzDocument:
    """The issuing state and document number of an MRZ, every check digit verified.

    Raises:
        RequestError: MATCH_VALUE_INVALID for lines that are not a TD1, TD2 or TD3
            zone; MATCH_CHECK_DIGIT_INVALID naming the field whose check digit fails.
    """
    lines = _lines(value)
    shape = (len(lines), len(lines[0]) if lines else 0)
    layout = _FORMATS.get(shape)
    if layout is None or any(len(line) != shape[1] for line in lines):
        raise RequestError(
            Reason.MATCH_VALUE_INVALID,
            "expected a machine-readable zone of 2 lines of 44 (TD3), 2 of 36 (TD2) or "
            f"3 of 30 (TD1) characters, got {len(lines)} lines of "
            f"{sorted({len(line) for line in lines})} characters",
        )
    if not all(_LINE.fullmatch(line) for line in lines):
        raise RequestError(
            Reason.MATCH_VALUE_INVALID,
            "expected a machine-readable zone of A-Z, 0-9 and <, got other characters",
        )
    first = lines[0]
    state = first[2:5].replace("<", "")
    if layout == "TD1":
        second = lines[1]
        number = _long_number(first[5:14], first[14], first[15:30], "document number")
        _check(second[0:6], second[6], "date of birth")
        _check(second[8:14], second[14], "date of expiry")
        composite = first[5:30] + second[0:7] + second[8:15] + second[18:29]
        _check(composite, second[29], "composite")
    else:
        second = lines[1]
        width = shape[1]
        optional_end = 42 if layout == "TD3" else 35
        number = _long_number(
            second[0:9],
            second[9],
            second[28:optional_end] if layout == "TD2" else "",
            "document number",
        )
        _check(second[13:19], second[19], "date of birth")
        _check(second[21:27], second[27], "date of expiry")
        if layout == "TD3":
            _check(second[28:42], second[42], "optional data", filler_ok=True)
        composite = second[0:10] + second[13:20] + second[21 : width - 1]
        _check(composite, second[width - 1], "composite")
    if not state or not state.isalpha():
        raise RequestError(
            Reason.MATCH_VALUE_INVALID,
            "expected the machine-readable zone's issuing state in letters, got none",
        )
    if not number:
        raise RequestError(
            Reason.MATCH_VALUE_INVALID, "the machine-readable zone's document number is empty"
        )
    return MrzDocument(state, number)
