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

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hub.errors import Reason, RequestError

from .protection import Audit, Problem, intervals
from .tables import COMPLEMENTARY, PRIMARY, TOTAL, Cell, Frame, Table

__all__ = [
    "DEFAULT_K",
    "Linked",
    "Outcome",
    "TableSpec",
    "protect",
    "suppress_linked",
    "suppress_together",
]

DEFAULT_K: Final = 11  # CTDC's threshold: no published count of 1 to 10
MAX_ROUNDS: Final = 60


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table to publish: its name, title and frame (the counting is the caller's).

    ``family`` and ``pins`` name what the table counts in common with tables of
    other populations (:func:`suppress_together`): a cell of a table with a
    family, whose key has the ``pins`` values and otherwise only a quarter
    and a corridor (the rest ``TOTAL``), counts the same thing as the cell
    with those coordinates in another population's table of that family.
    """

    name: str
    title: str
    frame: Frame
    unit: str = "persons"
    note: str = ""
    family: str = ""
    pins: tuple[tuple[str, str], ...] = ()


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


def _zeros_under_hidden(problem: Problem, hidden: dict[int, str]) -> bool:
    """Hide every zero among the cells of a hidden total (down to the interior), and the
    twin of every hidden cell; True if anything was hidden."""
    any_change = False
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
        for a, b in problem.twins:
            if (a in hidden) != (b in hidden):
                hidden[b if a in hidden else a] = COMPLEMENTARY
                changed = True
        any_change |= changed
    return any_change


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
    """The tables of one population after suppression, with the audit that passed (or not).

    ``audited_with``: the populations audited together with this one (they
    share totals: :func:`suppress_together`), this one included; they share
    ``outcome``.
    """

    tables: tuple[Table, ...]
    outcome: Outcome
    cells: int
    audited_with: tuple[str, ...] = ()


def _identity(frame: Frame, key: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """What a cell counts, independent of the table: its non-TOTAL coordinates."""
    return tuple(sorted((d, v) for d, v in zip(frame.dimensions, key, strict=True) if v != TOTAL))


_SHARED_DIMENSIONS: Final = frozenset({"quarter", "corridor"})


def _shared(spec: TableSpec, key: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """What a cell counts in common with the tables of its family elsewhere, or None."""
    if not spec.family:
        return None
    coords = dict(zip(spec.frame.dimensions, key, strict=True))
    pinned = dict(spec.pins)
    if any(coords.get(d) != v for d, v in pinned.items()):
        return None
    rest = tuple(sorted((d, v) for d, v in coords.items() if v != TOTAL and d not in pinned))
    return rest if all(d in _SHARED_DIMENSIONS for d, _ in rest) else None


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

    Raises:
        RequestError: BAD_REQUEST when two tables disagree on a number they share.
    """
    return suppress_together({"": specs}, interior, k)[""]


def suppress_together(
    populations: Mapping[str, Sequence[TableSpec]],
    interior: Mapping[str, Mapping[tuple[str, ...], int]],
    k: int,
) -> dict[str, Linked]:
    """Count, suppress and audit populations that share totals, as one system.

    Within a population, cells with the same coordinates (ignoring TOTAL) in
    two tables are one cell. Across populations, the cells that count the
    same thing (:attr:`TableSpec.family`: a corridor's persons handed over, in
    ``handed_over_*`` and in ``handover_time_by_days``) are twins: hidden in
    both or in neither, and, where their counts agree, one relation says
    they are equal, so the audit sees what a reader combining the tables
    sees. Populations with no twin in common are suppressed each on its own
    (one that cannot be protected withholds only itself and its partners).

    Raises:
        RequestError: BAD_REQUEST when two tables of a population disagree on a
            number they share (never expected of counts from one node's records).
    """
    families: dict[str, set[str]] = {}
    for population, specs in populations.items():
        for spec in specs:
            if spec.family:
                families.setdefault(spec.family, set()).add(population)
    # Populations joined by a family are audited together; the others alone.
    parent = {p: p for p in populations}

    def root(p: str) -> str:
        while parent[p] != p:
            p = parent[p]
        return p

    for members in families.values():
        first, *others = sorted(members)
        for other in others:
            parent[root(other)] = root(first)
    clusters: dict[str, list[str]] = {}
    for population in populations:
        clusters.setdefault(root(population), []).append(population)
    out: dict[str, Linked] = {}
    for cluster in clusters.values():
        out.update(_together({p: populations[p] for p in cluster}, interior, k))
    return {p: out[p] for p in populations}


def _together(
    populations: Mapping[str, Sequence[TableSpec]],
    interior: Mapping[str, Mapping[tuple[str, ...], int]],
    k: int,
) -> dict[str, Linked]:
    index: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    values: list[int] = []
    labels: list[str] = []
    relations: set[tuple[int, tuple[int, ...]]] = set()
    counted: dict[str, dict[tuple[str, ...], int]] = {}
    shared: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {}
    for population, specs in populations.items():
        for spec in specs:
            counts = spec.frame.count(interior.get(spec.name, {}))
            counted[spec.name] = counts
            for key, n in counts.items():
                slot = (population, _identity(spec.frame, key))
                label = f"{spec.name}[{', '.join(key)}]"
                if slot not in index:
                    index[slot] = len(values)
                    values.append(n)
                    labels.append(label)
                    twin = _shared(spec, key)
                    if twin is not None:
                        shared.setdefault((spec.family, twin), []).append(index[slot])
                elif values[index[slot]] != n:
                    raise RequestError(
                        Reason.BAD_REQUEST,
                        f"expected the tables of one population to agree on {label} "
                        f"and {labels[index[slot]]}; they differ (nothing is published)",
                    )
            for margin, parts in spec.frame.relations():
                relations.add(
                    (
                        index[(population, _identity(spec.frame, margin))],
                        tuple(sorted(index[(population, _identity(spec.frame, p))] for p in parts)),
                    )
                )
    twins = []
    for group in shared.values():
        for a, b in itertools.pairwise(group):
            twins.append((a, b))
            if values[a] == values[b]:
                relations.add((a, (b,)))
    # A category's total holds someone: the category is listed only then (frames()).
    nonempty = frozenset(i for (_, ident), i in index.items() if len(ident) == 1 and values[i] > 0)
    problem = Problem(
        tuple(values), tuple(sorted(relations)), tuple(labels), tuple(twins), nonempty
    )
    outcome = protect(problem, k)
    names = tuple(populations)
    out = {}
    for population, specs in populations.items():
        tables = []
        for spec in specs:
            cells = []
            for key, n in counted[spec.name].items():
                i = index[(population, _identity(spec.frame, key))]
                if outcome.withheld:
                    cells.append(Cell(key, None, True, PRIMARY if 0 < n < k else COMPLEMENTARY))
                elif i in outcome.hidden:
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
        mine = sum(1 for slot in index if slot[0] == population)
        out[population] = Linked(tuple(tables), outcome, mine, names)
    return out
