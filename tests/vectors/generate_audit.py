"""Generate the audit-log test vectors in ``tests/vectors/audit/`` (deterministic).

Fixed keys (Ed25519 seeds SHA-256("trm-vector-key:" + label)), fixed event ids,
digests and a fixed clock: rerunning this script must reproduce the files byte
for byte, and ``tests/unit/audit/test_audit_vectors.py`` checks that it does.

Every expected outcome below is written down from how the vector was built,
never by running the verifier; the test then checks that the verifier
(``hub.conformance.audit``) agrees. ``tests/vectors/audit/README.md`` lists the
vectors and how to apply them.

Run: ``python -m tests.vectors.generate_audit``
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from hub.audit.leaf import AuditLeaf
from hub.audit.log import origin_of
from hub.audit.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from hub.audit.note import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteSignature,
    SignedNote,
    cosign,
    note_key_id,
    sign_note,
    verifier_key,
)
from hub.audit.witness import proof_answer
from hub.conformance.audit import leaf_json
from hub.decision import DecisionKind, DecisionRecord, EffectId, EffectKind, SourceRef
from hub.keys import private_key_from_seed, raw_public
from tests.vectors.generate_wire import write_vectors

OUT = Path(__file__).resolve().parent / "audit"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the fixed clock
T0_S = T0 // 1000
ORIGIN = origin_of("trm")  # trm-hub/trm
REGISTRY = "trust-v3/agreements-5f0c2a9e1b7d4c36"
REJECTED, INVALID, BAD_SIG = "rejected", "CHECKPOINT_INVALID", "CHECKPOINT_BAD_SIGNATURE"
FORK, CONSISTENCY, INCLUSION = "LOG_FORK", "CONSISTENCY_PROOF_INVALID", "INCLUSION_PROOF_INVALID"


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"trm-vector-key:" + label.encode()).digest()


def _key(label: str) -> Ed25519PrivateKey:
    return private_key_from_seed(_seed(label))


HUB = _key("HUB")  # the same hub key as the wire vectors
HUB_OTHER = _key("HUB-other")  # a hub key no verifier of these vectors knows
WITNESSES = {"KH": _key("witness-KH"), "TH": _key("witness-TH")}
WITNESS_OTHER = _key("witness-other")  # nobody's witness key


def _pub(key: Ed25519PrivateKey) -> bytes:
    return raw_public(key.public_key())


def keys_file() -> dict[str, Any]:
    """keys.json: the log's origin, the hub's key, the witnesses' keys (seeds included)."""

    def key(label: str, name: str, alg: int) -> dict[str, Any]:
        public = _pub(_key(label))
        return {
            "label": label,
            "name": name,
            "seed": _seed(label).hex(),
            "public_key": public.hex(),
            "note_key_id": note_key_id(name, public, alg).hex(),
        }

    hub = key("HUB", ORIGIN, 0x01)
    hub["verifier_key"] = verifier_key(ORIGIN, _pub(HUB))
    return {
        "description": (
            "Keys of the audit vectors. origin: the log's origin line and the hub's note key "
            "name. hub_keys: the hub keys a verifier trusts (Ed25519, signed-note type 0x01). "
            "witnesses: the cosigners (tlog-cosignature type 0x04), by name. seed: the "
            "Ed25519 private seed, SHA-256('trm-vector-key:' + label) (test keys only). "
            "note_key_id: SHA-256(name || 0x0A || type || public key)[:4]. unknown_keys: "
            "keys some bad vectors sign with; a verifier of these vectors MUST NOT trust them."
        ),
        "origin": ORIGIN,
        "hub_keys": [hub],
        "witnesses": [key(f"witness-{cc}", cc, COSIGNATURE_V1) for cc in sorted(WITNESSES)],
        "unknown_keys": [key("HUB-other", ORIGIN, 0x01), key("witness-other", "KH", 0x04)],
    }


# --- audit leaves ---------------------------------------------------------

EVENT_A = "01943d1a-6c00-7000-8000-00000000000a"  # TH's referral to KH and LA
EVENT_B = "01943d1a-7a60-7000-8000-00000000000b"  # KH's acknowledgement of it
EVENT_C = "01943d1a-8ac0-7000-8000-00000000000c"  # a TH event whose signature fails


def _digest(label: str) -> str:
    return hashlib.sha256(f"trm-vector-digest:{label}".encode()).hexdigest()


def _record(kind: DecisionKind, source: str, at: int, **kw: Any) -> DecisionRecord:
    return DecisionRecord.of(kind, source=source, decided_at_ms=T0 + at, registry=REGISTRY, **kw)


def leaves() -> list[tuple[str, str, AuditLeaf]]:
    """The log of the vectors, in order: (file name part, description, leaf)."""
    th_out, kh_out = "trm.TH.outbox", "trm.KH.outbox"
    delivery = EffectId.of_event(EffectKind.DELIVERY, "TH", EVENT_A, "KH")
    ack = EffectId.of_event(EffectKind.DELIVERY, "KH", EVENT_B, "TH")
    unreadable = SourceRef(th_out, 1, 7)
    bad_sig = SourceRef(th_out, 2, 42)
    fields = ("best_interest_assessment", "consent", "is_child", "person", "receiving_organisation")
    return [
        (
            "ingested",
            "INGESTED: TH's referral taken in (its disclosed fields, no agreement yet).",
            AuditLeaf.of(
                str(
                    EffectId.of_event(
                        EffectKind.DECISION, "TH", EVENT_A, decision=DecisionKind.INGESTED
                    )
                ),
                _record(
                    DecisionKind.INGESTED,
                    f"{th_out}/2/41",
                    0,
                    event_id=EVENT_A,
                    producer="TH",
                    event_digest=_digest("A"),
                    fields=fields,
                ),
            ),
        ),
        (
            "delivered",
            "DELIVERED: the copy for KH; its decision id is the leaf_ref of the copy's "
            "attestation (section 9.5).",
            AuditLeaf.of(
                str(delivery.decided(DecisionKind.DELIVERED)),
                _record(
                    DecisionKind.DELIVERED,
                    f"{th_out}/2/41",
                    0,
                    event_id=EVENT_A,
                    producer="TH",
                    recipient="KH",
                    event_digest=_digest("A"),
                    delivered_digest=_digest("A-to-KH"),
                    fields=fields[:3] + fields[4:],
                    agreement="th-kh-repatriation@2",
                ),
            ),
        ),
        (
            "rejected-recipient",
            "REJECTED for one recipient: no agreement between TH and LA.",
            AuditLeaf.of(
                str(
                    EffectId.of_event(EffectKind.REJECTION, "TH", EVENT_A, "LA").decided(
                        DecisionKind.REJECTED
                    )
                ),
                _record(
                    DecisionKind.REJECTED,
                    f"{th_out}/2/41",
                    0,
                    event_id=EVENT_A,
                    producer="TH",
                    recipient="LA",
                    event_digest=_digest("A"),
                    reason="NO_AGREEMENT",
                ),
            ),
        ),
        (
            "ingested-sequence-gap",
            "INGESTED with the note SEQUENCE_GAP: KH's acknowledgement, its sequence skipped.",
            AuditLeaf.of(
                str(
                    EffectId.of_event(
                        EffectKind.DECISION, "KH", EVENT_B, decision=DecisionKind.INGESTED
                    )
                ),
                _record(
                    DecisionKind.INGESTED,
                    f"{kh_out}/0/9",
                    60_000,
                    event_id=EVENT_B,
                    producer="KH",
                    event_digest=_digest("B"),
                    fields=("acknowledged_event_id", "status"),
                    reason="SEQUENCE_GAP",
                ),
            ),
        ),
        (
            "acknowledged",
            "ACKNOWLEDGED: KH's acknowledgement delivered back to TH.",
            AuditLeaf.of(
                str(ack.decided(DecisionKind.ACKNOWLEDGED)),
                _record(
                    DecisionKind.ACKNOWLEDGED,
                    f"{kh_out}/0/9",
                    60_000,
                    event_id=EVENT_B,
                    producer="KH",
                    recipient="TH",
                    event_digest=_digest("B"),
                    delivered_digest=_digest("B-to-TH"),
                    fields=("acknowledged_event_id", "status"),
                    agreement="th-kh-repatriation@2",
                ),
            ),
        ),
        (
            "rejected-unreadable",
            "REJECTED whole: bytes in TH's outbox that are no envelope (no event id, no "
            "digest; the producer is the outbox's country).",
            AuditLeaf.of(
                str(
                    EffectId.of_record(EffectKind.REJECTION, unreadable).decided(
                        DecisionKind.REJECTED
                    )
                ),
                _record(
                    DecisionKind.REJECTED,
                    str(unreadable),
                    120_000,
                    producer="TH",
                    reason="MALFORMED_FRAME",
                ),
            ),
        ),
        (
            "rejected-signature-fails",
            "REJECTED whole: a TH event whose signature does not verify.",
            AuditLeaf.of(
                str(
                    EffectId.of_record(EffectKind.REJECTION, bad_sig, EVENT_C).decided(
                        DecisionKind.REJECTED
                    )
                ),
                _record(
                    DecisionKind.REJECTED,
                    str(bad_sig),
                    180_000,
                    event_id=EVENT_C,
                    producer="TH",
                    event_digest=_digest("C"),
                    reason="BAD_SIGNATURE",
                ),
            ),
        ),
    ]


def _leaf_vectors(log: list[tuple[str, str, AuditLeaf]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (name, description, leaf) in enumerate(log, 1):
        data = leaf.to_bytes()
        out[f"leaf-good-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "leaf",
            "leaf": data.hex(),
            "intermediate": {
                "frame_fingerprint": data[2:10].hex(),
                "body": data[10:].hex(),
            },
            "expected": {
                "outcome": "accepted",
                "reason": None,
                "fields": leaf_json(leaf),
                "leaf_hash": hashlib.sha256(b"\x00" + data).hexdigest(),
            },
        }
    data = log[1][2].to_bytes()
    body = data[10:]
    envelope_crc = schemas.crc64("envelope")
    # The kind is the second field: an enum index as a zigzag varint after decision_id.
    id_len = len(log[1][2].decision_id.encode())
    kind_at = 10 + 1 + id_len  # frame, the id's 1-byte length, the id (< 64 bytes)
    assert data[kind_at] == 2  # DELIVERED = index 1 = zigzag 02
    bad = [
        ("no-frame-marker", "the body alone, without C3 01 and the fingerprint", body),
        ("bad-magic", "C3 02 instead of C3 01", b"\xc3\x02" + data[2:]),
        ("too-short", "fewer than the 10 bytes of a frame", data[:9]),
        (
            "wrong-fingerprint",
            "the envelope schema's fingerprint on an audit leaf body",
            data[:2] + envelope_crc + body,
        ),
        ("trailing-byte", "one byte after the record", data + b"\x00"),
        ("truncated", "the last byte missing", data[:-1]),
        (
            "kind-out-of-range",
            "kind index 4 (the enum has INGESTED, DELIVERED, REJECTED, ACKNOWLEDGED)",
            data[:kind_at] + b"\x08" + data[kind_at + 1 :],
        ),
        (
            "negative-length",
            "decision_id with a negative length (zigzag 01 = -1)",
            data[:10] + b"\x01" + data[11:],
        ),
    ]
    for i, (name, why, raw) in enumerate(bad, 1):
        out[f"leaf-bad-{i:02d}-{name}.json"] = {
            "description": f"Not an audit leaf: {why}.",
            "type": "leaf",
            "leaf": raw.hex(),
            "expected": {"outcome": REJECTED, "reason": INVALID},
        }
    return out


# --- the tree, checkpoints, cosignatures ------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _note(size: int, root: bytes, key: Ed25519PrivateKey = HUB, origin: str = ORIGIN) -> str:
    return sign_note(Checkpoint(origin, size, root).text(), origin, key).to_bytes().decode()


def _signed_text(text: str, key: Ed25519PrivateKey = HUB, name: str = ORIGIN) -> str:
    return sign_note(text, name, key).to_bytes().decode()


def _flip_signature(note: str) -> str:
    """The note with one bit of its first signature flipped (the key id kept)."""
    parsed = SignedNote.from_bytes(note.encode())
    sig = parsed.signatures[0]
    body = bytes([sig.body[0] ^ 1]) + sig.body[1:]
    return SignedNote(parsed.text, (NoteSignature(sig.name, sig.key_id, body),)).to_bytes().decode()


def _checkpoint_vectors(tree: MerkleTree) -> dict[str, Any]:
    r7, r4 = tree.root(7), tree.root(4)
    t7 = Checkpoint(ORIGIN, 7, r7).text()
    good_7 = _note(7, r7)
    other_log = sign_note(t7, "example.org/another-log", HUB_OTHER).signatures[0]
    good = [
        ("size-7", "The hub's checkpoint of the whole log (7 leaves).", good_7, 7, r7),
        ("size-4", "The hub's checkpoint of the first 4 leaves.", _note(4, r4), 4, r4),
        (
            "size-0",
            "A checkpoint of the empty log: the root is SHA-256 of nothing.",
            _note(0, EMPTY_ROOT),
            0,
            EMPTY_ROOT,
        ),
        (
            "unknown-signature-ignored",
            "The hub's signature and another log's signature line: a line whose name and "
            "key id are not a trusted key's is ignored.",
            SignedNote.from_bytes(good_7.encode()).with_signature(other_log).to_bytes().decode(),
            7,
            r7,
        ),
    ]
    same_id = sign_note(t7, ORIGIN, HUB_OTHER).signatures[0]
    hub_id = note_key_id(ORIGIN, _pub(HUB))
    forged = NoteSignature(ORIGIN, hub_id, same_id.body)
    root_b64, long_b64 = _b64(r7), _b64(r7 + bytes(1))
    urlsafe = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()  # '-' and '_'
    bad = [
        (
            "wrong-key",
            "Signed under the log's name by a key that is not the hub's (its key id differs, "
            "so no trusted signature is present).",
            _note(7, r7, HUB_OTHER),
            BAD_SIG,
        ),
        (
            "hub-key-id-wrong-key",
            "A signature line with the hub's name and key id whose signature was made by "
            "another key.",
            SignedNote(t7, (forged,)).to_bytes().decode(),
            BAD_SIG,
        ),
        (
            "bad-signature",
            "The hub's signature with one bit flipped.",
            _flip_signature(good_7),
            BAD_SIG,
        ),
        (
            "text-changed",
            "The hub's signature over size 7 on a text that says 6.",
            good_7.replace(f"{ORIGIN}\n7\n", f"{ORIGIN}\n6\n", 1),
            BAD_SIG,
        ),
        (
            "unknown-key-only",
            "Only another log's signature line: nothing signed by a trusted key.",
            SignedNote(t7, (other_log,)).to_bytes().decode(),
            BAD_SIG,
        ),
        (
            "wrong-origin",
            "Another log's origin line, signed by the hub key under that name.",
            _note(7, r7, origin="trm-hub/other"),
            INVALID,
        ),
        (
            "origin-differs-from-key-name",
            "The origin line of another log, signed by the hub key under this log's name.",
            _signed_text(Checkpoint("trm-hub/other", 7, r7).text()),
            INVALID,
        ),
        (
            "extension-line",
            "A fourth (extension) line, signed: this protocol's checkpoints have exactly three.",
            _signed_text(t7 + "timestamp 1767225600\n"),
            INVALID,
        ),
        (
            "size-leading-zero",
            "The size written 07.",
            _signed_text(f"{ORIGIN}\n07\n{root_b64}\n"),
            INVALID,
        ),
        (
            "size-not-decimal",
            "The size written +7.",
            _signed_text(f"{ORIGIN}\n+7\n{root_b64}\n"),
            INVALID,
        ),
        (
            "root-31-bytes",
            "A root hash of 31 bytes.",
            _signed_text(f"{ORIGIN}\n7\n{_b64(r7[:31])}\n"),
            INVALID,
        ),
        (
            "root-33-bytes",
            "A root hash of 33 bytes.",
            _signed_text(f"{ORIGIN}\n7\n{long_b64}\n"),
            INVALID,
        ),
        (
            "root-not-base64",
            "A root that is not standard base64 (URL-safe alphabet).",
            _signed_text(f"{ORIGIN}\n7\n{urlsafe}\n"),
            INVALID,
        ),
        (
            "size-0-other-root",
            "Size 0 with a root other than the empty tree's.",
            _note(0, r7),
            INVALID,
        ),
        (
            "carriage-return",
            "CR LF line ends (a control character other than newline).",
            _signed_text(t7.replace("\n", "\r\n")),
            INVALID,
        ),
        (
            "no-blank-line",
            "The signature line straight after the text, without the blank line.",
            good_7.replace("\n\n", "\n", 1),
            INVALID,
        ),
        ("no-signature", "The text and a blank line, no signature line.", t7 + "\n", INVALID),
        (
            "hyphen-not-em-dash",
            "A signature line starting '- ' instead of U+2014 '— '.",
            good_7.replace("\u2014 ", "- ", 1),
            INVALID,
        ),
        (
            "no-final-newline",
            "The signature line without its newline.",
            good_7[:-1],
            INVALID,
        ),
    ]
    out: dict[str, Any] = {}
    for i, (name, description, note, size, root) in enumerate(good, 1):
        out[f"checkpoint-good-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "checkpoint",
            "note": note,
            "expected": {"outcome": "accepted", "reason": None, "size": size, "root": root.hex()},
        }
    for i, (name, description, note, reason) in enumerate(bad, 1):
        out[f"checkpoint-bad-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "checkpoint",
            "note": note,
            "expected": {"outcome": REJECTED, "reason": reason},
        }
    return out


def _cosignature_vectors(tree: MerkleTree) -> dict[str, Any]:
    hub7 = SignedNote.from_bytes(_note(7, tree.root(7)).encode())
    hub4 = SignedNote.from_bytes(_note(4, tree.root(4)).encode())
    t_kh, t_th = T0_S + 60, T0_S + 75
    kh = cosign(hub7, "KH", WITNESSES["KH"], t_kh)
    both = cosign(kh, "TH", WITNESSES["TH"], t_th)
    kh_line = kh.signatures[-1]

    def with_kh(sig: NoteSignature) -> str:
        return SignedNote(hub7.text, (*hub7.signatures, sig)).to_bytes().decode()

    later = (t_kh + 1).to_bytes(8, "big") + kh_line.body[8:]
    from_4 = cosign(hub4, "KH", WITNESSES["KH"], t_kh).signatures[-1]
    other = cosign(hub7, "KH", WITNESS_OTHER, t_kh).signatures[-1]
    type_01_id = note_key_id("KH", _pub(WITNESSES["KH"]))  # the plain-signature key id
    good = [
        ("kh", "KH's cosignature on the hub's checkpoint of size 7.", kh, ["KH"], {"KH": t_kh}),
        (
            "kh-and-th",
            "Cosigned by KH and by TH; each cosignature is checked with its witness's key.",
            both,
            ["KH", "TH"],
            {"KH": t_kh, "TH": t_th},
        ),
    ]
    bad = [
        (
            "wrong-key",
            "A cosignature line named KH made with a key that is not KH's (key id differs).",
            with_kh(other),
        ),
        (
            "wrong-time",
            "KH's cosignature with its timestamp moved one second later after signing.",
            with_kh(NoteSignature("KH", kh_line.key_id, later)),
        ),
        (
            "another-checkpoint",
            "KH's valid cosignature of the size-4 checkpoint, attached to the size-7 one.",
            with_kh(from_4),
        ),
        (
            "wrong-key-id-type",
            "KH's line with the key id of signature type 0x01 instead of 0x04.",
            with_kh(NoteSignature("KH", type_01_id, kh_line.body)),
        ),
        (
            "missing",
            "The hub's checkpoint with no cosignature by KH.",
            hub7.to_bytes().decode(),
        ),
        (
            "short",
            "KH's cosignature cut to 70 bytes after the key id (a timestamp and 62 bytes).",
            with_kh(NoteSignature("KH", kh_line.key_id, kh_line.body[:70])),
        ),
    ]
    out: dict[str, Any] = {}
    for i, (name, description, note, names, times) in enumerate(good, 1):
        out[f"cosignature-good-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "cosignature",
            "note": note.to_bytes().decode(),
            "witnesses": names,
            "expected": {"outcome": "accepted", "reason": None, "size": 7, "timestamps": times},
        }
    for i, (name, description, text) in enumerate(bad, 1):
        out[f"cosignature-bad-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "cosignature",
            "note": text,
            "witnesses": ["KH"],
            "expected": {"outcome": REJECTED, "reason": BAD_SIG},
        }
    return out


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(h: bytes) -> bytes:
    return h[:-1] + bytes([h[-1] ^ 1])


def _extension_vectors(tree: MerkleTree) -> dict[str, Any]:
    note = {n: _note(n, tree.root(n)) for n in (0, 3, 4, 7)}
    p37, p47 = tree.consistency_proof(3, 7), tree.consistency_proof(4, 7)
    forked3 = _note(3, hashlib.sha256(b"another history").digest())
    good = [
        ("3-to-7", "Size 3 to 7 with its RFC 9162 consistency proof.", 3, 7, p37),
        ("4-to-7", "Size 4 (a power of two) to 7.", 4, 7, p47),
        ("7-to-7", "The same checkpoint twice: an empty proof.", 7, 7, []),
        ("0-to-7", "From the empty log: nothing to prove, an empty proof.", 0, 7, []),
    ]
    bad = [
        (
            "tampered-proof",
            "Size 3 to 7 with one bit of the proof's second hash flipped.",
            note[3],
            note[7],
            [p37[0], _flip(p37[1]), *p37[2:]],
            CONSISTENCY,
        ),
        (
            "truncated-proof",
            "Size 3 to 7 without the proof's last hash.",
            note[3],
            note[7],
            p37[:-1],
            CONSISTENCY,
        ),
        (
            "extra-hash",
            "Size 3 to 7 with the new root appended to the proof.",
            note[3],
            note[7],
            [*p37, tree.root(7)],
            CONSISTENCY,
        ),
        (
            "proof-of-other-sizes",
            "Size 3 to 7 with the proof from 4 to 7.",
            note[3],
            note[7],
            p47,
            CONSISTENCY,
        ),
        (
            "rewritten-history",
            "A signed size-3 checkpoint of another history, then size 7: no proof links them.",
            forked3,
            note[7],
            p37,
            CONSISTENCY,
        ),
        (
            "same-size-other-root",
            "Two signed checkpoints of size 3 with different roots.",
            note[3],
            forked3,
            [],
            FORK,
        ),
        (
            "smaller-later",
            "Size 7 seen first, then size 4: a log never shrinks.",
            note[7],
            note[4],
            [],
            FORK,
        ),
        (
            "proof-from-empty",
            "From the empty log with a non-empty proof.",
            note[0],
            note[7],
            [tree.root(7)],
            CONSISTENCY,
        ),
        (
            "unsigned-new",
            "Size 3 to 7 where the size-7 checkpoint is signed by an unknown key.",
            note[3],
            _note(7, tree.root(7), HUB_OTHER),
            p37,
            BAD_SIG,
        ),
    ]
    out: dict[str, Any] = {}
    for i, (name, description, old, new, proof) in enumerate(good, 1):
        out[f"extension-good-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "extension",
            "old": note[old],
            "new": note[new],
            "proof": _hexes(proof),
            "expected": {"outcome": "accepted", "reason": None, "old_size": old, "new_size": new},
        }
    for i, (name, description, old_note, new_note, proof, reason) in enumerate(bad, 1):
        out[f"extension-bad-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "extension",
            "old": old_note,
            "new": new_note,
            "proof": _hexes(proof),
            "expected": {"outcome": REJECTED, "reason": reason},
        }
    return out


def _proof_vectors(tree: MerkleTree, log: list[tuple[str, str, AuditLeaf]]) -> dict[str, Any]:
    """What the sequencer's /audit/proof answers for the DELIVERED leaf (index 1)."""
    index, size = 1, 7
    decision_id = log[index][2].decision_id

    def answer(**changes: Any) -> dict[str, Any]:
        return proof_answer(tree, decision_id, index, size, _note(size, tree.root(size))) | changes

    path = tree.inclusion_proof(index, size)
    cases = [
        (
            "good-01-delivered",
            "The DELIVERED leaf (index 1) in the checkpoint of size 7; "
            "decision_id is the attestation's leaf_ref.",
            answer(),
            None,
        ),
        (
            "bad-01-tampered-proof",
            "One bit of the proof's first hash flipped.",
            answer(proof=[_b64(_flip(path[0])), *[_b64(p) for p in path[1:]]]),
            INCLUSION,
        ),
        (
            "bad-02-other-leaf",
            "The leaf hash of leaf 2 with the path of leaf 1.",
            answer(leaf_hash=_b64(tree.leaf(2))),
            INCLUSION,
        ),
        (
            "bad-03-size-not-the-checkpoint",
            "A proof for size 7 with the checkpoint of size 4.",
            answer(checkpoint=_note(4, tree.root(4))),
            INCLUSION,
        ),
        (
            "bad-04-unsigned-checkpoint",
            "The checkpoint signed by an unknown key.",
            answer(checkpoint=_note(size, tree.root(size), HUB_OTHER)),
            BAD_SIG,
        ),
        (
            "bad-05-leaf-hash-33-bytes",
            "A leaf hash of 33 bytes.",
            answer(leaf_hash=_b64(tree.leaf(index) + b"\x00")),
            INCLUSION,
        ),
    ]
    out: dict[str, Any] = {}
    for name, description, body, reason in cases:
        expected: dict[str, Any] = (
            {"outcome": "accepted", "reason": None, "size": size, "root": tree.root(size).hex()}
            if reason is None
            else {"outcome": REJECTED, "reason": reason}
        )
        out[f"proof-{name}.json"] = {
            "description": description,
            "type": "proof",
            "answer": body,
            "expected": expected,
        }
    return out


def _merkle_vectors(tree: MerkleTree) -> dict[str, Any]:
    """The edge cases of section 9.2: hash lengths, size 0, the empty subtree."""
    leaf1, root7, root3, root4 = tree.leaf(1), tree.root(7), tree.root(3), tree.root(4)
    path = tree.inclusion_proof(1, 7)
    p37 = tree.consistency_proof(3, 7)
    sub = tree.subtree_hash(4, 6)
    sub_path = tree.subtree_inclusion_proof(5, 4, 6)
    sub_proof = tree.subtree_consistency_proof(4, 6, 7)

    def incl(**kw: Any) -> dict[str, Any]:
        base = {
            "check": "inclusion",
            "index": 1,
            "size": 7,
            "leaf_hash": leaf1,
            "proof": path,
            "root": root7,
        }
        return {**base, **kw}

    def cons(**kw: Any) -> dict[str, Any]:
        base = {
            "check": "consistency",
            "size1": 3,
            "size2": 7,
            "root1": root3,
            "root2": root7,
            "proof": p37,
        }
        return {**base, **kw}

    def sub_incl(**kw: Any) -> dict[str, Any]:
        base = {
            "check": "subtree_inclusion",
            "index": 5,
            "start": 4,
            "end": 6,
            "leaf_hash": tree.leaf(5),
            "proof": sub_path,
            "subtree_hash": sub,
        }
        return {**base, **kw}

    def sub_cons(**kw: Any) -> dict[str, Any]:
        base = {
            "check": "subtree_consistency",
            "start": 4,
            "end": 6,
            "size": 7,
            "proof": sub_proof,
            "subtree_hash": sub,
            "root": root7,
        }
        return {**base, **kw}

    good = [
        ("inclusion", "Leaf 1 in the tree of size 7.", incl()),
        ("consistency", "Size 3 to 7.", cons()),
        (
            "consistency-equal-sizes",
            "Size 4 to 4: equal roots, an empty proof.",
            cons(size1=4, size2=4, root1=root4, root2=root4, proof=[]),
        ),
        ("subtree-inclusion", "Leaf 5 in the subtree [4, 6).", sub_incl()),
        ("subtree-consistency", "The subtree [4, 6) in the tree of size 7.", sub_cons()),
        (
            "empty-subtree",
            "The empty subtree [3, 3) in size 7: the empty hash, no proof.",
            sub_cons(start=3, end=3, proof=[], subtree_hash=EMPTY_ROOT),
        ),
        (
            "empty-subtree-at-size",
            "The empty subtree [7, 7) in size 7 (start == size).",
            sub_cons(start=7, end=7, proof=[], subtree_hash=EMPTY_ROOT),
        ),
    ]
    bad = [
        (
            "leaf-hash-31-bytes",
            "Inclusion: a leaf hash of 31 bytes.",
            incl(leaf_hash=leaf1[:31]),
            INCLUSION,
        ),
        (
            "leaf-hash-33-bytes",
            "Inclusion: a leaf hash of 33 bytes.",
            incl(leaf_hash=leaf1 + b"\x00"),
            INCLUSION,
        ),
        ("root-31-bytes", "Inclusion: a root of 31 bytes.", incl(root=root7[:31]), INCLUSION),
        ("root-33-bytes", "Inclusion: a root of 33 bytes.", incl(root=root7 + b"\x00"), INCLUSION),
        (
            "proof-element-31-bytes",
            "Inclusion: a proof hash of 31 bytes.",
            incl(proof=[path[0][:31], *path[1:]]),
            INCLUSION,
        ),
        (
            "proof-element-33-bytes",
            "Inclusion: a proof hash of 33 bytes.",
            incl(proof=[*path[:-1], path[-1] + b"\x00"]),
            INCLUSION,
        ),
        (
            "consistency-root1-31-bytes",
            "Consistency: an old root of 31 bytes.",
            cons(root1=root3[:31]),
            CONSISTENCY,
        ),
        (
            "consistency-root2-33-bytes",
            "Consistency: a new root of 33 bytes.",
            cons(root2=root7 + b"\x00"),
            CONSISTENCY,
        ),
        (
            "consistency-proof-element-33-bytes",
            "Consistency: a proof hash of 33 bytes.",
            cons(proof=[p37[0] + b"\x00", *p37[1:]]),
            CONSISTENCY,
        ),
        (
            "consistency-equal-sizes-short-roots",
            "Consistency 4 to 4 with two equal 31-byte roots and no proof (the transparency-dev "
            "library accepts it; this protocol refuses any hash that is not 32 bytes).",
            cons(size1=4, size2=4, root1=root4[:31], root2=root4[:31], proof=[]),
            CONSISTENCY,
        ),
        (
            "consistency-from-0-empty-proof",
            "Consistency from size 0 to 3 with an empty proof (the library accepts it; it "
            "proves nothing, so it is refused).",
            cons(size1=0, size2=3, root1=EMPTY_ROOT, root2=root3, proof=[]),
            CONSISTENCY,
        ),
        (
            "consistency-from-0-with-proof",
            "Consistency from size 0 to 3 with the new root as proof.",
            cons(size1=0, size2=3, root1=EMPTY_ROOT, root2=root3, proof=[root3]),
            CONSISTENCY,
        ),
        (
            "consistency-0-to-0",
            "Consistency from size 0 to 0 (the empty root twice, no proof).",
            cons(size1=0, size2=0, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[]),
            CONSISTENCY,
        ),
        (
            "subtree-inclusion-hash-31-bytes",
            "Subtree inclusion: a subtree hash of 31 bytes.",
            sub_incl(subtree_hash=sub[:31]),
            INCLUSION,
        ),
        (
            "subtree-hash-33-bytes",
            "Subtree consistency: a subtree hash of 33 bytes.",
            sub_cons(subtree_hash=sub + b"\x00"),
            CONSISTENCY,
        ),
        (
            "subtree-root-31-bytes",
            "Subtree consistency: a tree root of 31 bytes.",
            sub_cons(root=root7[:31]),
            CONSISTENCY,
        ),
        (
            "empty-subtree-beyond-size",
            "The empty subtree [9, 9) of a tree of size 7: start > size.",
            sub_cons(start=9, end=9, proof=[], subtree_hash=EMPTY_ROOT),
            CONSISTENCY,
        ),
        (
            "empty-subtree-other-hash",
            "The empty subtree [3, 3) with a hash other than the empty root.",
            sub_cons(start=3, end=3, proof=[], subtree_hash=root3),
            CONSISTENCY,
        ),
        (
            "empty-subtree-with-proof",
            "The empty subtree [3, 3) with the empty root and a proof.",
            sub_cons(start=3, end=3, proof=[root7], subtree_hash=EMPTY_ROOT),
            CONSISTENCY,
        ),
        (
            "empty-subtree-short-root",
            "The empty subtree [3, 3) with the empty hash, no proof and a 12-byte tree root "
            "(the library accepts it; this protocol refuses any hash that is not 32 bytes).",
            sub_cons(start=3, end=3, proof=[], subtree_hash=EMPTY_ROOT, root=b"don't care 1"),
            CONSISTENCY,
        ),
    ]

    def encoded(inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (v.hex() if isinstance(v, bytes) else _hexes(v) if isinstance(v, list) else v)
            for k, v in inputs.items()
        }

    out: dict[str, Any] = {}
    for i, (name, description, inputs) in enumerate(good, 1):
        out[f"merkle-good-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "merkle",
            **encoded(inputs),
            "expected": {"outcome": "accepted", "reason": None},
        }
    for i, (name, description, inputs, reason) in enumerate(bad, 1):
        out[f"merkle-bad-{i:02d}-{name}.json"] = {
            "description": description,
            "type": "merkle",
            **encoded(inputs),
            "expected": {"outcome": REJECTED, "reason": reason},
        }
    return out


def build() -> dict[str, Any]:
    """Every file of tests/vectors/audit/ but README.md, by name."""
    log = leaves()
    tree = MerkleTree()
    for _name, _description, leaf in log:
        tree.append(leaf.to_bytes())
    files: dict[str, Any] = {"keys.json": keys_file()}
    files.update(_leaf_vectors(log))
    files["log-good-01-seven-leaves.json"] = {
        "description": (
            "The seven good leaves in order (leaf-good-01 to 07): the leaf hash of each and "
            "the RFC 9162 root at every size 0..7. The other vectors use this tree."
        ),
        "type": "log",
        "leaves": [leaf.to_bytes().hex() for _n, _d, leaf in log],
        "expected": {
            "outcome": "accepted",
            "reason": None,
            "leaf_hashes": [leaf_hash(leaf.to_bytes()).hex() for _n, _d, leaf in log],
            "roots": [tree.root(n).hex() for n in range(tree.size + 1)],
        },
    }
    files.update(_checkpoint_vectors(tree))
    files.update(_cosignature_vectors(tree))
    files.update(_extension_vectors(tree))
    files.update(_proof_vectors(tree, log))
    files.update(_merkle_vectors(tree))
    return files


README_HEAD = """\
# Audit-log test vectors

Normative examples of the audit log (`docs/protocol.md` section 9): leaves,
the Merkle tree, checkpoints, witness cosignatures, the extension of one
checkpoint by another, the sequencer's inclusion answers, and the edge cases
of section 9.2. With these files and the spec, an implementation can check
that it reads and verifies the log exactly as every other node does. This
file is written by `tests/vectors/generate_audit.py`
(`python -m tests.vectors.generate_audit`), from fixed keys and a fixed clock;
`tests/unit/audit/test_audit_vectors.py` checks that rerunning it reproduces
every file byte for byte.

## Keys

`keys.json`: `origin` is the log's origin line and the hub's note key name
(`trm-hub/trm`). `hub_keys` are the hub keys a verifier trusts (Ed25519,
signed-note key id type 0x01, with the Go `verifier_key`); `witnesses` the
cosigners by name (key id type 0x04). Each key gives `public_key` (hex),
`note_key_id` (`SHA-256(name || 0x0A || type || public key)[:4]`, hex) and,
since these are test keys, `seed`: the Ed25519 private seed,
`SHA-256("trm-vector-key:" + label)`. `unknown_keys` sign some bad vectors: a
verifier of these vectors MUST NOT trust them.

## Format and how to apply

Every other file is one vector: `description`, `type`, the inputs of its
type, and `expected`: `outcome` (`accepted` or `rejected`), `reason` (a code
of section 10, null when accepted) and, when accepted, the values listed
below. Hashes are lowercase hex, except inside notes (base64, as signed) and
in a `proof` answer (base64, as the sequencer serves it). A note is given as
a JSON string; its bytes are the string's UTF-8. A refusal's reason is the
code of the first rule the vector breaks, in the order of section 9.

By `type` (inputs; how to apply, with the section; what an accepted one gives):

- `leaf`: `leaf` (hex) and `intermediate` (frame fingerprint, body); read an
  audit leaf (9.1) and hash it (9.2); `fields` (the leaf as JSON, schema
  order) and `leaf_hash`.
- `log`: `leaves` (hex, in order); append them to an RFC 9162 tree (9.2);
  `leaf_hashes` and `roots` (at sizes 0..n).
- `checkpoint`: `note`; verify the checkpoint (9.3); `size`, `root`.
- `cosignature`: `note`, `witnesses` (names); verify the checkpoint (9.3),
  then each witness's cosignature (9.4); `size`, `timestamps` (name to time).
- `extension`: `old`, `new` (notes), `proof`; verify both checkpoints (9.3),
  then that `new` extends `old` (9.3); `old_size`, `new_size`.
- `proof`: `answer` (a `/audit/proof` answer); verify it as a recipient
  does (9.5); `size`, `root`.
- `merkle`: `check` and its inputs; one verification of 9.2: `inclusion`
  (`index`, `size`, `leaf_hash`, `proof`, `root`), `consistency` (`size1`,
  `size2`, `root1`, `root2`, `proof`), `subtree_inclusion` (`index`, `start`,
  `end`, `leaf_hash`, `proof`, `subtree_hash`), `subtree_consistency`
  (`start`, `end`, `size`, `proof`, `subtree_hash`, `root`); nothing more.

The seven good leaves, in order, are the log that every other vector uses
(`log-good-01-seven-leaves.json`); checkpoints are of its sizes 0, 3, 4 and 7.
`leaf-good-02-delivered.json` is the leaf a delivery's attestation names: its
`decision_id` is the attestation's `leaf_ref` (9.5), and
`proof-good-01-delivered.json` is the sequencer's answer for it.

`hub.conformance.audit` applies every vector here (`trm conformance`).

## The vectors

| file | expected | what |
| --- | --- | --- |
"""


def readme(built: dict[str, Any]) -> str:
    """README.md: the prose above and one row per vector."""
    rows = []
    for name, v in built.items():
        if name == "keys.json":
            continue
        expected = v["expected"]["reason"] or "accepted"
        rows.append(f"| `{name}` | {expected} | {v['description']} |\n")
    return README_HEAD + "".join(rows)


def main() -> None:
    built = build()
    write_vectors(OUT, built)
    (OUT / "README.md").write_text(readme(built), encoding="utf-8")


if __name__ == "__main__":
    main()
