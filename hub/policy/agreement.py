"""Agreements: the signed documents that alone let data cross a border.

An agreement file is YAML (for the lawyers who negotiate it) holding a signed
document (``hub.signed_doc``) of ``_type`` ``trm.agreement/v1``::

    signed:
      _type: trm.agreement/v1
      id: TH-KH-referral
      version: 2
      ...
    signatures:
      - {keyid: <hex>, sig: <base64>}

Every party signs the RFC 8785 canonical JSON of ``signed`` with a root key.
``docs/agreements.md`` explains every field; ``schemas/agreement.schema.json``
(published with the Avro schemas, ``$id`` ``urn:trm-hub:schema:agreement:v1``)
is the JSON Schema ``trm agreements check`` enforces.

Pure: no clock, no I/O except :func:`load_agreement_file`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import schemas
from hub.errors import PolicyError, Reason, RequestError
from hub.keys import KeyDirectory, KeyRole
from hub.signed_doc import SignedDocument
from hub.textdoc import parse_yaml

__all__ = [
    "AGREEMENT_TYPE",
    "ANY_PARTY",
    "FOLLOW_UP_TYPES",
    "Agreement",
    "AgreementSet",
    "ChildRule",
    "ConsentRule",
    "Flow",
    "SignedAgreement",
    "agreement_schema",
    "dump_agreement_yaml",
    "leading_comments",
    "load_agreement",
    "load_agreement_file",
    "parse_agreement",
    "parse_time_ms",
]

#: The largest agreement file or registry record read (they are a few kB).
MAX_AGREEMENT_BYTES = 1 << 20

AGREEMENT_TYPE = "trm.agreement/v1"
ANY_PARTY = "any"  # in a multilateral flow: every party (never the producer itself)
# The event types whose flows may carry a case follow-up schedule (docs/agreements.md).
FOLLOW_UP_TYPES = ("case_update", "reintegration_report")


SCHEMA_FILE = "agreement.schema.json"  # in the ``schemas`` package, beside the .avsc files


@functools.cache
def _schema_text() -> str:
    return (schemas.SCHEMA_DIR / SCHEMA_FILE).read_text(encoding="utf-8")


def agreement_schema() -> dict[str, Any]:
    """The JSON Schema of an agreement file (``schemas/agreement.schema.json``).

    The file says only what an event type's name looks like; the event types
    themselves are the registered ones (``hub/wire/eventtypes.py``), added
    here as an enum each time, so a type registered at run time is known.
    """
    from hub.wire import EventType  # noqa: PLC0415 - the wire's registry

    schema: dict[str, Any] = json.loads(_schema_text())
    schema["$defs"]["event_type"]["enum"] = [t.value for t in EventType]
    return schema


def parse_time_ms(text: str, where: str) -> int:
    """An RFC 3339 UTC time (``2026-01-01T00:00:00Z``) as ms since the epoch."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PolicyError(
            Reason.AGREEMENT_INVALID, f"{where}: expected an RFC 3339 time, got {text!r}"
        ) from exc
    if when.tzinfo is None or when.utcoffset() != dt.timedelta(0):
        raise PolicyError(
            Reason.AGREEMENT_INVALID, f"{where}: expected a UTC time ending in Z, got {text!r}"
        )
    return int(when.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class ConsentRule:
    """When personal fields need the person's consent.

    With consent recorded as GIVEN (and, if its scope names purposes or
    countries, covering this purpose and recipient) the flow's whole field
    allowlist may go; otherwise only ``without_consent`` fields, and if that
    is empty nothing goes (CONSENT_REQUIRED).
    """

    required: bool
    without_consent: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChildRule:
    """Conditions for a child (``is_child`` true, or not disclosed as false).

    The receiving organisation must be a named protection agency (by id) or of
    an allowed kind, and a best-interest assessment must be recorded.
    """

    agencies: frozenset[str]
    kinds: frozenset[str]
    require_best_interest_assessment: bool


@dataclass(frozen=True, slots=True)
class Flow:
    """What may go in one direction for one event type."""

    sender: str  # a party, or ANY_PARTY
    recipient: str  # a party, or ANY_PARTY
    event_type: str
    purposes: frozenset[str]
    handling: frozenset[str]
    fields: frozenset[str]
    consent: ConsentRule | None
    child: ChildRule | None
    retention_days: int
    require_sealed: bool = False  # only sealed (v2) events may go (SEALING_REQUIRED)
    # Follow-ups after a handover, in calendar months (case_update and
    # reintegration_report flows only; docs/protocol.md 14.3); None: the default.
    follow_up_months: tuple[int, ...] | None = None

    def covers(self, sender: str, recipient: str) -> bool:
        return self.sender in (sender, ANY_PARTY) and self.recipient in (recipient, ANY_PARTY)


@dataclass(frozen=True, slots=True)
class Agreement:
    """The terms, parsed from ``signed``."""

    id: str
    version: int
    title: str
    parties: frozenset[str]
    effective_from_ms: int
    effective_until_ms: int | None
    flows: tuple[Flow, ...]
    example: bool

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def in_force_at(self, at_ms: int) -> bool:
        if at_ms < self.effective_from_ms:
            return False
        return self.effective_until_ms is None or at_ms < self.effective_until_ms

    def follow_up_months(self, a: str, b: str) -> tuple[int, ...] | None:
        """The follow-up schedule this agreement sets for cases between ``a`` and ``b``.

        From the flows of ``case_update`` (then ``reintegration_report``)
        between the two, either way; None when none names one.
        """
        for event_type in FOLLOW_UP_TYPES:
            for sender, recipient in ((a, b), (b, a)):
                for flow in self.flows_for(sender, recipient, event_type):
                    if flow.follow_up_months is not None:
                        return flow.follow_up_months
        return None

    def flows_for(self, sender: str, recipient: str, event_type: str) -> tuple[Flow, ...]:
        if sender == recipient or not {sender, recipient} <= self.parties:
            return ()
        return tuple(
            f for f in self.flows if f.event_type == event_type and f.covers(sender, recipient)
        )

    def flow_for(self, sender: str, recipient: str, event_type: str) -> Flow | None:
        """The flow an event goes under: one naming both countries before one for 'any' party."""
        flows = self.flows_for(sender, recipient, event_type)
        return min(flows, key=_generality, default=None)


@dataclass(frozen=True, slots=True)
class SignedAgreement:
    """An agreement with its signatures; whether they suffice depends on the trust list."""

    agreement: Agreement
    document: SignedDocument
    loaded_at_ms: int | None = None  # when the hub's registry took it in, if known

    def missing_parties(self, keys: KeyDirectory, at_ms: int) -> tuple[frozenset[str], bool]:
        """Parties with no valid root signature at ``at_ms``; and whether any signature failed.

        A signature by a party's root key that does not verify is reported
        apart from a missing one: it means the text changed after signing.
        """
        missing: set[str] = set()
        tampered = False
        for party in sorted(self.agreement.parties):
            roots = keys.keys_for(party, KeyRole.ROOT, at_ms)
            ids = {k.key_id for k in roots}
            present = [s for s in self.document.signatures if s.keyid in ids]
            valid = self.document.valid_signers(roots)
            if not valid:
                missing.add(party)
                tampered = tampered or bool(present)
        return frozenset(missing), tampered

    def to_yaml(self) -> str:
        return dump_agreement_yaml(self.document)


def _flow(raw: Mapping[str, Any], where: str, parties: frozenset[str]) -> list[Flow]:
    sender, recipient = raw["from"], raw["to"]
    for side, value in (("from", sender), ("to", recipient)):
        if value != ANY_PARTY and value not in parties:
            raise PolicyError(
                Reason.AGREEMENT_INVALID,
                f"{where}.{side}: expected a party ({', '.join(sorted(parties))}) or "
                f"'{ANY_PARTY}', got {value!r}",
            )
    flows = []
    for event_type, terms in sorted(raw["event_types"].items()):
        at = f"{where}.event_types.{event_type}"
        fields = frozenset(terms["fields"])
        consent = None
        if "consent" in terms:
            c = terms["consent"]
            without = frozenset(c.get("without_consent", []))
            if not without <= fields:
                raise PolicyError(
                    Reason.AGREEMENT_INVALID,
                    f"{at}.consent.without_consent: expected a subset of fields; "
                    f"{sorted(without - fields)} are not in the allowlist",
                )
            consent = ConsentRule(bool(c.get("required", True)), without)
        child = None
        if "child" in terms:
            c = terms["child"]
            child = ChildRule(
                frozenset(c.get("agencies", [])),
                frozenset(c.get("kinds", [])),
                bool(c.get("require_best_interest_assessment", True)),
            )
        months = terms.get("case_follow_up_months")
        if months is not None:
            if event_type not in FOLLOW_UP_TYPES:
                raise PolicyError(
                    Reason.AGREEMENT_INVALID,
                    f"{at}.case_follow_up_months: expected only on "
                    f"{' or '.join(FOLLOW_UP_TYPES)}, found on {event_type}",
                )
            if any(x >= y for x, y in itertools.pairwise(months)):
                raise PolicyError(
                    Reason.AGREEMENT_INVALID,
                    f"{at}.case_follow_up_months: expected strictly increasing months, "
                    f"got {months}",
                )
        flows.append(
            Flow(
                sender,
                recipient,
                event_type,
                frozenset(terms["purposes"]),
                frozenset(terms["handling"]),
                fields,
                consent,
                child,
                int(terms["retention_days"]),
                bool(terms.get("require_sealed", False)),
                None if months is None else tuple(int(m) for m in months),
            )
        )
    return flows


def _check_fields(agreement: Agreement, where: str) -> None:
    # Imported here: the field catalogue comes from the wire schemas.
    from hub.wire import payload_fields  # noqa: PLC0415

    for i, flow in enumerate(agreement.flows):
        known = set(payload_fields(flow.event_type))
        unknown = flow.fields - known
        if unknown:
            raise PolicyError(
                Reason.AGREEMENT_INVALID,
                f"{where}: flow {i} ({flow.event_type}): fields {sorted(unknown)} are not "
                f"fields of {flow.event_type}",
            )


def load_agreement(
    obj: Mapping[str, Any] | SignedDocument, *, where: str = "agreement"
) -> SignedAgreement:
    """Validate a decoded agreement document (schema, then meaning).

    Raises:
        PolicyError: AGREEMENT_INVALID naming the path inside the document,
            what was expected and what was found.
    """
    if isinstance(obj, SignedDocument):
        doc = obj
        raw: Any = doc.to_json()
    else:
        raw = obj
    validator = jsonschema.Draft202012Validator(agreement_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(top)"
        found = json.dumps(e.instance, ensure_ascii=False, default=str)
        if len(found) > 80:
            found = found[:77] + "..."
        raise PolicyError(
            Reason.AGREEMENT_INVALID,
            f"{where}: at {path}: {e.message if len(e.message) < 160 else e.message[:157] + '...'}"
            f" (found {found})",
        )
    doc = SignedDocument.from_json(raw, AGREEMENT_TYPE, PolicyError, Reason.AGREEMENT_INVALID)
    body = doc.signed
    parties = frozenset(body["parties"])
    flows: list[Flow] = []
    for i, f in enumerate(body["flows"]):
        flows.extend(_flow(f, f"{where}: signed.flows[{i}]", parties))
    start = parse_time_ms(body["effective_from"], f"{where}: signed.effective_from")
    until = body.get("effective_until")
    end = None if until is None else parse_time_ms(until, f"{where}: signed.effective_until")
    if end is not None and end <= start:
        raise PolicyError(
            Reason.AGREEMENT_INVALID,
            f"{where}: signed.effective_until: expected after effective_from, got {until}",
        )
    agreement = Agreement(
        id=body["id"],
        version=int(body["version"]),
        title=body["title"],
        parties=parties,
        effective_from_ms=start,
        effective_until_ms=end,
        flows=tuple(flows),
        example=bool(body.get("example", False)),
    )
    _check_fields(agreement, where)
    return SignedAgreement(agreement, doc)


def parse_agreement(
    blob: bytes, *, loaded_at_ms: int | None = None, where: str | None = None
) -> SignedAgreement:
    """A signed agreement from its YAML bytes, as a registry record or a file holds them
    (signatures are checked by the engine); ``loaded_at_ms``: the record's timestamp.

    Raises:
        PolicyError: AGREEMENT_INVALID (the detail names ``where``, a file, when given).
    """
    try:
        obj = parse_yaml(blob, what=where or "agreement", max_bytes=MAX_AGREEMENT_BYTES)
    except RequestError as exc:
        raise PolicyError(Reason.AGREEMENT_INVALID, exc.detail) from exc
    agreement = load_agreement(obj) if where is None else load_agreement(obj, where=where)
    return dataclasses.replace(agreement, loaded_at_ms=loaded_at_ms)


def load_agreement_file(path: str | Path) -> SignedAgreement:
    """Read and validate one agreement YAML file (signatures are checked by the engine)."""
    where = Path(path)
    try:
        blob = where.read_bytes()
    except OSError as exc:  # missing, a directory, unreadable: a refusal naming the file
        raise PolicyError(
            Reason.AGREEMENT_INVALID,
            f"{where.name}: expected a readable agreement file at {where} ({exc.strerror})",
        ) from exc
    return parse_agreement(blob, where=where.name)


class _PlainDumper(yaml.SafeDumper):
    """YAML for people: no anchors or aliases, short lists inline."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_agreement_yaml(doc: SignedDocument, *, header: str = "") -> str:
    """The YAML form of a signed agreement (what ``trm agreements sign`` writes).

    ``header`` is kept as leading comment lines (e.g. the EXAMPLE notice).
    """
    body = yaml.dump(
        doc.to_json(),
        Dumper=_PlainDumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
        default_flow_style=None,
    )
    return header + body


def leading_comments(text: str) -> str:
    """The comment lines at the top of a YAML file, kept when it is re-signed."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class AgreementSet:
    """Every version of every agreement the hub holds, old ones included.

    Old versions stay: an event is judged by the version in force when it was
    created, and an auditor re-judges old events long after.
    """

    entries: tuple[SignedAgreement, ...] = ()

    @classmethod
    def of(cls, agreements: Iterable[SignedAgreement]) -> AgreementSet:
        seen: dict[tuple[str, int], SignedAgreement] = {}
        for a in agreements:
            key = (a.agreement.id, a.agreement.version)
            if key in seen and seen[key].document.canonical() != a.document.canonical():
                raise PolicyError(
                    Reason.AGREEMENT_INVALID,
                    f"expected one text per version; {a.agreement.ref} appears twice, different",
                )
            if key not in seen or _earlier(a, seen[key]):
                seen[key] = a
        ordered = sorted(seen.values(), key=lambda a: (a.agreement.id, a.agreement.version))
        return cls(tuple(ordered))

    def known_at(self, now_ms: int) -> AgreementSet:
        """Only what had been loaded by ``now_ms`` (what the hub could know then)."""
        return AgreementSet(
            tuple(a for a in self.entries if a.loaded_at_ms is None or a.loaded_at_ms <= now_ms)
        )

    def versions(self, agreement_id: str) -> Sequence[SignedAgreement]:
        return tuple(a for a in self.entries if a.agreement.id == agreement_id)

    def in_force(self, at_ms: int) -> tuple[SignedAgreement, ...]:
        """Per agreement id, the highest version in force at ``at_ms``."""
        best: dict[str, SignedAgreement] = {}
        for a in self.entries:
            if a.agreement.in_force_at(at_ms):
                cur = best.get(a.agreement.id)
                if cur is None or a.agreement.version > cur.agreement.version:
                    best[a.agreement.id] = a
        return tuple(best[k] for k in sorted(best))

    def __len__(self) -> int:
        return len(self.entries)


def _earlier(a: SignedAgreement, b: SignedAgreement) -> bool:
    if a.loaded_at_ms is None:
        return b.loaded_at_ms is not None
    return b.loaded_at_ms is not None and a.loaded_at_ms < b.loaded_at_ms


def _generality(flow: Flow) -> int:
    """How many of a flow's two ends are 'any' party (0: it names both countries)."""
    return (flow.sender == ANY_PARTY) + (flow.recipient == ANY_PARTY)
