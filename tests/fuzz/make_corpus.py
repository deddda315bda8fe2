"""Rebuild the seed corpus ``tests/fuzz/corpus/<target>/`` from the vectors (deterministic).

Every seed is cut from ``tests/vectors`` and ``schemas/examples`` (or from the
importer's example files), so a fuzz run starts from inputs each door
accepts or refuses for a known reason. File names are the SHA-1 of the
content, as libFuzzer names what it adds. Rerunning writes the same files;
``tests/unit/test_fuzz_smoke.py`` checks that it does.

Run: ``python -m tests.fuzz.make_corpus``
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.fuzz.targets import AVRO_PARTS, ROOT, T0, TARGETS, VECTORS, join

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLES = ROOT / "schemas" / "examples"
IMPORTER = ROOT / "connectors" / "importer" / "examples"


def _vectors(folder: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((VECTORS / folder).glob("*.json")):
        yield path.stem, json.loads(path.read_text())


def _envelopes() -> list[bytes]:
    out = []
    for folder in ("wire", "sealed"):
        for _name, doc in _vectors(folder):
            if "envelope" in doc:
                out.append(bytes.fromhex(doc["envelope"]))
    return out


def _parsed() -> list[Any]:
    from hub.errors import TrmError
    from hub.wire import Envelope

    out = []
    for raw in _envelopes():
        try:
            out.append(Envelope.from_bytes(raw))
        except TrmError:
            continue
    return out


def _documents(folder: str) -> list[bytes]:
    """The signed documents of a vector folder, as their files hold them."""
    out = []
    for _name, doc in _vectors(folder):
        if "document_text" in doc:
            out.append(doc["document_text"].encode())
        elif "document" in doc:
            out.append(json.dumps(doc["document"]).encode())
    return out


def _json_docs() -> list[bytes]:
    docs = [(VECTORS / f / "trust.json").read_bytes() for f in ("wire", "sealed", "policy")]
    return docs + _documents("trust")[:12] + _documents("seal-keys")[:4]


def _examples() -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))}


def _csv_rows() -> list[dict[str, str]]:
    text = (IMPORTER / "th-referrals.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def seeds() -> dict[str, list[bytes]]:
    """Every target's seeds."""
    from hub.audit.leaf import AuditLeaf
    from hub.wire import payload_from_json
    from hub.wire.codec import encode, parsed
    from hub.wire.sealing import padded_size
    from tests.support.wire import private_keys

    envelopes = _envelopes()
    parsed_envs = _parsed()
    sealed = [e for e in parsed_envs if e.is_sealed]
    out: dict[str, list[bytes]] = {name: [] for name in TARGETS}
    out["envelope"] = envelopes
    out["envelope_resigned"] = envelopes
    out["header"] = sorted({e.header_bytes for e in parsed_envs})
    out["disclosures"] = [join([d.raw for d in e.disclosures]) for e in parsed_envs]
    out["sealed_parts"] = [b"\0" + join([s.raw for s in e.sealed]) for e in sealed] + [
        b"\1" + join([w.raw for w in e.key_wraps]) for e in sealed
    ]
    out["attestation"] = sorted({a.statement for e in parsed_envs for a in e.attestations})

    from hub.errors import TrmError
    from hub.wire.codec import payload_codec
    from hub.wire.sealing import open_sealed

    names = sorted(payload_codec("referral").codecs)
    for e in sealed:
        wraps = [w for w in e.key_wraps if w.recipient == "KH"]
        if not wraps or e.header.event_type.value != "referral":
            continue
        try:
            opened = open_sealed(
                e.sealed,
                wraps[0],
                private_keys("KH")(wraps[0].key_id),
                event_id=e.header.event_id,
            )
        except TrmError:
            continue
        control = b"".join(
            bytes([names.index(d.field), padded_size(len(d.raw)) - len(d.raw)]) for d in opened[:8]
        )
        out["unseal"].append(join([control, *(d.raw for d in opened[:8])]))

    out["trust_list"] = _json_docs()[:3] + _documents("trust")
    out["seal_keys"] = _documents("seal-keys")
    out["agreement"] = [
        p.read_bytes() for p in sorted((VECTORS / "policy" / "agreements").glob("*.yaml"))
    ]
    audit = dict(_vectors("audit"))
    out["checkpoint"] = [
        d["note"].encode()
        for n, d in audit.items()
        if n.startswith(("checkpoint-", "cosignature-"))
    ]
    out["proof"] = [
        json.dumps(d["answer"]).encode() for n, d in audit.items() if n.startswith("proof-")
    ]
    leaves = [bytes.fromhex(d["leaf"]) for n, d in audit.items() if n.startswith("leaf-")]
    out["audit_leaf"] = leaves
    from hub.audit.flows import AckTime, FlowCount, Flows

    referral = "01943d1a-6c00-7000-8000-0000000000f1"
    out["flows"] = [
        json.dumps(Flows((), ()).to_json()).encode(),
        json.dumps(
            Flows(
                (FlowCount("TH", "KH", "referral", "2026-01", 2, 1, (3, 5, 7)),),
                (AckTime("TH", "KH", "referral", referral, T0, T0 + 3_600_000, 3, 9),),
                (AckTime("TH", "KH", "referral", referral, T0, T0 + 7_200_000, 3, 11),),
            ).to_json()
        ).encode(),
    ]
    for raw in leaves:
        try:
            out["decision"].append(AuditLeaf.from_bytes(raw).record.to_json_bytes())
        except TrmError:
            continue
    examples = _examples()
    out["gateway_body"] = [
        json.dumps(
            {"type": name, "to": ["KH"], "case_key": "case-0042", "payload": payload}
        ).encode()
        for name, payload in examples.items()
    ]
    from connectors.sdk.records import Rejection
    from hub.decision import SourceRef
    from hub.state import Bookmark, taken_in_record

    event_id = "01943d1a-6c00-7000-8000-00000000000a"
    out["rejection"] = [
        json.dumps(Rejection(event_id, "TH", "KH", r, "detail", "t/0/1").to_json()).encode()
        for r in ("CHILD_PROTECTION", "BAD_SIGNATURE")
    ]
    source = SourceRef("trm.TH.outbox", 2, 41)
    bookmark = Bookmark("trm.TH.outbox", 2, 0, T0, 42, 40, {"trm.decisions/0": 7})
    out["state_records"] = [
        join(taken_in_record("TH", event_id, source, T0)),
        join([bookmark.key, bookmark.to_bytes()]),
    ]
    rows = _csv_rows()
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    out["importer_rows"] = [b"\0" + (IMPORTER / "th-referrals.csv").read_bytes(), b"\1" + jsonl]
    out["importer_mapping"] = [(IMPORTER / "th-referrals.map.yaml").read_bytes()]
    out["textdoc"] = [b"\0" + d for d in _json_docs()[:6]] + [
        b"\1" + d for d in out["agreement"][:4]
    ]
    avro: list[bytes] = []
    for e in parsed_envs[:24]:
        index = AVRO_PARTS.index("envelope" if e.is_sealed else "envelope@1")
        avro.append(bytes([index]) + e.raw[10:])
        avro.append(bytes([AVRO_PARTS.index("header")]) + e.header_bytes[10:])
        for s in e.sealed[:2]:
            avro.append(bytes([AVRO_PARTS.index("sealed_disclosure")]) + s.raw)
        for w in e.key_wraps[:2]:
            avro.append(bytes([AVRO_PARTS.index("key_wrap")]) + w.raw)
        for a in e.attestations[:1]:
            avro.append(bytes([AVRO_PARTS.index("attestation_statement")]) + a.statement[10:])
    for raw in leaves:
        avro.append(bytes([AVRO_PARTS.index("audit_leaf")]) + raw[10:])
    for name, payload in examples.items():
        body = encode(parsed(name), payload_from_json(name, payload))
        avro.append(bytes([AVRO_PARTS.index(name)]) + body)
    out["avro_diff"] = avro
    from hub.matching.messages import MatchMessageKind
    from tests.support.matching import sample
    from tests.support.matching import sealed as sealed_match

    out["match_message"] = [sealed_match(sample(kind)) for kind in MatchMessageKind] + [
        {"TH": b"T", "KH": b"K", "hub": b"H"}[sample(kind).sender] + sample(kind).encode()
        for kind in MatchMessageKind
    ]
    from hub.matching.exchange import IndexEntry, index_key
    from tests.support.matching import REF, match_key

    entry = IndexEntry("KH", REF, "phone", "suspect", T0 + 10**9, (index_key(match_key(1)),))
    out["match_exchange"] = [join([m, entry.to_json_bytes()]) for m in out["match_message"]]
    stats = {k: v for k, v in examples.items() if k == "statistics_report"}
    out["statistics_report"] = [
        encode(parsed(name), payload_from_json(name, payload)) for name, payload in stats.items()
    ]
    numbers = b"[0,-0.0,1e21,1e20,1e-7,1e-6,0.1,-5e-324,1.7976931348623157e308,9007199254740991]"
    out["jcs_diff"] = [
        numbers,
        b'{"\\u20ac":1,"\\r":2,"\\ud83d\\ude00":3,"a\\u0001":[true,false,null,"\\u000f"]}',
        *_json_docs()[:6],
        *out["gateway_body"][:3],
    ]
    kinds = {"phone": 0, "document": 1, "name": 2}
    records = json.loads((VECTORS / "matching" / "records.json").read_text(encoding="utf-8"))
    out["match_inputs"] = [bytes([kinds[r["kind"]]]) + r["value"].encode() for r in records]
    out["match_partials"], out["match_files"] = _match_seeds()
    return {name: _unique(s) for name, s in out.items()}


def _match_seeds() -> tuple[list[bytes], list[bytes]]:
    """Partial evaluations of the fuzz fixture's shares, and its public part and share files."""
    from hub.matching import oprf
    from hub.matching.ceremony import MatchPublic
    from hub.matching.threshold import deal, partial_evaluate

    def scalar(label: str) -> bytes:
        return oprf.scalar_reduce(hashlib.sha512(label.encode()).digest())

    key, a1, a2 = (scalar(f"fuzz/{j}") for j in (0, 1, 2))
    commitments, shares = deal(key, 3, (1, 2, 3, 4, 5, 6), coefficients=[a1, a2])
    blinded = oprf.blind(b"fuzz", blind=a1)[1]
    r = scalar("fuzz/r")
    partials = [partial_evaluate(s, commitments, blinded, r=r).to_bytes() for s in shares]
    partial_seeds = [join(partials[:3]), join([blinded, *partials[2:5]]), join(partials[:2])]
    members = dict(zip(("CN", "KH", "LA", "MM", "TH", "VN"), range(1, 7), strict=True))
    public = MatchPublic(3, members, commitments, epoch=0, created_at_ms=T0)
    share = {
        "type": "trm.match-share/v1",
        "country": "TH",
        "index": 5,
        "epoch": 0,
        "threshold": 3,
        "commitments": [c.hex() for c in commitments.coefficients],
        "share": shares[4].scalar.hex(),
    }
    return partial_seeds, [public.to_json(), json.dumps(share, indent=2).encode()]


def _unique(items: Iterable[bytes]) -> list[bytes]:
    return sorted(set(items))


def write(root: Path = CORPUS) -> int:
    """Write every seed under ``root`` (replacing what was there); the total bytes."""
    total = 0
    for name, items in seeds().items():
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for item in items:
            (folder / hashlib.sha1(item).hexdigest()).write_bytes(item)  # noqa: S324 - a name
            total += len(item)
    return total


if __name__ == "__main__":
    size = write()
    print(f"wrote {sum(1 for _ in CORPUS.rglob('*') if _.is_file())} seeds, {size} bytes")
    sys.exit(0)
