"""The node's vault: the plaintext it opened, kept 0600, erased and dropped for good."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk.store import NodeStore
from hub.errors import Reason, RequestError

NAME = "ស្រីពៅ សុខ"  # the canary: a child's name in Khmer script
PASSPORT = "AA1234567"  # and a Thai passport number
DAY = 86_400_000
T = 1_772_323_200_000

E1 = "019ca5a0-0000-7000-8000-000000000001"
E2 = "019ca5a0-0000-7000-8000-000000000002"
E3 = "019ca5a0-0000-7000-8000-000000000003"
E4 = "019ca5a0-0000-7000-8000-000000000004"


def record(event_id: str, name: str = NAME) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "referral",
        "fields": {"names": [{"full_name": name, "lang": "km-Khmr"}], "passport": PASSPORT},
    }


def every_byte(root: Path) -> bytes:
    """All the bytes of every file under ``root`` (the canary scan)."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def canaries() -> list[bytes]:
    return [NAME.encode("utf-8"), PASSPORT.encode("ascii")]


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    return NodeStore(tmp_path / "nodes" / "KH")


def fill(store: NodeStore) -> None:
    assert store.keep(E2, "case-7", "TH", T + 2, T + 30 * DAY, record(E2))
    assert store.keep(E1, "case-7", "TH", T + 1, T + 10 * DAY, record(E1))
    assert store.keep(E3, "case-7", "VN", T + 3, None, record(E3))  # same case key, other producer
    assert store.keep(E4, "case-8", "TH", T + 4, T + 10 * DAY, record(E4, "other person"))


def test_keep_writes_one_0600_file_atomically_and_opened_reads_it(store: NodeStore) -> None:
    assert store.keep(E1, "case-7", "TH", T, T + DAY, record(E1))
    path = store.vault_dir / f"{E1}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.vault_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.vault_dir / "index.jsonl").stat().st_mode) == 0o600
    assert sorted(p.name for p in store.vault_dir.iterdir()) == [f"{E1}.json", "index.jsonl"]
    assert store.opened(E1) == record(E1)
    assert store.opened(E2) is None
    entry = store.vault_entry(E1)
    assert entry is not None
    assert (entry.case_key, entry.producer, entry.created_at_ms, entry.retain_until_ms) == (
        "case-7",
        "TH",
        T,
        T + DAY,
    )
    # The index says which case an event is of, never what it says.
    index = (store.vault_dir / "index.jsonl").read_bytes()
    assert not any(c in index for c in canaries())


def test_keeping_again_replaces_and_zeroes_the_old_bytes(store: NodeStore, tmp_path: Path) -> None:
    store.keep(E1, "case-7", "TH", T, None, record(E1))
    old = tmp_path / "old-inode"
    os.link(store.vault_dir / f"{E1}.json", old)  # a second name for the first file's bytes
    store.keep(E1, "case-7", "TH", T, None, record(E1, "corrected name"))
    assert store.opened(E1) == record(E1, "corrected name")
    assert set(old.read_bytes()) == {0}
    assert list(store.vault_dir.glob("*.tmp")) == []


def test_case_events_are_one_producers_events_of_one_case_oldest_first(store: NodeStore) -> None:
    fill(store)
    assert store.case_events("case-7", "TH") == [E1, E2]
    assert store.case_events("case-7", "VN") == [E3]
    assert store.case_events("case-9", "TH") == []


def test_entries_list_every_kept_event_oldest_first_without_erased_cases(
    store: NodeStore,
) -> None:
    fill(store)
    assert [e.event_id for e in store.entries()] == [E1, E2, E3, E4]
    store.erase_case("case-7", "TH", T + 5 * DAY)
    assert [(e.event_id, e.producer) for e in store.entries()] == [(E3, "VN"), (E4, "TH")]


def test_erase_case_deletes_the_plaintext_and_never_stores_the_case_again(
    store: NodeStore, tmp_path: Path
) -> None:
    fill(store)
    linked = tmp_path / "linked"
    os.link(store.vault_dir / f"{E1}.json", linked)  # to see the overwrite before the unlink
    assert store.erase_case("case-7", "TH", T + 5 * DAY) == [E1, E2]
    assert set(linked.read_bytes()) == {0}
    linked.unlink()
    assert not (store.vault_dir / f"{E1}.json").exists()
    assert not (store.vault_dir / f"{E2}.json").exists()
    assert store.opened(E1) is None
    assert store.case_events("case-7", "TH") == []
    assert store.is_erased("case-7", "TH")
    assert store.erased_at("case-7", "TH") == T + 5 * DAY
    assert not store.is_erased("case-7", "VN")
    # never again: a late copy of the case from that producer is not stored
    assert not store.keep(E1, "case-7", "TH", T + 1, None, record(E1))
    assert not (store.vault_dir / f"{E1}.json").exists()
    # the other producer's events of the same case key, and other cases, stay
    assert store.opened(E3) == record(E3)
    assert store.opened(E4) == record(E4, "other person")
    store.erase_case("case-7", "VN", T + 5 * DAY)
    scan = every_byte(store.root)
    assert NAME.encode() not in scan
    assert b"other person" in scan  # the scan sees what is still held
    # a restart remembers the tombstone and the vault
    again = NodeStore(store.root)
    assert again.is_erased("case-7", "TH")
    assert again.erased_at("case-7", "TH") == T + 5 * DAY
    assert again.case_events("case-7", "TH") == []
    assert again.opened(E4) == record(E4, "other person")
    assert not again.keep(E2, "case-7", "TH", T, None, record(E2))


def test_erasing_a_case_nothing_is_held_of_still_leaves_a_tombstone(store: NodeStore) -> None:
    assert store.erase_case("case-0", "LA", T) == []
    assert store.is_erased("case-0", "LA")
    assert store.erase_case("case-0", "LA", T + DAY) == []
    assert store.erased_at("case-0", "LA") == T  # the first erasure's time stays
    assert not store.keep(E1, "case-0", "LA", T, None, record(E1))
    assert NAME.encode() not in every_byte(store.root)


def test_drop_expired_deletes_what_is_past_retention(store: NodeStore) -> None:
    fill(store)
    assert store.drop_expired(T + 10 * DAY - 1) == []
    assert store.drop_expired(T + 10 * DAY) == [E1, E4]
    assert store.opened(E1) is None
    assert store.opened(E4) is None
    assert store.opened(E2) == record(E2)
    assert b"other person" not in every_byte(store.root)
    assert store.drop_expired(T + 10_000 * DAY) == [E2]  # E3 has no end: kept until erased
    assert store.case_events("case-7", "VN") == [E3]
    store.erase_case("case-7", "VN", T)
    assert not any(c in every_byte(store.root) for c in canaries())
    assert not store.is_erased("case-7", "TH")  # dropped by age, not erased: may come again
    reopened = NodeStore(store.root)
    assert reopened.case_events("case-7", "TH") == []
    assert reopened.vault_entry(E2) is None


def test_a_crash_mid_erasure_is_finished_when_the_store_opens(store: NodeStore) -> None:
    fill(store)
    # The tombstone reached the disk, the files did not go yet (a crash between).
    (store.root / "erased.jsonl").write_text(
        '{"case_key":"case-7","erased_at_ms":1,"producer":"TH"}\n', encoding="utf-8"
    )
    reopened = NodeStore(store.root)
    assert reopened.is_erased("case-7", "TH")
    assert not (store.vault_dir / f"{E1}.json").exists()
    assert not (store.vault_dir / f"{E2}.json").exists()
    assert reopened.opened(E3) == record(E3)


def test_the_index_is_rebuilt_from_the_files_and_crash_leftovers_are_shredded(
    store: NodeStore,
) -> None:
    fill(store)
    (store.vault_dir / "index.jsonl").write_text("", encoding="utf-8")  # the index lags
    (store.vault_dir / f"{E4}.tmp").write_bytes(f'{{"torn": "{NAME}'.encode())
    (store.vault_dir / "019ca5a0-0000-7000-8000-00000000000f.json").write_bytes(b"{torn")
    reopened = NodeStore(store.root)
    assert reopened.case_events("case-7", "TH") == [E1, E2]
    assert reopened.opened(E4) == record(E4, "other person")
    assert list(store.vault_dir.glob("*.tmp")) == []
    assert not (store.vault_dir / "019ca5a0-0000-7000-8000-00000000000f.json").exists()
    reopened.erase_case("case-7", "TH", T)
    reopened.erase_case("case-7", "VN", T)
    assert NAME.encode() not in every_byte(store.root)


def test_the_index_is_compacted_as_entries_go(store: NodeStore) -> None:
    for i in range(80):
        event_id = f"019ca5a0-0000-7000-8000-{i:012x}"
        store.keep(event_id, f"case-{i}", "TH", T + i, T + DAY, record(event_id))
    assert len(store.drop_expired(T + DAY)) == 80
    lines = (store.vault_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 80
    assert NodeStore(store.root).case_events("case-3", "TH") == []


@pytest.mark.parametrize(
    ("event_id", "case_key", "producer", "expected"),
    [
        ("../../etc/passwd", "case-7", "TH", "an event id"),
        (E1.upper(), "case-7", "TH", "an event id"),
        (E1, "case 7/..", "TH", "a case key"),
        (E1, "case-7", "th", "a producer"),
    ],
)
def test_what_no_header_could_carry_is_refused(
    store: NodeStore, event_id: str, case_key: str, producer: str, expected: str
) -> None:
    with pytest.raises(RequestError, match=expected) as refused:
        store.keep(event_id, case_key, producer, T, None, record(E1))
    assert refused.value.reason is Reason.BAD_REQUEST
    assert "case 7" not in str(refused.value)  # a case key is never quoted back
    assert not store.vault_dir.exists() or list(store.vault_dir.glob("*.json")) == []
