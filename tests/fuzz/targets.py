"""The fuzz targets: one per door that reads bytes or text from outside the process.

Each target takes the fuzzer's bytes and calls the door's parser, then (where
one exists) the verification path a receiver runs next. The only allowed
outcomes are a value or a refusal from :mod:`hub.errors` (a ``TrmError`` with a
``Reason``); :func:`run_one` turns anything else into a crash. Two targets are
differential: they decode the same bytes with a second implementation and
raise :class:`Disagreement` when the answers differ.

A target that needs several inputs (a list of disclosures, a file and a
mapping) splits its bytes with :func:`split`: each part is a two-byte
little-endian length and that many bytes; ``make_corpus.py`` writes seeds in
the same form with :func:`join`.

``REQUIRED`` names every parser that takes outside bytes; a test checks that
each is reached by a target and that every public ``from_bytes``/``parse*``/
``from_json*``/``load_*``/``read_*`` function in ``hub/`` and ``connectors/``
is either in it or in ``NOT_A_DOOR`` with a reason, so a new parser cannot go
unfuzzed unnoticed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import struct
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from hub.errors import TrmError

__all__ = [
    "NOT_A_DOOR",
    "REQUIRED",
    "TARGETS",
    "Disagreement",
    "Target",
    "allowed",
    "independent_jcs",
    "join",
    "run_one",
    "split",
]

ROOT: Final = Path(__file__).resolve().parents[2]
VECTORS: Final = ROOT / "tests" / "vectors"
T0: Final = 1_767_225_600_000  # the vectors' clock: 2026-01-01T00:00:00Z


class Disagreement(AssertionError):
    """Two implementations gave different answers for the same input (a crash)."""


# --- splitting one input into parts ----------------------------------------------


def split(data: bytes, limit: int = 64) -> list[bytes]:
    """At most ``limit`` parts: each a 2-byte little-endian length, then that many bytes."""
    parts: list[bytes] = []
    pos = 0
    while pos < len(data) and len(parts) < limit:
        n = int.from_bytes(data[pos : pos + 2], "little")
        parts.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return parts


def join(parts: Sequence[bytes]) -> bytes:
    """The input :func:`split` turns into ``parts``."""
    return b"".join(len(p).to_bytes(2, "little") + p for p in parts)


# --- keys and fixtures (the vectors' fixed keys) ---------------------------------


@cache
def _wire_trust() -> Any:
    from hub.trust import TrustList

    return TrustList.from_bytes((VECTORS / "wire" / "trust.json").read_bytes())


@cache
def _sealed_trust() -> Any:
    from hub.trust import TrustList

    return TrustList.from_bytes((VECTORS / "sealed" / "trust.json").read_bytes())


class _Either:
    """A key directory: the wire vectors' trust list, then the sealed vectors' one."""

    def key(self, key_id: str) -> Any:
        return _wire_trust().key(key_id) or _sealed_trust().key(key_id)

    def keys_for(self, country: str, role: Any, at_ms: int) -> Sequence[Any]:
        return [
            *_wire_trust().keys_for(country, role, at_ms),
            *_sealed_trust().keys_for(country, role, at_ms),
        ]


@cache
def _audit_keys() -> tuple[str, list[bytes], dict[str, bytes]]:
    doc = json.loads((VECTORS / "audit" / "keys.json").read_text())
    hub_keys = [bytes.fromhex(k["public_key"]) for k in doc["hub_keys"]]
    witnesses = {w["name"]: bytes.fromhex(w["public_key"]) for w in doc["witnesses"]}
    return doc["origin"], hub_keys, witnesses


@cache
def _mapping() -> Any:
    from connectors.importer.mapping import load_mapping
    from hub.textdoc import parse_yaml

    path = ROOT / "connectors" / "importer" / "examples" / "th-referrals.map.yaml"
    return load_mapping(parse_yaml(path.read_bytes(), what="mapping"))


# --- the targets -----------------------------------------------------------------


def envelope(data: bytes) -> object:
    """An envelope (v1 or v2) as a recipient opens it: parse, verify, attestation, unseal;
    its producer signature read and verified ahead first, as the hub's agent does
    (whatever the bytes, that must neither raise nor change an outcome)."""
    from hub.wire import Envelope, open_envelope, verification_result
    from hub.wire.verify import verify_ahead, verify_ahead_clear
    from tests.support.wire import private_keys

    verify_ahead([data, data], _Either())
    try:
        env = Envelope.from_bytes(data)
        verification_result(env, _Either())
        return open_envelope(
            data,
            _Either(),
            recipient="KH",
            require_attestation=bool(env.attestations),
            private_key=private_keys("KH"),
        )
    finally:
        verify_ahead_clear()


def envelope_resigned(data: bytes) -> object:
    """An envelope whose header lists every part it carries, re-signed with the test keys.

    The fuzzer cannot forge a signature; re-signing after parsing carries its
    mutations past the signature check into the disclosure, sealing, attestation
    and unsealing rules.
    """
    from hub.wire import (
        ATTESTATION_PAYLOAD_TYPE,
        HEADER_PAYLOAD_TYPE,
        MAX_DIGESTS,
        Attestation,
        Envelope,
        Signature,
        open_envelope,
        pae,
        verification_result,
    )
    from hub.wire.codec import frame, part
    from tests.support.wire import HUB_KEY, KEYS, KH_KEY, TH_KEY, private_keys

    env = Envelope.from_bytes(data)
    digests = {
        *env.header.disclosure_digests,
        *(d.digest for d in env.disclosures),
        *(s.digest for s in env.sealed),
        *(w.digest for w in env.key_wraps),
    }
    header = dataclasses.replace(
        env.header, disclosure_digests=tuple(sorted(digests)[:MAX_DIGESTS])
    )
    header_bytes = header.encode()
    key = KH_KEY if header.producer == "KH" else TH_KEY
    sig = Signature(
        env.signature.key_id if header.producer not in ("KH", "TH") else _key_id(key),
        key.sign(pae(HEADER_PAYLOAD_TYPE, header_bytes)),
    )
    event_digest = _sha256(header_bytes)
    attestations = []
    for a in env.attestations:
        rec = part("attestation_statement").decode(a.statement[10:])
        rec["event_digest"] = event_digest
        statement = frame("attestation_statement", part("attestation_statement").encode(rec))
        signature = Signature(
            _key_id(HUB_KEY), HUB_KEY.sign(pae(ATTESTATION_PAYLOAD_TYPE, statement))
        )
        attestations.append(Attestation.from_parts(statement, signature))
    again = Envelope.assemble(
        header_bytes,
        sig,
        env.disclosures,
        attestations,
        sealed=env.sealed,
        key_wraps=env.key_wraps,
    )
    verification_result(again, KEYS)
    return open_envelope(
        again.to_bytes(),
        KEYS,
        recipient="KH",
        require_attestation=bool(attestations),
        private_key=private_keys("KH"),
    )


def _sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def _key_id(key: Any) -> str:
    from hub.keys import key_id_of, raw_public

    return key_id_of(raw_public(key.public_key()))


def header(data: bytes) -> object:
    """A signed header's bytes alone."""
    from hub.wire import Header

    return Header.from_bytes(data)


def disclosures(data: bytes) -> object:
    """Clear disclosures (v1 and v2), one by one and as a list."""
    from hub.wire import Disclosure, native
    from hub.wire.disclosures import _NATIVE_DISCLOSURES, parse_disclosures

    parts = split(data)
    for raw in parts[:1]:
        Disclosure.from_bytes(raw)
    built = native.disclosures(_NATIVE_DISCLOSURES, parts)
    if built is not None:  # the native split answers: it must be the Python loop's answer
        native.ENABLED = False  # type: ignore[misc]
        try:
            python = parse_disclosures(parts)
        finally:
            native.ENABLED = True  # type: ignore[misc]
        if built != python:  # every field of every Disclosure
            raise Disagreement(f"the native split differs on {data.hex()[:4000]}")
    return parse_disclosures(parts)


def sealed_parts(data: bytes) -> object:
    """Sealed disclosures and key wraps (v2), alone and as lists."""
    from hub.wire import KeyWrap, SealedDisclosure
    from hub.wire.disclosures import parse_key_wraps, parse_sealed

    if not data:
        return None
    parts = split(data[1:])
    if data[0] & 1:
        for raw in parts[:1]:
            KeyWrap.from_bytes(raw)
        return parse_key_wraps(parts)
    for raw in parts[:1]:
        SealedDisclosure.from_bytes(raw)
    return parse_sealed(parts)


@cache
def _data_key_wrap() -> tuple[bytes, Any, str]:
    """A data key wrapped to KH's test seal key for a fixed event (made once)."""
    from hub.wire import KeyWrap
    from hub.wire.hpke import hpke_seal
    from hub.wire.sealing import wrap_info
    from tests.support.wire import SEAL_KEYS

    event_id = "01943d1a-6c00-7000-8000-00000000000a"
    key = SEAL_KEYS["KH"]
    data_key = bytes(range(32))
    enc, wrapped = hpke_seal(key.x25519(), wrap_info(event_id, "KH", key.key_id), data_key)
    return data_key, KeyWrap.build("KH", key.key_id, enc, wrapped), event_id


def unseal(data: bytes) -> object:
    """Decrypted sealed disclosures: the plaintexts are the fuzzer's, properly encrypted.

    Part 0 holds two bytes per plaintext: its label (an index into the referral's
    fields) and how many zero bytes pad it; each further part is one disclosure,
    committed to, padded and sealed under a data key wrapped to KH. So the
    fuzzer reaches what runs after decryption (padding, commitment, the
    disclosure inside, its field's type) as :func:`hub.wire.unseal` does.
    """
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from hub.wire import SealedDisclosure
    from hub.wire.codec import payload_codec
    from hub.wire.fields import type_mismatch
    from hub.wire.sealing import open_sealed, sealed_aad
    from tests.support.wire import private_keys

    parts = split(data, limit=9)
    if len(parts) < 2:
        return None
    control, raws = parts[0] + bytes(16), parts[1:]
    codecs = payload_codec("referral").codecs
    names = sorted(codecs)
    data_key, wrap, event_id = _data_key_wrap()
    aead = ChaCha20Poly1305(data_key)
    sealed = []
    for i, raw in enumerate(raws):
        label = names[control[2 * i] % len(names)]
        plaintext = raw + bytes(control[2 * i + 1])
        nonce = bytes(12)
        ciphertext = aead.encrypt(nonce, plaintext, sealed_aad(event_id, label))
        sealed.append(SealedDisclosure.build(label, _sha256(raw), nonce, ciphertext))
    opened = open_sealed(sealed, wrap, private_keys("KH")(wrap.key_id), event_id=event_id)
    out = {}
    for d in opened:
        try:
            out[d.field] = codecs[d.field].decode(d.value)
        except ValueError:
            raise type_mismatch(d.field) from None
    return out


def attestation(data: bytes) -> object:
    """An attestation statement (hub-signed) on a delivered copy, checked as a node does."""
    from hub.wire import ATTESTATION_PAYLOAD_TYPE, Attestation, Signature, pae, verify_attestation
    from tests.support.wire import HUB_KEY, KEYS

    env = _delivered()
    signature = Signature(_key_id(HUB_KEY), HUB_KEY.sign(pae(ATTESTATION_PAYLOAD_TYPE, data)))
    att = Attestation.from_parts(data, signature)
    again = dataclasses.replace(env, attestations=(att,))
    return verify_attestation(again, KEYS, recipient="KH")


@cache
def _delivered() -> Any:
    from hub.wire import Envelope

    doc = json.loads((VECTORS / "sealed" / "good-02-referral-delivered-kh.json").read_text())
    return Envelope.from_bytes(bytes.fromhex(doc["envelope"]))


def trust_list(data: bytes) -> object:
    """A trust list's bytes: pinned first version, then as an update of the vectors' one."""
    from hub.trust import TrustList

    with contextlib.suppress(TrmError):
        TrustList.from_bytes(data)
    return TrustList.from_bytes(data, previous=_sealed_trust())


def seal_keys(data: bytes) -> object:
    """A country's signed seal-key set, alone and as a registry's record."""
    from hub.sealkeys import SealKeyDirectory, SealKeySet

    SealKeyDirectory.from_documents([data], _sealed_trust())
    return SealKeySet.from_signed(data, _sealed_trust())


def agreement(data: bytes) -> object:
    """A signed agreement's YAML, then its parties' signatures as the engine checks them."""
    from hub.policy.agreement import parse_agreement

    signed = parse_agreement(data, loaded_at_ms=T0)
    signed.missing_parties(_policy_trust(), T0)
    return signed


@cache
def _policy_trust() -> Any:
    from hub.trust import TrustList

    return TrustList.from_bytes((VECTORS / "policy" / "trust.json").read_bytes())


def checkpoint(data: bytes) -> object:
    """A signed checkpoint and its witnesses' cosignatures (C2SP signed note)."""
    from hub.audit.note import Checkpoint, SignedNote, verify_checkpoint, verify_cosignature

    origin, hub_keys, witnesses = _audit_keys()
    note = SignedNote.from_bytes(data)
    Checkpoint.parse(note.text)
    for name, public in witnesses.items():
        with contextlib.suppress(TrmError):
            verify_cosignature(note, name, public)
    return verify_checkpoint(data, origin, hub_keys)


def proof(data: bytes) -> object:
    """The sequencer's ``/audit/proof`` answer (JSON) and a witness's stored record."""
    from hub.audit.witness import Seen, check_proof
    from hub.textdoc import parse_json

    origin, hub_keys, _ = _audit_keys()
    with contextlib.suppress(TrmError):
        Seen.from_json(data.decode("utf-8", "replace"))
    body = parse_json(data, what="proof answer", max_bytes=1 << 20)
    if not isinstance(body, Mapping):
        return None
    return check_proof(body, origin, hub_keys)


def flows(data: bytes) -> object:
    """A flows document (``trm audit replay --json``, key ``flows``), as a statistics
    report reads it from a file."""
    from hub.audit.flows import Flows
    from hub.textdoc import parse_json

    doc = parse_json(data, what="flows", max_bytes=1 << 20)
    return Flows.from_json(doc).within(0, 2**62).to_json()


def audit_leaf(data: bytes) -> object:
    """An audit leaf's bytes (what the sequencer logs and an auditor replays)."""
    from hub.audit.leaf import AuditLeaf

    return AuditLeaf.from_bytes(data)


@cache
def _match_fixture() -> tuple[Any, bytes]:
    """Fixed 3-of-6 commitments and a blinded element (the matching key's public part)."""
    import hashlib

    from hub.matching import oprf
    from hub.matching.threshold import deal

    coefficients = [
        oprf.scalar_reduce(hashlib.sha512(f"fuzz/{j}".encode()).digest()) for j in (0, 1, 2)
    ]
    commitments, _ = deal(coefficients[0], 3, (1, 2, 3, 4, 5, 6), coefficients=coefficients[1:])
    return commitments, oprf.blind(b"fuzz", blind=coefficients[1])[1]


def match_partials(data: bytes) -> object:
    """Partial evaluations from evaluators (98 bytes each) and the requester's blinded
    element: parsed, verified against fixed commitments, combined (hub.matching)."""
    from hub.matching.threshold import PartialEvaluation, examine, verify_partial

    commitments, blinded = _match_fixture()
    parts = split(data, limit=8)
    if parts and len(parts[0]) == 32:
        blinded = parts.pop(0)
    partials = []
    for part in parts:
        partial = PartialEvaluation.from_bytes(part)
        with contextlib.suppress(TrmError):
            verify_partial(commitments, blinded, partial)
        partials.append(partial)
    return examine(commitments, blinded, partials)


def match_files(data: bytes) -> object:
    """The matching key's public part and a share file, as a dealer hands them out."""
    from hub.matching.ceremony import parse_public, parse_share

    with contextlib.suppress(TrmError):
        parse_public(data)
    return parse_share(data)


def decision(data: bytes) -> object:
    """A hub decision record (JSON), and the effect id and source reference it names."""
    from hub.decision import DecisionRecord, EffectId, SourceRef

    text = data.decode("utf-8", "replace")
    for parse in (EffectId.parse, SourceRef.parse):
        with contextlib.suppress(TrmError):
            parse(text)
    record = DecisionRecord.from_json_bytes(data)
    return EffectId.parse(record.source) if ":" in record.source else record


def rejection(data: bytes) -> object:
    """A record of a country's rejections topic, as its node reads it."""
    from connectors.sdk.records import Rejection

    return Rejection.from_bytes(data)


def state_records(data: bytes) -> object:
    """The hub's own state records read back from Kafka: taken-in notes and bookmarks."""
    from hub.state import Bookmark, parse_taken_in

    key, value = ([*split(data, limit=2), b"", b""])[:2]
    with contextlib.suppress(TrmError):
        parse_taken_in(key, value)
    return Bookmark.from_record(key, value)


def _submit(obj: Any) -> object:
    """What a node does with a submission before it signs: validate, map, a trial seal."""
    from connectors.sdk.submission import Submission
    from hub.wire import payload_from_json, seal
    from tests.support.wire import TH_KEY, counter_rng

    submission = Submission.from_json(obj)
    payload = payload_from_json(submission.event_type.value, submission.payload)
    return seal(
        submission.event_type,
        payload,
        producer="TH",
        key=TH_KEY,
        recipients=submission.recipients,
        purpose=submission.purpose,
        handling=submission.handling,
        case_key=submission.case_key,
        sequence=1,
        created_at_ms=T0,
        event_id=submission.event_id,
        correlation_id=submission.correlation_id,
        rng=counter_rng("fuzz"),
    )


def gateway_body(data: bytes) -> object:
    """``POST /api/events`` and ``/api/login`` bodies: strict JSON, then the submission."""
    from hub.textdoc import parse_json

    body = parse_json(data, what="request body", max_bytes=1 << 20)
    if not isinstance(body, dict):
        return body
    body.pop("from", None)
    return _submit(body)


def importer_rows(data: bytes) -> object:
    """An import file (CSV or JSONL, by the first byte) read with the example mapping."""
    from connectors.importer.mapping import RowError
    from connectors.importer.run import read_rows

    if not data:
        return None
    mapping = _mapping()
    suffix = ".jsonl" if data[0] & 1 else ".csv"
    fd, name = tempfile.mkstemp(suffix=suffix, dir=_tmp())
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data[1:])
        out = []
        for line, row in read_rows(path, mapping):
            if isinstance(row, RowError) or line > 16:  # every row read, the first few sent
                continue
            try:
                key = mapping.row_key_of(row)
                out.append(
                    _submit(
                        {
                            "type": mapping.event_type.value,
                            "to": mapping.recipients_of(row),
                            "purpose": mapping.purpose,
                            "handling": mapping.handling,
                            "case_key": mapping.case_key_of("TH", row, key),
                            "payload": mapping.payload_of(row),
                        }
                    )
                )
            except (RowError, TrmError):
                continue
        return out
    finally:
        path.unlink()


@cache
def _tmp() -> str:
    shm = Path("/dev/shm")
    return tempfile.mkdtemp(prefix="trm-fuzz-", dir=shm if shm.is_dir() else None)


def importer_mapping(data: bytes) -> object:
    """An importer ``--map`` file (YAML or JSON), read as ``trm import --map`` reads it."""
    from connectors.importer.mapping import read_mapping

    return read_mapping(data)


def textdoc(data: bytes) -> object:
    """The one strict reader of JSON and YAML (by the first byte)."""
    from hub.textdoc import parse_json, parse_yaml

    if not data:
        return None
    if data[0] & 1:
        return parse_yaml(data[1:], what="yaml", max_bytes=1 << 20)
    return parse_json(data[1:], what="json", max_bytes=1 << 20)


def match_inputs(data: bytes) -> object:
    """An identifier to match inputs: the first byte picks the kind, a country and a year."""
    from hub.matching.keys import match_inputs as inputs

    if not data:
        return None
    kinds = ("phone", "document", "name")
    countries = ("TH", "VN", "MM", "KH", "LA", "CN")
    kind = kinds[data[0] % 3]
    country = countries[(data[0] >> 2) % len(countries)]
    year = 1900 + (data[0] >> 1) * 5 if data[0] & 0x80 == 0 else 2400 + data[0]
    state = None if data[0] & 0x40 else "TH"
    text = data[1:].decode("utf-8", "surrogateescape")
    return inputs(kind, text, country=country, birth_year=year, issuing_state=state)


# --- differential: fastavro (and hub's fast reader) against Apache avro ------------

AVRO_PARTS: Final = (
    "envelope@1",
    "envelope",
    "header",
    "signature",
    "sealed_disclosure",
    "key_wrap",
    "attestation_statement",
    "audit_leaf",
    "sealed_quarantine",
    "referral",
    "handover_notice",
    "trafficker_alert",
    "acknowledgement",
    "detention_notice",
    "erasure_request",
    "erasure_confirmation",
    "match_followup",
    "match_followup_answer",
    "case_update",
    "reintegration_report",
    "case_alert",
    "statistics_report",
)


class _Strict(io.BytesIO):
    """Apache avro reads past the end without complaint; the spec does not allow it."""

    def read(self, n: int | None = -1, /) -> bytes:
        out = super().read(n)
        if n is not None and n >= 0 and len(out) != n:
            raise EOFError(f"expected {n} bytes, {len(out)} left")
        return out


@cache
def _strict_apache_decoder() -> Any:
    """Apache avro's decoder, with a boolean byte other than 0 or 1 refused.

    Apache avro reads any byte but 1 as false (fastavro: any but 0 as true); the
    specification allows only 0 and 1, so the peer is held to it here.
    """
    import avro.io

    class Decoder(avro.io.BinaryDecoder):
        def read_boolean(self) -> bool:
            byte = self.read(1)
            if byte not in (b"\x00", b"\x01"):
                raise ValueError(f"a boolean byte {byte.hex()}")
            return byte == b"\x01"

    return Decoder


@cache
def _apache(name: str) -> Any:
    import avro.schema

    from hub.wire.codec import _strip_logical
    from schemas import load

    return avro.schema.parse(json.dumps(_strip_logical(load(name))))


def _plain(value: Any) -> Any:
    """A comparable form: floats by their bits (NaN equals NaN), tuples as lists."""
    if isinstance(value, float):
        return ("float", struct.pack(">d", value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def apache_decode(name: str, body: bytes) -> Any:
    """``body`` decoded with Apache avro under part ``name``; every byte must be used.

    Raises:
        ValueError: not one exact encoding (any Apache avro error is wrapped).
    """
    import avro.io

    buf = _Strict(body)
    try:
        value = avro.io.DatumReader(_apache(name)).read(_strict_apache_decoder()(buf))
    except Exception as exc:  # Apache avro raises many kinds; any is a refusal here
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if buf.tell() != len(body):
        raise ValueError("bytes left over")
    return value


def avro_diff(data: bytes) -> tuple[str, Any] | None:
    """fastavro, hub's compiled readers (Python and native) and Apache avro agree on every input."""
    from hub.wire.codec import Compiled, decode_exact, parsed, part

    if not data:
        return None
    name = AVRO_PARTS[data[0] % len(AVRO_PARTS)]
    body = data[1:]
    answers: dict[str, tuple[str, Any]] = {}
    decoders: dict[str, Callable[[bytes], Any]] = {
        "fast": part(name).decode,
        "avrofast": Compiled(parsed(name), part(name).reader, None).decode,  # no native
        "fastavro": lambda b: decode_exact(parsed(name), b),
        "apache": lambda b: apache_decode(name, b),
    }
    for label, decode in decoders.items():
        try:
            answers[label] = ("value", _plain(decode(body)))
        except ValueError:
            answers[label] = ("refused", None)
    compiled = part(name).native  # answers only where it is sure: its value must agree
    got = None if compiled is None else compiled.read(body)
    if got is not None:
        answers["native"] = ("value", _plain(got[0]))
    if compiled is not None and compiled.check(body) is not (got is not None):
        raise Disagreement(f"{name}: the native check and read disagree on {body.hex()[:4000]}")
    if len({json.dumps(a, default=repr, sort_keys=True) for a in answers.values()}) != 1:
        shown = {k: v[0] for k, v in answers.items()}
        raise Disagreement(f"{name}: the decoders disagree on {body.hex()[:4000]}: {shown}")
    return answers["fast"]


# --- differential: canonical JSON against an independent RFC 8785 ------------------

_MAX_SAFE: Final = 2**53 - 1
_SHORT: Final = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


def _jcs_string(text: str) -> str:
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o in _SHORT:
            out.append(_SHORT[o])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            raise ValueError("a lone surrogate is not a Unicode string")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jcs_number(x: float) -> str:
    """ECMAScript Number.prototype.toString (RFC 8785 section 3.2.2.3)."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and Infinity are not JSON")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp) if exp else 0)  # value = 0.<digits and zeros> * 10^point
    lead = len(whole + frac) - len((whole + frac).lstrip("0"))
    n = point - lead
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    tail = f"e{'+' if e > 0 else '-'}{abs(e)}"
    if k == 1:
        return sign + digits + tail
    return sign + digits[0] + "." + digits[1:] + tail


def independent_jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON, written from section 3.2 with no shared code.

    Integers are JSON numbers, so IEEE 754 doubles: one beyond 2**53 - 1 in
    magnitude is refused (hub.signed_doc's rule: it would not survive a reader).

    Raises:
        ValueError: a value RFC 8785 cannot represent exactly.
    """

    def walk(v: Any) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int):
            if abs(v) > _MAX_SAFE:
                raise ValueError("an integer beyond 2**53 - 1")
            return str(v)
        if isinstance(v, float):
            return _jcs_number(v)
        if isinstance(v, str):
            return _jcs_string(v)
        if isinstance(v, list | tuple):
            return "[" + ",".join(walk(i) for i in v) + "]"
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise ValueError("object member names are strings")
            keys = sorted(v, key=lambda s: s.encode("utf-16-be", "surrogatepass"))
            return "{" + ",".join(_jcs_string(k) + ":" + walk(v[k]) for k in keys) + "}"
        raise ValueError(f"not a JSON value: {type(v).__name__}")

    return walk(value).encode("utf-8")


def _doubles(value: Any) -> Any:
    """``value`` with every number as the double a JSON reader makes of it."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    return {k: _doubles(v) for k, v in value.items()}


def match_message(data: bytes) -> object:
    """A match message as the hub (or a member) opens it: verify, then decode.

    A first byte T, K or H makes the rest the message bytes, signed here by
    TH's, KH's or the hub's test key; anything else is the wire bytes as they
    come (the test keys sign the seeds).
    """
    from hub.matching.messages import MATCH_PAYLOAD_TYPE, open_message
    from hub.wire import Signature, pae
    from hub.wire.codec import frame, part
    from tests.support.wire import HUB_KEY, KEYS, KH_KEY, TH_KEY

    if data[:1] in (b"T", b"K", b"H"):
        # The rest is the message bytes, signed here (the fuzzer cannot forge a
        # signature): its mutations reach the field rules past the signature.
        key = {b"T": TH_KEY, b"K": KH_KEY, b"H": HUB_KEY}[data[:1]]
        message = data[1:]
        sig = Signature(_key_id(key), key.sign(pae(MATCH_PAYLOAD_TYPE, message)))
        wire = {"message": message, "signature": sig.to_record()}
        data = frame("match_signed", part("match_signed").encode(wire))
    return open_message(data, KEYS, now_ms=T0 + 1000)


def match_exchange(data: bytes) -> object:
    """A record of the match request topic through the hub's exchange, and an index entry.

    The first part goes through ``hub.matching.exchange.process`` (which must
    never raise), the second through ``IndexEntry.from_json_bytes`` (the index
    topic the hub reads back at its start).
    """
    from hub.decision import SourceRef
    from hub.matching.exchange import IndexEntry, MatchIndex, process
    from hub.topics import Topics
    from tests.support.wire import HUB_KEY, KEYS

    parts = [*split(data, 2), b"", b""]
    topics = Topics("fz")
    outcome = process(
        parts[0],
        SourceRef(topics.match_requests, 0, 1),
        index=MatchIndex(),
        topics=topics,
        keys=KEYS,
        hub_key=HUB_KEY,
        now_ms=T0 + 1000,
    )
    if parts[1]:
        IndexEntry.from_json_bytes(parts[1])
    return outcome


def statistics_report(data: bytes) -> object:
    """A statistics_report payload's Avro body, decoded, then checked as a node sums it.

    ``hub.stats.interior_of`` reads another country's signed counts: it must
    refuse what does not fit (TrmError), never crash.
    """
    from hub.errors import Reason, WireError
    from hub.stats import Period, interior_of
    from hub.wire.codec import decode_exact, parsed

    try:
        value = decode_exact(parsed("statistics_report"), data)
    except ValueError as exc:
        raise WireError(Reason.MALFORMED_AVRO, f"statistics_report: {exc}"[:200]) from None
    try:
        period = Period.parse(str(value.get("period") or ""))
    except TrmError:
        period = Period.parse("2026-Q3")
    return interior_of(value, period)


def jcs_diff(data: bytes) -> object:
    """hub.signed_doc.canonical_json and :func:`independent_jcs` agree on every JSON value."""
    from hub.signed_doc import canonical_json
    from hub.textdoc import parse_json

    value = parse_json(data, what="json", max_bytes=1 << 20)
    answers: list[bytes | None] = []
    for canon in (canonical_json, independent_jcs):
        try:
            answers.append(canon(value))
        except ValueError:
            answers.append(None)
    if answers[0] != answers[1]:
        raise Disagreement(
            f"canonical JSON differs for {data[:200]!r}: hub {answers[0]!r:.200} "
            f"independent {answers[1]!r:.200}"
        )
    # A JSON number is a double (RFC 8785 3.2.2.3): read back, it must be the same doubles.
    if answers[0] is not None and _doubles(json.loads(answers[0])) != _doubles(value):
        raise Disagreement(f"canonical JSON of {data[:200]!r} reads back as another value")
    return answers[0]


# --- the registry ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A fuzz target: the function, the parsers it reaches, what to instrument, its input limit.

    ``instrument`` names the modules (and packages) whose code is instrumented
    for coverage; the runner imports them before the target runs. Only these:
    instrumenting all of ``hub`` costs 10 s of start-up per target.
    """

    name: str
    run: Callable[[bytes], object]
    parsers: tuple[str, ...]
    instrument: tuple[str, ...]
    max_len: int = 8192
    # Refusals besides TrmError that a door documents (the importer's row errors).
    also_allowed: tuple[str, ...] = ()


_WIRE: Final = ("hub.wire",)

TARGETS: Final[dict[str, Target]] = {
    t.name: t
    for t in (
        Target(
            "envelope",
            envelope,
            (
                "hub.wire.envelope.Envelope.from_bytes",
                "hub.wire.verify.open_envelope",
                "hub.wire.verify.verification_result",
                "hub.wire.verify.verify",
                "hub.wire.verify.unseal",
            ),
            _WIRE,
            max_len=16384,
        ),
        Target(
            "envelope_resigned",
            envelope_resigned,
            (
                "hub.wire.verify.verify",
                "hub.wire.verify.verify_attestation",
                "hub.wire.verify.unseal",
            ),
            _WIRE,
            max_len=16384,
        ),
        Target("header", header, ("hub.wire.envelope.Header.from_bytes",), _WIRE),
        Target(
            "disclosures",
            disclosures,
            (
                "hub.wire.disclosures.Disclosure.from_bytes",
                "hub.wire.disclosures.parse_disclosures",
            ),
            _WIRE,
        ),
        Target(
            "sealed_parts",
            sealed_parts,
            (
                "hub.wire.disclosures.SealedDisclosure.from_bytes",
                "hub.wire.disclosures.KeyWrap.from_bytes",
                "hub.wire.disclosures.parse_sealed",
                "hub.wire.disclosures.parse_key_wraps",
            ),
            _WIRE,
        ),
        Target("unseal", unseal, ("hub.wire.sealing.open_sealed",), _WIRE),
        Target(
            "attestation",
            attestation,
            ("hub.wire.envelope.Attestation.from_parts", "hub.wire.verify.verify_attestation"),
            _WIRE,
        ),
        Target(
            "trust_list",
            trust_list,
            ("hub.trust.TrustList.from_bytes", "hub.signed_doc.SignedDocument.from_bytes"),
            ("hub.trust", "hub.signed_doc", "hub.textdoc", "hub.keys"),
        ),
        Target(
            "seal_keys",
            seal_keys,
            ("hub.sealkeys.SealKeySet.from_signed", "hub.sealkeys.SealKeyDirectory.from_documents"),
            ("hub.sealkeys", "hub.signed_doc", "hub.textdoc", "hub.trust"),
        ),
        Target(
            "agreement",
            agreement,
            (
                "hub.policy.agreement.parse_agreement",
                "hub.policy.agreement.SignedAgreement.missing_parties",
            ),
            ("hub.policy.agreement", "hub.signed_doc", "hub.textdoc"),
            max_len=16384,
        ),
        Target(
            "checkpoint",
            checkpoint,
            (
                "hub.audit.note.SignedNote.from_bytes",
                "hub.audit.note.Checkpoint.parse",
                "hub.audit.note.verify_checkpoint",
                "hub.audit.note.verify_cosignature",
            ),
            ("hub.audit.note",),
        ),
        Target(
            "proof",
            proof,
            ("hub.audit.witness.check_proof", "hub.audit.witness.Seen.from_json"),
            ("hub.audit.witness", "hub.audit.note", "hub.audit.merkle", "hub.textdoc"),
        ),
        Target(
            "flows",
            flows,
            ("hub.audit.flows.Flows.from_json",),
            ("hub.audit.flows", "hub.textdoc"),
        ),
        Target(
            "audit_leaf",
            audit_leaf,
            ("hub.audit.leaf.AuditLeaf.from_bytes",),
            ("hub.audit.leaf", "hub.decision", "hub.wire.codec"),
        ),
        Target(
            "decision",
            decision,
            (
                "hub.decision.DecisionRecord.from_json_bytes",
                "hub.decision.EffectId.parse",
                "hub.decision.SourceRef.parse",
            ),
            ("hub.decision",),
        ),
        Target(
            "rejection",
            rejection,
            ("connectors.sdk.records.Rejection.from_bytes",),
            ("connectors.sdk.records", "hub.textdoc"),
        ),
        Target(
            "state_records",
            state_records,
            ("hub.state.parse_taken_in", "hub.state.Bookmark.from_record"),
            ("hub.state", "hub.decision"),
        ),
        Target(
            "gateway_body",
            gateway_body,
            (
                "connectors.sdk.submission.Submission.from_json",
                "hub.wire.jsonmap.payload_from_json",
            ),
            ("connectors.sdk.submission", "hub.textdoc", "hub.wire.jsonmap", "hub.wire.seal"),
        ),
        Target(
            "importer_rows",
            importer_rows,
            (
                "connectors.importer.run.read_rows",
                "connectors.importer.mapping.Mapping_.payload_of",
            ),
            ("connectors.importer", "connectors.sdk.submission", "hub.wire.jsonmap"),
            also_allowed=("connectors.importer.mapping.RowError",),
        ),
        Target(
            "importer_mapping",
            importer_mapping,
            (
                "connectors.importer.mapping.read_mapping",
                "connectors.importer.mapping.load_mapping",
            ),
            ("connectors.importer.mapping", "hub.textdoc"),
        ),
        Target(
            "textdoc",
            textdoc,
            ("hub.textdoc.parse_json", "hub.textdoc.parse_yaml"),
            ("hub.textdoc",),
        ),
        Target(
            "match_inputs",
            match_inputs,
            ("hub.matching.keys.match_inputs",),
            ("hub.matching.keys", "hub.matching.mrz", "hub.matching.romanise"),
            max_len=1024,
        ),
        Target(
            "avro_diff",
            avro_diff,
            ("hub.wire.codec.Compiled.decode",),
            ("hub.wire.codec", "hub.wire.avrofast"),
        ),
        Target(
            "match_message",
            match_message,
            ("hub.matching.messages.open_message",),
            ("hub.matching.messages", "hub.wire.codec", "hub.wire.verify"),
            max_len=16384 + 16,
        ),
        Target(
            "statistics_report",
            statistics_report,
            ("hub.stats.report.interior_of",),
            ("hub.stats", "hub.wire.codec"),
        ),
        Target(
            "match_exchange",
            match_exchange,
            ("hub.matching.exchange.process", "hub.matching.exchange.IndexEntry.from_json_bytes"),
            ("hub.matching", "hub.textdoc"),
            max_len=16384 + 1024,
        ),
        Target(
            "match_partials",
            match_partials,
            (
                "hub.matching.threshold.PartialEvaluation.from_bytes",
                "hub.matching.threshold.verify_partial",
                "hub.matching.threshold.examine",
            ),
            ("hub.matching.threshold", "hub.matching.oprf"),
            max_len=1024,
        ),
        Target(
            "match_files",
            match_files,
            ("hub.matching.ceremony.parse_public", "hub.matching.ceremony.parse_share"),
            ("hub.matching.ceremony", "hub.matching.threshold", "hub.textdoc"),
        ),
        Target(
            "jcs_diff",
            jcs_diff,
            ("hub.signed_doc.canonical_json",),
            ("hub.signed_doc", "hub.textdoc", "rfc8785"),
        ),
    )
}

# Every parser of outside bytes or text; each must be reached by a target.
REQUIRED: Final = (
    "hub.wire.envelope.Envelope.from_bytes",
    "hub.wire.envelope.Header.from_bytes",
    "hub.wire.disclosures.Disclosure.from_bytes",
    "hub.wire.disclosures.SealedDisclosure.from_bytes",
    "hub.wire.disclosures.KeyWrap.from_bytes",
    "hub.wire.envelope.Attestation.from_parts",
    "hub.wire.verify.open_envelope",
    "hub.wire.verify.verify",
    "hub.wire.verify.verify_attestation",
    "hub.wire.verify.unseal",
    "hub.wire.sealing.open_sealed",
    "hub.trust.TrustList.from_bytes",
    "hub.sealkeys.SealKeySet.from_signed",
    "hub.sealkeys.SealKeyDirectory.from_documents",
    "hub.policy.agreement.parse_agreement",
    "hub.audit.note.SignedNote.from_bytes",
    "hub.audit.note.Checkpoint.parse",
    "hub.audit.note.verify_checkpoint",
    "hub.audit.note.verify_cosignature",
    "hub.audit.witness.check_proof",
    "hub.audit.witness.Seen.from_json",
    "hub.audit.leaf.AuditLeaf.from_bytes",
    "hub.audit.flows.Flows.from_json",
    "hub.decision.DecisionRecord.from_json_bytes",
    "hub.decision.EffectId.parse",
    "hub.decision.SourceRef.parse",
    "hub.textdoc.parse_json",
    "hub.textdoc.parse_yaml",
    "connectors.sdk.submission.Submission.from_json",
    "connectors.importer.run.read_rows",
    "connectors.importer.mapping.load_mapping",
    "connectors.sdk.records.Rejection.from_bytes",
    "hub.state.parse_taken_in",
    "hub.state.Bookmark.from_record",
    "hub.signed_doc.canonical_json",
    "hub.matching.messages.open_message",
    "hub.matching.exchange.IndexEntry.from_json_bytes",
    "hub.matching.keys.match_inputs",
    "hub.matching.threshold.PartialEvaluation.from_bytes",
    "hub.matching.ceremony.parse_public",
    "hub.matching.ceremony.parse_share",
)

# Functions whose names look like parsers but that take no bytes from outside the
# process, or only through a door fuzzed above; each with why.
_FILES = "reads a file through "
_BODY = (
    "an aiohttp request; its body goes to hub.textdoc.parse_json and then Submission, "
    "as gateway_body fuzzes"
)
NOT_A_DOOR: Final[dict[str, str]] = {
    "hub.app.audit_source.read_replay_input": "Kafka I/O; each record goes to a parser above",
    "hub.app.kafka.read_all": "Kafka I/O: reads records, parses none of them",
    "hub.app.seal_registry.read_seal_keys": "Kafka I/O; then SealKeyDirectory.from_documents",
    "hub.cases.timeline.CaseEvent.from_record": (
        "the node's own vault records (0600), written after each event verified and opened"
    ),
    "hub.conformance.base.read_json": "the project's own vector files (conformance kit)",
    "hub.conformance.policy.load_registry": "the project's own policy vectors (conformance kit)",
    "hub.decision.DecisionRecord.from_mapping": "the half of from_json_bytes after JSON (decision)",
    "hub.audit.flows.FlowCount.from_json": "one count of Flows.from_json (flows target)",
    "hub.audit.flows.AckTime.from_json": "one time of Flows.from_json (flows target)",
    "hub.keys.load_private_key": "this node's own key file, written by `trm keys` with mode 0600",
    "hub.keys.load_seal_private_key": "this node's own seal key file, written by `trm keys`",
    "hub.ops.broker.load_cluster": "the cluster.json `trm kafka up` wrote in the state directory",
    "hub.ops.security.load_material": "TLS and SASL material the operator configures",
    "hub.policy.agreement.parse_time_ms": "a helper of load_agreement on already-validated text",
    "hub.policy.agreement.load_agreement": "the half of parse_agreement after YAML (agreement)",
    "hub.policy.agreement.load_agreement_file": _FILES + "parse_agreement (agreement target)",
    "hub.sealkeys.SealKey.from_json": "one entry of a seal-key set (seal_keys target)",
    "hub.signed_doc.parse_json": "hub.textdoc.parse_json with ValueError (trust_list, seal_keys)",
    "hub.signed_doc.SignedDocument.from_json": "the half of from_bytes after the JSON (trust_list)",
    "hub.textdoc.decode_text": "the first step of parse_json and parse_yaml (textdoc target)",
    "hub.trust.TrustList.from_signed": "the half of from_bytes after the JSON (trust_list target)",
    "hub.trust.load_trust_file": _FILES + "TrustList.from_bytes (trust_list target)",
    "hub.trust.load_public_key_file": "a PEM public key the operator gives `trm trust build`",
    "hub.wire.avrofast.read_long": "inside every compiled reader (avro_diff, envelope targets)",
    "hub.wire.codec.decode_exact": "fastavro's side of Compiled.decode (avro_diff compares both)",
    "hub.wire.codec.unframe": "the frame check of every single-object part (header, audit_leaf)",
    "hub.wire.codec.FieldCodec.decode": "a disclosure's value in verify and unseal (unseal)",
    "hub.wire.envelope.Header.from_record": "the half of Header.from_bytes after Avro (header)",
    "hub.wire.disclosures.read_varint": "inside parse_disclosures (disclosures target)",
    "hub.wire.envelope.Attestation.from_record": "the half of from_parts after Avro (attestation)",
    "hub.wire.eventtypes.EventTypeSpec.from_json": "a deployment's event-type config (operator)",
    "hub.wire.jsonmap.from_json_value": "inside payload_from_json (gateway_body, importer_rows)",
    "connectors.cli.agreements.load_directory": _FILES + "load_agreement_file, for each file",
    "connectors.cli.event.load_trust": _FILES + "hub.trust.load_trust_file (trust_list target)",
    "connectors.gateway.app.read_json": _BODY,
    "connectors.sdk.followup.FollowupRequest.from_record": "this node's own vault record, "
    "written by InboxRecord.to_json after the event verified and decoded against its schema",
    "connectors.cli.files.read_input": "reads a file, bounded; its bytes go to a parser above",
    "connectors.cli.files.read_json_input": _FILES + "hub.textdoc.parse_json (textdoc target)",
    "connectors.importer.mapping.load_mapping_file": _FILES + "read_mapping (importer_mapping)",
    "connectors.sdk.node.CountryNode.read_inbox": "Kafka I/O; each record goes to open_envelope",
    "connectors.gateway.desk.DeskView.load_journal": "the node's own journal, already decoded",
    "connectors.gateway.i18n.load_catalogues": _FILES + "Babel's read_po: the desk's own "
    "gettext catalogues in connectors/static/i18n, which the operator edits (not a request)",
    "connectors.sdk.store.VaultEntry.from_json": "the node's own vault file, which it writes",
    "hub.matching.ceremony.load_public": _FILES + "parse_public (match_files target)",
    "hub.matching.ceremony.load_share": _FILES + "parse_share (match_files target)",
    "hub.matching.evaluator.BudgetLedger.from_json": "the evaluator's own ledger (0600) it writes",
    "hub.stats.indicators.Period.parse": "the operator's --period flag (or a report's period, "
    "after the statistics_report target's decode): one anchored regex",
    "connectors.cli.stats.load_flows": _FILES + "hub.audit.flows.Flows.from_json, the "
    "auditor's own replay report",
}


@cache
def allowed(target: Target) -> tuple[type[BaseException], ...]:
    """The exception classes that are refusals (not crashes) for ``target``."""
    import importlib

    out: list[type[BaseException]] = [TrmError]
    for dotted in target.also_allowed:
        module, _, name = dotted.rpartition(".")
        out.append(getattr(importlib.import_module(module), name))
    return tuple(out)


def run_one(target: Target, data: bytes) -> None:
    """Run ``target`` on ``data``; a refusal is fine, any other exception propagates."""
    try:
        target.run(data)
    except allowed(target):
        pass
