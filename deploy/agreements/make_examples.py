#!/usr/bin/env python3
"""Sign the EXAMPLE agreements in this directory with the EXAMPLE root keys.

The example keys are derived from fixed public seeds, so anyone can forge them:
they exist only so the samples verify out of the box and the tests can check
them. Nothing real may ever be signed with them. ``make demo`` generates fresh
keys and signs the same agreements again.

    python deploy/agreements/make_examples.py          # re-sign in place
    python deploy/agreements/make_examples.py --check  # exit 1 if anything would change

Writes ``example-keys/<CC>.pub`` and ``example-trust.json`` (a trust list of
the six example root+producer keys, signed by all six).

Before signing, each sample gets the flows of the case lifecycle
(docs/protocol.md 14) where it lacks them: every flow that carries a handover
notice also carries ``case_update``, ``reintegration_report`` (without its
free-text ``notes``) and ``case_alert``; and, once the ``statistics_report``
type is registered, the multilateral baseline lets every member send every
other its statistics report (purpose ``statistics``). Adding is idempotent.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from hub.keys import KeyRole, private_key_from_seed  # noqa: E402
from hub.policy import (  # noqa: E402
    dump_agreement_yaml,
    leading_comments,
    load_agreement,
    resign_agreement,
)
from hub.policy.agreement import MAX_AGREEMENT_BYTES  # noqa: E402
from hub.textdoc import parse_yaml  # noqa: E402
from hub.topics import COMMIT_COUNTRIES, COUNTRY_NAMES  # noqa: E402
from hub.trust import KeySpec, build_trust_document, public_key_pem  # noqa: E402
from hub.wire import EventType, payload_fields  # noqa: E402

ISSUED_AT_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: before every example agreement
CASE_NOTE = (
    "The case lifecycle (docs/protocol.md 14): status updates, follow-up visits and alerts "
    "of a late step, linked by the case key; no personal data (a report's notes withheld)."
)
# Flows every bilateral sample carries beside its handover notices (both directions).
LIFECYCLE: dict[str, dict[str, Any]] = {
    "case_update": {
        "purposes": ["victim_protection", "repatriation", "reintegration", "family_tracing"],
        "handling": ["H1", "H2"],
        "fields": "all",
        "retention_days": 1095,
        "case_follow_up_months": [3, 6, 12],
        "note": CASE_NOTE,
    },
    "reintegration_report": {
        "purposes": ["reintegration", "victim_protection"],
        "handling": ["H1", "H2"],
        "fields": "all but notes",
        "retention_days": 1095,
        "note": CASE_NOTE,
    },
    "case_alert": {
        "purposes": ["victim_protection", "repatriation", "reintegration"],
        "handling": ["H1", "H2"],
        "fields": "all",
        "retention_days": 1095,
        "note": CASE_NOTE,
    },
}
# Every member to every other (COMMIT-baseline): aggregates only (docs/statistics.md).
STATISTICS: dict[str, Any] = {
    "purposes": ["statistics"],
    "handling": ["H0", "H1"],
    "fields": [],  # filled from the registered schema: every top-level field
    # No longer than the baseline's other flows: a seal epoch key is kept as long as
    # the longest retention of anything sealed under it (hub.sealkeys.retention_due),
    # and aggregates must not keep the keys of personal data alive for longer.
    "retention_days": 1825,
    "note": "Statistics reports: aggregates only, no case key, no event id of a case.",
}


def _terms(event_type: str, template: dict[str, Any]) -> dict[str, Any]:
    terms = copy.deepcopy(template)
    every = list(payload_fields(event_type))
    if terms["fields"] == "all":
        terms["fields"] = every
    elif terms["fields"] == "all but notes":
        terms["fields"] = [f for f in every if f != "notes"]
    elif not terms["fields"]:
        terms["fields"] = every
    return terms


def with_case_flows(signed: dict[str, Any]) -> dict[str, Any]:
    """``signed`` with the lifecycle (and statistics) flows it lacks added (idempotent)."""
    body = copy.deepcopy(signed)
    for flow in body["flows"]:
        types = flow["event_types"]
        if "handover_notice" in types:
            for event_type, template in LIFECYCLE.items():
                types.setdefault(event_type, _terms(event_type, template))
        if (
            flow["from"] == flow["to"] == "any"
            and len(body["parties"]) > 2
            and "statistics_report" in EventType
        ):
            types.setdefault("statistics_report", _terms("statistics_report", STATISTICS))
    return body


def example_key(country: str) -> Ed25519PrivateKey:
    """The INSECURE example root key of ``country`` (seed is public)."""
    return private_key_from_seed(
        hashlib.sha256(f"trm-hub EXAMPLE root {country}".encode()).digest()
    )


def outputs() -> dict[Path, str]:
    keys = {cc: example_key(cc) for cc in COMMIT_COUNTRIES}
    files: dict[Path, str] = {}
    for cc, key in keys.items():
        files[HERE / "example-keys" / f"{cc}.pub"] = public_key_pem(key.public_key()).decode()
    trust = build_trust_document(
        [
            KeySpec(cc, frozenset({KeyRole.ROOT, KeyRole.PRODUCER}), k.public_key(), ISSUED_AT_MS)
            for cc, k in keys.items()
        ],
        members={cc: COUNTRY_NAMES[cc] for cc in keys},
        threshold=4,
        version=1,
        issued_at_ms=ISSUED_AT_MS,
        signers=list(keys.values()),
    )
    files[HERE / "example-trust.json"] = json.dumps(trust.to_json(), indent=2) + "\n"
    for path in sorted(HERE.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        raw = parse_yaml(text.encode("utf-8"), what=path.name, max_bytes=MAX_AGREEMENT_BYTES)
        raw["signed"] = with_case_flows(raw["signed"])
        signed = load_agreement(raw, where=path.name)
        parties = sorted(signed.agreement.parties)
        fresh = resign_agreement(signed, [keys[cc] for cc in parties])
        files[path] = dump_agreement_yaml(fresh.document, header=leading_comments(text))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report drift")
    args = parser.parse_args(argv)
    drift = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            drift.append(path.relative_to(HERE))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if args.check and drift:
        print(f"would change: {', '.join(map(str, drift))}", file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {len(outputs())} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
