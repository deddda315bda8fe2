"""A node's own match registrations in its store: 0600, found by reference, erasable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.sdk.store import NodeStore
from hub.errors import Reason, RequestError

REF = "0123456789abcdef0123456789abcdef"
DAY = 86_400_000


def test_kept_readable_only_by_the_node_and_erased_for_good(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "VN")
    record = {"kind": "phone", "value": "+66 81 234 5678", "expires_at_ms": 10 * DAY}
    store.keep_match_registration(REF, record)
    path = store.match_dir / f"{REF}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.match_dir.stat().st_mode) == 0o700
    assert store.match_registration(REF) == {**record, "reference": REF}
    assert NodeStore(tmp_path / "VN").match_references() == [REF]  # after a restart too
    assert store.erase_match_registration(REF) is True
    assert not path.exists()
    assert store.match_registration(REF) is None
    assert store.erase_match_registration(REF) is False


def test_expired_registrations_are_dropped(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "VN")
    other = "f" * 32
    store.keep_match_registration(REF, {"expires_at_ms": DAY})
    store.keep_match_registration(other, {"expires_at_ms": 3 * DAY})
    assert store.drop_expired_match_registrations(2 * DAY) == [REF]
    assert store.match_references() == [other]


@pytest.mark.parametrize("reference", ["../../keys/VN", "short", "a/b" * 10, "x" * 65, ""])
def test_a_reference_that_is_not_one_is_refused(tmp_path: Path, reference: str) -> None:
    store = NodeStore(tmp_path / "VN")
    with pytest.raises(RequestError) as caught:
        store.keep_match_registration(reference, {})
    assert caught.value.reason is Reason.BAD_REQUEST
    assert not store.match_dir.exists()
