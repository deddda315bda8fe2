"""An independent check of a published statistics report, for the tests.

It reads only what was published (the JSON of each table: dimensions and
cells, ``count`` null where suppressed) and, for each group of linked tables,
solves with ``scipy.optimize.linprog`` the smallest and largest value of each
suppressed cell consistent with every published count (a hidden cell is at
least 1, since zeros are published, unless it is one of the cells a hidden
total adds up: zeros there are hidden too). It shares no code with
:mod:`hub.stats.protection`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linprog

__all__ = ["check_files_agree", "published_intervals", "zeros_beside_hidden"]


def _ident(dims: Sequence[str], key: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((d, v) for d, v in zip(dims, key, strict=True) if v != "TOTAL"))


def published_intervals(tables: Sequence[Mapping[str, Any]]) -> dict[Any, tuple[float, float]]:
    """Per suppressed cell (by identity), its feasible (lower, upper) given the published tables."""
    value: dict[Any, int | None] = {}
    equations: list[tuple[Any, list[Any]]] = []
    for t in tables:
        dims = list(t["dimensions"])
        cats: list[list[str]] = [[] for _ in dims]
        for c in t["cells"]:
            ident = _ident(dims, c["key"])
            value[ident] = c["count"]
            for i, v in enumerate(c["key"]):
                if v != "TOTAL" and v not in cats[i]:
                    cats[i].append(v)
        for c in t["cells"]:
            for i, v in enumerate(c["key"]):
                if v == "TOTAL":
                    parts = [_ident(dims, [*c["key"][:i], x, *c["key"][i + 1 :]]) for x in cats[i]]
                    equations.append((_ident(dims, c["key"]), parts))
    hidden = sorted((i for i, v in value.items() if v is None), key=repr)
    may_be_zero = {p for margin, parts in equations if value[margin] is None for p in parts}
    col = {h: j for j, h in enumerate(hidden)}
    rows, rhs = [], []
    for margin, parts in equations:
        row = np.zeros(len(hidden))
        b = 0.0
        for ident, sign in [(p, 1.0) for p in parts] + [(margin, -1.0)]:
            v = value.get(ident, 0)
            if v is None:
                row[col[ident]] += sign
            else:
                b -= sign * v
        if row.any():
            rows.append(row)
            rhs.append(b)
    out: dict[Any, tuple[float, float]] = {}
    if not hidden:
        return out
    a = np.array(rows) if rows else None
    bounds = [(0 if h in may_be_zero else 1, None) for h in hidden]
    for h in hidden:
        c = np.zeros(len(hidden))
        c[col[h]] = 1.0
        lo = linprog(c, A_eq=a, b_eq=rhs or None, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a, b_eq=rhs or None, bounds=bounds, method="highs")
        assert lo.status == 0, lo.message
        upper = math.inf if hi.status == 3 else _whole(-float(hi.fun))
        out[h] = (_whole(float(lo.fun)), upper)
    return out


def _whole(x: float) -> float:
    """An optimum within 1e-6 of a whole number, as that number (HiGHS meets its
    constraints to 1e-7: a width of 11 must not read as 10.999999999999993)."""
    return float(round(x)) if abs(x - round(x)) <= 1e-6 else x


def zeros_beside_hidden(tables: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Relations with a hidden cell whose every published member is zero (none expected).

    Such zeros would tell that everyone counted in the hidden cells of the
    relation falls in them: two girls aged 0-8 on a corridor whose every other
    cell reads 0. Returns (table name, the total's key) of each.
    """
    out = []
    for t in tables:
        dims = list(t["dimensions"])
        count = {tuple(c["key"]): c["count"] for c in t["cells"]}
        cats: list[list[str]] = [[] for _ in dims]
        for key in count:
            for i, v in enumerate(key):
                if v != "TOTAL" and v not in cats[i]:
                    cats[i].append(v)
        for key, total in count.items():
            for i, v in enumerate(key):
                if v != "TOTAL":
                    continue
                members = [total] + [count[(*key[:i], x, *key[i + 1 :])] for x in cats[i]]
                shown = [n for n in members if n is not None]
                if len(shown) < len(members) and shown and not any(shown):
                    out.append((str(t["name"]), list(key)))
    return out


def check_files_agree(out: Path) -> int:
    """report.json, each ``<table>.csv`` and report.html in ``out`` carry the same cells.

    Returns the number of cells compared.
    """
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "https://" not in page  # nothing fetched: no CDN
    shown: dict[tuple[str, str], str] = {}
    for table, key, cells in re.findall(
        r'<tr data-table="([^"]+)" data-key="([^"]*)">(.*?)</tr>', page
    ):
        shown[(html.unescape(table), html.unescape(key))] = re.findall(
            r'<td class="n[^"]*"[^>]*>([^<]*)</td>', cells
        )[-1]
    n = 0
    assert isinstance(doc["k"], int)
    for t in doc["tables"]:
        rows = list(csv.DictReader(io.StringIO((out / f"{t['name']}.csv").read_text("utf-8"))))
        assert len(rows) == len(t["cells"]), t["name"]
        for cell, row in zip(t["cells"], rows, strict=True):
            key = [row[d] for d in t["dimensions"]]
            assert key == cell["key"]
            assert set(cell) == {"key", "count", "suppressed"}
            assert row["suppressed"] == ("true" if cell["suppressed"] else "false")
            in_html = shown[(t["name"], "|".join(key))]
            if cell["count"] is None:
                assert cell["suppressed"]
                assert row["count"] == ""
                assert in_html == "suppressed"
            else:
                assert row["count"] == str(cell["count"]) == in_html
            n += 1
    assert len(shown) == n
    return n
