"""Small-cell suppression of linked tables, checked by the interval audit (pure).

The rule (docs/statistics.md, "Suppression"):

1. Primary: every cell, interior or margin, whose count is at least 1 and
   below ``k`` is hidden. A zero is published (it identifies no one), except
   under a hidden total: a zero among the cells a hidden total adds up is
   hidden too, so that published zeros never tell that everyone in a small
   group shares a category (two girls aged 0-8 on a corridor whose every
   other cell is 0).
2. Complementary: while some additive relation (a margin and the cells it
   sums) has exactly one hidden member, the smallest non-zero published
   member of that relation is hidden too, so no hidden cell is a difference
   of published ones.
3. Audit (:mod:`hub.stats.protection`): for every hidden cell (a hidden zero
   included), the smallest and largest value consistent with everything
   published. Where an interval is narrower than ``k``, the smallest non-zero
   published cell sharing a relation with it is hidden as well, and the audit
   runs again.
4. Fail closed: when no cell is left to hide or the rounds run out, the whole
   group of tables is withheld (nothing of it is published).

The tables of one population (one indicator) are linked: a margin they share
(the corridor total of the sex-by-age table and of the exploitation table) is
the same number, so it is one cell here and hidden in both or neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .protection import Audit, Problem, intervals
from .tables import COMPLEMENTARY, PRIMARY, TOTAL, Cell, Frame, Table

__all__ = ["DEFAULT_K", "Linked", "Outcome", "TableSpec", "protect", "suppress_linked"]

DEFAULT_K: Final = 11  # CTDC's threshold: no published count of 1 to 10
MAX_ROUNDS: Final = 60


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table to publish: its name, title and frame (the counting is the caller's)."""

    name: str
    title: str
    frame: Frame
    unit: str = "persons"
    note: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`protect` decided: the hidden cells and why, or withheld; the last audit."""

    hidden: Mapping[int, str]
    withheld: bool
    audit: Audit
    rounds: int

    @property
    def passed(self) -> bool:
        return not self.withheld


def _zeros_under_hidden(problem: Problem, hidden: dict[int, str]) -> None:
    """Hide every zero among the cells of a hidden total (down to the interior)."""
    changed = True
    while changed:
        changed = False
        for margin, parts in problem.relations:
            if margin not in hidden:
                continue
            for p in parts:
                if p not in hidden and problem.values[p] == 0:
                    hidden[p] = COMPLEMENTARY
                    changed = True


def _singletons(problem: Problem, hidden: dict[int, str]) -> None:
    """Hide a partner in every relation with exactly one hidden member (where one is non-zero).

    A relation whose only hidden member is a zero and whose other members are
    all zero has no partner to give: the audit looks further out for one.
    """
    changed = True
    while changed:
        changed = False
        _zeros_under_hidden(problem, hidden)
        for margin, parts in problem.relations:
            members = (margin, *parts)
            inside = [m for m in members if m in hidden]
            if len(inside) != 1:
                continue
            options = [m for m in members if m not in hidden and problem.values[m] > 0]
            if options:
                hidden[min(options, key=lambda m: (problem.values[m], m))] = COMPLEMENTARY
                changed = True


def protect(problem: Problem, k: int, *, max_rounds: int = MAX_ROUNDS) -> Outcome:
    """Primary and complementary suppression, looped until the interval audit passes.

    Returns an :class:`Outcome`; ``withheld`` when the cells cannot be
    protected (fail closed: publish nothing of them).
    """
    hidden: dict[int, str] = {i: PRIMARY for i, v in enumerate(problem.values) if 0 < v < k}
    related: dict[int, list[tuple[int, ...]]] = {}
    for margin, parts in problem.relations:
        members = (margin, *parts)
        for m in members:
            related.setdefault(m, []).append(members)
    audit = Audit()
    changed: set[int] | None = None  # cells hidden since the last audit (None: all)
    for rounds in range(1, max_rounds + 1):
        before = set(hidden)
        _singletons(problem, hidden)
        if changed is not None:
            changed |= set(hidden) - before
        fresh = intervals(problem, set(hidden), only=changed, k=k)
        # A component with no new hidden cell is as the last audit left it.
        kept = {c: iv for c, iv in audit.intervals.items() if c not in fresh.intervals}
        audit = Audit(
            {**kept, **fresh.intervals},
            audit.lps + fresh.lps,
            audit.seconds + fresh.seconds,
            max(audit.largest_lp, fresh.largest_lp),
            sum(1 for iv in {**kept, **fresh.intervals}.values() if not iv.exact),
        )
        failing = audit.failing(k)
        if not failing:
            return Outcome(hidden, False, audit, rounds)
        added = False
        changed = set()
        for cell in failing:
            chosen = _partner(problem, related, hidden, cell)
            if chosen is not None:
                hidden[chosen] = COMPLEMENTARY
                changed.add(chosen)
                added = True
        if not added:
            return Outcome(hidden, True, audit, rounds)
    return Outcome(hidden, True, audit, max_rounds)


def _partner(
    problem: Problem,
    related: Mapping[int, list[tuple[int, ...]]],
    hidden: Mapping[int, str],
    cell: int,
) -> int | None:
    """The smallest non-zero published cell sharing a relation with ``cell``.

    When every such cell is hidden already, the search goes on through the
    hidden cells linked to it (nearest first), so a cell hemmed in by hidden
    neighbours still gets a partner; None when nothing published is linked.
    """
    seen = {cell}
    frontier = [cell]
    while frontier:
        options = {
            m
            for c in frontier
            for members in related.get(c, [])
            for m in members
            if m not in hidden and problem.values[m] > 0
        }
        if options:
            return min(options, key=lambda m: (problem.values[m], m))
        step = [
            m
            for c in frontier
            for members in related.get(c, [])
            for m in members
            if m in hidden and m not in seen
        ]
        seen.update(step)
        frontier = sorted(set(step))
    return None


@dataclass(frozen=True, slots=True)
class Linked:
    """The tables of one population after suppression, with the audit that passed (or not)."""

    tables: tuple[Table, ...]
    outcome: Outcome
    cells: int


def _identity(frame: Frame, key: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """What a cell counts, independent of the table: its non-TOTAL coordinates."""
    return tuple(sorted((d, v) for d, v in zip(frame.dimensions, key, strict=True) if v != TOTAL))


def suppress_linked(
    specs: Sequence[TableSpec],
    interior: Mapping[str, Mapping[tuple[str, ...], int]],
    k: int,
) -> Linked:
    """Count, suppress and audit the tables of one population together.

    Args:
        specs: the population's tables; cells with the same coordinates
            (ignoring TOTAL) in two tables are the same number.
        interior: per table name, its interior counts.
        k: the threshold.
    """
    index: dict[tuple[tuple[str, str], ...], int] = {}
    values: list[int] = []
    labels: list[str] = []
    relations: set[tuple[int, tuple[int, ...]]] = set()
    counted: dict[str, dict[tuple[str, ...], int]] = {}
    for spec in specs:
        counts = spec.frame.count(interior.get(spec.name, {}))
        counted[spec.name] = counts
        for key, n in counts.items():
            ident = _identity(spec.frame, key)
            if ident not in index:
                index[ident] = len(values)
                values.append(n)
                labels.append(f"{spec.name}[{', '.join(key)}]")
            # (a shared cell counted twice from the same units agrees; checked in tests)
        for margin, parts in spec.frame.relations():
            relations.add(
                (
                    index[_identity(spec.frame, margin)],
                    tuple(sorted(index[_identity(spec.frame, p)] for p in parts)),
                )
            )
    problem = Problem(tuple(values), tuple(sorted(relations)), tuple(labels))
    outcome = protect(problem, k)
    tables = []
    for spec in specs:
        cells = []
        for key, n in counted[spec.name].items():
            i = index[_identity(spec.frame, key)]
            why = "" if outcome.withheld is False and i not in outcome.hidden else PRIMARY
            if outcome.withheld:
                cells.append(Cell(key, None, True, PRIMARY if 0 < n < k else COMPLEMENTARY))
            elif why:
                cells.append(Cell(key, None, True, outcome.hidden[i]))
            else:
                cells.append(Cell(key, n, False))
        tables.append(
            Table(
                spec.name,
                spec.title,
                spec.frame.dimensions,
                tuple(cells),
                k,
                unit=spec.unit,
                note=spec.note,
                withheld=outcome.withheld,
            )
        )
    return Linked(tuple(tables), outcome, len(values))
