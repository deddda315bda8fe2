"""The hub's bounded memory (hub.state): state records, bookmarks, the recovery plan, pruning."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from hub.app.recovery import apply_index, apply_notes
from hub.decision import DecisionKind, EffectId, EffectKind, SourceRef
from hub.errors import TrmError
from hub.pipeline import Limits
from hub.state import (
    ANCHOR_SLOT,
    BOOKMARK_SLOTS,
    PRUNE_MARGIN_MS,
    Bookmark,
    HubState,
    anchor,
    bookmark_slot,
    covered_until,
    pack_range,
    pack_record,
    parse_taken_in,
    plan_recovery,
    taken_in_record,
    unpack,
)
from hub.topics import STATE_RETENTION_MS

OUT = "trm.TH.outbox"
DEC = "trm.hub.decisions"
INBOX = "trm.KH.inbox"
EVENT = "0b6a3c8e-3f5e-4f7a-9a57-9a0c4a4f0c11"


def mark(
    at: int, position: int, checked: int | None, ends: dict[str, int], partition: int = 0
) -> Bookmark:
    return Bookmark(OUT, partition, at % 8, at, position, checked, MappingProxyType(ends))


def test_state_record_round_trip_and_refusal() -> None:
    src = SourceRef(OUT, 2, 41)
    key, value = taken_in_record("TH", EVENT, src, 1_700_000_000_000)
    assert key == f"TH/{EVENT}".encode()
    assert parse_taken_in(key, value) == ("TH", EVENT, src, 1_700_000_000_000)
    for bad_key, bad_value in ((b"TH", value), (key, b"soon " + str(src).encode()), (key, b"1")):
        with pytest.raises(TrmError):
            parse_taken_in(bad_key, bad_value)


def test_bookmark_round_trip_and_refusal() -> None:
    b = mark(5, 10, 7, {f"{DEC}/0": 30, f"{INBOX}/1": 4})
    assert b.key == f"bookmark/{OUT}/0/5".encode()
    assert Bookmark.from_record(b.key, b.to_bytes()) == b
    with pytest.raises(TrmError):
        Bookmark.from_record(b.key, b'{"at_ms": 1}')
    with pytest.raises(TrmError):
        Bookmark.from_record(b"TH/x", b.to_bytes())


def test_slots_keep_bookmarks_of_every_age() -> None:
    slots = [bookmark_slot(t) for t in range(2 ** (BOOKMARK_SLOTS - 1))]
    assert set(slots) == set(range(ANCHOR_SLOT))  # the last slot is the anchor's
    # slot i is rewritten every 2**(i+1) ticks: the ring spans 2**(SLOTS-1) ticks
    assert slots.count(0) == 2 ** (BOOKMARK_SLOTS - 2)
    assert slots.count(3) == 2 ** (BOOKMARK_SLOTS - 5)


def test_the_anchor_keeps_a_bookmark_the_lagging_mark_has_passed() -> None:
    # the reconciler's mark (350) lags every position in the ring but the oldest
    ring = [mark(t, 200 + 100 * t, 100 * t, {f"{DEC}/0": 1000 * t}) for t in range(1, 5)]
    kept = anchor(ring, 350)
    assert kept is not None
    assert kept.position == 300
    assert anchor(ring, 299) is None
    # once copied into the anchor slot, the ring may turn: the start still has a proof
    newer = [mark(t, 200 + 100 * t, 350, {f"{DEC}/0": 1000 * t}) for t in range(5, 9)]
    saved = Bookmark(OUT, 0, ANCHOR_SLOT, kept.at_ms, kept.position, kept.checked, kept.ends)
    plan = plan_recovery([*newer, saved], {(OUT, 0): 900}, DEC)
    assert plan is not None
    assert plan.checked == {(OUT, 0): 350}
    assert plan.decisions_from == {f"{DEC}/0": 1000}
    assert plan_recovery(newer, {(OUT, 0): 900}, DEC) is None


def test_the_plan_takes_the_newest_bookmark_below_the_committed_offset() -> None:
    marks = [
        mark(1, 0, 0, {f"{DEC}/0": 0, f"{INBOX}/0": 0}),
        mark(2, 100, 50, {f"{DEC}/0": 200, f"{INBOX}/0": 90}),
        mark(3, 200, 150, {f"{DEC}/0": 400, f"{INBOX}/0": 180}),
        mark(4, 300, 250, {f"{DEC}/0": 600, f"{INBOX}/0": 270}),
    ]
    plan = plan_recovery(marks, {(OUT, 0): 220}, DEC)
    assert plan is not None
    # agent: newest with position <= 220 is the one at 3 (position 200); reconciler:
    # newest mark 250, proven by the newest bookmark with position <= 250 (again at 3)
    assert plan.checked == {(OUT, 0): 250}
    assert plan.decisions_from == {f"{DEC}/0": 400}
    assert plan.starts == {f"{DEC}/0": 400, f"{INBOX}/0": 180}


def test_the_reconciler_mark_needs_an_older_bookmark_for_its_decisions() -> None:
    marks = [
        mark(1, 0, None, {f"{DEC}/0": 0}),
        mark(2, 100, 0, {f"{DEC}/0": 200}),
        mark(3, 200, 90, {f"{DEC}/0": 400}),
    ]
    plan = plan_recovery(marks, {(OUT, 0): 200}, DEC)
    assert plan is not None
    # mark 90 needs a bookmark with position <= 90: the one at 1 (decisions from 0)
    assert plan.checked == {(OUT, 0): 90}
    assert plan.decisions_from == {f"{DEC}/0": 0}
    assert plan.starts == {f"{DEC}/0": 0}


def test_no_usable_bookmark_means_a_full_read() -> None:
    marks = [mark(2, 100, 80, {f"{DEC}/0": 200}), mark(3, 200, 150, {f"{DEC}/0": 400})]
    assert plan_recovery(marks, {(OUT, 0): 99}, DEC) is None  # every position above the commit
    assert plan_recovery(marks, {(OUT, 0): 300, (OUT, 1): 5}, DEC) is None  # none for p1
    unchecked = [mark(2, 100, None, {f"{DEC}/0": 200})]
    assert plan_recovery(unchecked, {(OUT, 0): 300}, DEC) is None  # no reconciler mark


def test_an_output_a_bookmark_does_not_name_is_read_whole() -> None:
    marks = [
        mark(1, 0, 0, {f"{DEC}/0": 10, f"{INBOX}/0": 5}, partition=0),
        mark(1, 0, 0, {f"{DEC}/0": 12}, partition=1),
    ]
    plan = plan_recovery(marks, {(OUT, 0): 0, (OUT, 1): 0}, DEC)
    assert plan is not None
    assert plan.starts == {f"{DEC}/0": 10, f"{INBOX}/0": 0}


def test_retention_covers_the_window_and_the_margin() -> None:
    assert Limits().max_age_ms + PRUNE_MARGIN_MS < STATE_RETENTION_MS


def test_events_are_forgotten_past_the_window_only() -> None:
    state = HubState()
    for i, created in enumerate((100, 200, 300, 250)):
        state.admit("TH", f"e{i}", i + 1, SourceRef(OUT, 0, i), created)
    assert state.forget_seen_before(250) == 2
    assert state.seen_at("TH", "e0") is None
    assert state.seen_at("TH", "e1") is None
    assert state.event_producer.keys() == {"e2", "e3"}
    # e3 (250) is behind e2 (300): kept until the scan reaches it, never dropped early
    assert state.forget_seen_before(260) == 0
    assert state.seen_at("TH", "e3") is not None
    assert state.forget_seen_before(301) == 2
    assert not state.first_seen


def test_effects_are_forgotten_once_a_fresh_start_would_not_read_them() -> None:
    state = HubState()
    old = EffectId.of_event(EffectKind.DELIVERY, "TH", EVENT, "KH")
    state.mark(old, "ab" * 32)
    k1 = state.new_generation()
    state.set_boundary(k1, {f"{INBOX}/0": 10, f"{DEC}/0": 20})
    new = old.decided(DecisionKind.DELIVERED)
    state.mark(new)
    k2 = state.new_generation()
    state.set_boundary(k2, {f"{INBOX}/0": 11, f"{DEC}/0": 21})
    # a start reading the decisions from 15 would still see some of generation 0's
    # neighbours: nothing below the first boundary is provably unread
    assert state.forget_effects_before({f"{INBOX}/0": 10, f"{DEC}/0": 15}) == 0
    assert state.done(old)
    assert state.forget_effects_before({f"{INBOX}/0": 10, f"{DEC}/0": 20}) == 1
    assert not state.done(old)
    assert state.done(new)
    assert state.forget_effects_before({f"{INBOX}/0": 11, f"{DEC}/0": 30}) == 1
    assert not state.effects
    assert state.boundaries.keys() == {k2}


def test_effects_are_forgotten_in_slices_as_in_one_go() -> None:
    def filled() -> HubState:
        state = HubState()
        for g in range(3):
            for i in range(5):
                state.mark(EffectId.of_event(EffectKind.DELIVERY, "TH", f"e{g}{i}", "KH"))
            state.set_boundary(state.new_generation(), {f"{DEC}/0": 10 * (g + 1)})
        return state

    whole, sliced = filled(), filled()
    starts = {f"{DEC}/0": 20}  # generations 0 and 1 are below the boundary at 20
    assert whole.forget_effects_before(starts) == 10
    # a slice that forgets its whole limit keeps the boundaries for the next call
    assert sliced.forget_effects_before(starts, limit=4) == 4
    assert sliced.boundaries.keys() == {1, 2, 3}
    assert whole.boundaries.keys() == {2, 3}
    assert sliced.forget_effects_before(starts, limit=4) == 4
    assert sliced.forget_effects_before(starts, limit=4) == 2  # less than the limit: done
    assert sliced.effects == whole.effects
    assert sliced.boundaries == whole.boundaries
    assert sliced.forget_effects_before(starts, limit=4) == 0


def test_events_are_forgotten_in_slices_as_in_one_go() -> None:
    whole, sliced = HubState(), HubState()
    for state in (whole, sliced):
        for i in range(7):
            state.admit("TH", f"e{i}", i + 1, SourceRef(OUT, 0, i), 100 + i)
    assert whole.forget_seen_before(105) == 5
    assert [sliced.forget_seen_before(105, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert sliced.first_seen == whole.first_seen
    assert sliced.event_producer == whole.event_producer


def test_a_remarked_effect_moves_to_its_new_generation() -> None:
    state = HubState()
    eid = EffectId.of_event(EffectKind.REJECTION, "TH", EVENT, "CN")
    state.mark(eid)
    k = state.new_generation()
    state.set_boundary(k, {f"{DEC}/0": 5})
    state.mark(eid)  # written again (another worker's copy read back)
    assert state.forget_effects_before({f"{DEC}/0": 5}) == 0
    assert state.done(eid)


def test_a_start_learns_events_and_the_newest_bookmarks_from_the_state_topic() -> None:

    state = HubState()
    b = mark(3, 10, 8, {f"{DEC}/0": 4})
    key, value = taken_in_record("TH", EVENT, SourceRef(OUT, 1, 9), 1_000)
    rows: list[tuple[bytes | None, bytes | None]] = [
        (key, value),
        (b.key, b.to_bytes()),
        (b"bookmark/trm.TH.outbox/0/4", b"{}"),  # malformed: skipped
        (b"TH/not-a-record", b"x"),  # malformed: skipped
        (b"TH/e2", b"12 no-source"),  # malformed: skipped
    ]
    apply_notes(state, rows)
    bookmarks: dict[bytes, Bookmark] = {}
    packs: dict[tuple[int, int], bytes | None] = {}
    apply_index(rows, bookmarks, packs)
    assert state.seen_at("TH", EVENT) == SourceRef(OUT, 1, 9)
    assert state.event_producer == {EVENT: "TH"}
    assert state.seen_at("TH", "e2") is None
    assert bookmarks == {b.key: b}
    apply_index([(b.key, None)], bookmarks, packs)  # a tombstone
    assert bookmarks == {}
    assert packs == {}


def test_packs_carry_the_notes_of_a_range_and_cover_from_the_log_start() -> None:
    notes = [taken_in_record("TH", f"e{i}", SourceRef(OUT, 0, i), 1_000 + i) for i in range(3)]
    key, value = pack_record(10, 17, notes)
    assert pack_range(key) == (10, 17)
    assert unpack(value) == notes
    assert unpack(b"not zlib") == []
    assert pack_range(b"bookmark/x/0/1") is None
    state = HubState()
    assert state.learn_pack(value) == 3
    assert state.seen_at("TH", "e2") == SourceRef(OUT, 0, 2)
    assert state.event_producer == {"e0": "TH", "e1": "TH", "e2": "TH"}
    assert state.learn_pack(b"not zlib") == 0
    # a malformed note is left out of a pack when it is made
    _, mixed = pack_record(0, 2, [notes[0], (b"TH/e9", b"12 no-source")])
    assert unpack(mixed) == [notes[0]]
    # contiguous packs from the log start, then a gap: notes from the gap on are read
    assert covered_until([(0, 10), (10, 17), (20, 30)], 0) == 17
    assert covered_until([(10, 17)], 0) == 0  # the first notes are in no pack
    assert covered_until([(0, 10), (5, 12)], 3) == 12  # overlapping packs (two packers)
    assert covered_until([], 42) == 42
