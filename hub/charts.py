"""Charts as inline SVG for the printable reports (pure; no script, no CDN, no fonts fetched).

The statistics report (``trm stats report``) and the auditor's replay page
(``trm audit replay --html``) draw their charts here, so both look alike and
print alike. A chart is a horizontal bar chart: one labelled bar per value,
the value written at the bar's end. A value that is ``None`` is a cell that
was not published (small-cell suppression): it is drawn as a hatched stub
labelled with ``missing`` instead of a bar, so a reader never mistakes it for
zero. Every text is escaped; the output is deterministic (ids come from the
caller's ``slug``), so a page can be compared byte for byte.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Bar", "bar_chart"]

_SLUG: Final = re.compile(r"[^a-z0-9-]+")
_ROW: Final = 22  # px per bar
_LABEL_W: Final = 220
_VALUE_W: Final = 90
_TOP: Final = 28
_COLOURS: Final = ("#1f4e79", "#2e7d32", "#8e24aa", "#c62828", "#ef6c00", "#00838f")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its value (None: not published), and an optional colour group."""

    label: str
    value: float | None
    group: int = 0


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {unit}".rstrip()


def bar_chart(
    slug: str,
    title: str,
    bars: Sequence[Bar],
    *,
    unit: str = "",
    missing: str = "suppressed",
    width: int = 640,
) -> str:
    """A horizontal bar chart as one ``<svg>`` element (an empty chart says so).

    Args:
        slug: a stable id for the chart (lower-case letters, digits, hyphens
            are kept; the rest becomes a hyphen).
        title: the chart's title, drawn and given to screen readers.
        bars: the bars, top to bottom.
        unit: written after each value ("events", "days").
        missing: the label of a bar whose value is None.
        width: the drawing's width in px; it scales to the page when printed.
    """
    ident = _SLUG.sub("-", slug.lower()).strip("-") or "chart"
    height = _TOP + max(1, len(bars)) * _ROW + 8
    plot = max(60, width - _LABEL_W - _VALUE_W)
    top = max((b.value for b in bars if b.value is not None), default=0.0)
    scale = plot / top if top > 0 else 0.0
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" role="img" '
        f'aria-labelledby="{ident}-t" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px">',
        f'<title id="{ident}-t">{esc(title)}</title>',
        '<defs><pattern id="' + ident + '-h" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#999" '
        'stroke-width="2"/></pattern></defs>',
        f'<text x="0" y="16" font-size="14" font-weight="bold">{esc(title)}</text>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{_TOP + 14}" font-size="12">(nothing to show)</text>')
    for i, bar in enumerate(bars):
        y = _TOP + i * _ROW
        label = bar.label if len(bar.label) <= 34 else bar.label[:33] + "…"
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"<title>{esc(bar.label)}</title>{esc(label)}</text>"
        )
        if bar.value is None:
            parts.append(
                f'<rect x="{_LABEL_W}" y="{y + 3}" width="24" height="{_ROW - 6}" '
                f'fill="url(#{ident}-h)" stroke="#999"/>'
                f'<text x="{_LABEL_W + 30}" y="{y + 15}" font-size="12" font-style="italic">'
                f"{esc(missing)}</text>"
            )
            continue
        length = round(max(0.0, bar.value) * scale, 1)
        colour = _COLOURS[bar.group % len(_COLOURS)]
        parts.append(
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{length}" height="{_ROW - 6}" '
            f'fill="{colour}"/>'
            f'<text x="{_LABEL_W + length + 4}" y="{y + 15}" font-size="12">'
            f"{esc(_number(bar.value, unit))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
