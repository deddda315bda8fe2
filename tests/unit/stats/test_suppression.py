"""Small-cell suppression and its interval audit, on known small tables and random ones."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import OperationalError, Reason
from hub.stats import (
    TOTAL,
    Frame,
    Problem,
    TableSpec,
    intervals,
    protect,
    suppress_linked,
    suppress_together,
)
from hub.stats.tables import COMPLEMENTARY, PRIMARY
from tests.support.stats_audit import published_intervals, zeros_beside_hidden

K = 11


def _two_way(rows: list[str], cols: list[str]) -> TableSpec:
    return TableSpec("t", "T", Frame(("r", "c"), (tuple(rows), tuple(cols)), (True, True)))


def _grid(values: list[list[int]]) -> dict[tuple[str, ...], int]:
    return {(f"r{i}", f"c{j}"): v for i, row in enumerate(values) for j, v in enumerate(row)}


def _suppress(values: list[list[int]], k: int = K) -> Any:
    spec = _two_way([f"r{i}" for i in range(len(values))], [f"c{j}" for j in range(len(values[0]))])
    return suppress_linked([spec], {"t": _grid(values)}, k)


def _check(tables: list[dict[str, Any]], k: int) -> None:
    """No published count in 1..k-1; no zero beside a hidden cell tells who is in it; every
    hidden cell's interval (recomputed) >= k wide."""
    for t in tables:
        for c in t["cells"]:
            assert c["suppressed"] == (c["count"] is None)
            assert c["count"] is None or c["count"] == 0 or c["count"] >= k, (t["name"], c)
    assert zeros_beside_hidden(tables) == []
    for ident, (lo, hi) in published_intervals(tables).items():
        assert hi - lo >= k, (ident, lo, hi)


def test_frame_counts_every_margin() -> None:
    frame = Frame(("r", "c"), (("a", "b"), ("x", "y")), (True, True))
    counts = frame.count({("a", "x"): 3, ("b", "y"): 4})
    assert counts[("a", TOTAL)] == 3
    assert counts[(TOTAL, "y")] == 4
    assert counts[(TOTAL, TOTAL)] == 7
    assert counts[("a", "y")] == 0
    assert len(frame.relations()) == 2 + 2 + 2  # a row total, column total, grand total twice


def test_a_table_without_small_cells_is_published_whole() -> None:
    linked = _suppress([[20, 30], [40, 15]])
    (table,) = linked.tables
    assert not table.suppressed
    assert table.cell(TOTAL, TOTAL).count == 105
    assert linked.outcome.audit.lps == 0


def test_zeros_are_published_and_never_hidden() -> None:
    linked = _suppress([[0, 30], [40, 0]])
    (table,) = linked.tables
    assert table.cell("r0", "c0").count == 0
    assert not table.suppressed


def test_two_small_cells_on_a_diagonal_hide_the_whole_interior() -> None:
    linked = _suppress([[5, 20], [20, 5]])
    (table,) = linked.tables
    hidden = {c.key: c.why for c in table.suppressed}
    assert hidden == {
        ("r0", "c0"): PRIMARY,
        ("r1", "c1"): PRIMARY,
        ("r0", "c1"): COMPLEMENTARY,
        ("r1", "c0"): COMPLEMENTARY,
    }
    # The margins stay: 25 each, so a hidden cell lies anywhere in [1, 24].
    exact = published_intervals([table.to_json()])
    assert set(exact.values()) == {(1.0, 24.0)}
    assert all(iv.width >= K for iv in linked.outcome.audit.intervals.values())
    _check([table.to_json()], K)


def test_a_single_small_cell_gets_partners_in_its_row_and_column() -> None:
    linked = _suppress([[3, 40, 50], [30, 60, 70], [25, 35, 45]])
    (table,) = linked.tables
    primary = [c.key for c in table.suppressed if c.why == PRIMARY]
    assert primary == [("r0", "c0")]
    assert len(table.suppressed) >= 4  # a rectangle at least
    assert linked.outcome.passed
    _check([table.to_json()], K)


def test_a_small_margin_is_hidden_with_its_cells() -> None:
    linked = _suppress([[2, 3], [40, 50]])
    (table,) = linked.tables
    assert table.cell("r0", TOTAL).suppressed  # 5 < k
    assert table.cell(TOTAL, TOTAL).count == 95
    _check([table.to_json()], K)


def test_a_total_below_k_hides_every_cell_its_zeros_too() -> None:
    """A published zero beside r0's hidden 2 would tell that all of r0 is in c0."""
    linked = _suppress([[2, 0], [3, 4]])
    (table,) = linked.tables
    assert all(c.suppressed for c in table.cells)
    assert all(math.isinf(iv.upper) for iv in linked.outcome.audit.intervals.values())


def test_the_published_cell_is_never_a_difference_of_published_ones() -> None:
    """Row 0 total 50 and c1 = 45 published would give c0 = 5: c1 is hidden too."""
    linked = _suppress([[5, 45]])
    (table,) = linked.tables
    assert table.cell("r0", "c1").suppressed
    _check([table.to_json()], K)


def test_linked_tables_share_their_common_margin() -> None:
    """The corridor totals of two tables are one number: hidden in both or neither."""
    a = TableSpec(
        "a",
        "A",
        Frame(("corridor", "sex"), (("X", "Y"), ("F", "M")), (True, True)),
    )
    b = TableSpec(
        "b",
        "B",
        Frame(("corridor", "type"), (("X", "Y"), ("L", "S")), (True, True)),
    )
    interior: dict[str, dict[tuple[str, ...], int]] = {
        "a": {("X", "F"): 3, ("X", "M"): 4, ("Y", "F"): 30, ("Y", "M"): 40},
        "b": {("X", "L"): 2, ("X", "S"): 5, ("Y", "L"): 35, ("Y", "S"): 35},
    }
    linked = suppress_linked([a, b], interior, K)
    ta, tb = linked.tables
    assert ta.cell("X", TOTAL).suppressed  # 7 < k
    assert tb.cell("X", TOTAL).suppressed
    for corridor in ("X", "Y"):
        assert ta.cell(corridor, TOTAL).count == tb.cell(corridor, TOTAL).count
    _check([ta.to_json(), tb.to_json()], K)


def test_zeros_do_not_tell_that_everyone_in_a_small_group_shares_a_category() -> None:
    """Two girls aged 0-8 on TH>LA: published zeros in every other cell of the corridor, with
    its total hidden, would tell that everyone referred on TH>LA is a girl aged 0-8 who was
    sexually exploited. Every zero under a hidden total is hidden too."""
    ages = ("AGE_0_8", "AGE_18_20", "AGE_21_23")
    kinds = ("FORCED_LABOUR", "SEXUAL_EXPLOITATION")
    corridors = ("TH>KH", "TH>LA", "TH>MM")
    by_sex_age = TableSpec(
        "sa",
        "SA",
        Frame(("corridor", "sex", "age_band"), (corridors, ("FEMALE", "MALE"), ages), (True,) * 3),
    )
    by_kind = TableSpec("ex", "EX", Frame(("corridor", "exploitation"), (corridors, kinds),
                                          (True, True)))  # fmt: skip
    sa: dict[tuple[str, ...], int] = {}
    ex: dict[tuple[str, ...], int] = {}
    for corridor, n, sex, age, kind in (
        ("TH>KH", 30, "FEMALE", "AGE_18_20", "FORCED_LABOUR"),
        ("TH>KH", 25, "MALE", "AGE_21_23", "FORCED_LABOUR"),
        ("TH>KH", 14, "FEMALE", "AGE_0_8", "SEXUAL_EXPLOITATION"),
        ("TH>MM", 40, "MALE", "AGE_18_20", "FORCED_LABOUR"),
        ("TH>MM", 20, "FEMALE", "AGE_18_20", "SEXUAL_EXPLOITATION"),
        ("TH>LA", 2, "FEMALE", "AGE_0_8", "SEXUAL_EXPLOITATION"),
    ):
        sa[(corridor, sex, age)] = n
        ex[(corridor, kind)] = ex.get((corridor, kind), 0) + n
    linked = suppress_linked([by_sex_age, by_kind], {"sa": sa, "ex": ex}, K)
    assert linked.outcome.passed
    tables = [t.to_json() for t in linked.tables]
    for t in linked.tables:
        shown = [c.key for c in t.cells if c.key[0] == "TH>LA" and not c.suppressed]
        assert shown == [], (t.name, shown)
    _check(tables, K)


def test_a_non_additive_dimension_has_no_total() -> None:
    spec = TableSpec(
        "s", "S", Frame(("corridor", "service"), (("X", "Y"), ("A", "B")), (True, False))
    )
    linked = suppress_linked([spec], {"s": {("X", "A"): 20, ("Y", "A"): 30, ("X", "B"): 12}}, K)
    (table,) = linked.tables
    assert table.categories("service") == ["A", "B"]
    assert table.cell(TOTAL, "A").count == 50
    with pytest.raises(KeyError):
        table.cell("X", TOTAL)


def test_the_audit_fails_closed_when_the_rounds_run_out() -> None:
    problem = Problem((12, 5, 7), ((0, (1, 2)),))
    outcome = protect(problem, K, max_rounds=0)
    assert outcome.withheld
    spec_outcome = protect(problem, K)
    assert spec_outcome.passed
    assert 0 in spec_outcome.hidden  # the total had to go too


def test_intervals_of_a_hand_solved_problem() -> None:
    """a + b = 12, both hidden: each anywhere in [1, 11]."""
    audit = intervals(Problem((12, 5, 7), ((0, (1, 2)),)), {1, 2})
    assert (audit.intervals[1].lower, audit.intervals[1].upper) == (1.0, 11.0)
    assert audit.failing(K) == [1, 2]  # 10 wide: not enough for k = 11
    assert audit.failing(10) == []


def test_bounds_are_whole_counts_rounded_inwards() -> None:
    """A reader knows counts are whole: a largest value of 11.5 tells 11; and solver noise
    (an 11 returned as 10.999999999999993) must not decide that an interval is narrower."""
    from hub.stats.protection import _lower, _upper

    assert (_upper(10.999999999999993), _lower(1.0000000000000013)) == (11.0, 1.0)
    assert (_upper(11.5), _lower(0.5)) == (11.0, 1.0)
    assert (_upper(11.0), _lower(1.0), _upper(math.inf)) == (11.0, 1.0, math.inf)


def test_an_audit_the_true_counts_cannot_satisfy_fails_closed() -> None:
    """a + b = 1 with both hidden, each at least 1: no table agrees, so nothing is published
    (a wrong model must not read as an interval, least of all an unbounded one)."""
    with pytest.raises(OperationalError) as info:
        intervals(Problem((1, 5, 7), ((0, (1, 2)),)), {1, 2})
    assert info.value.reason is Reason.INTERNAL_ERROR
    assert "nothing is published" in info.value.detail


# --- random tables ---------------------------------------------------------------

_small = st.integers(min_value=0, max_value=25)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[TableSpec], dict[str, dict[tuple[str, ...], int]]]:
    """A 2-way or 3-way table, or two 2-way tables linked by their first dimension."""
    shape = draw(st.sampled_from(["2d", "3d", "linked"]))
    n = draw(st.integers(2, 4))
    first = tuple(f"g{i}" for i in range(n))
    if shape == "linked":
        m1, m2 = draw(st.integers(2, 4)), draw(st.integers(2, 4))
        a = Frame(("g", "x"), (first, tuple(f"x{i}" for i in range(m1))), (True, True))
        b = Frame(("g", "y"), (first, tuple(f"y{i}" for i in range(m2))), (True, True))
        # Same units behind both: draw persons, each with a g, an x and a y.
        person = st.tuples(st.sampled_from(first), st.integers(0, m1 - 1), st.integers(0, m2 - 1))
        persons = draw(st.lists(person, min_size=1, max_size=120))
        ia: dict[tuple[str, ...], int] = {}
        ib: dict[tuple[str, ...], int] = {}
        for g, x, y in persons:
            ia[(g, f"x{x}")] = ia.get((g, f"x{x}"), 0) + 1
            ib[(g, f"y{y}")] = ib.get((g, f"y{y}"), 0) + 1
        return [TableSpec("a", "A", a), TableSpec("b", "B", b)], {"a": ia, "b": ib}
    dims = 2 if shape == "2d" else 3
    sizes = [n] + [draw(st.integers(2, 4 if dims == 2 else 3)) for _ in range(dims - 1)]
    cats = tuple(tuple(f"d{d}v{i}" for i in range(s)) for d, s in enumerate(sizes))
    frame = Frame(tuple(f"d{d}" for d in range(dims)), cats, (True,) * dims)
    interior = {key: draw(_small) for key in frame.interior()}
    return [TableSpec("t", "T", frame)], {"t": interior}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.sampled_from([5, 11]))
def test_random_tables_are_protected(
    drawn: tuple[list[TableSpec], dict[str, dict[tuple[str, ...], int]]], k: int
) -> None:
    specs, interior = drawn
    linked = suppress_linked(specs, interior, k)
    tables = [t.to_json() for t in linked.tables]
    if linked.outcome.withheld:
        assert all(c["count"] is None for t in tables for c in t["cells"])
        return
    _check(tables, k)
    # What is published is the truth.
    for spec, table in zip(specs, linked.tables, strict=True):
        truth = spec.frame.count(interior[spec.name])
        for cell in table.cells:
            assert cell.count is None or cell.count == truth[cell.key]


@st.composite
def _twins(draw: st.DrawFn) -> tuple[dict[str, list[TableSpec]], dict[str, Any]]:
    """Two populations counting the same persons per group g: a by x, b by d (a family)."""
    n, m1, m2 = draw(st.integers(2, 4)), draw(st.integers(2, 3)), draw(st.integers(2, 3))
    first = tuple(f"g{i}" for i in range(n))
    a = Frame(("corridor", "x"), (first, tuple(f"x{i}" for i in range(m1))), (True, True))
    b = Frame(("corridor", "d"), (first, tuple(f"d{i}" for i in range(m2))), (True, True))
    person = st.tuples(st.sampled_from(first), st.integers(0, m1 - 1), st.integers(0, m2 - 1))
    ia: dict[tuple[str, ...], int] = {}
    ib: dict[tuple[str, ...], int] = {}
    for g, x, d in draw(st.lists(person, min_size=1, max_size=90)):
        ia[(g, f"x{x}")] = ia.get((g, f"x{x}"), 0) + 1
        ib[(g, f"d{d}")] = ib.get((g, f"d{d}"), 0) + 1
    specs = {
        "a": [TableSpec("a", "A", a, family="f")],
        "b": [TableSpec("b", "B", b, family="f")],
    }
    return specs, {"a": ia, "b": ib}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_twins())
def test_twins_are_hidden_together_and_audited_as_one(
    drawn: tuple[dict[str, list[TableSpec]], dict[str, dict[tuple[str, ...], int]]],
) -> None:
    specs, interior = drawn
    linked = suppress_together(specs, interior, K)
    assert linked["a"].outcome is linked["b"].outcome
    if linked["a"].outcome.withheld:
        return
    ta, tb = (linked[p].tables[0] for p in ("a", "b"))
    for cell in ta.cells:
        if cell.key[1] == TOTAL:  # a group's total (or the grand total): twins
            assert cell.suppressed == tb.cell(cell.key[0], TOTAL).suppressed, cell.key
    _check([ta.to_json(), tb.to_json()], K)  # re-audited side by side, as a reader would


def test_the_audit_of_a_wide_table_is_quick() -> None:
    """15 corridors x 4 sexes x 10 age bands, 1 000 persons: measured, and bounded."""
    import random

    rng = random.Random(7)
    corridors = tuple(f"C{i:02d}" for i in range(15))
    sexes = ("F", "M", "O", "U")
    ages = tuple(f"A{i}" for i in range(10))
    frame = Frame(("corridor", "sex", "age"), (corridors, sexes, ages), (True, True, True))
    interior: dict[tuple[str, ...], int] = {}
    for _ in range(1000):
        key = (rng.choice(corridors[: rng.choice((5, 15))]), rng.choice(sexes[:2] * 5 + sexes),
               rng.choice(ages))  # fmt: skip
        interior[key] = interior.get(key, 0) + 1
    started = time.perf_counter()
    linked = suppress_linked([TableSpec("w", "W", frame)], {"w": interior}, K)
    seconds = time.perf_counter() - started
    assert linked.outcome.passed
    audit = linked.outcome.audit
    print(f"wide table: {linked.cells} cells, {len(linked.outcome.hidden)} hidden, "
          f"{audit.lps} LPs ({audit.witnessed} intervals witnessed), {seconds:.2f}s")  # fmt: skip
    assert seconds < 60
