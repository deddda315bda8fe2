"""The desk's gettext catalogues, and that the page holds no text outside them.

Every catalogue parses with Babel, has every message id of the English one, no
empty translation, the same ``{placeholders}``, the right ``Plural-Forms``;
every label the page can show (the event types, fields and enum symbols of the
schemas a desk reads, every reason code, the countries, the purposes, every
symbol of the vocabularies of coded string fields) has a message; every string
field of those schemas is either in the table of coded fields the page gets
with its catalogue or named here as free text; and index.html and desk.js carry
no user-visible literal text.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

import schemas
from connectors.gateway.i18n import (
    CATALOGUE_DIR,
    LANGUAGES,
    PAGE_FORMATS,
    VOCABULARIES,
    load_catalogues,
    placeholders,
)
from hub.errors import OperationalError, Reason, RequestError
from hub.matching.keys import MatchKind
from hub.topics import COMMIT_COUNTRIES
from hub.wire import PURPOSES, EventType
from hub.wire.vocab import CONSENT_GIVERS, FIELD_VOCABULARIES, ORGANISATION_KINDS

STATIC = CATALOGUE_DIR.parent


def _read(lang: str) -> Any:
    with (CATALOGUE_DIR / f"{lang}.po").open("rb") as f:
        return read_po(f, locale=None if lang == "en" else lang, abort_invalid=True)


def _messages(lang: str) -> dict[str, str]:
    return {m.id: m.string for m in _read(lang) if m.id}


ENGLISH = _messages("en")


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_each_catalogue_parses_and_has_every_english_message(lang: str) -> None:
    catalog = _read(lang)
    found = {m.id: m for m in catalog if m.id}
    assert set(found) == set(ENGLISH), sorted(set(found) ^ set(ENGLISH))[:10]
    empty = [k for k, m in found.items() if not m.string or not str(m.string).strip()]
    assert empty == []
    broken = [
        k for k, m in found.items() if placeholders(str(m.string)) != placeholders(ENGLISH[k])
    ]
    assert broken == []
    assert not any(m.fuzzy for m in found.values())
    header = dict(catalog.mime_headers)
    assert header["Plural-Forms"] == LANGUAGES[lang].plural_forms
    assert header["Language"] == lang
    assert "charset=utf-8" in header["Content-Type"].lower()
    # Every message tells the translator the English text.
    assert all(any(c.startswith("English: ") for c in m.auto_comments) for m in found.values())


def test_translations_are_in_their_own_script() -> None:
    """A catalogue that is English under another name would pass the test above."""
    scripts = {
        "km": r"[\u1780-\u17FF]",
        "zh": r"[\u4E00-\u9FFF]",
        "lo": r"[\u0E80-\u0EFF]",
        "my": r"[\u1000-\u109F]",
        "th": r"[\u0E00-\u0E7F]",
        "vi": r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]",
    }
    for lang, script in scripts.items():
        messages = _messages(lang)
        same = [k for k, v in messages.items() if v == ENGLISH[k] and re.search("[a-z]{4}", v)]
        assert len(same) < 10, (lang, same)
        native = [k for k, v in messages.items() if re.search(script, v, re.IGNORECASE)]
        assert len(native) > 0.8 * len(messages), lang


def test_the_gateway_reads_every_catalogue_without_a_problem() -> None:
    catalogues = load_catalogues()
    assert catalogues.problems == ()
    assert list(catalogues.by_lang) == list(LANGUAGES)
    assert catalogues.get("th").messages["calendar.buddhist"] == "พุทธศักราช"
    body, etag = catalogues.body("km")
    assert "ការបញ្ជូនបន្ត".encode() in body
    assert etag.startswith('"')
    served = json.loads(body)
    # The page learns which field takes which vocabulary with its catalogue.
    assert served["vocabularies"]["fields"]["Organisation.kind"] == ["organisation_kind"]
    assert served["vocabularies"]["fields"]["Consent.scope"] == ["purpose", "country"]
    assert served["vocabularies"]["prefixes"]["event_type"] == "type"
    assert {"year", "year_month", "date"} <= set(served["dates"])
    with pytest.raises(RequestError) as info:
        catalogues.get("fr")
    assert info.value.reason is Reason.NOT_FOUND
    assert "'fr'" in info.value.detail
    assert "'km'" in info.value.detail


def test_a_slip_in_one_file_is_shown_in_english_and_named(tmp_path: Path) -> None:
    for path in CATALOGUE_DIR.glob("*.po"):
        shutil.copy(path, tmp_path / path.name)
    th = tmp_path / "th.po"
    text = th.read_text(encoding="utf-8")
    text = text.replace('msgstr "ส่งเมื่อ"', 'msgstr ""', 1)  # col.sent left empty
    text = text.replace('msgstr "{type} จาก{country}"', 'msgstr "{type} จาก{ประเทศ}"', 1)
    th.write_text(text, encoding="utf-8")
    catalogues = load_catalogues(tmp_path)
    messages = catalogues.get("th").messages
    assert messages["col.sent"] == "Sent"
    assert messages["detail.title_received"] == "{type} from {country}"
    assert any("th.po: col.sent: no translation" in p for p in catalogues.problems)
    assert any(
        "th.po: detail.title_received: expected the placeholders" in p for p in catalogues.problems
    )
    assert len(catalogues.problems) == 2


def test_a_vocabulary_symbol_without_a_message_is_named_at_start(tmp_path: Path) -> None:
    for path in CATALOGUE_DIR.glob("*.po"):
        shutil.copy(path, tmp_path / path.name)
    en = tmp_path / "en.po"
    text = en.read_text(encoding="utf-8")
    en.write_text(
        text.replace('msgid "organisation_kind.police"', 'msgid "organisation_kind.polis"', 1),
        encoding="utf-8",
    )
    problems = load_catalogues(tmp_path).problems
    assert "en.po: organisation_kind.police: no message; the value is shown as sent" in problems


def test_a_catalogue_that_does_not_parse_or_is_missing_is_refused(tmp_path: Path) -> None:
    for path in CATALOGUE_DIR.glob("*.po"):
        shutil.copy(path, tmp_path / path.name)
    for broken in (b'a stray line\nmsgid "x"\nmsgstr "y"\n', b'msgid "x"\nmsgstr "\xff"\n'):
        (tmp_path / "lo.po").write_bytes(broken)
        with pytest.raises(OperationalError) as info:
            load_catalogues(tmp_path)
        assert info.value.reason is Reason.CONFIG_INVALID
        assert "lo.po" in info.value.detail
    (tmp_path / "lo.po").unlink()
    with pytest.raises(OperationalError, match=r"lo\.po; it is missing"):
        load_catalogues(tmp_path)


# --- every label the page can show has a message ---------------------------------------

#: The event types whose fields a desk shows in an event's detail.
DESK_TYPES = (
    "referral",
    "handover_notice",
    "trafficker_alert",
    "acknowledgement",
    "detention_notice",
    "erasure_request",
    "erasure_confirmation",
    "match_followup",
    "match_followup_answer",
    "case_update",
    "reintegration_report",
    "case_alert",
    "statistics_report",
)


def _walk(t: Any, fields: set[str], enums: set[str]) -> None:
    if isinstance(t, list):
        for branch in t:
            _walk(branch, fields, enums)
    elif isinstance(t, dict):
        if t.get("type") == "enum":
            enums.update(f"enum.{t['name']}.{s}" for s in t["symbols"])
        elif t.get("type") == "record":
            for f in t["fields"]:
                fields.add(f"field.{f['name']}")
                _walk(f["type"], fields, enums)
        elif t.get("type") == "array":
            _walk(t["items"], fields, enums)


def test_every_label_the_page_can_show_has_a_message() -> None:
    fields: set[str] = set()
    enums: set[str] = set()
    for name in DESK_TYPES:
        _walk(schemas.load(name), fields, enums)
    wanted = fields | enums
    wanted |= {f"type.{t.value}" for t in EventType}
    wanted |= {f"reason.{r}" for r in Reason}
    wanted |= {f"country.{cc}" for cc in COMMIT_COUNTRIES}
    wanted |= {f"purpose.{p}" for p in PURPOSES}
    wanted |= {f"handling.H{i}" for i in range(4)}
    wanted |= {f"{v.prefix}.{s}" for v in VOCABULARIES.values() for s in v.symbols}
    for lang in LANGUAGES:
        messages = _messages(lang)
        missing = sorted(k for k in wanted if not messages.get(k))
        assert missing == [], lang


# --- the values of coded string fields ---------------------------------------------------

#: The string fields of the desk's schemas whose values are not codes: free text, names,
#: numbers and identifiers, shown as sent. Every other string field is in
#: FIELD_VOCABULARIES, so a new string field of a schema needs a decision here or there.
NOT_CODED = {
    "Acknowledgement.acknowledged_event_id",
    "Acknowledgement.reason",
    "BestInterestAssessment.assessed_by",
    "BestInterestAssessment.summary",
    "BorderCheckpoint.code",
    "BorderCheckpoint.name",
    "CaseAlert.about_event_id",
    "CaseUpdate.referral_event_id",
    "CaseUpdate.related_event_id",
    "Contact.email",
    "Contact.name",
    "Contact.phone",
    "DetentionNotice.victim_indicators",  # HTCDS indicator names: an open list
    "ErasureConfirmation.erased_event_ids",
    "ErasureConfirmation.request_event_id",
    "ErasureRequest.event_ids",
    "Facility.name",
    "FamilyTracing.notes",
    "HandoverNotice.case_number",
    "HandoverNotice.referral_event_id",
    "IdentityDocument.number",
    "LocalizedText.text",
    "MatchFollowup.case_ref",
    "MatchFollowup.query_id",
    "MatchFollowup.reference",
    "MatchFollowupAnswer.names",
    "MatchFollowupAnswer.phone_numbers",
    "MatchFollowupAnswer.reason",
    "MatchFollowupAnswer.reference",
    "MatchFollowupAnswer.request_event_id",
    "Officer.name",
    "Officer.organisation_id",
    "Officer.phone",
    "Officer.rank",
    "OnlineHandle.handle",
    "OnlineHandle.platform",  # examples in the schema, not a closed list
    "Organisation.id",
    "Organisation.name",
    "PersonName.family",
    "PersonName.full_name",
    "PersonName.given",
    "Place.admin_area",
    "Place.description",
    "Place.locality",
    "Referral.case_number",
    "RegisteredDocument.number",
    "RiskAssessment.summary",
    "Route.description",
    "StatisticsCell.key",  # the report's own categories (hub.stats), not labelled yet
    "StatisticsReport.period",
    "StatisticsTable.dimensions",
    "StatisticsTable.name",
    "TraffickerAlert.aliases",
    "TraffickerAlert.network_name",
    "TraffickerAlert.phone_numbers",
    "TraffickerAlert.related_case_keys",
    "Transport.details",
}


def _string_fields(t: Any, record: str, field: str, out: dict[str, str]) -> None:
    """``Record.field`` of every string or array-of-string field, with the field's doc."""
    if isinstance(t, list):
        for branch in t:
            _string_fields(branch, record, field, out)
    elif isinstance(t, dict):
        if t.get("type") == "record":
            for f in t["fields"]:
                out_key = f"{t['name'].rsplit('.', 1)[-1]}.{f['name']}"
                if _is_string(f["type"]):
                    out[out_key] = f.get("doc", "")
                _string_fields(f["type"], t["name"], f["name"], out)
        elif t.get("type") == "array":
            _string_fields(t["items"], record, field, out)


def _is_string(t: Any) -> bool:
    if isinstance(t, list):
        return any(_is_string(b) for b in t)
    if isinstance(t, dict):
        return bool(t.get("type") == "array" and _is_string(t["items"]))
    return bool(t == "string")


def _desk_string_fields() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in DESK_TYPES:
        _string_fields(schemas.load(name), name, "", out)
    return out


def test_every_string_field_is_coded_or_free_text() -> None:
    found = _desk_string_fields()
    unknown = sorted(set(found) - set(FIELD_VOCABULARIES) - NOT_CODED)
    assert unknown == []  # a new string field: a vocabulary (hub/wire/vocab.py) or free text
    stale = sorted((set(FIELD_VOCABULARIES) | NOT_CODED) - set(found))
    assert stale == []
    assert not set(FIELD_VOCABULARIES) & NOT_CODED


def test_every_vocabulary_the_page_can_show_has_a_message_in_every_catalogue() -> None:
    used = {name for names in FIELD_VOCABULARIES.values() for name in names}
    # Each is labelled from the catalogue or written by the page itself, never neither.
    assert sorted(used - set(VOCABULARIES) - PAGE_FORMATS) == []
    assert not set(VOCABULARIES) & PAGE_FORMATS
    assert set(VOCABULARIES) <= used
    for lang in LANGUAGES:
        messages = _messages(lang)
        for name in sorted(used - PAGE_FORMATS):
            vocab = VOCABULARIES[name]
            assert vocab.symbols, name
            missing = sorted(s for s in vocab.symbols if not messages.get(f"{vocab.prefix}.{s}"))
            assert missing == [], (lang, name)
    # Each vocabulary is the one its home says.
    assert VOCABULARIES["purpose"].symbols == PURPOSES
    assert VOCABULARIES["organisation_kind"].symbols == ORGANISATION_KINDS
    assert VOCABULARIES["consent_giver"].symbols == CONSENT_GIVERS
    assert VOCABULARIES["match_kind"].symbols == {k.value for k in MatchKind}
    assert VOCABULARIES["country"].symbols == set(COMMIT_COUNTRIES)
    assert VOCABULARIES["event_type"].symbols == {t.value for t in EventType}


def test_the_schemas_document_the_same_symbols() -> None:
    """A coded string's values are listed in its field's doc; the lists agree."""
    docs = _desk_string_fields()
    for key, symbols in (
        ("Organisation.kind", ORGANISATION_KINDS),
        ("Consent.given_by", CONSENT_GIVERS),
        ("MatchFollowup.match_kind", {k.value for k in MatchKind}),
    ):
        assert set(re.findall(r"'([a-z_]+)'", docs[key])) == symbols, key


def test_desk_js_writes_every_format_and_keeps_no_field_list() -> None:
    source = (STATIC / "desk.js").read_text(encoding="utf-8")
    block = re.search(r"const FORMATS = \{(.*?)\n\};", source, re.DOTALL)
    assert block is not None
    assert set(re.findall(r"^\s*([a-z_]+):", block.group(1), re.MULTILINE)) == PAGE_FORMATS
    # The fields that hold codes come with the catalogue, not from a list in the page
    # (a name that is also a vocabulary's, the lang of a name, or the trafficker alert
    # list's enum column "kind" may appear).
    names = {key.split(".")[1] for key in FIELD_VOCABULARIES}
    names -= {*VOCABULARIES, *PAGE_FORMATS, "lang", "kind"}
    assert sorted(n for n in names if f'"{n}"' in source) == []


# --- no literal text outside the catalogue ---------------------------------------------


class _Texts(HTMLParser):
    """Text nodes and text attributes of index.html, with the keys that carry them."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.bare: list[str] = []
        self.keys: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for attr in ("data-i18n", "data-i18n-placeholder"):
            if a.get(attr):
                self.keys.add(str(a[attr]))
        for attr in ("placeholder", "title", "aria-label", "alt"):
            if a.get(attr) and not a.get(f"data-i18n-{attr}"):
                self.bare.append(f"<{tag} {attr}={a[attr]!r}>")
        if tag not in ("meta", "link", "input", "br", "img"):
            self.stack.append({"tag": tag, **a})

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not data.strip() or (self.stack and self.stack[-1]["tag"] in ("script", "style")):
            return
        has_letters = re.search(r"[^\W\d_]", data)
        if has_letters and not (self.stack and self.stack[-1].get("data-i18n")):
            self.bare.append(data.strip())


def test_index_html_has_no_text_outside_the_catalogue() -> None:
    parser = _Texts()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert parser.bare == []
    assert sorted(parser.keys - set(ENGLISH)) == []
    assert len(parser.keys) > 80


_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_KEY = re.compile(r"^[a-z_]+\.[A-Za-z0-9_.]+$")
#: Literals of desk.js that are not text for a person: HTTP, storage keys, time zones.
_TECHNICAL = {
    "Accept",
    "Authorization",
    "Bearer ",
    "Content-Type",
    "application/json",
    "HTTP_",
    "-u-ca-",
    "en-GB",
    "use strict",
    "2-digit",
    "UTC",
    "DOMContentLoaded",
    "Urgency",  # an Avro enum's name (trafficker_alert)
}


def test_desk_js_has_no_text_outside_the_catalogue() -> None:
    source = (STATIC / "desk.js").read_text(encoding="utf-8")
    code = re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)
    keys: set[str] = set()
    text: list[str] = []
    for literal in _LITERAL.findall(code):
        if _KEY.match(literal):
            keys.add(literal)
        elif (
            literal in _TECHNICAL
            or literal.startswith(("/", "Asia/", "pref-"))
            or not re.search("[A-Za-z]", literal)
            or re.fullmatch(r"[a-z][a-zA-Z0-9_-]*\.?", literal)  # ids, tags, classes, prefixes
            or re.fullmatch(r"[A-Z][A-Z0-9_]*", literal)  # codes, CLDR pattern letters
            or re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+", literal)  # schema type names
            or re.fullmatch(r"[a-z]*[\[.#][^ ]*", literal)  # CSS selectors
            or (
                re.fullmatch(r"[a-z][a-z-]*( [a-z][a-z-]*)* ?", literal)
                and all(w in _css_classes() for w in literal.split())
            )
        ):
            continue
        else:
            text.append(literal)
    assert text == []
    # Every key is a message, or the prefix of messages a label() call completes.
    unknown = [
        k for k in keys if k not in ENGLISH and not any(e.startswith(k + ".") for e in ENGLISH)
    ]
    assert sorted(unknown) == []
    # No text assigned straight from a literal.
    assert re.findall(r'(?:text:|textContent =|placeholder =)\s*"[^"]*[A-Za-z]', code) == []
    prefixes = set(re.findall(r'label\("([a-z_.A-Z]+)"', code))
    lone = [p for p in prefixes if not any(k.startswith(p.rstrip(".") + ".") for k in ENGLISH)]
    assert lone == []


def _css_classes() -> set[str]:
    css = (STATIC / "desk.css").read_text(encoding="utf-8")
    return set(re.findall(r"\.([a-z][a-z0-9-]*)", css))
