"""Sealed events (protocol v2) against v1 and the bare primitives, in one run.

Every operation on the same 25-field referral (every field of the schema
filled; a sealed one keeps the 4 policy attributes in the clear and seals the
other 21), TH -> KH, with the EXAMPLE keys, trust list and agreements of
``tests/support/examples.py`` (the real policy engine). Each number is µs of
CPU per operation, shown as well as a multiple of one bare Ed25519 verify
measured in the same run, and each v2 number beside its v1 counterpart:

- **seal**: ``hub.wire.seal`` v1, and v2 sealed to 1, 2 and 6 recipients (the
  sixth, MY, is not a member: the wire format takes any alpha-2 code, and six
  is more than the five a member can address);
- **the hub per event**: ``Envelope.from_bytes`` + ``verify`` (+
  ``require_every_wrap`` for v2) + per recipient ``deliver_copy`` (redact
  with ``recipient=`` + attest, one encode) + ``to_bytes``, every field kept (the sample
  agreement TH-KH v2 delivers all 25): the wire calls of ``hub.pipeline``,
  for 1 and for 6 recipients; and ``hub.pipeline.process`` itself (ingest,
  policy, route, decision records) for the referral to KH and per event of
  ``bench_hub``'s mix (2 referrals and a handover notice TH->KH, a trafficker
  alert VN->CN,KH,LA,TH; ``bench_wire.mix_plan``);
- **the recipient**: ``open_envelope(..., require_attestation=True)`` of the
  copy the hub delivered to KH; for v2 also with ``recipient`` and
  ``private_key`` (the ``unseal``), and ``unseal`` alone.

Baselines, ``cryptography`` alone (no trm code in the timed loops; inputs
prepared with trm): one Ed25519 verify of the referral's signed header
message, one Ed25519 sign; v2's extra crypto: one HPKE wrap of a 32-byte data
key to one X25519 key (``hpke.Suite(X25519, HKDF_SHA256, CHACHA20_POLY1305)``,
what a recipient costs), one HPKE unwrap, and ChaCha20-Poly1305 over the 21
padded disclosures (a fresh data key and nonces from ``os.urandom``;
encrypt for the seal, decrypt for the unseal). So v2's cost over v1 can be
set against the crypto it cannot avoid.

Prints one table and writes the numbers to ``artifacts/bench/sealed.json``.
Run: ``python tests/bench/bench_sealed.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from connectors.demo.scenario import example_payload
from hub.decision import SourceRef
from hub.pipeline import Registry, process
from hub.policy import decide
from hub.state import HubState
from hub.topics import Topics
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    POLICY_ATTRIBUTES,
    Envelope,
    RecipientKey,
    cloudevents_headers,
    deliver_copy,
    open_envelope,
    pae,
    payload_fields,
    require_every_wrap,
    seal,
    unseal,
    verify,
)
from hub.wire.hpke import hpke_open
from hub.wire.sealing import padded_size, sealed_aad, wrap_info
from tests.bench._common import write_result
from tests.bench.bench_wire import _rates, mix_plan, seal_plan
from tests.support.examples import AGREEMENTS, HUB_KEY, TRUST, example_key
from tests.support.wire import seal_key

T = 1_772_323_200_000  # 2026-03-01: the sample agreement TH-KH v2 is in force
PRODUCER = "TH"
RECIPIENTS: Mapping[int, tuple[str, ...]] = {
    1: ("KH",),
    2: ("KH", "LA"),
    6: ("CN", "KH", "LA", "MM", "MY", "VN"),
}
TOPICS = Topics("bsealed")
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@dataclass(frozen=True, slots=True)
class BenchSealKey:
    """A recipient's seal key with its public key object made once (as ``hub.sealkeys`` caches).

    ``tests.support.wire.TestSealKey`` derives the public key from the private
    one on every call (an X25519 scalar multiplication): fine for tests, but it
    would be counted here as trm's seal cost.
    """

    key_id: str
    public: X25519PublicKey
    private: X25519PrivateKey

    def x25519(self) -> X25519PublicKey:
        return self.public


def bench_seal_keys(countries: tuple[str, ...]) -> dict[str, BenchSealKey]:
    """The deterministic test seal key of each country (``tests.support.wire.seal_key``)."""
    out = {}
    for cc in countries:
        key = seal_key(cc)
        out[cc] = BenchSealKey(key.key_id, key.private.public_key(), key.private)
    return out


SEAL_KEYS = bench_seal_keys(("CN", "KH", "LA", "MM", "MY", "TH", "VN"))


def seal_referral(
    payload: Mapping[str, Any],
    key: Ed25519PrivateKey,
    recipients: tuple[str, ...],
    seal_to: Mapping[str, RecipientKey] | None,
    sequence: int = 1,
) -> Envelope:
    return seal(
        "referral",
        payload,
        producer=PRODUCER,
        key=key,
        recipients=recipients,
        purpose="repatriation",
        handling="H2",
        case_key="case-bench",
        sequence=sequence,
        created_at_ms=T,
        seal_to=seal_to,
    )


def hub_copies(raw: bytes, keep: frozenset[str]) -> list[bytes]:
    """The wire calls ``hub.pipeline`` makes for one event: parse, verify, then per recipient
    ``deliver_copy`` (redact, keeping that recipient's wrap only, + attest, encoded once)."""
    env = Envelope.from_bytes(raw)
    event = verify(env, TRUST)
    require_every_wrap(env)
    kept = keep & event.disclosed
    return [
        deliver_copy(
            env,
            kept,
            recipient=recipient,
            agreement_id="TH-KH-protection",
            agreement_version=2,
            leaf_ref="bench:0123456789",
            hub_key=HUB_KEY,
            attested_at_ms=T + 1000,
        ).value
        for recipient in env.header.recipients
    ]


def measure(seconds: float) -> dict[str, float]:
    """Every measurement (about ``seconds`` each), as one flat dict.

    Keys ending ``_us`` are µs of CPU per operation; ``*_per_verify`` each
    operation over one bare verify; ``ratio_*_to_v1`` a v2 operation over its v1
    counterpart; ``*_extra_to_floor`` what v2 adds over v1 (or the unseal)
    over the bare crypto it needs.
    """
    th_key = example_key(PRODUCER)
    payload = example_payload("referral", referred_at=T)
    keep = frozenset(payload_fields("referral"))

    events: dict[str, Envelope] = {
        "v1": seal_referral(payload, th_key, RECIPIENTS[1], None),
        "v1_6": seal_referral(payload, th_key, RECIPIENTS[6], None),
    }
    for n, to in RECIPIENTS.items():
        events[f"v2_{n}"] = seal_referral(payload, th_key, to, {c: SEAL_KEYS[c] for c in to})
    raw = {name: env.to_bytes() for name, env in events.items()}
    delivered = {"v1": hub_copies(raw["v1"], keep)[0], "v2": hub_copies(raw["v2_1"], keep)[0]}

    def private_key(key_id: str) -> X25519PrivateKey:
        if key_id != SEAL_KEYS["KH"].key_id:
            raise KeyError(key_id)
        return SEAL_KEYS["KH"].private

    # the recipient's side once, to check it opens and to keep what it decrypts
    opened = open_envelope(
        delivered["v2"], TRUST, require_attestation=True, recipient="KH", private_key=private_key
    ).event
    if len(opened.fields) != len(keep) or opened.sealed:
        raise RuntimeError(f"the sealed referral opened to {len(opened.fields)} fields")
    v2 = events["v2_1"]
    n_sealed = len(v2.sealed)
    if n_sealed + len(v2.disclosures) != len(keep) or len(v2.disclosures) != len(
        POLICY_ATTRIBUTES & keep
    ):
        raise RuntimeError(f"expected 21 sealed and 4 clear fields, got {n_sealed}")

    # -- bare primitives (inputs prepared with trm, timed loops without it) ------
    th_public = th_key.public_key()
    message = pae(HEADER_PAYLOAD_TYPE, events["v1"].header_bytes)
    signature = events["v1"].signature.sig
    kh_public, kh_private = SEAL_KEYS["KH"].public, SEAL_KEYS["KH"].private
    event_id = v2.header.event_id
    info = wrap_info(event_id, "KH", SEAL_KEYS["KH"].key_id)
    wrap = v2.key_wraps[0]
    wrapped = wrap.enc + wrap.wrapped
    data_key = hpke_open(kh_private, wrap.enc, info, wrap.wrapped)
    plaintexts = [
        (d.raw + bytes(padded_size(len(d.raw)) - len(d.raw)), sealed_aad(event_id, d.field))
        for d in opened.opened
    ]
    ciphertexts = [(s.nonce, s.ciphertext, sealed_aad(event_id, s.field)) for s in v2.sealed]
    urandom = os.urandom

    def bare_verify() -> None:
        th_public.verify(signature, message)

    def bare_sign() -> None:
        th_key.sign(message)

    def floor_hpke_wrap() -> None:
        _SUITE.encrypt(urandom(32), kh_public, info)

    def floor_hpke_unwrap() -> None:
        _SUITE.decrypt(wrapped, kh_private, info)

    def floor_seal_fields() -> None:
        aead = ChaCha20Poly1305(urandom(32))
        for plaintext, aad in plaintexts:
            aead.encrypt(urandom(12), plaintext, aad)

    def floor_open_fields() -> None:
        aead = ChaCha20Poly1305(data_key)
        for nonce, ciphertext, aad in ciphertexts:
            aead.decrypt(nonce, ciphertext, aad)

    # -- trm ------------------------------------------------------------------------
    def sealer(to: tuple[str, ...], sealed: bool) -> Callable[[], Any]:
        seal_to = {c: SEAL_KEYS[c] for c in to} if sealed else None
        return lambda: seal_referral(payload, th_key, to, seal_to)

    def parser(data: bytes) -> Callable[[], Any]:
        return lambda: Envelope.from_bytes(data)

    def verifier(data: bytes) -> Callable[[], Any]:
        return lambda: verify(Envelope.from_bytes(data), TRUST)

    def hub(data: bytes) -> Callable[[], Any]:
        return lambda: hub_copies(data, keep)

    registry = Registry(keys=TRUST, agreements=AGREEMENTS, decide=decide, version="bench")

    def pipeline(envs: list[Envelope]) -> Callable[[], Any]:
        """``process`` of each envelope from its producer's outbox, a fresh state each."""
        items = [
            (
                env.to_bytes(),
                cloudevents_headers(env.header),
                SourceRef(TOPICS.outbox(env.header.producer), 0, 0),
                env.header.recipients,
            )
            for env in envs
        ]

        def run() -> None:
            for data, headers, source, to in items:
                out = process(
                    data,
                    headers,
                    source,
                    topics=TOPICS,
                    registry=registry,
                    state=HubState(),
                    hub_key=HUB_KEY,
                    now_ms=T + 1000,
                )
                if out.delivered_to != to:
                    raise RuntimeError(f"the pipeline did not deliver to all: {out.reason}")

        run()  # fail before timing if the policy refuses
        return run

    # bench_hub's mix (2 referrals and a handover notice TH->KH, an alert VN->CN,KH,LA,TH)
    mix = {
        sealed: [
            seal_plan(
                plan,
                seq,
                example_key(plan[0]),
                case_key="case-bench",
                created_at_ms=T,
                seal_to={r: SEAL_KEYS[r] for r in plan[3]} if sealed else None,
            )
            for seq, plan in enumerate(mix_plan(T), 1)
        ]
        for sealed in (False, True)
    }

    def opener(data: bytes, sealed: bool) -> Callable[[], Any]:
        if sealed:
            return lambda: open_envelope(
                data, TRUST, require_attestation=True, recipient="KH", private_key=private_key
            )
        return lambda: open_envelope(data, TRUST, require_attestation=True)

    still_sealed = open_envelope(delivered["v2"], TRUST, require_attestation=True).event

    def trm_unseal() -> None:
        unseal(still_sealed, recipient="KH", private_key=private_key)

    fns: dict[str, Callable[[], Any]] = {
        "bare_verify_us": bare_verify,
        "bare_sign_us": bare_sign,
        "floor_hpke_wrap_us": floor_hpke_wrap,
        "floor_hpke_unwrap_us": floor_hpke_unwrap,
        "floor_seal_fields_us": floor_seal_fields,
        "floor_open_fields_us": floor_open_fields,
        "seal_v1_us": sealer(RECIPIENTS[1], False),
        "seal_v1_6_us": sealer(RECIPIENTS[6], False),
        "seal_v2_1_us": sealer(RECIPIENTS[1], True),
        "seal_v2_2_us": sealer(RECIPIENTS[2], True),
        "seal_v2_6_us": sealer(RECIPIENTS[6], True),
        "parse_v1_us": parser(raw["v1"]),
        "parse_v2_us": parser(raw["v2_1"]),
        "verify_v1_us": verifier(raw["v1"]),
        "verify_v2_us": verifier(raw["v2_1"]),
        "hub_v1_us": hub(raw["v1"]),
        "hub_v2_us": hub(raw["v2_1"]),
        "hub_v1_6_us": hub(raw["v1_6"]),
        "hub_v2_6_us": hub(raw["v2_6"]),
        "pipeline_v1_us": pipeline([events["v1"]]),
        "pipeline_v2_us": pipeline([events["v2_1"]]),
        "pipeline_mix_v1_us": pipeline(mix[False]),
        "pipeline_mix_v2_us": pipeline(mix[True]),
        "open_v1_us": opener(delivered["v1"], False),
        "open_v2_sealed_us": opener(delivered["v2"], False),
        "open_v2_us": opener(delivered["v2"], True),
        "unseal_us": trm_unseal,
    }
    gc.collect()
    us = _rates(fns, seconds)
    for key in ("pipeline_mix_v1_us", "pipeline_mix_v2_us"):
        us[key] /= len(mix[False])
    out = _derived(us, raw, delivered, n_sealed, seconds)
    for sealed, envs in mix.items():
        mean = sum(len(env.to_bytes()) for env in envs) / len(envs)
        out[f"bytes_mix_{'v2' if sealed else 'v1'}"] = mean
    return out


def _derived(
    us: dict[str, float],
    raw: Mapping[str, bytes],
    delivered: Mapping[str, bytes],
    n_sealed: int,
    seconds: float,
) -> dict[str, float]:
    out: dict[str, float] = dict(us)
    verify_us = us["bare_verify_us"]
    for key, value in us.items():
        out[key.removesuffix("_us") + "_per_verify"] = value / verify_us
    for v1, v2 in _PAIRS:
        out[f"ratio_{v2.removesuffix('_us')}_to_v1"] = us[v2] / us[v1]
    # what v2 adds, against the crypto it cannot avoid
    for n in RECIPIENTS:
        floor = us["floor_seal_fields_us"] + n * us["floor_hpke_wrap_us"]
        out[f"floor_seal_extra_{n}_us"] = floor
        base = us["seal_v1_6_us"] if n == 6 else us["seal_v1_us"]
        out[f"seal_v2_{n}_extra_to_floor"] = (us[f"seal_v2_{n}_us"] - base) / floor
    floor_open = us["floor_hpke_unwrap_us"] + us["floor_open_fields_us"]
    out["floor_unseal_us"] = floor_open
    out["unseal_to_floor"] = us["unseal_us"] / floor_open
    out["open_v2_extra_to_floor"] = (us["open_v2_us"] - us["open_v1_us"]) / floor_open
    out.update(
        referral_fields=float(len(payload_fields("referral"))),
        sealed_fields=float(n_sealed),
        bytes_v1=float(len(raw["v1"])),
        bytes_v2_1=float(len(raw["v2_1"])),
        bytes_v2_6=float(len(raw["v2_6"])),
        bytes_delivered_v1=float(len(delivered["v1"])),
        bytes_delivered_v2=float(len(delivered["v2"])),
        seconds_per_measurement=seconds,
    )
    return out


# (v1 key, v2 key): the v2/v1 column
_PAIRS: tuple[tuple[str, str], ...] = (
    ("seal_v1_us", "seal_v2_1_us"),
    ("seal_v1_us", "seal_v2_2_us"),
    ("seal_v1_6_us", "seal_v2_6_us"),
    ("parse_v1_us", "parse_v2_us"),
    ("verify_v1_us", "verify_v2_us"),
    ("hub_v1_us", "hub_v2_us"),
    ("hub_v1_6_us", "hub_v2_6_us"),
    ("pipeline_v1_us", "pipeline_v2_us"),
    ("pipeline_mix_v1_us", "pipeline_mix_v2_us"),
    ("open_v1_us", "open_v2_sealed_us"),
    ("open_v1_us", "open_v2_us"),
)

_ROWS: tuple[tuple[str, str], ...] = (
    ("bare Ed25519 verify (referral header)", "bare_verify_us"),
    ("bare Ed25519 sign", "bare_sign_us"),
    ("bare HPKE wrap, 1 recipient", "floor_hpke_wrap_us"),
    ("bare HPKE unwrap", "floor_hpke_unwrap_us"),
    ("bare ChaCha20-Poly1305 seal, 21 fields", "floor_seal_fields_us"),
    ("bare ChaCha20-Poly1305 open, 21 fields", "floor_open_fields_us"),
    ("seal v1, 1 recipient", "seal_v1_us"),
    ("seal v1, 6 recipients", "seal_v1_6_us"),
    ("seal v2, 1 recipient", "seal_v2_1_us"),
    ("seal v2, 2 recipients", "seal_v2_2_us"),
    ("seal v2, 6 recipients", "seal_v2_6_us"),
    ("hub: parse (Envelope.from_bytes) v1", "parse_v1_us"),
    ("hub: parse v2", "parse_v2_us"),
    ("hub: parse + verify v1", "verify_v1_us"),
    ("hub: parse + verify v2", "verify_v2_us"),
    ("hub: + redact + attest + encode, v1, 1 copy", "hub_v1_us"),
    ("hub: + redact + attest + encode, v2, 1 copy", "hub_v2_us"),
    ("hub: the same, v1, 6 recipients (6 copies)", "hub_v1_6_us"),
    ("hub: the same, v2, 6 recipients (6 copies)", "hub_v2_6_us"),
    ("hub.pipeline.process v1 (policy, decisions)", "pipeline_v1_us"),
    ("hub.pipeline.process v2", "pipeline_v2_us"),
    ("hub.pipeline.process v1, hub mix, per event", "pipeline_mix_v1_us"),
    ("hub.pipeline.process v2, hub mix, per event", "pipeline_mix_v2_us"),
    ("recipient open v1 (+attestation)", "open_v1_us"),
    ("recipient open v2 (+attestation), sealed", "open_v2_sealed_us"),
    ("recipient open v2 (+attestation) + unseal", "open_v2_us"),
    ("unseal alone (1 unwrap, 21 fields)", "unseal_us"),
)


def report(result: Mapping[str, float]) -> None:
    print(
        f"sealed events: a {result['referral_fields']:.0f}-field referral "
        f"({result['sealed_fields']:.0f} sealed in v2); envelope {result['bytes_v1']:.0f} B v1, "
        f"{result['bytes_v2_1']:.0f} B v2 (1 recipient), {result['bytes_v2_6']:.0f} B v2 "
        f"(6); copy delivered to KH {result['bytes_delivered_v1']:.0f} B v1, "
        f"{result['bytes_delivered_v2']:.0f} B v2; hub mix {result['bytes_mix_v1']:.0f} B v1, "
        f"{result['bytes_mix_v2']:.0f} B v2"
    )
    v2_of = {v2: f"ratio_{v2.removesuffix('_us')}_to_v1" for _v1, v2 in _PAIRS}
    print(
        f"  {'measurement (CPU time, best of 7)':46} {'µs/op':>9} {'ops/s':>9} {'xverify':>8}"
        f" {'v2/v1':>6}"
    )
    for label, key in _ROWS:
        us = result[key]
        ratio = result.get(v2_of.get(key, ""), None)
        tail = f" {ratio:6.2f}" if ratio is not None else ""
        print(
            f"  {label:46} {us:9.1f} {1e6 / us:9.0f}"
            f" {result[key.removesuffix('_us') + '_per_verify']:8.2f}{tail}"
        )
    print("  v2's cost over v1 against the bare crypto it adds (1.00 = no overhead):")
    for n in RECIPIENTS:
        print(
            f"    seal, {n} recipient(s): floor {result[f'floor_seal_extra_{n}_us']:.1f} µs, "
            f"trm adds {result[f'seal_v2_{n}_extra_to_floor']:.2f}x that"
        )
    print(
        f"    unseal: floor {result['floor_unseal_us']:.1f} µs, unseal "
        f"{result['unseal_to_floor']:.2f}x it; open v2 - open v1 "
        f"{result['open_v2_extra_to_floor']:.2f}x it"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = parser.parse_args(argv)
    result = measure(args.seconds)
    report(result)
    path = write_result("sealed", result)
    print(f"  written to {path}")


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    main()
