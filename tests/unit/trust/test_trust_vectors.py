"""The trust-list and seal-key set vectors: each gives its expected outcome, no drift
from the generators, enough kinds, every rule of section 6.3 decided, and the JSON
Schemas agree with the vectors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hub.conformance import seal_keys as seal_keys_set
from hub.conformance import trust as trust_set
from hub.conformance.base import Result, read_json
from hub.errors import Reason, TrustError
from hub.keys import KeyRole
from hub.signed_doc import SignedDocument, parse_json
from hub.trust import TRUST_TYPE, TrustList

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors"
TRUST = VECTORS / "trust"
SEAL_KEYS = VECTORS / "seal-keys"
SCHEMAS = {
    TRUST: ROOT / "schemas" / "trust-list.schema.json",
    SEAL_KEYS: ROOT / "schemas" / "seal-keys.schema.json",
}


def _section_6() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    return text.split("<!-- SECTION:TRUST")[1].split("<!-- /SECTION:TRUST -->")[0]


def _failures(results: list[Result]) -> str:
    return "\n".join(
        f"{r.vector}: expected {r.expected}, got {r.got}" for r in results if not r.passed
    )


def _vectors(directory: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: read_json(p) for p in trust_set.vector_files(directory)}


@pytest.mark.parametrize("script", ["generate_trust.py", "generate_seal_keys.py"])
def test_vectors_match_their_generator(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(VECTORS / script), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_trust_vector_gives_its_expected_outcome() -> None:
    results = trust_set.check(TRUST)
    assert trust_set.NAME == "trust"
    assert len(results) >= 60
    assert all(r.passed for r in results), _failures(results)


def test_every_seal_key_vector_gives_its_expected_outcome() -> None:
    results = seal_keys_set.check(SEAL_KEYS)
    assert seal_keys_set.NAME == "seal-keys"
    assert len(results) >= 30
    assert all(r.passed for r in results), _failures(results)


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    vector = read_json(TRUST / "good-01-first-version.json")
    vector["expected"]["digest"] = "00" * 32
    (tmp_path / "good-01-first-version.json").write_text(json.dumps(vector), encoding="utf-8")
    (result,) = trust_set.check(tmp_path)
    assert not result.passed
    assert "00" * 32 in result.expected


@pytest.mark.parametrize(
    ("directory", "reasons"),
    [
        (TRUST, {"TRUST_MALFORMED", "TRUST_THRESHOLD_NOT_MET", "TRUST_ROLLBACK"}),
        (
            SEAL_KEYS,
            {
                "TRUST_MALFORMED",
                "TRUST_ROLLBACK",
                "UNKNOWN_KEY",
                "KEY_ROLE_NOT_ALLOWED",
                "KEY_NOT_VALID_AT_TIME",
                "BAD_SIGNATURE",
            },
        ),
    ],
)
def test_kinds_of_vectors(directory: Path, reasons: set[str]) -> None:
    found = Counter(
        v["expected"]["reason"] or v["expected"]["outcome"] for v in _vectors(directory).values()
    )
    assert found["accepted"] >= 4
    assert set(found) - {"accepted"} == reasons
    assert found["TRUST_MALFORMED"] >= 15
    # Every vector says what it is about; the folder says how to apply them.
    assert all(v["description"] for v in _vectors(directory).values())
    assert (directory / "README.md").exists()


def _parsed(vector: dict[str, Any]) -> TrustList:
    """The offered version parsed, no signature checked (to show what decides a vector)."""
    doc = SignedDocument.from_json(
        vector["document"], TRUST_TYPE, TrustError, Reason.TRUST_MALFORMED
    )
    return TrustList._parse(doc)


def test_each_rule_of_section_6_3_is_decided_by_a_vector() -> None:
    """Drop any one rule and some vector gives another outcome."""
    v = _vectors(TRUST)
    # Step 3 alone refuses bad-08: as a first version (no previous) it is accepted.
    step3 = v["bad-08-new-roots-outvote-the-previous"]
    assert TrustList.from_signed(step3["document"]).version == 2
    # Step 2 alone refuses bad-09: the previous version's threshold of its roots signed it.
    step2 = v["bad-09-previous-roots-without-the-new"]
    previous = TrustList.from_signed(step2["previous"])
    offered = _parsed(step2)
    assert len(offered.signing_countries(previous.roots(offered.issued_at_ms))) >= 4
    # Validity windows decide bad-10 and bad-11: counting every unrevoked member root
    # whatever its window would meet the threshold.
    for name in ("bad-10-closed-root-signs-a-later-version", "bad-11-root-not-yet-valid"):
        offered = _parsed(v[name])
        unwindowed = [
            k
            for k in offered.keys.values()
            if KeyRole.ROOT in k.roles and k.country in offered.members and k.revoked_at_ms is None
        ]
        assert len(offered.signing_countries(unwindowed)) >= offered.threshold, name
    # A revoked root never counts (bad-12): as a time, its revocation would not yet apply.
    revoked = v["bad-12-revoked-root"]
    previous = TrustList.from_signed(revoked["previous"])
    offered = _parsed(revoked)
    at_time = [
        k
        for k in previous.keys.values()
        if KeyRole.ROOT in k.roles and k.valid_at(offered.issued_at_ms)
    ]
    assert len(offered.signing_countries(at_time)) >= previous.threshold


# --- the JSON Schemas -----------------------------------------------------------------


def _validator(directory: Path) -> Draft202012Validator:
    schema = json.loads(SCHEMAS[directory].read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("directory", [TRUST, SEAL_KEYS], ids=lambda d: d.name)
def test_the_schema_is_named_in_section_6_with_a_stable_id(directory: Path) -> None:
    schema = json.loads(SCHEMAS[directory].read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    stem = SCHEMAS[directory].name.removesuffix(".schema.json")
    assert schema["$id"] == f"urn:trm-hub:schema:{stem}:v1"  # as the agreement schema's
    assert f"schemas/{SCHEMAS[directory].name}" in _section_6()
    assert f"`{schema['$id']}`" in _section_6()


@pytest.mark.parametrize("directory", [TRUST, SEAL_KEYS], ids=lambda d: d.name)
def test_the_schema_agrees_with_every_vector(directory: Path) -> None:
    """Good vectors validate; a malformed one fails the schema unless it names
    (``beyond_schema``) a rule that section 6 lists as beyond a schema."""
    validator = _validator(directory)
    beyond_rules = set(re.findall(r"\(`([a-z-]+)`\)", _section_6()))
    assert {"json-text", "key-id", "window-order"} <= beyond_rules
    for name, v in _vectors(directory).items():
        try:
            doc = parse_json(v["document_text"]) if "document_text" in v else v["document"]
        except ValueError:
            valid = None  # not JSON text at all: nothing for a schema to judge
        else:
            valid = validator.is_valid(doc)
        beyond = v.get("beyond_schema")
        reason = v["expected"]["reason"]
        if reason == "TRUST_MALFORMED":
            assert valid is not True or beyond in beyond_rules, f"{name}: the schema accepts it"
            assert valid is False or beyond is not None, f"{name}: beyond_schema missing"
            assert valid is not False or beyond is None, f"{name}: the schema refuses it"
        else:
            assert valid is True, f"{name}: a well-shaped document fails the schema"
            assert beyond is None, name
    if directory == SEAL_KEYS:
        trust = json.loads((SEAL_KEYS / "trust.json").read_text(encoding="utf-8"))
        assert _validator(TRUST).is_valid(trust)
