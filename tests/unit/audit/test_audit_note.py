"""Checkpoints as signed notes, and witness cosignatures."""

from __future__ import annotations

import pytest

from hub.audit.log import AuditLog, CheckpointPolicy
from hub.audit.note import (
    Checkpoint,
    SignedNote,
    cosign,
    sign_note,
    verifier_key,
    verify_cosignature,
    verify_note_signature,
)
from hub.errors import AuditError, Reason
from hub.keys import private_key_from_seed, raw_public

HUB = private_key_from_seed(b"\x01" * 32)
KH = private_key_from_seed(b"\x02" * 32)
ROOT = bytes(range(32))


def test_round_trip_and_signature() -> None:
    text = Checkpoint("trm-hub/trm", 12, ROOT).text()
    assert text == "trm-hub/trm\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    note = sign_note(text, "trm-hub/trm", HUB)
    again = SignedNote.from_bytes(note.to_bytes())
    assert again == note
    assert Checkpoint.parse(again.text) == Checkpoint("trm-hub/trm", 12, ROOT)
    verify_note_signature(again, "trm-hub/trm", raw_public(HUB.public_key()))
    with pytest.raises(AuditError) as info:
        verify_note_signature(again, "trm-hub/trm", raw_public(KH.public_key()))
    assert info.value.reason is Reason.CHECKPOINT_BAD_SIGNATURE
    altered = SignedNote(text.replace("12", "13"), note.signatures)
    with pytest.raises(AuditError):
        verify_note_signature(altered, "trm-hub/trm", raw_public(HUB.public_key()))
    assert verifier_key("trm-hub/trm", raw_public(HUB.public_key())).startswith("trm-hub/trm+")


def test_cosignature_binds_the_checkpoint_and_time() -> None:
    note = sign_note(Checkpoint("trm-hub/trm", 12, ROOT).text(), "trm-hub/trm", HUB)
    both = cosign(note, "KH", KH, 1_767_225_600)
    again = SignedNote.from_bytes(both.to_bytes())
    assert verify_cosignature(again, "KH", raw_public(KH.public_key())) == 1_767_225_600
    verify_note_signature(again, "trm-hub/trm", raw_public(HUB.public_key()))
    other = SignedNote(Checkpoint("trm-hub/trm", 13, ROOT).text(), again.signatures)
    with pytest.raises(AuditError):
        verify_cosignature(other, "KH", raw_public(KH.public_key()))


@pytest.mark.parametrize(
    "text",
    [
        "trm\n12\n",
        "trm\n012\nAAAA\n",
        "trm\n12\nnot base64!\n",
        "trm\n12\nAAAA\n",
        "trm\n1\n" + "A" * 44,
    ],
)
def test_bad_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(AuditError) as info:
        Checkpoint.parse(text)
    assert info.value.reason is Reason.CHECKPOINT_INVALID


@pytest.mark.parametrize(
    "data", [b"", b"text\n", b"text\n\nno dash\n", "a\n\n\u2014 n !!\n".encode(), b"\xff"]
)
def test_bad_notes_are_refused(data: bytes) -> None:
    with pytest.raises(AuditError):
        SignedNote.from_bytes(data)


def test_log_appends_each_decision_once_and_checkpoints_on_policy() -> None:
    from hub.audit.leaf import AuditLeaf
    from hub.decision import DecisionKind, DecisionRecord

    log = AuditLog("trm-hub/t")
    leaf = AuditLeaf(
        "d1",
        DecisionRecord(
            DecisionKind.INGESTED, "e", "TH", "", "00" * 32, "", ("a",), "", "", "", "s", 1, "r"
        ),
    )
    assert log.append(leaf) is not None
    assert log.append(leaf) is None
    policy = CheckpointPolicy(every_leaves=2, every_ms=1000)
    assert not log.checkpoint_due(10, policy) or log.checkpoint_due(1000, policy)
    assert log.checkpoint_due(1000, policy)
    note = log.checkpoint(HUB, 1000)
    assert Checkpoint.parse(note.text).size == 1
    assert not log.checkpoint_due(5000, policy)
    restored = AuditLog("trm-hub/t")
    restored.restore(leaf.to_bytes())
    assert restored.tree.root() == log.tree.root()
    with pytest.raises(AuditError) as info:
        restored.restore(leaf.to_bytes())
    assert info.value.reason is Reason.LOG_FORK
