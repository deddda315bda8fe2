"""Wire-format benchmark: seal, open (parse + verify), redact on a typical referral.

Prints µs/op and events/s for each, and the ratio of ``open`` to a bare
Ed25519 verify measured in the same run (the floor any verifier pays).
Run: ``python tests/bench/bench_wire.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from hub.keys import KeyRole, PublicKey, key_id_of, raw_public
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    Envelope,
    attest,
    pae,
    payload_from_json,
    redact,
    seal,
    verify,
    verify_attestation,
)

T0 = 1_767_225_600_000


class _Keys:
    def __init__(self, keys: list[PublicKey]) -> None:
        self._by_id = {k.key_id: k for k in keys}

    def key(self, key_id: str) -> PublicKey | None:
        return self._by_id.get(key_id)

    def keys_for(self, country: str, role: KeyRole, at_ms: int) -> list[PublicKey]:
        return [k for k in self._by_id.values() if k.country == country and role in k.roles]


def _public(key: Ed25519PrivateKey, country: str, role: KeyRole) -> PublicKey:
    raw = raw_public(key.public_key())
    return PublicKey(key_id_of(raw), country, frozenset({role}), raw, 0)


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    """Mean µs per call over about ``seconds`` (after a short warm-up)."""
    for _ in range(50):
        fn()
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        n += 100
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args(argv)
    producer = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench:TH").digest())
    hub = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench:HUB").digest())
    keys = _Keys([_public(producer, "TH", KeyRole.PRODUCER), _public(hub, "HUB", KeyRole.HUB)])
    example = json.loads((schemas.SCHEMA_DIR / "examples" / "referral.json").read_text("utf-8"))
    payload = payload_from_json("referral", example)

    def do_seal() -> Envelope:
        return seal(
            "referral",
            payload,
            producer="TH",
            key=producer,
            recipients=["KH"],
            purpose="repatriation",
            handling="H2",
            case_key="case-bench",
            sequence=1,
            created_at_ms=T0,
        )

    envelope = do_seal()
    raw = envelope.to_bytes()
    keep = ["is_child", "consent", "needs", "names", "languages", "receiving_organisation"]
    delivered = attest(
        redact(envelope, keep),
        recipient="KH",
        agreement_id="TH-KH",
        agreement_version=1,
        fields=keep,
        leaf_ref="1",
        hub_key=hub,
        attested_at_ms=T0,
    ).to_bytes()
    message = pae(HEADER_PAYLOAD_TYPE, envelope.header_bytes)
    signature = envelope.signature.sig
    public = producer.public_key()

    def do_open_delivered() -> None:
        env = Envelope.from_bytes(delivered)
        verify(env, keys)
        verify_attestation(env, keys)

    results = {
        "seal": _rate(do_seal, args.seconds),
        "open (parse+verify, 25 fields)": _rate(
            lambda: verify(Envelope.from_bytes(raw), keys), args.seconds
        ),
        "parse only": _rate(lambda: Envelope.from_bytes(raw), args.seconds),
        "redact (keep 6 of 25)": _rate(lambda: redact(envelope, keep), args.seconds),
        "open delivered copy (+attestation)": _rate(do_open_delivered, args.seconds),
        "bare Ed25519 verify": _rate(lambda: public.verify(signature, message), args.seconds),
    }
    print(f"wire benchmark: typical referral, {len(raw)} bytes, {len(envelope.disclosures)} fields")
    for name, us in results.items():
        print(f"  {name:38s} {us:9.1f} µs/op  {1e6 / us:10.0f} events/s")
    ratio = results["open (parse+verify, 25 fields)"] / results["bare Ed25519 verify"]
    print(f"  open / bare Ed25519 verify: {ratio:.2f}x")


if __name__ == "__main__":
    main()
