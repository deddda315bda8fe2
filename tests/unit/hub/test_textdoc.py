"""hub.textdoc: every hostile JSON/YAML shape a door meets is refused with a reason, fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import Reason, RequestError
from hub.textdoc import MAX_DEPTH, parse_json, parse_yaml

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def refused(
    fn: Callable[..., Any], data: bytes | str, reason: Reason = Reason.BAD_REQUEST, **kw: Any
) -> str:
    start = time.process_time()
    with pytest.raises(RequestError) as info:
        fn(data, what="the input", **kw)
    assert time.process_time() - start < 2.0
    assert info.value.reason == reason
    assert info.value.detail.startswith("the input: ")
    detail: str = info.value.detail
    return detail


def test_yaml_alias_bomb_refused_before_expansion() -> None:
    assert "aliases" in refused(parse_yaml, BILLION_LAUGHS)


def test_yaml_merge_key_needs_an_alias_and_is_refused() -> None:
    refused(parse_yaml, "base: &b {x: 1}\nother:\n  <<: *b\n")


def test_yaml_duplicate_key_refused_at_every_level() -> None:
    assert "appears twice" in refused(parse_yaml, "a: 1\na: 2\n")
    assert "appears twice" in refused(parse_yaml, "outer:\n  k: 1\n  k: 1\n")


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_yaml_deep_nesting_refused(opener: str) -> None:
    assert "nesting" in refused(parse_yaml, opener * 50_000)


def test_yaml_huge_integer_refused() -> None:
    refused(parse_yaml, "x: " + "1" * 5001)


def test_yaml_keeps_dates_as_strings_and_reads_json() -> None:
    assert parse_yaml("x: 2026-01-01\ny: [1, {z: null}]\n") == {
        "x": "2026-01-01",
        "y": [1, {"z": None}],
    }
    assert parse_yaml('{"a": [1, 2.5, "é"]}') == {"a": [1, 2.5, "é"]}


def test_depth_limit_is_exact() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(ok) is not None
    assert parse_yaml(ok) is not None
    refused(parse_json, "[" + ok + "]")
    refused(parse_yaml, "[" + ok + "]")


@pytest.mark.parametrize(
    ("data", "reason", "word"),
    [
        (b'{"a": 1, "a": 2}', Reason.BAD_REQUEST, "twice"),
        (b'{"s": {"t": 1, "t": 1}}', Reason.BAD_REQUEST, "twice"),
        (b"[" * 100_000, Reason.BAD_REQUEST, "nesting"),
        (b'{"a":' * 100_000, Reason.BAD_REQUEST, "nesting"),
        (b'"\\ud800"', Reason.BAD_ENCODING, "surrogate"),
        (b'{"\\udfff": 1}', Reason.BAD_ENCODING, "surrogate"),
        (b"1" * 5001, Reason.BAD_REQUEST, "digits"),
        (b"-" + b"9" * 21, Reason.BAD_REQUEST, "digits"),
        (b"1e999", Reason.BAD_REQUEST, "double"),
        (b"NaN", Reason.BAD_REQUEST, "NaN"),
        (b"[Infinity]", Reason.BAD_REQUEST, "Infinity"),
        (b"\xff{}", Reason.BAD_ENCODING, "0xff"),
        (b'{"a": 1', Reason.BAD_REQUEST, "line 1"),
    ],
)
def test_json_refusals(data: bytes, reason: Reason, word: str) -> None:
    assert word in refused(parse_json, data, reason)


def test_size_is_checked_before_decoding() -> None:
    refused(parse_json, b"\xff" * 101, Reason.OVERSIZED, max_bytes=100)
    refused(parse_yaml, "a: " + "x" * 100, Reason.OVERSIZED, max_bytes=100)


def test_json_values_are_unchanged() -> None:
    assert parse_json(b'{"x": [1, -2, 2.5, "\\u00e9", true, null], "n": 9223372036854775807}') == {
        "x": [1, -2, 2.5, "é", True, None],
        "n": 9223372036854775807,
    }


def test_detail_never_echoes_content() -> None:
    secret = "Somchai Jaidee"
    for fn, data in (
        (parse_json, f'{{"name": "{secret}", "name": 1}}'),
        (parse_yaml, f"name: {secret}\nname: 1\n"),
        (parse_json, f'{{"name": "{secret}" ,,}}'),
    ):
        assert secret not in refused(fn, data)
