"""The OPRF key split t-of-n: Shamir over ristretto255's scalar field, Feldman commitments.

The key ``k`` is the constant term of a random polynomial
``f(x) = a_0 + a_1 x + ... + a_{t-1} x^{t-1}`` over the scalars modulo ``L``
(``a_0 = k``). Member ``i`` (an index from 1) holds the share ``s_i = f(i)``.
The public part is the list of commitments ``C_j = G * a_j`` (Feldman): from it
anyone computes the group public key ``C_0 = G * k`` and each share's public
key ``P_i = sum_j C_j * i^j = G * s_i``, so a share can be checked without
seeing any other.

An evaluator answers a blinded element ``B`` with ``Z_i = s_i * B`` and a DLEQ
proof that ``log_G(P_i) = log_B(Z_i)``: exactly an RFC 9497 VOPRF evaluation
under the key ``s_i`` (mode 0x01, batch of one), so any RFC 9497 VerifyProof
checks it. The client verifies each partial (:func:`verify_partial` names the
cheating index), then interpolates in the exponent at 0 over ``t`` distinct
valid partials: ``sum_i lambda_i * Z_i = k * B``, the element a single server
holding ``k`` would have returned; :func:`hub.matching.oprf.finalize` turns it
into the match key.

docs/protocol.md section 13.2 is the normative text. All group and scalar
arithmetic is libsodium's (rbcl); dealing the shares is :func:`deal`, making and
storing them for the members is :mod:`hub.matching.ceremony`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from hub.errors import MatchError, Reason
from hub.matching import oprf

__all__ = [
    "MAX_INDEX",
    "PARTIAL_BYTES",
    "Commitments",
    "Examination",
    "KeyShare",
    "PartialEvaluation",
    "Refusal",
    "apply_refresh",
    "combine",
    "deal",
    "deal_zero",
    "examine",
    "index_scalar",
    "lagrange_at_zero",
    "partial_evaluate",
    "refresh",
    "verify_partial",
]

MAX_INDEX = 0xFFFF  # a share index is encoded in two bytes (I2OSP(index, 2))
PARTIAL_BYTES = 2 + oprf.ELEMENT_BYTES + oprf.PROOF_BYTES
_ZERO = bytes(oprf.SCALAR_BYTES)


def _check_index(index: object, what: str) -> int:
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= MAX_INDEX:
        raise MatchError(
            Reason.MATCH_SHARE_INVALID,
            f"expected {what} to be a share index from 1 to {MAX_INDEX}, got {index!r}",
        )
    return index


def index_scalar(index: int) -> bytes:
    """The share index ``i`` as a scalar: 32 bytes, little-endian."""
    return _check_index(index, "the index").to_bytes(oprf.SCALAR_BYTES, "little")


@dataclass(frozen=True, slots=True)
class KeyShare:
    """Member ``index``'s share ``s_i = f(i)``: a secret. ``repr`` hides the scalar."""

    index: int
    scalar: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_index(self.index, "a key share's index")
        try:
            oprf.scalar(self.scalar, "a key share", nonzero=True)
        except MatchError as exc:
            raise MatchError(Reason.MATCH_SHARE_INVALID, exc.detail) from exc

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, scalar=<hidden>)"


@dataclass(frozen=True, slots=True)
class Commitments:
    """The Feldman commitments ``C_j = G * a_j``, j = 0 .. threshold-1: public.

    ``C_0`` is the group's public key and must not be the identity.
    """

    threshold: int
    coefficients: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.threshold, int) or not 1 <= self.threshold <= MAX_INDEX:
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected a threshold from 1 to {MAX_INDEX}, got {self.threshold!r}",
            )
        if len(self.coefficients) != self.threshold:
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected {self.threshold} commitments (one per coefficient), "
                f"got {len(self.coefficients)}",
            )
        try:
            oprf.element(self.coefficients[0], "commitment 0 (the public key)")
            for j, c in enumerate(self.coefficients[1:], start=1):
                # a higher coefficient may commit to zero (after a refresh, rarely)
                if c != oprf.IDENTITY:
                    oprf.element(c, f"commitment {j}")
        except MatchError as exc:
            raise MatchError(Reason.MATCH_SHARE_INVALID, exc.detail) from exc

    def public_key(self) -> bytes:
        """``C_0 = G * k``: the VOPRF public key of the whole group."""
        return self.coefficients[0]

    def share_public_key(self, index: int) -> bytes:
        """``P_i = sum_j C_j * i^j = G * s_i``, computed from the commitments alone."""
        return _share_public_key(self.coefficients, index)

    def check_share(self, share: KeyShare) -> None:
        """Raise unless ``G * s_i`` equals the share public key the commitments give.

        Raises:
            MatchError: MATCH_SHARE_INVALID, naming the index.
        """
        if oprf.base_multiply(share.scalar) != self.share_public_key(share.index):
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected share {share.index} to match the commitments' share public key; "
                "it does not",
            )


@dataclass(frozen=True, slots=True)
class PartialEvaluation:
    """Evaluator ``index``'s answer: ``Z_i = s_i * B`` and the DLEQ proof ``c || s``.

    Encoded (:meth:`to_bytes`) as ``I2OSP(index, 2) || Z_i || proof``, 98 bytes.
    """

    index: int
    evaluated: bytes
    proof: bytes

    def to_bytes(self) -> bytes:
        return self.index.to_bytes(2, "big") + self.evaluated + self.proof

    @classmethod
    def from_bytes(cls, data: bytes) -> PartialEvaluation:
        """Parse the 98-byte encoding; the element and the proof's scalars are checked.

        Raises:
            MatchError: MATCH_SHARE_INVALID for a wrong size or index 0;
                MATCH_ELEMENT_INVALID for an element or scalar that is not canonical.
        """
        if not isinstance(data, bytes) or len(data) != PARTIAL_BYTES:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected a partial evaluation of {PARTIAL_BYTES} bytes, got {size}",
            )
        index = _check_index(int.from_bytes(data[:2], "big"), "a partial evaluation's index")
        evaluated = oprf.element(data[2:34], f"the evaluated element of share {index}")
        oprf.scalar(data[34:66], f"the proof's c of share {index}")
        oprf.scalar(data[66:], f"the proof's s of share {index}")
        return cls(index, evaluated, data[34:])


@lru_cache(maxsize=1024)
def _share_public_key(coefficients: tuple[bytes, ...], index: int) -> bytes:
    # Public values only; cached because every evaluation and every check needs it.
    x = index_scalar(index)
    power = x
    total = coefficients[0]
    for c in coefficients[1:]:
        total = oprf.add_elements(total, oprf.multiply(power, c))
        power = oprf.scalar_mul(power, x)
    return total


# --- dealing ---------------------------------------------------------------------


def _evaluate_polynomial(coefficients: Sequence[bytes], index: int) -> bytes:
    x = index_scalar(index)
    acc = _ZERO
    for a in reversed(coefficients):  # Horner
        acc = oprf.scalar_add(oprf.scalar_mul(acc, x), a)
    return acc


def _check_plan(threshold: int, indices: Sequence[int]) -> None:
    for i in indices:
        _check_index(i, "a member's index")
    if len(set(indices)) != len(indices):
        raise MatchError(Reason.MATCH_SHARE_INVALID, f"expected distinct indices, got {indices}")
    if not 1 <= threshold <= len(indices):
        raise MatchError(
            Reason.MATCH_SHARE_INVALID,
            f"expected a threshold from 1 to the number of members ({len(indices)}), "
            f"got {threshold}",
        )


def deal(
    secret: bytes,
    threshold: int,
    indices: Sequence[int],
    *,
    coefficients: Sequence[bytes] | None = None,
) -> tuple[Commitments, tuple[KeyShare, ...]]:
    """Split ``secret`` t-of-n: the commitments and one share per index, each checked.

    ``coefficients`` (a_1 .. a_{t-1}) are drawn at random unless given (vectors only).

    Raises:
        MatchError: MATCH_SHARE_INVALID for a bad plan (threshold, indices).
    """
    _check_plan(threshold, indices)
    oprf.scalar(secret, "the secret", nonzero=True)
    if coefficients is None:
        coefficients = [oprf.random_scalar() for _ in range(threshold - 1)]
    if len(coefficients) != threshold - 1:
        raise ValueError(f"expected {threshold - 1} coefficients, got {len(coefficients)}")
    poly = [secret, *(oprf.scalar(a, "a coefficient") for a in coefficients)]
    commitments = Commitments(threshold, tuple(oprf.multiply(a, oprf.GENERATOR) for a in poly))
    shares = tuple(KeyShare(i, _evaluate_polynomial(poly, i)) for i in indices)
    for share in shares:
        commitments.check_share(share)
    return commitments, shares


def deal_zero(
    threshold: int, indices: Sequence[int], *, coefficients: Sequence[bytes] | None = None
) -> tuple[tuple[bytes, ...], dict[int, bytes]]:
    """A sharing of zero for a proactive refresh: its commitments (C_0 the identity)
    and the scalar ``g(i)`` to add to each share."""
    _check_plan(threshold, indices)
    if coefficients is None:
        coefficients = [oprf.random_scalar() for _ in range(threshold - 1)]
    poly = [_ZERO, *coefficients]
    commits = tuple(oprf.multiply(a, oprf.GENERATOR) for a in poly)
    return commits, {i: _evaluate_polynomial(poly, i) for i in indices}


def refresh(
    commitments: Commitments,
    shares: Sequence[KeyShare],
    *,
    coefficients: Sequence[bytes] | None = None,
) -> tuple[Commitments, tuple[KeyShare, ...]]:
    """New shares of the same key: add a dealt sharing of zero to every share.

    The public key ``C_0`` and so every match key stay the same; each commitment
    ``C_j`` becomes ``C_j + G * b_j``. Old shares do not combine with new ones,
    so a share stolen before the refresh is useless once ``t`` members hold new ones.

    Raises:
        MatchError: MATCH_SHARE_INVALID if a given share does not match ``commitments``.
    """
    for share in shares:
        commitments.check_share(share)
    indices = [s.index for s in shares]
    zero_commits, deltas = deal_zero(commitments.threshold, indices, coefficients=coefficients)
    renewed = Commitments(
        commitments.threshold,
        tuple(
            oprf.add_elements(c, z)
            for c, z in zip(commitments.coefficients, zero_commits, strict=True)
        ),
    )
    new_shares = []
    for share in shares:
        value = oprf.scalar_add(share.scalar, deltas[share.index])
        new_shares.append(KeyShare(share.index, value))
    for share in new_shares:
        renewed.check_share(share)
    return renewed, tuple(new_shares)


def apply_refresh(
    share: KeyShare,
    commitments: Commitments,
    contributions: Sequence[tuple[Sequence[bytes], bytes]],
) -> tuple[Commitments, KeyShare]:
    """The distributed refresh, one member's side: no one ever holds the key.

    Each member ``j`` deals a sharing of zero (:func:`deal_zero`), publishes its
    commitments and sends member ``i`` the value ``g_j(i)``. Member ``i`` checks
    each received ``(commitments_j, value)``: ``t`` commitments, the first the
    identity (the constant term is zero, so the key does not change), and
    ``G * value = sum_k commitments_j[k] * i^k``; then adds the values to its
    share. The new commitments are the old ones plus every member's, the same
    for every member who received the same published commitments.

    Raises:
        MatchError: MATCH_SHARE_INVALID naming the contribution that does not check.
    """
    commitments.check_share(share)
    t = commitments.threshold
    total = list(commitments.coefficients)
    value = share.scalar
    for n, (zero_commits, delta) in enumerate(contributions, start=1):
        if len(zero_commits) != t or zero_commits[0] != oprf.IDENTITY:
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected contribution {n} to commit to {t} coefficients, the first the "
                "identity (a sharing of zero)",
            )
        for c in zero_commits[1:]:
            if c != oprf.IDENTITY:
                try:
                    oprf.element(c, f"a commitment of contribution {n}")
                except MatchError as exc:
                    raise MatchError(Reason.MATCH_SHARE_INVALID, exc.detail) from exc
        try:
            oprf.scalar(delta, f"the value of contribution {n}")
        except MatchError as exc:
            raise MatchError(Reason.MATCH_SHARE_INVALID, exc.detail) from exc
        expected = _share_public_key(tuple(zero_commits), share.index)
        if oprf.multiply(delta, oprf.GENERATOR) != expected:
            raise MatchError(
                Reason.MATCH_SHARE_INVALID,
                f"expected contribution {n}'s value for share {share.index} to match its "
                "commitments; it does not",
            )
        total = [oprf.add_elements(a, b) for a, b in zip(total, zero_commits, strict=True)]
        value = oprf.scalar_add(value, delta)
    renewed = Commitments(t, tuple(total))
    new_share = KeyShare(share.index, value)
    renewed.check_share(new_share)
    return renewed, new_share


# --- evaluating, verifying, combining ----------------------------------------------


def partial_evaluate(
    share: KeyShare, commitments: Commitments, blinded: bytes, *, r: bytes | None = None
) -> PartialEvaluation:
    """An evaluator's answer to one blinded element, with its DLEQ proof.

    ``r`` is the proof's random scalar; give it only to reproduce a vector.

    Raises:
        MatchError: MATCH_ELEMENT_INVALID for a blinded element that is not a
            canonical non-identity encoding; MATCH_SHARE_INVALID if the share does
            not match the commitments.
    """
    point = oprf.element(blinded, "the blinded element")
    share_pk = oprf.base_multiply(share.scalar)
    if share_pk != commitments.share_public_key(share.index):
        raise MatchError(
            Reason.MATCH_SHARE_INVALID,
            f"expected share {share.index} to match the commitments' share public key; it does not",
        )
    evaluated = oprf.multiply(share.scalar, point)
    proof = oprf.generate_proof(
        share.scalar, oprf.GENERATOR, share_pk, [point], [evaluated], mode=oprf.MODE_VOPRF, r=r
    )
    return PartialEvaluation(share.index, evaluated, proof)


def verify_partial(commitments: Commitments, blinded: bytes, partial: PartialEvaluation) -> None:
    """Raise unless ``partial`` proves ``log_G(P_i) = log_B(Z_i)`` for its index ``i``.

    Raises:
        MatchError: MATCH_EVALUATION_FORGED naming the index when the proof does not
            verify; MATCH_ELEMENT_INVALID for an element that is not valid;
            MATCH_SHARE_INVALID for an index out of range.
    """
    index = _check_index(partial.index, "a partial evaluation's index")
    point = oprf.element(blinded, "the blinded element")
    evaluated = oprf.element(partial.evaluated, f"the evaluated element of share {index}")
    share_pk = commitments.share_public_key(index)
    if not oprf.verify_proof(
        oprf.GENERATOR, share_pk, [point], [evaluated], partial.proof, mode=oprf.MODE_VOPRF
    ):
        raise MatchError(
            Reason.MATCH_EVALUATION_FORGED,
            f"expected the partial evaluation of share {index} to prove it used that share "
            "(DLEQ against the commitments); the proof does not verify",
        )


def lagrange_at_zero(index: int, indices: Sequence[int]) -> bytes:
    """``lambda_i = prod_{j != i} x_j / (x_j - x_i)`` over the scalars (x_j = j)."""
    x_i = index_scalar(index)
    numerator, denominator = index_scalar(1), index_scalar(1)
    for j in indices:
        if j == index:
            continue
        x_j = index_scalar(j)
        numerator = oprf.scalar_mul(numerator, x_j)
        denominator = oprf.scalar_mul(denominator, oprf.scalar_sub(x_j, x_i))
    return oprf.scalar_mul(numerator, oprf.scalar_invert(denominator))


@dataclass(frozen=True, slots=True)
class Refusal:
    """One partial evaluation set aside: its index, the reason and the detail."""

    index: int
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Examination:
    """Everything :func:`examine` found: the valid indices, the refused partials and,
    when ``threshold`` distinct valid ones arrived, the combined element."""

    threshold: int
    valid: tuple[int, ...]
    refused: tuple[Refusal, ...]
    evaluated: bytes | None = field(repr=False)


def examine(
    commitments: Commitments, blinded: bytes, partials: Sequence[PartialEvaluation]
) -> Examination:
    """Verify every partial, set aside (and name) the bad ones, combine the valid ones.

    For auditors and for a client that wants to carry on without a cheater:
    nothing is raised for a bad partial. A duplicated index refuses every partial
    that carries it (which one is right cannot be told without verifying both,
    and an honest evaluator never answers twice).

    Raises:
        MatchError: MATCH_ELEMENT_INVALID for a blinded element that is not valid.
    """
    oprf.element(blinded, "the blinded element")
    counts: dict[int, int] = {}
    for p in partials:
        counts[p.index] = counts.get(p.index, 0) + 1
    valid: dict[int, bytes] = {}
    refused: list[Refusal] = []
    for p in partials:
        if counts[p.index] > 1:
            if not any(r.index == p.index for r in refused):
                refused.append(
                    Refusal(
                        p.index,
                        Reason.MATCH_SHARE_INVALID,
                        f"expected one partial evaluation from share {p.index}, "
                        f"got {counts[p.index]}",
                    )
                )
            continue
        try:
            verify_partial(commitments, blinded, p)
        except MatchError as exc:
            refused.append(Refusal(p.index, exc.reason, exc.detail))
            continue
        valid[p.index] = p.evaluated
    chosen = sorted(valid)[: commitments.threshold]
    evaluated = None
    if len(chosen) == commitments.threshold:
        evaluated = oprf.IDENTITY
        for i in chosen:
            evaluated = oprf.add_elements(
                evaluated, oprf.multiply(lagrange_at_zero(i, chosen), valid[i])
            )
    return Examination(commitments.threshold, tuple(sorted(valid)), tuple(refused), evaluated)


def combine(
    commitments: Commitments, blinded: bytes, partials: Sequence[PartialEvaluation]
) -> bytes:
    """The evaluated element ``k * B`` from ``threshold`` distinct valid partials.

    Every partial is verified; any bad one refuses the whole combination, naming
    it (:func:`examine` carries on without it instead). Valid partials beyond
    the threshold are fine.

    Raises:
        MatchError: MATCH_EVALUATION_FORGED (naming the share) for a proof that does
            not verify; MATCH_ELEMENT_INVALID for an element that is not valid;
            MATCH_SHARE_INVALID for an index given twice or out of range;
            MATCH_THRESHOLD_NOT_MET for fewer than ``threshold`` partials.
    """
    result = examine(commitments, blinded, partials)
    if result.refused:
        first = result.refused[0]
        others = [r.index for r in result.refused[1:]]
        more = f" (also refused: shares {others})" if others else ""
        raise MatchError(first.reason, first.detail + more)
    if result.evaluated is None:
        raise MatchError(
            Reason.MATCH_THRESHOLD_NOT_MET,
            f"expected {commitments.threshold} valid partial evaluations from distinct "
            f"shares, got {len(result.valid)}",
        )
    return result.evaluated
