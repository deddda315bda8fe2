"""What the CLI prints of received text: data, never markup or terminal control (issue 16, 5)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from rich.table import Table

from connectors.cli.terminal import cell, cell_lines, json_line, line, printable
from connectors.sdk import Rejection
from hub.errors import Reason, RequestError

HOSTILE = [
    "Plain [/bold] Name",
    "[link=http://evil.example]CLICK[/link]",
    ":smile: [red]red[/red]",
    "clear\x1b[2J\x1b[H",
    "osc8 \x1b]8;;http://evil.example\x1b\\here\x1b]8;;\x1b\\",
    "c1 csi \x9b31m and osc \x9d8;;x\x9c",
    "bidi \u202egnp.exe \u2066x\u2069 \u200f",
    "bell\x07 back\x08 cr\r fake\nline \u2028sep",
]


def _render(renderable: object) -> str:
    out = io.StringIO()
    # A real terminal: colours, hyperlinks and all (not the highlighter's colours).
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=300)
    console.print(renderable, highlight=False)
    return out.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_shows_the_text_and_nothing_a_terminal_acts_on(text: str) -> None:
    table = Table("value")
    table.add_row(cell(text))
    table.add_row(line(("label", "red"), f": {text}"))
    shown = _render(table)
    plain = printable(text)
    assert plain in shown  # markup and emoji codes are the characters written
    for control in ("\x07", "\x08", "\r", "\x9b", "\x9d", "\u202e", "\u2066", "\u2028"):
        assert control not in shown
    assert "\x1b]8;" not in shown  # no hyperlink, whatever the text says
    # ESC appears only in the styles rich itself writes, never from the text.
    assert "\x1b[2J" not in shown
    assert "\x1b[H" not in shown


def test_printable_keeps_scripts_and_escapes_only_controls() -> None:
    assert printable("សុខ ស្រីពៅ ร.ต.อ. สมชาย ใจดี") == "សុខ ស្រីពៅ ร.ต.อ. สมชาย ใจดี"
    assert printable("a\x1bb\u202ec\x9bd\ne") == "a\\x1bb\\u202ec\\x9bd\\x0ae"
    assert printable(42) == "42"
    assert cell_lines([]).plain == ""
    assert cell_lines(["a\x1b", "b"]).plain == "a\\x1b\nb"


def test_json_line_is_the_same_data_without_raw_controls() -> None:
    obj = {"names": HOSTILE, "khmer": "សុខ"}
    text = json_line(obj, sort_keys=True)
    assert json.loads(text) == obj
    for control in ("\x1b", "\x9b", "\x9d", "\u202e", "\u2028", "\n"):
        assert control not in text
    assert "សុខ" in text  # readable scripts stay readable


def test_rejection_records_are_read_strictly() -> None:
    good = {"event_id": "e", "producer": "TH", "recipient": "KH", "reason": "R", "detail": "d",
            "source": "s"}  # fmt: skip
    assert Rejection.from_bytes(json.dumps(good).encode()).reason == "R"
    for raw, reason in (
        (b'{"reason": "NO_AGREEMENT", "reason": "OK"}', Reason.BAD_REQUEST),
        (b"[" * 100_000 + b"]" * 100_000, Reason.BAD_REQUEST),
        (b'{"detail": "\\ud800"}', Reason.BAD_ENCODING),
        (b'{"detail": ' + b"9" * 5001 + b"}", Reason.BAD_REQUEST),
        (b"\xff", Reason.BAD_ENCODING),
    ):
        with pytest.raises(RequestError) as info:
            Rejection.from_bytes(raw)
        assert info.value.reason is reason


def test_the_demo_shows_a_rejection_detail_as_data() -> None:
    from connectors.demo.run import _data

    for text in HOSTILE:
        shown = _render(_data(f"    {text}", "dim"))  # as the demo prints a hub's detail
        assert printable(text) in shown
        assert "\x1b]8;" not in shown
