"""Company names: cleaning list entries and the usual variants of a name (legal suffixes).

``name_forms("Belmont Foods Inc.")`` is ``{"Belmont Foods Inc.", "Belmont Foods Inc",
"Belmont Foods Incorporated", "Belmont Foods"}``: the name without its legal suffix, and the
suffix's other spellings. A bare name that would be a single ordinary English word ("Target"
from "Target Corporation") is not derived: add it as an explicit alias when wanted (see
``focusdig.entities.extract`` for how such aliases are matched).
"""

from __future__ import annotations

import re
from functools import lru_cache

# each family: spellings of one legal form; any one found at the end of a name adds the others
SUFFIX_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("Inc.", "Inc", "Incorporated"),
    ("Corp.", "Corp", "Corporation"),
    ("Co.", "Co", "Company"),
    ("Companies",),
    ("Ltd.", "Ltd", "Limited"),
    ("plc", "PLC", "Plc"),
    ("LLC",),
    ("L.P.", "LP"),
    ("N.V.", "NV"),
    ("S.A.", "SA"),
    ("AG",),
    ("SE",),
    ("GmbH",),
    ("Group",),
    ("Holdings", "Holding"),
    ("有限公司", "股份有限公司", "公司", "集团"),
)
_SUFFIX = re.compile(
    r"(?:,?\s+|(?<=[\u4e00-\u9fff]))("
    + "|".join(re.escape(s) for fam in SUFFIX_FAMILIES for s in sorted(fam, key=len, reverse=True))
    + r")$"
)
_PARENTHESIS = re.compile(r"\s*\(([^)]*)\)\s*$")
COMMON_WORD_PER_MILLION = 1.0


@lru_cache(maxsize=1)
def _english_frequencies():
    from spellchecker import SpellChecker

    return SpellChecker(language="en", case_sensitive=False).word_frequency


@lru_cache(maxsize=100_000)
def is_common_word(word: str) -> bool:
    """An ordinary English word: at least once per million words of English (pyspellchecker's
    frequency list, from subtitles and web text). "now", "all", "key", "fast" are; "aapl",
    "nvda", "ibm" are not."""
    freq = _english_frequencies()
    return freq[word.lower()] * 1_000_000 >= COMMON_WORD_PER_MILLION * freq.total_words


def clean_name(raw: str) -> str:
    """A list entry as people write it: "Home Depot (The)" -> "The Home Depot",
    "Lilly (Eli)" -> "Eli Lilly", "Alphabet Inc. (Class A)" -> "Alphabet Inc."."""
    name = " ".join(raw.split())
    match = _PARENTHESIS.search(name)
    if match:
        inner, rest = match.group(1), name[: match.start()]
        name = rest if inner.lower().startswith("class ") else f"{inner} {rest}"
    return name


def _family(suffix: str) -> tuple[str, ...]:
    return next(f for f in SUFFIX_FAMILIES if suffix in f)


def strip_suffixes(name: str) -> tuple[str, list[str]]:
    """The name without a leading "The" and its trailing legal suffixes, and those suffixes."""
    base = re.sub(r"^The\s+", "", name.strip())
    removed: list[str] = []
    while True:
        match = _SUFFIX.search(base)
        if not match or match.start() == 0:
            return base, removed
        removed.append(match.group(1))
        base = re.sub(r"(?:\s*[,&]|\s+and)+$", "", base[: match.start()])


def _single_common_word(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z]+", text)) and is_common_word(text)


def name_forms(name: str) -> set[str]:
    """The name, its suffix variants and its bare form (see the module docstring)."""
    forms = {name}
    base, removed = strip_suffixes(name)
    if base != name and len(base) >= 2:
        if removed:  # every spelling of the last legal form, e.g. "Inc." <-> "Incorporated"
            last = removed[-1]
            glue = "" if "\u4e00" <= last[0] <= "\u9fff" else " "
            forms.update(f"{base}{glue}{s}" for s in _family(last))
        if not _single_common_word(base):
            forms.add(base)
    for form in list(forms):
        if " & " in form:
            forms.add(form.replace(" & ", " and "))
        elif " and " in form:
            forms.add(form.replace(" and ", " & "))
    return {f for f in forms if f.strip()}
