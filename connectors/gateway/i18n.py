"""The desk page's own text in its users' languages: gettext catalogues read with Babel.

One ``.po`` file per language in ``connectors/static/i18n/`` (``en.po``,
``km.po``, ``zh.po``, ``lo.po``, ``my.po``, ``th.po``, ``vi.po``). A message id
is a stable key (``tab.referrals``, ``enum.Sex.FEMALE``, ``reason.NO_AGREEMENT``)
with a ``#.`` comment for translators giving the English text and where it
shows; ``en.po`` holds the English text as its translation. A ministry corrects
a translation by editing its language's file and restarting the gateway: the
files are read once, at start, and served as JSON (``GET /api/i18n/{lang}``).

The values of payload fields that are codes without being Avro enums (an
organisation's kind, a purpose, a country code, a language tag, a partial date:
``hub.wire.vocab.FIELD_VOCABULARIES``) are labelled from the catalogue too:
each catalogue carries that table and the message prefix of each vocabulary
(``organisation_kind.police``, ``purpose.repatriation``, ``country.KH``), so
the page learns from one place which field takes which words. A value outside
its vocabularies is shown as sent; language tags and dates the page writes
itself (:data:`PAGE_FORMATS`).

Dates are the browser's to write (``Intl.DateTimeFormat``, in the user's
calendar and time zone), but a browser's ICU data may lack a language:
Chromium's has no Khmer, Lao or Burmese. So each catalogue also carries that
language's date conventions from CLDR (Babel's copy: abbreviated month names,
the medium date and short time patterns, AM/PM, the native digits), and the
page writes the date itself with them when ``Intl`` does not know the language.

A catalogue is checked as it is read (:func:`load_catalogues`): a message
missing, left empty, or whose ``{name}`` placeholders differ from the English
text's is shown in English instead, and each such message is named in
:attr:`Catalogues.problems` (the gateway logs them at start), so a slip in one
file never leaves a blank button. A file that does not parse, or a language
without a file, is refused at start (CONFIG_INVALID).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from babel import Locale
from babel.dates import get_period_names
from babel.messages.pofile import read_po

from hub.errors import OperationalError, Reason, RequestError
from hub.matching.keys import MatchKind
from hub.topics import COUNTRY_NAMES
from hub.wire import EventType
from hub.wire.vocab import CONSENT_GIVERS, FIELD_VOCABULARIES, ORGANISATION_KINDS, PURPOSES

__all__ = [
    "CALENDARS",
    "CATALOGUE_DIR",
    "LANGUAGES",
    "PAGE_FORMATS",
    "VOCABULARIES",
    "Catalogue",
    "Catalogues",
    "Language",
    "Vocabulary",
    "date_conventions",
    "load_catalogues",
    "placeholders",
    "vocabularies_json",
]

CATALOGUE_DIR: Final = Path(__file__).resolve().parents[1] / "static" / "i18n"


@dataclass(frozen=True, slots=True)
class Language:
    """A language the desk speaks.

    Attributes:
        code: the catalogue's name and the page's ``lang`` attribute.
        name: the language's name in itself, for the language menu.
        locale: the BCP 47 tag given to ``Intl`` for dates (the calendar is added
            as a ``-u-ca-`` extension).
        plural_forms: the catalogue's ``Plural-Forms`` header (CLDR's rules).
    """

    code: str
    name: str
    locale: str
    plural_forms: str


_ONE_FORM: Final = "nplurals=1; plural=0;"
LANGUAGES: Final[Mapping[str, Language]] = MappingProxyType(
    {
        lang.code: lang
        for lang in (
            Language("en", "English", "en-GB", "nplurals=2; plural=(n != 1);"),
            Language("km", "ភាសាខ្មែរ", "km-KH", _ONE_FORM),
            Language("zh", "中文（简体）", "zh-Hans-CN", _ONE_FORM),
            Language("lo", "ພາສາລາວ", "lo-LA", _ONE_FORM),
            Language("my", "မြန်မာဘာသာ", "my-MM", _ONE_FORM),
            Language("th", "ภาษาไทย", "th-TH", _ONE_FORM),
            Language("vi", "Tiếng Việt", "vi-VN", _ONE_FORM),
        )
    }
)
"""The desk's languages, English first (the catalogue every other is checked against)."""

#: The calendar conventions a user may choose: Gregorian, or the Thai Buddhist era.
CALENDARS: Final = ("gregorian", "buddhist")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A vocabulary the page labels from the catalogue: message ``{prefix}.{symbol}``."""

    prefix: str
    symbols: frozenset[str]


VOCABULARIES: Final[Mapping[str, Vocabulary]] = MappingProxyType(
    {
        "country": Vocabulary("country", frozenset(COUNTRY_NAMES)),
        "purpose": Vocabulary("purpose", PURPOSES),
        "organisation_kind": Vocabulary("organisation_kind", ORGANISATION_KINDS),
        "consent_giver": Vocabulary("consent_giver", CONSENT_GIVERS),
        "match_kind": Vocabulary("match_kind", frozenset(k.value for k in MatchKind)),
        "event_type": Vocabulary("type", frozenset(t.value for t in EventType)),
    }
)
"""The vocabularies of ``FIELD_VOCABULARIES`` that the catalogues label; every symbol
needs a message in every catalogue (a missing one is a problem at start)."""

#: The vocabularies the page writes itself: a BCP 47 tag's name (``Intl.DisplayNames``,
#: where the browser knows the user's language) and an ISO 8601 date at its precision.
PAGE_FORMATS: Final = frozenset({"language", "date"})


def vocabularies_json() -> dict[str, Any]:
    """Which field takes which vocabulary, and each labelled vocabulary's message prefix."""
    return {
        "fields": {key: list(names) for key, names in sorted(FIELD_VOCABULARIES.items())},
        "prefixes": {name: v.prefix for name, v in VOCABULARIES.items()},
    }


_PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders of a message."""
    return frozenset(_PLACEHOLDER.findall(text))


#: The digits of CLDR's numbering systems of the desk's languages.
_DIGITS: Final = {
    "latn": "0123456789",
    "khmr": "០១២៣៤៥៦៧៨៩",
    "laoo": "໐໑໒໓໔໕໖໗໘໙",
    "mymr": "၀၁၂၃၄၅၆၇၈၉",
    "thai": "๐๑๒๓๔๕๖๗๘๙",
}


def date_conventions(locale: str) -> dict[str, Any]:
    """CLDR's way of writing a date and time in ``locale`` (a BCP 47 tag), for the page."""
    loc = Locale.parse(locale, sep="-")
    periods = get_period_names("abbreviated", "format", loc)
    return {
        "months": [str(loc.months["format"]["abbreviated"][i]) for i in range(1, 13)],
        "date": loc.date_formats["medium"].pattern,
        "year": str(loc.datetime_skeletons.get("y", "y")),
        "year_month": str(loc.datetime_skeletons.get("yMMM", "MMM y")),
        "time": loc.time_formats["short"].pattern,
        "datetime": str(loc.datetime_formats["medium"]),
        "am": str(periods.get("am", "AM")),
        "pm": str(periods.get("pm", "PM")),
        "digits": _DIGITS.get(loc.default_numbering_system, _DIGITS["latn"]),
    }


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One language's messages, complete (English where the file has none)."""

    language: Language
    messages: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        lang = self.language
        return {
            "lang": lang.code,
            "name": lang.name,
            "locale": lang.locale,
            "plural_forms": lang.plural_forms,
            "messages": dict(self.messages),
            "dates": date_conventions(lang.locale),
            "vocabularies": vocabularies_json(),
        }


@dataclass(frozen=True, slots=True)
class Catalogues:
    """Every language's catalogue, read once; served as JSON bytes with an ETag."""

    by_lang: Mapping[str, Catalogue]
    problems: tuple[str, ...]
    _bodies: Mapping[str, tuple[bytes, str]]

    def get(self, lang: str) -> Catalogue:
        """The catalogue of ``lang``.

        Raises:
            RequestError: NOT_FOUND for a language the desk does not speak.
        """
        found = self.by_lang.get(lang)
        if found is None:
            raise RequestError(
                Reason.NOT_FOUND,
                f"expected a language in {list(LANGUAGES)}, got {lang[:20]!r}",
            )
        return found

    def body(self, lang: str) -> tuple[bytes, str]:
        """The JSON of ``lang``'s catalogue and its ETag (see :meth:`get` for refusals)."""
        self.get(lang)
        return self._bodies[lang]

    def languages_json(self) -> list[dict[str, str]]:
        return [
            {"lang": c.language.code, "name": c.language.name, "locale": c.language.locale}
            for c in self.by_lang.values()
        ]


def _read(path: Path, lang: str) -> dict[str, str]:
    """The non-empty translations of one ``.po`` file, by message id.

    Raises:
        OperationalError: CONFIG_INVALID: missing, unreadable, or not a catalogue.
    """
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang if lang != "en" else None, abort_invalid=True)
    except FileNotFoundError:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected the desk catalogue {path}; it is missing"
        ) from None
    except Exception as exc:  # Babel's PoFileError, a decoding error, ...
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a gettext catalogue in {path}: {type(exc).__name__}: {str(exc)[:200]}",
        ) from exc
    out: dict[str, str] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue  # the header, or a plural entry (the desk uses none)
        text = message.string
        if isinstance(text, str) and text and not message.fuzzy:
            out[message.id] = text
    return out


def load_catalogues(directory: Path = CATALOGUE_DIR) -> Catalogues:
    """Read and check every language's catalogue (see the module docstring).

    Raises:
        OperationalError: CONFIG_INVALID: a catalogue missing or not parsing, or an
            English one without messages.
    """
    english = _read(directory / "en.po", "en")
    if not english:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected messages in {directory / 'en.po'}, found none"
        )
    problems: list[str] = [
        f"en.po: {v.prefix}.{symbol}: no message; the value is shown as sent"
        for v in VOCABULARIES.values()
        for symbol in sorted(v.symbols)
        if f"{v.prefix}.{symbol}" not in english
    ]
    by_lang: dict[str, Catalogue] = {}
    bodies: dict[str, tuple[bytes, str]] = {}
    for code, language in LANGUAGES.items():
        found = english if code == "en" else _read(directory / f"{code}.po", code)
        messages: dict[str, str] = {}
        for key, en_text in english.items():
            text = found.get(key)
            if text is None:
                problems.append(f"{code}.po: {key}: no translation; shown in English")
                text = en_text
            elif placeholders(text) != placeholders(en_text):
                problems.append(
                    f"{code}.po: {key}: expected the placeholders "
                    f"{sorted(placeholders(en_text))}, got {sorted(placeholders(text))}; "
                    "shown in English"
                )
                text = en_text
            messages[key] = text
        problems.extend(
            f"{code}.po: {key}: not in en.po; ignored" for key in sorted(set(found) - set(english))
        )
        catalogue = Catalogue(language, MappingProxyType(messages))
        by_lang[code] = catalogue
        body = json.dumps(catalogue.to_json(), ensure_ascii=False, sort_keys=True).encode()
        bodies[code] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return Catalogues(MappingProxyType(by_lang), tuple(problems), MappingProxyType(bodies))
