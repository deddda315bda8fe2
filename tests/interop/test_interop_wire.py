"""Interop with peers no one here wrote: Apache avro, OpenSSL, securesystemslib, cloudevents."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib import dsse
from securesystemslib.signer import Signature as SslibSignature  # type: ignore[attr-defined]
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

import schemas
from hub.keys import raw_public
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    Envelope,
    EventType,
    cloudevents_headers,
    pae,
    payload_from_json,
    payload_record_bytes,
    verify,
)
from tests.support.wire import KEYS, T0, TH_KEY, sealed, sealed_v2


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
        # {"type": "long"} -> "long": the PCF [PRIMITIVES] rule, which avro 1.12
        # (Python) does not apply by itself.
        return out["type"] if set(out) == {"type"} and isinstance(out["type"], str) else out
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


def reference_schema(name: str) -> Any:
    # Logical types removed so the reference library returns plain ints and
    # strings, as ours does; the encoding is the same either way.
    return avro.schema.parse(json.dumps(_strip_logical(schemas.load(name))))


def reference_decode(name: str, body: bytes) -> Any:
    decoder = avro.io.BinaryDecoder(io.BytesIO(body))
    return avro.io.DatumReader(reference_schema(name)).read(decoder)


def example(event_type: str) -> Envelope:
    raw = json.loads((schemas.SCHEMA_DIR / "examples" / f"{event_type}.json").read_text())
    return sealed(payload_from_json(event_type, raw), event_type=event_type)


@pytest.mark.parametrize("event_type", [t.value for t in EventType])
def test_apache_avro_decodes_envelope_header_disclosures_and_payload(event_type: str) -> None:
    env = example(event_type)
    raw = env.to_bytes()
    # Single-object framing: C3 01 + the reference library's CRC-64-AVRO.
    assert raw[:2] == b"\xc3\x01"
    # An unsealed (v1) event: framed with the released v1 envelope schema.
    assert raw[2:10] == reference_schema("envelope@1").fingerprint()
    outer = reference_decode("envelope@1", raw[10:])
    assert outer["header"] == env.header_bytes
    assert outer["signature"]["key_id"] == env.signature.key_id
    assert outer["disclosures"] == [d.raw for d in env.disclosures]
    hb = outer["header"]
    # avro 1.12 (Python) prints a named type in full at its second use in its
    # PCF (the spec and Java print the name), so its fingerprint of the header
    # schema differs; its CRC-64-AVRO over the spec's PCF must still match.
    pcf = schemas.canonical_form("header").encode()
    assert hb[2:10] == avro.schema._crc_64_fingerprint(pcf)
    assert (
        avro.schema.parse(pcf.decode()).canonical_form.replace(
            '{"name":"trm.v1.Sha256","type":"fixed","size":32}}}', '"trm.v1.Sha256"}}'
        )
        == pcf.decode()
    )
    header = reference_decode("header", hb[10:])
    assert header["event_id"] == env.header.event_id
    assert header["created_at"] == T0
    assert header["disclosure_digests"] == list(env.header.disclosure_digests)
    assert header["payload_schema"] == reference_schema(event_type).fingerprint("sha256")
    for d in env.disclosures:
        rec = reference_decode("disclosure", d.raw)
        assert (rec["salt"], rec["field"], rec["value"]) == (d.salt, d.field, d.value)
    event = verify(env, KEYS)
    payload = reference_decode(event_type, payload_record_bytes(event))
    assert {k: v for k, v in payload.items() if v is not None} == dict(event.fields)


def test_openssl_verifies_the_producer_signature_over_pae(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed for this interop test (apt-get install openssl)"
    env = sealed()
    pub = tmp_path / "th.pub.pem"
    pub.write_bytes(
        TH_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    msg = tmp_path / "pae.bin"
    msg.write_bytes(pae(HEADER_PAYLOAD_TYPE, env.header_bytes))
    sig = tmp_path / "sig.bin"
    sig.write_bytes(env.signature.sig)
    cmd = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin"]
    good = subprocess.run(
        [*cmd, "-in", str(msg), "-sigfile", str(sig)], capture_output=True, check=False
    )
    assert good.returncode == 0, good.stdout + good.stderr
    msg.write_bytes(pae(HEADER_PAYLOAD_TYPE, env.header_bytes + b"\x00"))
    bad = subprocess.run(
        [*cmd, "-in", str(msg), "-sigfile", str(sig)], capture_output=True, check=False
    )
    assert bad.returncode != 0


def test_securesystemslib_dsse_verifies_the_header_signature() -> None:
    env = sealed()
    key = SSlibKey(
        keyid=env.signature.key_id,
        keytype="ed25519",
        scheme="ed25519",
        keyval={"public": raw_public(TH_KEY.public_key()).hex()},
    )
    envelope = dsse.Envelope(
        payload=env.header_bytes,
        payload_type=HEADER_PAYLOAD_TYPE,
        signatures={
            env.signature.key_id: SslibSignature(env.signature.key_id, env.signature.sig.hex())
        },
    )
    assert envelope.pae() == pae(HEADER_PAYLOAD_TYPE, env.header_bytes)
    accepted = envelope.verify([key], 1)
    assert set(accepted) == {env.signature.key_id}
    envelope.payload = env.header_bytes[:-1] + bytes([env.header_bytes[-1] ^ 1])
    with pytest.raises(Exception, match=r"(?i)verif|threshold"):
        envelope.verify([key], 1)


def test_cloudevents_library_reads_the_kafka_headers() -> None:
    from cloudevents.v1.kafka import KafkaMessage, from_binary

    env = sealed()
    headers = dict(cloudevents_headers(env.header))
    event: Any = from_binary(
        KafkaMessage(headers=headers, key=env.header.case_key, value=env.to_bytes()),
        data_unmarshaller=lambda data: data,
    )
    assert event["id"] == env.header.event_id
    assert event["source"] == "urn:trm:TH"
    assert event["type"] == "trm.referral.v1"
    assert event["specversion"] == "1.0"
    assert str(event["time"]).startswith("2026-01-01T00:00:00")
    assert event["datacontenttype"] == "application/vnd.trm.envelope.v1+avro"
    assert event["dataschema"].endswith(env.header.payload_schema.hex())
    assert event.data == env.to_bytes()


@pytest.mark.parametrize("event_type", ["referral", "acknowledgement"])
def test_apache_avro_decodes_a_sealed_envelope_and_its_parts(event_type: str) -> None:
    raw_payload = json.loads((schemas.SCHEMA_DIR / "examples" / f"{event_type}.json").read_text())
    env = sealed_v2(
        payload_from_json(event_type, raw_payload), event_type=event_type, recipients=("KH", "LA")
    )
    raw = env.to_bytes()
    assert raw[2:10] == reference_schema("envelope").fingerprint()
    outer = reference_decode("envelope", raw[10:])
    assert outer["disclosures"] == [d.raw for d in env.disclosures]
    assert outer["sealed"] == [s.raw for s in env.sealed]
    assert outer["key_wraps"] == [w.raw for w in env.key_wraps]
    listed = set(reference_decode("header", outer["header"][10:])["disclosure_digests"])
    for s in env.sealed:
        rec = reference_decode("sealed_disclosure", s.raw)
        assert (rec["field"], rec["commitment"], rec["nonce"], rec["ciphertext"]) == (
            s.field,
            s.commitment,
            s.nonce,
            s.ciphertext,
        )
        assert hashlib.sha256(b"trm.sealed.v2\x00" + s.raw).digest() in listed
    for w in env.key_wraps:
        rec = reference_decode("key_wrap", w.raw)
        assert (rec["recipient"], rec["key_id"], rec["enc"], rec["wrapped"]) == (
            w.recipient,
            w.key_id,
            w.enc,
            w.wrapped,
        )
        assert hashlib.sha256(b"trm.key-wrap.v2\x00" + w.raw).digest() in listed
