"""Names in any of the region's scripts to lower-case ASCII words (docs/protocol.md 13.1).

One function, :func:`romanise`, takes a name as written (Latin with or without
diacritics, Thai, Khmer, Burmese in Unicode or Zawgyi, Chinese in simplified or
traditional characters) and returns its words in lower-case ASCII letters. It
is the first half of a name's match key; :mod:`hub.matching.keys` makes the
phonetic skeleton from these words.

How each script is read:

- **Latin** (Vietnamese, pinyin, RTGS, ...): ICU ``Latin-ASCII`` after NFKC, with
  đ/Đ mapped to d first (it has no decomposition); pinyin tone numbers dropped.
- **Han**: ICU ``Traditional-Simplified`` then ``Han-Latin`` (pinyin), then as Latin;
  in a name of 2 to 4 characters the first is read as a surname
  (:data:`SURNAME_READINGS`: 曾 is Zeng, not ceng).
- **Thai**: :func:`thai_to_latin`, a small RTGS-like reading written here (ICU's
  ``Thai-Latin`` is ISO 11940, a letter-for-letter transliteration that writes
  สมชาย as "s̄mchāy", far from the "Somchai" people write): each consonant as
  the initial or the final it is, implicit vowels, silent letters dropped.
- **Khmer**: ICU transform rules in ``data/khmer-latin.txt`` (ICU 72 has no
  Khmer-Latin), read with ``Transliterator.createFromRules``.
- **Myanmar**: Zawgyi detected with myanmartools' ``ZawgyiDetector`` (probability
  at least 0.95) and converted with ICU ``Zawgyi-my``; then ICU ``Myanmar-Latin``.
  Burmese names have no surname and are spaced freely, so a Myanmar-script run is
  one word.
- Anything else: ICU ``Any-Latin`` then ``Latin-ASCII``.

Transliterators are made once, lazily, per process (making one costs
milliseconds; using one, microseconds). Pure: no I/O beyond the package's data
files, no clock.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from functools import cache
from importlib import resources
from typing import Any

import icu
from myanmartools import ZawgyiDetector

__all__ = ["SURNAME_READINGS", "romanise", "thai_to_latin"]

_ZAWGYI_THRESHOLD = 0.95


@cache
def _icu(transform_id: str) -> Any:
    return icu.Transliterator.createInstance(transform_id)


@cache
def _khmer() -> Any:
    rules = resources.files("hub.matching").joinpath("data/khmer-latin.txt").read_text("utf-8")
    return icu.Transliterator.createFromRules("trm-Khmer-Latin", rules, icu.UTransDirection.FORWARD)


@cache
def _zawgyi_detector() -> Any:
    # myanmartools 1.2 reads its model with importlib.resources.open_binary, which
    # Python 3.11 deprecates; the warning is theirs, not a problem of ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return ZawgyiDetector()


# --- scripts -------------------------------------------------------------------------


def _script(ch: str) -> str:
    o = ord(ch)
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if 0x1780 <= o <= 0x17FF or 0x19E0 <= o <= 0x19FF:
        return "khmer"
    if 0x1000 <= o <= 0x109F or 0xA9E0 <= o <= 0xA9FF or 0xAA60 <= o <= 0xAA7F:
        return "myanmar"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return "han"
    if 0x20000 <= o <= 0x3134F:
        return "han"
    if ch.isascii() or unicodedata.category(ch).startswith(("Z", "P", "S", "N", "C")):
        return "common"
    return "other"


def _runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into runs of one script; common characters join the run before them."""
    runs: list[tuple[str, str]] = []
    for ch in text:
        script = _script(ch)
        if script == "common" and runs:
            script = runs[-1][0]
        if runs and runs[-1][0] == script:
            runs[-1] = (script, runs[-1][1] + ch)
        else:
            runs.append((script, ch))
    return runs


# --- Thai ------------------------------------------------------------------------------

# Consonants: (as an initial, as a final). RTGS values; ห and อ are handled apart.
_TH_CONSONANTS: dict[str, tuple[str, str]] = {
    "ก": ("k", "k"), "ข": ("kh", "k"), "ฃ": ("kh", "k"), "ค": ("kh", "k"), "ฅ": ("kh", "k"),
    "ฆ": ("kh", "k"), "ง": ("ng", "ng"), "จ": ("ch", "t"), "ฉ": ("ch", "t"), "ช": ("ch", "t"),
    "ซ": ("s", "t"), "ฌ": ("ch", "t"), "ญ": ("y", "n"), "ฎ": ("d", "t"), "ฏ": ("t", "t"),
    "ฐ": ("th", "t"), "ฑ": ("th", "t"), "ฒ": ("th", "t"), "ณ": ("n", "n"), "ด": ("d", "t"),
    "ต": ("t", "t"), "ถ": ("th", "t"), "ท": ("th", "t"), "ธ": ("th", "t"), "น": ("n", "n"),
    "บ": ("b", "p"), "ป": ("p", "p"), "ผ": ("ph", "p"), "ฝ": ("f", "p"), "พ": ("ph", "p"),
    "ฟ": ("f", "p"), "ภ": ("ph", "p"), "ม": ("m", "m"), "ย": ("y", "i"), "ร": ("r", "n"),
    "ล": ("l", "n"), "ว": ("w", "o"), "ศ": ("s", "t"), "ษ": ("s", "t"), "ส": ("s", "t"),
    "ห": ("h", ""), "ฬ": ("l", "n"), "อ": ("", ""), "ฮ": ("h", ""), "ฤ": ("rue", "rue"),
    "ฦ": ("lue", "lue"),
}  # fmt: skip
_TH_LEADING = {"เ": "e", "แ": "ae", "โ": "o", "ใ": "ai", "ไ": "ai"}
_TH_FOLLOWING = {
    "ะ": "a", "ั": "a", "า": "a", "ำ": "am", "ิ": "i", "ี": "i", "ึ": "ue", "ื": "ue",
    "ุ": "u", "ู": "u", "็": "", "ๅ": "",
}  # fmt: skip
# A consonant under thanthakhat (์) is not said, nor the one before it when that
# one would be a second final (จันทร์ chan, ลักษณ์ lak; พรทิพย์ keeps its พ).
_TH_SILENT_TWO = re.compile("(?<=[ัาิีึืุู][ก-ฮ])[ก-ฮ]{2}[ิุ]?์")
_TH_SILENT = re.compile("[ก-ฮ][ิุ]?์")
_TH_CLUSTER = {"ร": set("กขคตปพผบศส"), "ล": set("กขคปพผบ"), "ว": set("กขค")}
_TH_DROP = re.compile("[่้๊๋ๆฯ์ํ๎]")  # tone marks, repetition and abbreviation signs
_TH_LOW_SONORANT = set("งญนมยรลว")  # ห before these only carries the tone


def thai_to_latin(word: str) -> str:
    """An RTGS-like reading of a Thai word: enough to give the consonants their sound.

    Each consonant is read as an initial (at the word's start, after a leading
    vowel, before a following vowel, or after a closed syllable) or as a final
    (after a vowel or an initial with its implicit vowel); an initial directly
    followed by a final gets the implicit "o", one followed by another initial
    the implicit "a". A consonant under ์ is silent; ห before a low sonorant only
    marks the tone; อ carries a vowel. Not a full RTGS: leading-vowel clusters
    and irregular spellings (เกียรติ) come out approximately.
    """
    word = _TH_DROP.sub("", _TH_SILENT.sub("", _TH_SILENT_TWO.sub("", word)))
    out: list[str] = []
    # state: "open" (syllable start), "initial" (an initial with no vowel yet),
    # "vowel" (the syllable has its vowel), "closed" (a final has closed it)
    state = "open"
    held = ""  # a leading vowel, said after its consonant
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        nxt = word[i + 1] if i + 1 < n else ""
        if ch in _TH_LEADING:
            if state == "initial":
                out.append("a")
            held = _TH_LEADING[ch]
            state = "lead"
            i += 1
            continue
        if ch in _TH_FOLLOWING:
            if ch == "ั" and nxt == "ว":  # -ัว is "ua"
                out.append("ua")
                i += 2
                state = "vowel"
                continue
            out.append(_TH_FOLLOWING[ch])
            state = "vowel"
            i += 1
            continue
        if ch not in _TH_CONSONANTS:
            out.append(ch)  # not Thai: kept as it is, the caller reads it
            state = "open"
            i += 1
            continue
        initial, final = _TH_CONSONANTS[ch]
        before_vowel = nxt in _TH_FOLLOWING
        if state == "lead":
            if ch == "ห" and nxt in _TH_LOW_SONORANT:
                i += 1
                continue
            out.append(initial)
            # a cluster (เพลง) takes its second consonant before the vowel is said
            if nxt in "รลว" and i + 2 < n and word[i + 2] not in _TH_FOLLOWING:
                out.append(_TH_CONSONANTS[nxt][0])
                i += 1
            i += 1
            follow = word[i] if i < n else ""
            if held == "e" and follow == "า":
                out.append("ao")
                i += 1
            elif held == "e" and word[i : i + 2] in ("ีย", "ือ"):
                out.append("ia" if word[i] == "ี" else "uea")
                i += 2
            elif held == "e" and follow == "อ":
                out.append("oe")
                i += 1
            else:
                out.append(held)
            held = ""
            state = "vowel"
            continue
        if ch == "อ" and state in ("initial",):
            out.append("o")  # อ after an initial is the vowel "o" (ทอง)
            state = "vowel"
            i += 1
            continue
        if state in ("open", "closed") or before_vowel:
            cluster = i > 0 and word[i - 1] in _TH_CLUSTER.get(ch, ())
            if state == "initial" and not cluster:
                out.append("a")  # the previous initial's implicit "a"
            if ch == "ห" and nxt in _TH_LOW_SONORANT:
                state = "open"
                i += 1
                continue
            out.append(initial)
            state = "initial"
            i += 1
            continue
        if ch == "ร" and state == "vowel" and nxt and nxt not in "์":
            out.append("ra")  # a medial ร in a Pali-Sanskrit name (สุรชัย, จิรวัฒน์)
            state = "vowel"
            i += 1
            continue
        if state == "initial":
            if ch == "ว" and nxt and nxt not in _TH_FOLLOWING:
                out.append("ua")  # ชวน
                state = "vowel"
                i += 1
                continue
            out.append("o")  # the implicit "o" of a closed syllable (สม)
        out.append(final)
        state = "closed"
        i += 1
    if state == "initial" and len(out) == 1:
        out.append("a")
    return "".join(out)


# --- the whole name ----------------------------------------------------------------------

_TONE_DIGITS = re.compile(r"(?<=[a-z])[1-5](?![0-9])")
_NOT_LETTERS = re.compile(r"[^a-z]+")


def _latin(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D").replace("ð", "d").replace("Ð", "D")
    return str(_icu("Any-Latin; Latin-ASCII").transliterate(text))


def _myanmar(text: str) -> str:
    if _zawgyi_detector().get_zawgyi_probability(text) >= _ZAWGYI_THRESHOLD:
        text = str(_icu("Zawgyi-my").transliterate(text))
    text = unicodedata.normalize("NFC", text)
    joined = "".join(text.split())  # one word: Burmese syllables are spaced freely
    return str(_icu("Myanmar-Latin; Latin-ASCII").transliterate(joined))


# Surnames whose reading is not the character's usual one (ICU's Han-Latin gives
# the usual one: 曾 céng, the surname is Zēng). Keyed by the simplified character.
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng", "单": "shan", "解": "xie", "查": "zha", "仇": "qiu", "区": "ou",
    "朴": "piao", "盖": "ge", "覃": "qin", "缪": "miao", "乐": "yue", "翟": "zhai",
    "种": "chong", "秘": "bi", "卜": "bu", "员": "yun", "召": "shao", "繁": "po",
}  # fmt: skip


def _han(text: str) -> str:
    """Pinyin of a Han run; a name of 2 to 4 characters (surname first, as Chinese
    writes it) reads its first character as a surname."""
    simplified = str(_icu("Traditional-Simplified").transliterate(text))
    pinyin = _icu("Han-Latin; Latin-ASCII")
    chars = "".join(simplified.split())
    if 2 <= len(chars) <= 4 and chars[0] in SURNAME_READINGS:
        return SURNAME_READINGS[chars[0]] + " " + str(pinyin.transliterate(chars[1:]))
    return str(pinyin.transliterate(simplified))


def _run_to_latin(script: str, text: str) -> str:
    if script == "thai":
        return " ".join(thai_to_latin(w) for w in text.split())
    if script == "khmer":
        return str(_khmer().transliterate(text))
    if script == "myanmar":
        return _myanmar(text)
    if script == "han":
        return " " + _han(text) + " "
    return _latin(text)


def romanise(name: str) -> list[str]:
    """The words of ``name`` in lower-case ASCII letters, in written order.

    Digits and punctuation separate words; pinyin tone numbers (zhang1) are dropped.
    The result may be empty (a name of punctuation only).
    """
    text = unicodedata.normalize("NFKC", name)
    latin = "".join(_run_to_latin(script, run) for script, run in _runs(text))
    latin = _TONE_DIGITS.sub("", latin.lower())
    return [w for w in _NOT_LETTERS.split(latin) if w]
