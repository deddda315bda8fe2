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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from hub.keys import KeyRole, private_key_from_seed  # noqa: E402
from hub.policy import (  # noqa: E402
    dump_agreement_yaml,
    leading_comments,
    load_agreement_file,
    resign_agreement,
)
from hub.topics import COMMIT_COUNTRIES, COUNTRY_NAMES  # noqa: E402
from hub.trust import KeySpec, build_trust_document, public_key_pem  # noqa: E402

ISSUED_AT_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: before every example agreement


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
        signed = load_agreement_file(path)
        parties = sorted(signed.agreement.parties)
        fresh = resign_agreement(signed, [keys[cc] for cc in parties])
        files[path] = dump_agreement_yaml(
            fresh.document, header=leading_comments(path.read_text(encoding="utf-8"))
        )
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
