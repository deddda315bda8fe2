"""The threshold-oprf and rfc9497-oprf vector sets: no drift, every vector its outcome, and
the expectations checked against what they were built to show (not only against the code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hub.conformance import rfc9497, threshold_oprf
from hub.conformance.base import Result

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
FOLDER = VECTORS / "threshold-oprf"
RFC = json.loads((VECTORS / "rfc9497-oprf" / "ristretto255-sha512.json").read_text())
VOPRF = next(m for m in RFC["modes"] if m["mode"] == "VOPRF")


def _failures(results: list[Result]) -> str:
    return "\n".join(
        f"{r.vector}: expected {r.expected}, got {r.got}" for r in results if not r.passed
    )


def test_vectors_match_their_generator() -> None:
    done = subprocess.run(
        [sys.executable, str(VECTORS / "generate_threshold_oprf.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_threshold_vector_gives_its_expected_outcome() -> None:
    results = threshold_oprf.check(FOLDER)
    assert FOLDER.name == threshold_oprf.NAME
    assert len(results) >= 60
    assert all(r.passed for r in results), _failures(results)


def test_the_rfc9497_set_passes() -> None:
    results = rfc9497.check(VECTORS / "rfc9497-oprf")
    assert rfc9497.NAME == "rfc9497-oprf"
    assert len(results) == 3 + 2 + 3 + 3
    assert all(r.passed for r in results), _failures(results)


def test_the_split_key_is_the_rfcs_and_the_good_vectors_are_the_rfcs_outputs() -> None:
    key = json.loads((FOLDER / "key.json").read_text())
    assert key["public_key"] == VOPRF["pkSm"]
    for n in (1, 2):
        rfc = VOPRF["vectors"][n - 1]
        for path in FOLDER.glob(f"good-rfc{n}-*.json"):
            expected = json.loads(path.read_text())["expected"]
            assert expected == {
                "outcome": "combined",
                "evaluated": rfc["EvaluationElement"][0],
                "output": rfc["Output"][0],
            }, path.name


# What each bad vector was built to show (docs/protocol.md 13.2), independent of the code.
BUILT_TO_SHOW = {
    "bad-duplicate": ("MATCH_SHARE_INVALID", 2),
    "bad-evaluation-of-another-element": ("MATCH_EVALUATION_FORGED", 3),
    "bad-identity-blinded": ("MATCH_ELEMENT_INVALID", None),
    "bad-identity-evaluated": ("MATCH_ELEMENT_INVALID", 3),
    "bad-index-zero": ("MATCH_SHARE_INVALID", None),
    "bad-non-canonical-evaluated": ("MATCH_ELEMENT_INVALID", 3),
    "bad-non-canonical-proof-scalar": ("MATCH_EVALUATION_FORGED", 3),
    "bad-none": ("MATCH_THRESHOLD_NOT_MET", None),
    "bad-proof-of-another-partial": ("MATCH_EVALUATION_FORGED", 3),
    "bad-swapped-index": ("MATCH_EVALUATION_FORGED", 3),
    "bad-tampered-proof": ("MATCH_EVALUATION_FORGED", 3),
    "bad-two-of-three": ("MATCH_THRESHOLD_NOT_MET", None),
    "bad-wrong-scalar": ("MATCH_EVALUATION_FORGED", 3),
}


def test_each_bad_vector_shows_what_it_was_built_for() -> None:
    found = {}
    for path in sorted(FOLDER.glob("bad-*.json")):
        e = json.loads(path.read_text())["expected"]
        found[path.stem] = (e["reason"], e["index"])
    assert found == BUILT_TO_SHOW
