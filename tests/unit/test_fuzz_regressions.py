"""Every crasher the fuzzers found, kept: each input must now be a value or a refusal.

The inputs live in ``tests/fuzz/regressions/<target>/<what-it-was>``; a new
crasher is added by copying it there (docs/fuzzing.md). The tests below the
parametrised one pin what each fix refuses, with which reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.audit.note import Checkpoint, SignedNote
from hub.errors import AuditError, Reason, RequestError
from hub.textdoc import parse_yaml
from tests.fuzz.targets import TARGETS, run_one

REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"
CASES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_regression_names_a_target() -> None:
    assert CASES, "no regression inputs found"
    assert {p.parent.name for p in CASES} <= set(TARGETS)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_crasher_is_now_a_value_or_a_refusal(path: Path) -> None:
    run_one(TARGETS[path.parent.name], path.read_bytes())


def test_yaml_control_character_is_bad_request() -> None:
    # PyYAML's reader refuses it in the loader's constructor, which parse_yaml called
    # outside its try: a yaml.ReaderError escaped every YAML door.
    with pytest.raises(RequestError) as caught:
        parse_yaml(b"type: referral\x19\n", what="mapping")
    assert caught.value.reason is Reason.BAD_REQUEST
    assert caught.value.detail.startswith("mapping: expected YAML")


@pytest.mark.parametrize(
    "note",
    [
        "o\n1\n\u00c4x5pi7V6ezAkxtlTZuVWNs/UkD9YihGfZGuSiG0nGk8=\n\n\u2014 o AAAAAAAA\n",
        "o\n1\nAx5pi7V6ezAkxtlTZuVWNs/UkD9YihGfZGuSiG0nGk8=\n\n\u2014 o \u00c4AAAAAAA\n",
    ],
    ids=["root", "signature"],
)
def test_non_ascii_base64_in_a_note_is_checkpoint_invalid(note: str) -> None:
    # base64.b64decode raises a plain ValueError (not binascii.Error) for non-ASCII text.
    with pytest.raises(AuditError) as caught:
        Checkpoint.parse(SignedNote.from_bytes(note.encode()).text)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID
