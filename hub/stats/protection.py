"""The interval audit: what a reader can deduce about each suppressed cell (pure).

The published cells of linked tables (one population's tables share their
margins: the same number is the same cell) satisfy additive relations: each
margin is the sum of the cells it totals. A reader who knows every published
count, that every suppressed count is at least 1 (zeros are published, so a
hidden cell is not empty) and nothing else, can still narrow a hidden cell to
an interval: its smallest and largest value over every non-negative table
that agrees with everything published. :func:`intervals` solves that as two
linear programs per suppressed cell (``scipy.optimize.linprog``, HiGHS), each
over only the hidden cells linked to it (its connected component: relations
without a hidden cell say nothing about it).

A cell is protected when ``upper - lower >= k``: the reader cannot tell a
value below ``k`` from one at least ``k`` apart. The linear relaxation is the
standard audit (tau-Argus, sdcTable); an integer reader can only do as well,
never better, than the interval it gives, up to rounding inwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from hub.errors import OperationalError, Reason

__all__ = ["Audit", "Interval", "Problem", "intervals"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Cells (by index) with their true counts, and the additive relations between them.

    Attributes:
        values: the true count of each cell.
        relations: (margin cell, the cells it is the sum of), by index.
        labels: a printable name per cell (for messages and logs; no personal data).
    """

    values: tuple[int, ...]
    relations: tuple[tuple[int, tuple[int, ...]], ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Interval:
    """What a reader can deduce of one hidden cell: lower and upper bound (upper may be inf)."""

    cell: int
    lower: float
    upper: float

    @property
    def width(self) -> float:
        return self.upper - self.lower


@dataclass(slots=True)
class Audit:
    """Every hidden cell's interval, how many LPs were solved and how long they took."""

    intervals: dict[int, Interval] = field(default_factory=dict)
    lps: int = 0
    seconds: float = 0.0
    largest_lp: int = 0

    def failing(self, k: int) -> list[int]:
        """The hidden cells whose interval is narrower than ``k``."""
        return sorted(i for i, iv in self.intervals.items() if iv.width < k)


def _components(n: int, groups: Sequence[Sequence[int]]) -> list[int]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for group in groups:
        if len(group) > 1:
            root = find(group[0])
            for other in group[1:]:
                r = find(other)
                if r != root:
                    parent[r] = root
    return [find(i) for i in range(n)]


def intervals(problem: Problem, hidden: Mapping[int, object] | set[int]) -> Audit:
    """The feasible interval of every hidden cell given everything else published.

    Raises:
        OperationalError: INTERNAL_ERROR when the solver fails on a problem that the
            true counts prove feasible (never expected; fail closed).
    """
    audit = Audit()
    hidden_list = sorted(hidden)
    if not hidden_list:
        return audit
    position = {cell: i for i, cell in enumerate(hidden_list)}
    values = problem.values
    # Each relation as (hidden members with coefficients, right-hand side).
    rows: list[tuple[list[tuple[int, float]], float]] = []
    for margin, parts in problem.relations:
        coefs: dict[int, float] = {}
        rhs = 0.0
        for cell, sign in [(p, 1.0) for p in parts] + [(margin, -1.0)]:
            if cell in position:
                coefs[position[cell]] = coefs.get(position[cell], 0.0) + sign
            else:
                rhs -= sign * values[cell]
        nonzero = [(i, c) for i, c in coefs.items() if c != 0.0]
        if nonzero:
            rows.append((nonzero, rhs))
    component = _components(len(hidden_list), [[i for i, _ in r[0]] for r in rows])
    by_component: dict[int, list[int]] = {}
    for i, root in enumerate(component):
        by_component.setdefault(root, []).append(i)
    rows_of: dict[int, list[int]] = {}
    for r, (members_of_row, _) in enumerate(rows):
        rows_of.setdefault(component[members_of_row[0][0]], []).append(r)
    started = time.perf_counter()
    for root, members in by_component.items():
        local = {m: j for j, m in enumerate(members)}
        mine = rows_of.get(root, [])
        if not mine:  # linked to nothing published: anything from 1 up
            for m in members:
                audit.intervals[hidden_list[m]] = Interval(hidden_list[m], 1.0, math.inf)
            continue
        data, ri, ci, b = [], [], [], []
        for j, r in enumerate(mine):
            row, rhs = rows[r]
            for m, c in row:
                data.append(c)
                ri.append(j)
                ci.append(local[m])
            b.append(rhs)
        a_eq = csr_matrix((data, (ri, ci)), shape=(len(mine), len(members)))
        audit.largest_lp = max(audit.largest_lp, len(members))
        for m in members:
            objective = np.zeros(len(members))
            objective[local[m]] = 1.0
            bounds = []
            for sense in (1.0, -1.0):
                res = linprog(
                    sense * objective, A_eq=a_eq, b_eq=b, bounds=(1.0, None), method="highs"
                )
                audit.lps += 1
                if res.status == 3:  # unbounded: only the maximum can be
                    bounds.append(math.inf)
                elif res.status == 0:
                    bounds.append(sense * float(res.fun))
                else:
                    raise OperationalError(
                        Reason.INTERNAL_ERROR,
                        f"the suppression audit's LP for {_label(problem, hidden_list[m])} "
                        f"ended with status {res.status} ({res.message}); nothing is published",
                    )
            lower, upper = bounds
            audit.intervals[hidden_list[m]] = Interval(hidden_list[m], lower, upper)
    audit.seconds = time.perf_counter() - started
    return audit


def _label(problem: Problem, cell: int) -> str:
    return problem.labels[cell] if cell < len(problem.labels) else f"cell {cell}"
