"""RFC 9497 OPRF, VOPRF and POPRF with the suite ristretto255-SHA512, on libsodium (rbcl).

Every group operation is libsodium's (through ``rbcl``): hashing to the group
(``crypto_core_ristretto255_from_hash``), scalar multiplication, point addition
and the scalar field's arithmetic. This module only arranges them as RFC 9497
says: the hash-to-curve expansion (RFC 9380 ``expand_message_xmd`` with
SHA-512), the domain separation tags, the transcripts of the DLEQ proof and the
``Finalize`` hash. docs/protocol.md section 13.2 is the normative text for how
trm uses them; the RFC's Appendix A vectors (``tests/vectors/rfc9497-oprf/``)
check this module byte for byte.

Roles, as in the RFC:

client      :func:`blind` an input, later :func:`finalize` the evaluated element
            (verifying the server's proof in VOPRF and POPRF modes when given).
server      :func:`blind_evaluate` (one element or a batch with one proof).

The threshold split of the server's key, and the per-share proofs built with
:func:`generate_proof`, live in :mod:`hub.matching.threshold`.

Encodings: an element is its 32-byte canonical ristretto255 encoding, a
scalar its 32-byte little-endian encoding below the group order ``L``, a
proof the 64 bytes ``c || s``. An element received from outside that is not a
canonical encoding, or is the identity, is refused with
``MATCH_ELEMENT_INVALID``; a proof that does not verify with
``MATCH_EVALUATION_FORGED``. Details never quote the bytes.

libsodium's ``crypto_scalarmult_ristretto255`` refuses to return the identity
(it fails instead). In a prime-order group a non-zero scalar times a
non-identity element is never the identity, so :func:`multiply` only meets that
case for a zero scalar or the identity element, which it answers with the
identity itself (the RFC's arithmetic); the protocol steps that must refuse
the identity (``Blind``, ``DeserializeElement``) check for it explicitly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import rbcl

from hub.errors import MatchError, Reason

__all__ = [
    "ELEMENT_BYTES",
    "GENERATOR",
    "IDENTITY",
    "MODE_OPRF",
    "MODE_POPRF",
    "MODE_VOPRF",
    "OUTPUT_BYTES",
    "PROOF_BYTES",
    "SCALAR_BYTES",
    "SUITE",
    "add_elements",
    "base_multiply",
    "blind",
    "blind_evaluate",
    "blind_evaluate_batch",
    "context_string",
    "derive_key_pair",
    "element",
    "evaluate",
    "expand_message_xmd",
    "finalize",
    "generate_proof",
    "hash_to_group",
    "hash_to_scalar",
    "multiply",
    "poprf_blind_evaluate",
    "poprf_finalize",
    "poprf_tweaked_key",
    "public_key",
    "random_scalar",
    "scalar",
    "scalar_add",
    "scalar_invert",
    "scalar_mul",
    "scalar_reduce",
    "scalar_sub",
    "verify_proof",
]

SUITE = "ristretto255-SHA512"
MODE_OPRF = 0x00
MODE_VOPRF = 0x01
MODE_POPRF = 0x02
_MODES = (MODE_OPRF, MODE_VOPRF, MODE_POPRF)

ELEMENT_BYTES = 32  # Ne
SCALAR_BYTES = 32  # Ns
OUTPUT_BYTES = 64  # Nh
PROOF_BYTES = 2 * SCALAR_BYTES

# The group order of ristretto255 (RFC 9496 section 4). Used only to check that a
# scalar received from outside is canonical (below L); all arithmetic is libsodium's.
_ORDER = 2**252 + 27742317777372353535851937790883648493

# libsodium through rbcl, typed (rbcl has no annotations). Every group and scalar
# operation of hub.matching goes through these names.
scalar_add: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_add
scalar_sub: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_sub
scalar_mul: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_mul
scalar_invert: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_invert
scalar_reduce: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_reduce
base_multiply: Callable[[bytes], bytes] = rbcl.crypto_scalarmult_ristretto255_base
_scalarmult: Callable[[bytes, bytes], bytes] = rbcl.crypto_scalarmult_ristretto255
_from_hash: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_from_hash
_point_add: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_add
_is_valid: Callable[[bytes], bool] = rbcl.crypto_core_ristretto255_is_valid_point
_scalar_random: Callable[[], bytes] = rbcl.crypto_core_ristretto255_scalar_random

IDENTITY = bytes(ELEMENT_BYTES)
_ONE = (1).to_bytes(SCALAR_BYTES, "little")
_ZERO = bytes(SCALAR_BYTES)
GENERATOR = base_multiply(_ONE)


# --- RFC 9380 expand_message_xmd (SHA-512) ------------------------------------------


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    b_in_bytes, s_in_bytes = 64, 128
    if len(dst) > 255:
        raise ValueError(f"expected a DST of at most 255 bytes, got {len(dst)}")
    ell = -(-length // b_in_bytes)
    if ell > 255 or length > 65535:
        raise ValueError(f"expected at most 255 blocks of output, got {ell}")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(s_in_bytes) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha512(msg_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, blocks[-1], strict=True))
        blocks.append(hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())
    return b"".join(blocks)[:length]


# --- the suite's building blocks (RFC 9497 sections 3.1 and 4.1) --------------------


def context_string(mode: int) -> bytes:
    """``"OPRFV1-" || I2OSP(mode, 1) || "-" || "ristretto255-SHA512"``."""
    if mode not in _MODES:
        raise ValueError(f"expected a mode among {_MODES}, got {mode}")
    return b"OPRFV1-" + bytes([mode]) + b"-" + SUITE.encode()


def hash_to_group(msg: bytes, mode: int) -> bytes:
    """HashToGroup: expand_message_xmd to 64 bytes, then libsodium's one-way map."""
    uniform = expand_message_xmd(msg, b"HashToGroup-" + context_string(mode), 64)
    return _from_hash(uniform)


def hash_to_scalar(msg: bytes, mode: int, dst: bytes | None = None) -> bytes:
    """HashToScalar: expand_message_xmd to 64 bytes, reduced modulo L by libsodium."""
    tag = dst if dst is not None else b"HashToScalar-" + context_string(mode)
    return scalar_reduce(expand_message_xmd(msg, tag, 64))


def _i2osp2(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _framed(*parts: bytes) -> bytes:
    return b"".join(_i2osp2(len(p)) + p for p in parts)


def multiply(k: bytes, point: bytes) -> bytes:
    """``k * point``; the identity for a zero scalar or the identity point (see above).

    The generator takes libsodium's fixed-base multiplication (about 3 times faster).
    """
    if k == _ZERO or point == IDENTITY:
        return IDENTITY
    if point == GENERATOR:
        return base_multiply(k)
    return _scalarmult(k, point)


def add_elements(p: bytes, q: bytes) -> bytes:
    """``p + q`` (either may be the identity, which costs nothing: libsodium's addition
    decodes and re-encodes both points)."""
    if p == IDENTITY:
        return q
    if q == IDENTITY:
        return p
    return _point_add(p, q)


def random_scalar() -> bytes:
    """A uniformly random non-zero scalar (libsodium's generator)."""
    while True:  # RandomScalar: never zero (RFC 9497 section 2.1)
        k = _scalar_random()
        if k != _ZERO:
            return k


def element(data: bytes, what: str) -> bytes:
    """DeserializeElement: a canonical ristretto255 encoding that is not the identity.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID, naming ``what`` (never the bytes).
    """
    if not isinstance(data, bytes) or len(data) != ELEMENT_BYTES:
        size = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise MatchError(
            Reason.MATCH_ELEMENT_INVALID,
            f"expected {what} as a {ELEMENT_BYTES}-byte ristretto255 element, got {size}",
        )
    if data == IDENTITY:
        raise MatchError(
            Reason.MATCH_ELEMENT_INVALID, f"expected {what} not to be the identity element"
        )
    if not _is_valid(data):
        raise MatchError(
            Reason.MATCH_ELEMENT_INVALID,
            f"expected {what} as a canonical ristretto255 encoding; it does not decode",
        )
    return data


def scalar(data: bytes, what: str, *, nonzero: bool = False) -> bytes:
    """DeserializeScalar: 32 little-endian bytes below the group order (and not zero).

    Raises:
        MatchError: MATCH_ELEMENT_INVALID, naming ``what`` (never the bytes).
    """
    if not isinstance(data, bytes) or len(data) != SCALAR_BYTES:
        size = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise MatchError(
            Reason.MATCH_ELEMENT_INVALID,
            f"expected {what} as a {SCALAR_BYTES}-byte scalar, got {size}",
        )
    if int.from_bytes(data, "little") >= _ORDER:
        raise MatchError(
            Reason.MATCH_ELEMENT_INVALID,
            f"expected {what} as a canonical scalar (below the group order); it is not",
        )
    if nonzero and data == _ZERO:
        raise MatchError(Reason.MATCH_ELEMENT_INVALID, f"expected {what} not to be zero")
    return data


def public_key(secret: bytes) -> bytes:
    """``G * secret`` for a non-zero canonical scalar."""
    return base_multiply(scalar(secret, "the secret key", nonzero=True))


def derive_key_pair(seed: bytes, info: bytes, mode: int) -> tuple[bytes, bytes]:
    """DeriveKeyPair (RFC 9497 section 3.2.1): (skS, pkS) from a 32-byte seed and info."""
    derive_input = seed + _i2osp2(len(info)) + info
    dst = b"DeriveKeyPair" + context_string(mode)
    for counter in range(256):
        sk = hash_to_scalar(derive_input + bytes([counter]), mode, dst)
        if sk != _ZERO:
            return sk, base_multiply(sk)
    raise MatchError(Reason.MATCH_ELEMENT_INVALID, "DeriveKeyPair found no non-zero key")


# --- the DLEQ proof (RFC 9497 section 2.2), batched with composites -----------------


def _composites(
    k: bytes | None, b: bytes, cs: Sequence[bytes], ds: Sequence[bytes], mode: int
) -> tuple[bytes, bytes]:
    """ComputeComposites, or ComputeCompositesFast when the prover's ``k`` is given."""
    seed = hashlib.sha512(_framed(b, b"Seed-" + context_string(mode))).digest()
    m, z = IDENTITY, IDENTITY
    for i, (c_i, d_i) in enumerate(zip(cs, ds, strict=True)):
        transcript = _i2osp2(len(seed)) + seed + _i2osp2(i) + _framed(c_i, d_i) + b"Composite"
        d = hash_to_scalar(transcript, mode)
        m = add_elements(multiply(d, c_i), m)
        if k is None:
            z = add_elements(multiply(d, d_i), z)
    if k is not None:
        z = multiply(k, m)
    return m, z


def _challenge(elements: tuple[bytes, bytes, bytes, bytes, bytes], mode: int) -> bytes:
    """The challenge over (B, M, Z, t2, t3)."""
    return hash_to_scalar(_framed(*elements) + b"Challenge", mode)


def generate_proof(
    k: bytes,
    a: bytes,
    b: bytes,
    cs: Sequence[bytes],
    ds: Sequence[bytes],
    *,
    mode: int,
    r: bytes | None = None,
) -> bytes:
    """GenerateProof: that ``b = k*a`` and ``ds[i] = k*cs[i]`` for every i; ``c || s``.

    ``r`` is the proof's random scalar; give it only to reproduce a vector.
    """
    if len(cs) != len(ds) or not cs:
        raise ValueError(f"expected as many C as D (at least one), got {len(cs)}, {len(ds)}")
    m, z = _composites(k, b, cs, ds, mode)
    nonce = random_scalar() if r is None else r
    t2, t3 = multiply(nonce, a), multiply(nonce, m)
    c = _challenge((b, m, z, t2, t3), mode)
    s = scalar_sub(nonce, scalar_mul(c, k))
    return c + s


def verify_proof(
    a: bytes, b: bytes, cs: Sequence[bytes], ds: Sequence[bytes], proof: bytes, *, mode: int
) -> bool:
    """VerifyProof. False for a proof that does not verify or is not two canonical scalars.

    The elements must already be deserialized (:func:`element`); this checks the proof.
    """
    if len(cs) != len(ds) or not cs or len(proof) != PROOF_BYTES:
        return False
    c, s = proof[:SCALAR_BYTES], proof[SCALAR_BYTES:]
    try:
        scalar(c, "the proof's c")
        scalar(s, "the proof's s")
    except MatchError:
        return False
    m, z = _composites(None, b, cs, ds, mode)
    t2 = add_elements(multiply(s, a), multiply(c, b))
    t3 = add_elements(multiply(s, m), multiply(c, z))
    return _challenge((b, m, z, t2, t3), mode) == c


# --- the protocol (RFC 9497 section 3.3) ---------------------------------------------


def blind(
    input: bytes,
    *,
    mode: int = MODE_VOPRF,
    blind: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Blind: (the blind scalar, the blinded element), 32 bytes each.

    ``blind`` is the client's random scalar; give it only to reproduce a vector.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID if the input hashes to the identity
            (the RFC's InvalidInputError; probability about 2**-252).
    """
    factor = random_scalar() if blind is None else scalar(blind, "the blind", nonzero=True)
    input_element = hash_to_group(input, mode)
    if input_element == IDENTITY:
        raise MatchError(Reason.MATCH_ELEMENT_INVALID, "the input hashes to the identity")
    return factor, _scalarmult(factor, input_element)


def blind_evaluate(secret: bytes, blinded: bytes) -> bytes:
    """BlindEvaluate without a proof (OPRF mode): ``secret * blinded``.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID for a blinded element that is not a
            canonical non-identity encoding.
    """
    point = element(blinded, "the blinded element")
    return _scalarmult(scalar(secret, "the key", nonzero=True), point)


def blind_evaluate_batch(
    secret: bytes, blinded: Sequence[bytes], *, r: bytes | None = None
) -> tuple[tuple[bytes, ...], bytes]:
    """VOPRF BlindEvaluate over a batch: the evaluated elements and one proof for all.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID for any blinded element that is not valid.
    """
    points = [element(b, f"blinded element {i}") for i, b in enumerate(blinded)]
    evaluated = tuple(blind_evaluate(secret, p) for p in points)
    pk = public_key(secret)
    proof = generate_proof(secret, GENERATOR, pk, points, evaluated, mode=MODE_VOPRF, r=r)
    return evaluated, proof


def evaluate(
    secret: bytes,
    input: bytes,
    *,
    mode: int = MODE_VOPRF,
) -> bytes:
    """Evaluate (the server computing the PRF directly, OPRF and VOPRF modes)."""
    point = hash_to_group(input, mode)
    if point == IDENTITY:
        raise MatchError(Reason.MATCH_ELEMENT_INVALID, "the input hashes to the identity")
    issued = _scalarmult(scalar(secret, "the key", nonzero=True), point)
    return _output(input, None, issued)


def _output(input: bytes, info: bytes | None, unblinded: bytes) -> bytes:
    parts = (input,) if info is None else (input, info)
    return hashlib.sha512(_framed(*parts, unblinded) + b"Finalize").digest()


def _unblind(factor: bytes, evaluated: bytes) -> bytes:
    inverse = scalar_invert(scalar(factor, "the blind", nonzero=True))
    return _scalarmult(inverse, element(evaluated, "the evaluated element"))


def finalize(
    input: bytes,
    blind: bytes,
    evaluated: bytes,
    *,
    mode: int = MODE_VOPRF,
    blinded: bytes | None = None,
    public_key: bytes | None = None,
    proof: bytes | None = None,
) -> bytes:
    """Finalize: the 64-byte PRF output of ``input`` from its evaluated element.

    In VOPRF mode, giving ``blinded``, ``public_key`` and ``proof`` verifies the
    server's proof first (the RFC's Finalize). Without them the caller has
    checked the evaluation otherwise: :func:`hub.matching.threshold.combine`
    verifies each share's proof before it combines.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID for an evaluated element that is not a
            canonical non-identity encoding; MATCH_EVALUATION_FORGED if a given
            proof does not verify.
    """
    if mode not in (MODE_OPRF, MODE_VOPRF):
        raise ValueError(f"expected mode OPRF or VOPRF (POPRF: poprf_finalize), got {mode}")
    if proof is not None:
        if mode != MODE_VOPRF or blinded is None or public_key is None:
            raise ValueError("a proof is checked in VOPRF mode with blinded and public_key")
        cs = [element(blinded, "the blinded element")]
        ds = [element(evaluated, "the evaluated element")]
        pk = element(public_key, "the public key")
        if not verify_proof(GENERATOR, pk, cs, ds, proof, mode=MODE_VOPRF):
            raise MatchError(
                Reason.MATCH_EVALUATION_FORGED,
                "expected a proof that the evaluation used the public key; it does not verify",
            )
    return _output(input, None, _unblind(blind, evaluated))


# --- POPRF (RFC 9497 section 3.3.3) ----------------------------------------------


def _info_scalar(info: bytes) -> bytes:
    return hash_to_scalar(b"Info" + _framed(info), MODE_POPRF)


def poprf_tweaked_key(server_public_key: bytes, info: bytes) -> bytes:
    """The client's ``tweakedKey = G*m + pkS`` for the public ``info``."""
    pk = element(server_public_key, "the public key")
    return add_elements(base_multiply(_info_scalar(info)), pk)


def poprf_blind_evaluate(
    secret: bytes, blinded: Sequence[bytes], info: bytes, *, r: bytes | None = None
) -> tuple[tuple[bytes, ...], bytes]:
    """POPRF BlindEvaluate over a batch: the evaluated elements and one proof."""
    t = scalar_add(scalar(secret, "the key", nonzero=True), _info_scalar(info))
    if t == _ZERO:
        raise MatchError(Reason.MATCH_ELEMENT_INVALID, "the key and info give a zero tweak")
    inverse = scalar_invert(t)
    points = [element(b, f"blinded element {i}") for i, b in enumerate(blinded)]
    evaluated = tuple(_scalarmult(inverse, p) for p in points)
    tweaked = base_multiply(t)
    proof = generate_proof(t, GENERATOR, tweaked, evaluated, points, mode=MODE_POPRF, r=r)
    return evaluated, proof


def poprf_finalize(
    inputs: Sequence[bytes],
    blinds: Sequence[bytes],
    evaluated: Sequence[bytes],
    blinded: Sequence[bytes],
    *,
    proof: bytes,
    info: bytes,
    tweaked_key: bytes,
) -> tuple[bytes, ...]:
    """POPRF Finalize over a batch: verify the proof, then one 64-byte output per input.

    Raises:
        MatchError: MATCH_EVALUATION_FORGED if the proof does not verify.
    """
    cs = [element(e, f"evaluated element {i}") for i, e in enumerate(evaluated)]
    ds = [element(b, f"blinded element {i}") for i, b in enumerate(blinded)]
    if not verify_proof(GENERATOR, tweaked_key, cs, ds, proof, mode=MODE_POPRF):
        raise MatchError(
            Reason.MATCH_EVALUATION_FORGED,
            "expected a proof that the evaluation used the tweaked key; it does not verify",
        )
    return tuple(
        _output(x, info, _unblind(f, e)) for x, f, e in zip(inputs, blinds, cs, strict=True)
    )
