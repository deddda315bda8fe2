"""The interval audit: what a reader can deduce about each suppressed cell (pure).

The published cells of linked tables (one population's tables share their
margins: the same number is the same cell) satisfy additive relations: each
margin is the sum of the cells it totals. A reader who knows every published
count, that a suppressed count is at least 1 unless it is one of the cells
of a hidden total (zeros are published except there: :func:`floors`) and
nothing else, can still narrow a hidden cell to
an interval: its smallest and largest value over every non-negative table
that agrees with everything published. :func:`intervals` solves that as two
linear programs per suppressed cell (HiGHS, through ``highspy``), each over
only the hidden cells linked to it (its connected component: relations
without a hidden cell say nothing about it). A component is loaded into the
solver once; each LP changes only its objective (:class:`_Component`).

A cell is protected when ``upper - lower >= k``: the reader cannot tell a
value below ``k`` from one at least ``k`` apart. With ``k`` given, the audit
stops at proof: every LP's optimum is a whole table consistent with what is
published, so once the values a cell takes across those tables (the true one
included) are ``k`` apart, its minimum LP is skipped (the interval reported is
then those witnessed values, inside the true one: ``exact=False``). The linear relaxation is the
standard audit (tau-Argus, sdcTable); an integer reader can only do as well,
never better, than the interval it gives, rounded inwards to whole counts:
each bound is rounded so (:func:`_upper`, :func:`_lower`), a bound within
``SNAP`` of a whole number taken as that number (solver noise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hub.errors import OperationalError, Reason

__all__ = ["Audit", "Interval", "Problem", "floors", "intervals"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Cells (by index) with their true counts, and the additive relations between them.

    Attributes:
        values: the true count of each cell.
        relations: (margin cell, the cells it is the sum of), by index.
        labels: a printable name per cell (for messages and logs; no personal data).
        twins: pairs of cells of two populations that count the same thing (a
            corridor's persons handed over, in two tables): hidden both or
            neither; where their counts are equal a relation says so too.
        nonempty: cells a reader knows hold someone: a category's total (a
            category is listed only when someone is in it).
    """

    values: tuple[int, ...]
    relations: tuple[tuple[int, tuple[int, ...]], ...]
    labels: tuple[str, ...] = ()
    twins: tuple[tuple[int, int], ...] = ()
    nonempty: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Interval:
    """What a reader can deduce of one hidden cell: lower and upper bound (upper may be inf)."""

    cell: int
    lower: float
    upper: float
    exact: bool = True  # False: two feasible tables witness these values; the interval holds them

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
    witnessed: int = 0  # intervals proved wide enough by feasible tables, not solved exactly

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


def floors(problem: Problem, hidden: Mapping[int, object] | set[int]) -> dict[int, float]:
    """The least value a reader can give each hidden cell: 0 under a hidden total, else 1.

    Zeros are published except under a hidden total (docs/statistics.md,
    "Suppression", rule 2), so a hidden cell that is one of the cells a hidden
    total adds up may be a zero, and so may its twin; a twin whose count
    differs from its twin's may be a zero hidden because its twin is; a
    category's total is at least 1 (:attr:`Problem.nonempty`); any other
    hidden cell is at least 1 (a zero there would be published).
    """
    values = problem.values
    under = {p for margin, parts in problem.relations if margin in hidden for p in parts}
    maybe_zero = set(under)
    for a, b in problem.twins:
        if values[a] != values[b] or a in under or b in under:
            maybe_zero |= {a, b}
    maybe_zero -= problem.nonempty
    return {cell: 0.0 if cell in maybe_zero else 1.0 for cell in hidden}


def intervals(
    problem: Problem,
    hidden: Mapping[int, object] | set[int],
    *,
    only: set[int] | None = None,
    k: int | None = None,
) -> Audit:
    """The feasible interval of every hidden cell given everything else published.

    ``only``: solve just the components holding one of these cells (the
    others' intervals are unchanged since the last audit: nothing linked to
    them changed); None solves every component.

    ``k``: stop at what proves an interval at least ``k`` wide. Each LP's
    optimum is a whole table consistent with what is published; a cell whose
    values across those tables already differ by ``k`` or more is protected
    (two witnesses), and its interval is reported as those witnesses' values
    (``exact=False``: the true interval contains it). A cell not settled so
    gets its own two LPs, exactly. None: every interval exactly.

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
    least = floors(problem, set(hidden_list))
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
        if only is not None and not any(hidden_list[m] in only for m in members):
            continue
        local = {m: j for j, m in enumerate(members)}
        mine = rows_of.get(root, [])
        if not mine:  # linked to nothing published: anything from 1 up
            for m in members:
                cell = hidden_list[m]
                audit.intervals[cell] = Interval(cell, least[cell], math.inf)
            continue
        lp = _Component(
            len(members),
            [rows[r] for r in mine],
            local,
            least_of=[least[hidden_list[m]] for m in members],
        )
        audit.largest_lp = max(audit.largest_lp, len(members))
        # Every LP's optimum is a table consistent with everything published: the
        # lowest and highest value seen so far are inside the cell's interval.
        seen_lo = np.array([float(values[hidden_list[m]]) for m in members])
        seen_hi = seen_lo.copy()
        # The small cells first: their LPs move the others most.
        for m in sorted(members, key=lambda m: (values[hidden_list[m]], m)):
            j = local[m]
            if k is not None and _upper(seen_hi[j]) - _lower(seen_lo[j]) >= k:
                audit.intervals[hidden_list[m]] = Interval(
                    hidden_list[m], _lower(seen_lo[j]), _upper(seen_hi[j]), exact=False
                )
                audit.witnessed += 1
                continue
            found = []
            for sense in (-1.0, 1.0):  # the maximum first: it is the one that can fail
                optimum = lp.solve(j, sense, _label(problem, hidden_list[m]))
                audit.lps += 1
                if optimum is None:  # unbounded: only the maximum can be
                    found.append(math.inf)
                else:
                    value, x = optimum
                    # the maximum, rounded down; the minimum, rounded up
                    bound = sense * value
                    found.append(_upper(bound) if sense < 0 else _lower(bound))
                    seen_lo = np.minimum(seen_lo, x)
                    seen_hi = np.maximum(seen_hi, x)
                if k is not None and sense < 0 and found[0] - _lower(seen_lo[j]) >= k:
                    break  # wide enough already, whatever the exact minimum
            if len(found) == 1:
                audit.intervals[hidden_list[m]] = Interval(
                    hidden_list[m], _lower(seen_lo[j]), found[0], exact=False
                )
                audit.witnessed += 1
            else:
                audit.intervals[hidden_list[m]] = Interval(hidden_list[m], found[1], found[0])
    audit.seconds = time.perf_counter() - started
    return audit


def _label(problem: Problem, cell: int) -> str:
    return problem.labels[cell] if cell < len(problem.labels) else f"cell {cell}"


class _Component:
    """One component's LP, loaded into HiGHS once; each solve changes only the objective.

    The constraints and bounds of a component's LPs are the same for every cell
    and sense; only the objective (one cell, up or down) changes, so the model
    is passed once and each solve starts from the last optimal basis (a few
    simplex pivots, not a cold solve with its presolve).
    """

    def __init__(
        self,
        n: int,
        rows: Sequence[tuple[list[tuple[int, float]], float]],
        local: Mapping[int, int],
        least_of: Sequence[float],
    ) -> None:
        # Loaded when an audit runs (importing the core stays light). The binding's
        # own class: highspy.Highs adds Python callbacks and prints a banner on
        # stdout, into the JSON of `trm stats report --json`.
        from highspy import _core as highs  # noqa: PLC0415

        columns: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        rhs = np.empty(len(rows))
        for r, (row, b) in enumerate(rows):
            rhs[r] = b
            for m, c in row:
                columns[local[m]].append((r, c))
        lp = highs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = len(rows)
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.asarray(least_of, dtype=float)
        lp.col_upper_ = np.full(n, highs.kHighsInf)
        lp.row_lower_ = rhs
        lp.row_upper_ = rhs
        lp.a_matrix_.format_ = highs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.cumsum([0] + [len(c) for c in columns], dtype=np.int32)
        lp.a_matrix_.index_ = np.array([r for c in columns for r, _ in c], dtype=np.int32)
        lp.a_matrix_.value_ = np.array([v for c in columns for _, v in c], dtype=float)
        self._highs = highs
        self._h = highs._Highs()
        ok = highs.HighsStatus.kOk
        done = [
            self._h.setOptionValue("output_flag", False),
            # Changing the objective keeps the last basis primal feasible: primal
            # simplex goes on from it (about 20 pivots a solve here, against about
            # 200 for dual simplex, and 400 with no presolve); presolve would
            # discard it. One thread: the solve is serial, and HiGHS would start a
            # pool per calling thread.
            self._h.setOptionValue("simplex_strategy", 4),  # kSimplexStrategyPrimal
            self._h.setOptionValue("presolve", "off"),
            self._h.setOptionValue("threads", 1),
            self._h.passModel(lp),
        ]
        if any(status != ok for status in done):
            raise OperationalError(
                Reason.INTERNAL_ERROR,
                f"expected HiGHS to take the suppression audit's options and model, "
                f"found {[str(status) for status in done]}; nothing is published",
            )
        self._costed: int | None = None

    def solve(self, j: int, sense: float, label: str) -> tuple[float, np.ndarray] | None:
        """Minimise ``sense * x[j]`` (the cell ``label``): (optimum, x), None when unbounded.

        Raises:
            OperationalError: INTERNAL_ERROR for any other end of the solve.
        """
        h, highs = self._h, self._highs
        if self._costed is not None and self._costed != j:
            h.changeColCost(self._costed, 0.0)
        h.changeColCost(j, sense)
        self._costed = j
        h.run()
        status = h.getModelStatus()
        if status == highs.HighsModelStatus.kOptimal:
            x = np.asarray(h.getSolution().col_value)
            return h.getInfo().objective_function_value, x
        if status == highs.HighsModelStatus.kUnbounded:
            return None
        # Anything else fails closed, "unbounded or infeasible" too: the true
        # counts satisfy every relation, so it would mean a wrong model.
        raise OperationalError(
            Reason.INTERNAL_ERROR,
            f"the suppression audit's LP for {label} ended with status "
            f"{h.modelStatusToString(status)}; nothing is published",
        )


#: Solver noise: HiGHS meets its constraints to 1e-7, so an optimum of 11 may come back
#: as 10.999999999999993 and decide, by noise, that an interval is narrower than k.
SNAP = 1e-6


def _upper(value: float) -> float:
    """An upper bound, rounded inwards: the largest whole count at most ``value``
    (within SNAP of a whole number, that number)."""
    return float(math.floor(value + SNAP)) if math.isfinite(value) else value


def _lower(value: float) -> float:
    """A lower bound, rounded inwards: the smallest whole count at least ``value``."""
    return float(math.ceil(value - SNAP))
