"""The report charts: well-formed SVG, escaped text, bars to scale, suppressed cells marked."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hub.charts import Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, checked for being well-formed


def _rects(svg: str) -> list[ET.Element]:
    return list(_parse(svg).iter(f"{SVG}rect"))


def test_bars_are_drawn_to_scale_with_their_values_written() -> None:
    svg = bar_chart("flows", "Events per corridor", [Bar("TH→KH", 40), Bar("VN→CN", 10)])
    widths = [float(r.get("width", "0")) for r in _rects(svg)]
    assert widths[0] == 4 * widths[1] > 0
    assert ">40<" in svg
    assert ">10<" in svg
    assert _parse(svg).find(f"{SVG}title") is not None  # for screen readers


def test_a_suppressed_value_is_hatched_and_labelled_never_drawn_as_zero() -> None:
    svg = bar_chart("t", "Referrals", [Bar("FEMALE", 12), Bar("MALE", None)], missing="< k")
    rects = _rects(svg)
    assert rects[1].get("fill") == "url(#t-h)"
    assert "&lt; k" in svg


def test_text_is_escaped_and_ids_are_safe() -> None:
    svg = bar_chart('A "b" <c>', "<script>alert(1)</script>", [Bar("<img src=x>", 1)])
    assert "<script>" not in svg
    assert "<img" not in svg
    root = _parse(svg)
    assert root.get("id") == "a-b-c"


def test_an_empty_chart_says_so_and_is_deterministic() -> None:
    assert "nothing to show" in bar_chart("e", "Empty", [])
    assert bar_chart("x", "X", [Bar("a", 1.5)]) == bar_chart("x", "X", [Bar("a", 1.5)])
