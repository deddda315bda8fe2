"""Received text on a terminal: data, never markup, never control sequences.

What a node prints that came from outside the process (payload values and
names, header fields, rejection details, a recipient's reason, agreement ids)
is data. It goes through here so that:

- rich markup (``[/bold]``, ``[link=http://…]``) and emoji codes (``:smile:``)
  stay the characters written: :func:`cell` and :func:`line` are rich ``Text``
  objects, which rich never parses as markup (a string cell would be parsed,
  and ``[/bold]`` alone raises ``MarkupError``);
- C0 and C1 control characters (ESC and so every CSI and OSC 8 hyperlink
  sequence, the one-byte CSI U+009B, BEL, CR, backspace, newline) and the
  Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
  U+2066-U+2069) and line/paragraph separators are shown as visible escapes
  (``\\x1b``, ``\\u202e``): a value can neither move the cursor, clear the
  screen, make a link, reorder the rest of its line nor start a fake one.

:func:`json_line` is the same guarantee for ``--json`` output: those
characters are written as JSON ``\\uXXXX`` escapes, so the data a program
reads is unchanged and a terminal shows nothing it would act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import click

from hub.errors import TrmError

if TYPE_CHECKING:  # rich is imported when a table is drawn, not for every refusal line
    from rich.text import Text

__all__ = ["cell", "cell_lines", "echo_refusal", "json_line", "line", "printable"]

_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``value`` as text with every control character shown as an escape (see above)."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_visible, text)


def cell(value: object, style: str = "") -> Text:
    """A table cell holding ``value`` as data: no markup, no control characters."""
    from rich.text import Text

    return Text(printable(value), style=style)


def cell_lines(values: Iterable[object], empty: str = "") -> Text:
    """A table cell with one value per line, each as data (``empty`` when there is none)."""
    from rich.text import Text

    shown = [cell(v) for v in values]
    return Text("\n").join(shown) if shown else Text(empty)


def line(*parts: str | tuple[str, str]) -> Text:
    """A line of rich text from pieces of data (``"text"`` or ``("text", "style")``).

    Only the styles are ours; every piece of text is shown as written.
    """
    from rich.text import Text

    out = Text()
    for part in parts:
        text, style = (part, "") if isinstance(part, str) else part
        out.append(printable(text), style=style)
    return out


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_line(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` with every control character escaped.

    JSON puts these characters only inside strings, where ``\\uXXXX`` means the
    same character: a program reads the same data, a terminal sees no control.
    """
    return _UNSAFE.sub(_json_escape, json.dumps(obj, ensure_ascii=False, **kwargs))


def echo_refusal(exc: TrmError) -> None:
    """The CLI's ``rejected: CODE: detail`` line on stderr (a detail may quote input)."""
    click.echo(printable(exc.as_line()), err=True)
