"""Provisioning seal keys (hub.ops.provision): a key valid now for every member, signed
sets that readers accept, idempotent, and the state dir's sets found again."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import OperationalError, Reason
from hub.home import StateDir
from hub.ops.provision import rotate_seal_keys, signed_seal_key_set, state_seal_key_sets
from hub.sealkeys import Keyring, SealKeyDirectory
from tests.support.hub import DAY, KEYS, T0, trust_list


def test_every_member_gets_a_key_once_and_the_sets_verify(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    trust = trust_list()
    keyrings = {cc: Keyring.of(state, cc) for cc in ("KH", "TH")}
    sets = rotate_seal_keys(keyrings, KEYS, trust, T0)
    assert [(s.country, s.version) for s in sets] == [("KH", 1), ("TH", 1)]
    directory, refused = SealKeyDirectory.from_documents([s.to_json() for s in sets], trust)
    assert refused == ()
    for cc in ("KH", "TH"):
        key = directory.key_for(cc, T0 + DAY)
        assert keyrings[cc].private(key.key_id)  # the private half is in the keyring
    # Again while the key is valid: nothing changes.
    again = rotate_seal_keys(keyrings, KEYS, trust, T0 + DAY)
    assert [(s.country, s.version, s.digest) for s in again] == [
        (s.country, s.version, s.digest) for s in sets
    ]
    # After the epoch: a new key, the next set version, chained to the last.
    later = rotate_seal_keys(keyrings, KEYS, trust, T0 + 40 * DAY)
    assert [s.version for s in later] == [2, 2]
    assert all(len(s.keys) == 2 for s in later)
    assert state_seal_key_sets(state, trust) == later
    assert signed_seal_key_set(Keyring.of(state, "LA"), trust) is None


def test_a_member_without_its_signing_key_is_refused(tmp_path: Path) -> None:
    keyrings = {"KH": Keyring.of(StateDir(tmp_path), "KH")}
    with pytest.raises(OperationalError) as err:
        rotate_seal_keys(keyrings, {}, trust_list(), T0)
    assert err.value.reason is Reason.CONFIG_INVALID
    assert keyrings["KH"].keys() == ()  # nothing made
