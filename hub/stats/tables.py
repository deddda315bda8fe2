"""Statistical tables: cells keyed by category, margins marked ``TOTAL`` (contract E).

A :class:`Table` is what a report publishes: its dimensions, every cell (the
interior and every margin), and the ``k`` its suppression used. A margin cell
has :data:`TOTAL` in each dimension it sums over; a dimension that is not
additive (a person may receive several reintegration services) has no
``TOTAL``. A suppressed cell's ``count`` is None: the exact number stays with
the country that computed it. ``why`` (PRIMARY or COMPLEMENTARY) is for the
node's own log only: a reader told that a cell was primary would know it is
below ``k``, so :meth:`Table.to_json` leaves it out.

:class:`Frame` is the layout before counting: the dimensions of a table, their
categories in order, and which are additive; :func:`cross` builds every key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hub.errors import Reason, RequestError

__all__ = ["COMPLEMENTARY", "PRIMARY", "TOTAL", "Cell", "Frame", "Table", "cross"]

TOTAL: Final = "TOTAL"
PRIMARY: Final = "PRIMARY"
COMPLEMENTARY: Final = "COMPLEMENTARY"


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: its key (one category per dimension, ``TOTAL`` for a margin).

    Attributes:
        key: the categories, in the table's dimension order.
        count: the number of persons (or events); None when suppressed.
        suppressed: True when the count is not published.
        why: "" (published), PRIMARY (below k) or COMPLEMENTARY (hidden so
            that a primary cell cannot be recovered); never published.
    """

    key: tuple[str, ...]
    count: int | None
    suppressed: bool
    why: str = ""

    def __post_init__(self) -> None:
        if self.suppressed != (self.count is None):
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a suppressed cell to have no count and a published one a count, "
                f"got suppressed={self.suppressed} with count={self.count}",
            )
        if self.why not in ("", PRIMARY, COMPLEMENTARY) or (self.why == "") == self.suppressed:
            raise RequestError(Reason.BAD_REQUEST, f"expected why to match, got {self.why!r}")

    @property
    def is_margin(self) -> bool:
        return TOTAL in self.key

    def to_json(self) -> dict[str, Any]:
        """The published form: key, count (null when suppressed), suppressed."""
        return {"key": list(self.key), "count": self.count, "suppressed": self.suppressed}


@dataclass(frozen=True, slots=True)
class Table:
    """A published table: every cell, interior and margins, in a stable order.

    Attributes:
        name: a stable identifier (``referred_by_corridor_sex_age``), used for file names.
        title: what a reader calls it.
        dimensions: the dimension names, in key order.
        cells: every cell; the interior first, then margins, each in category order.
        k: the threshold: no published count is below it (zero aside, docs/statistics.md).
        unit: what is counted ("persons", "follow-ups", "events").
        note: one line a reader needs (the reporting role, a rule).
        withheld: True when the table could not be protected and nothing of it is published.
    """

    name: str
    title: str
    dimensions: tuple[str, ...]
    cells: tuple[Cell, ...]
    k: int
    unit: str = "persons"
    note: str = ""
    withheld: bool = False

    def cell(self, *key: str) -> Cell:
        for c in self.cells:
            if c.key == key:
                return c
        raise KeyError(key)

    def categories(self, dimension: str) -> list[str]:
        """The categories of one dimension in the table's order, ``TOTAL`` last if present."""
        i = self.dimensions.index(dimension)
        seen: dict[str, None] = {}
        for c in self.cells:
            if c.key[i] != TOTAL:
                seen.setdefault(c.key[i], None)
        if any(c.key[i] == TOTAL for c in self.cells):
            seen[TOTAL] = None
        return list(seen)

    @property
    def suppressed(self) -> list[Cell]:
        return [c for c in self.cells if c.suppressed]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "unit": self.unit,
            "note": self.note,
            "dimensions": list(self.dimensions),
            "k": self.k,
            "withheld": self.withheld,
            "cells": [c.to_json() for c in self.cells],
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """A table's layout: dimensions, their categories (in order), and which are additive.

    A dimension is additive when its categories partition the counted units,
    so a ``TOTAL`` over it is their sum (every dimension here but a service,
    which a person may receive several of).
    """

    dimensions: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    additive: tuple[bool, ...]

    def __post_init__(self) -> None:
        if not (len(self.dimensions) == len(self.categories) == len(self.additive)):
            raise RequestError(Reason.BAD_REQUEST, "expected one category list per dimension")
        for name, cats in zip(self.dimensions, self.categories, strict=True):
            if TOTAL in cats or len(set(cats)) != len(cats):
                raise RequestError(
                    Reason.BAD_REQUEST, f"expected distinct categories of {name}, not TOTAL"
                )

    def interior(self) -> Iterator[tuple[str, ...]]:
        return itertools.product(*self.categories)

    def keys(self) -> list[tuple[str, ...]]:
        """Every key: the interior first, then the margins (fewest TOTALs first)."""
        axes = [
            (*cats, TOTAL) if add else cats
            for cats, add in zip(self.categories, self.additive, strict=True)
        ]
        every = list(itertools.product(*axes))
        return sorted(every, key=lambda key: sum(1 for v in key if v == TOTAL))

    def count(self, interior: Mapping[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
        """Every key's count from the interior counts (a key not given counts 0)."""
        out: dict[tuple[str, ...], int] = dict.fromkeys(self.keys(), 0)
        for key, n in interior.items():
            if key not in out or TOTAL in key:
                raise RequestError(
                    Reason.BAD_REQUEST, f"expected an interior key of the frame, got {list(key)}"
                )
            for mask in itertools.product((False, True), repeat=len(key)):
                if any(m and not a for m, a in zip(mask, self.additive, strict=True)):
                    continue
                target = tuple(TOTAL if m else v for m, v in zip(mask, key, strict=True))
                out[target] += n
        return out

    def relations(self) -> list[tuple[tuple[str, ...], list[tuple[str, ...]]]]:
        """Every additive relation: (a margin key, the keys it is the sum of)."""
        keys = self.keys()
        out = []
        for key in keys:
            for i, value in enumerate(key):
                if value != TOTAL:
                    continue
                parts = [(*key[:i], c, *key[i + 1 :]) for c in self.categories[i]]
                out.append((key, parts))
        return out


def cross(values: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    """The cartesian product of category lists, as keys."""
    return [tuple(k) for k in itertools.product(*values)]
