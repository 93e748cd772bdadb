"""Language identification for feed items (lingua-language-detector, models ship in the wheel).

`detect_language(text, hint)` returns an ISO 639-1 code and a confidence in [0, 1]. The feed's
declared language (`hint`) wins when the detector is unsure (short text, low confidence) and the
text's script fits it; empty or letterless text returns `(hint, 0.0)` or `("und", 0.0)`.
Text that is mostly Han characters is Chinese even with Latin tickers ("AAPL和MSFT领涨").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

UNDETERMINED = "und"
# Candidate set: the languages we translate plus neighbours, so that e.g. Spanish is not forced
# into French. Restricting the set makes lingua faster and more accurate on short text.
_CANDIDATES = (
    "ENGLISH",
    "CHINESE",
    "FRENCH",
    "GERMAN",
    "SPANISH",
    "ITALIAN",
    "DUTCH",
    "PORTUGUESE",
    "JAPANESE",
    "RUSSIAN",
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_LETTER = re.compile(r"[^\W\d_]")
_SHORT_CHARS = 20  # fewer letters than this: the detector is "unsure"
_UNSURE = 0.6  # top confidence below this: the detector is "unsure"
_HINT_FLOOR = 0.01  # a hint the detector all but rules out ("Le marché" vs "de") is ignored
# Low-accuracy mode (trigrams only: loads in 0.1 s, high accuracy's models take 1.3 s) is trusted
# when it is sure and the text is long, or it confirms the feed's declared language; otherwise
# high accuracy decides. On 20,000 news and Tatoeba texts it agreed with high accuracy on every
# text it was trusted with by length (benchmarks/README.md section 4, "Language identification").
_QUICK_SURE = 0.9
_QUICK_LETTERS = 120
_QUICK_LETTERS_WITH_HINT = 20


@lru_cache(maxsize=2)
def _detector(low_accuracy: bool):
    from lingua import Language, LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in _CANDIDATES))
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def normalize_code(code: str | None) -> str | None:
    """'zh-CN' / 'fr_FR' / 'DE' -> 'zh' / 'fr' / 'de'; '' or None -> None."""
    if not code:
        return None
    return re.split(r"[-_]", code.strip().lower())[0] or None


def _script_fits(lang: str, n_han: int, n_latin_words: int) -> bool:
    if lang in ("zh", "ja"):
        return n_han > 0
    return lang == "ru" or n_latin_words > 0


@dataclass
class _Text:
    """One text on its way through `detect_languages`."""

    text: str
    hint: str | None
    n_letters: int
    n_han: int
    n_latin_words: int
    answer: tuple[str, float] | None = None


def _prepare(text: str | None, hint: str | None) -> _Text:
    """Counts, and the answers that need no detector (no letters; mostly Han characters)."""
    hint = normalize_code(hint)
    text = (text or "").strip()
    found = _Text(
        text,
        hint,
        n_letters=len(_LETTER.findall(text)),
        n_han=len(_HAN.findall(text)),
        n_latin_words=len(_LATIN_WORD.findall(text)),
    )
    if found.n_letters == 0:
        found.answer = (hint or UNDETERMINED), 0.0
    elif found.n_han >= 2 and found.n_han >= found.n_latin_words and not _KANA_HANGUL.search(text):
        found.answer = "zh", round(min(1.0, 0.5 + 0.5 * found.n_han / found.n_letters), 4)
    return found


def _confidences(texts: list[str], low_accuracy: bool) -> list[dict[str, float]]:
    """Each text's confidence per language, computed on all cores for more than one text."""
    if not texts:
        return []
    detector = _detector(low_accuracy)
    if len(texts) == 1:
        found = [detector.compute_language_confidence_values(texts[0])]
    else:
        found = detector.compute_language_confidence_values_in_parallel(texts)
    return [{v.language.iso_code_639_1.name.lower(): float(v.value) for v in f} for f in found]


def _quick_answer(t: _Text, conf: dict[str, float]) -> tuple[str, float] | None:
    """Low-accuracy mode's answer where it can be trusted (see `_QUICK_SURE`), else None."""
    code, value = max(conf.items(), key=lambda kv: kv[1])
    long_enough = t.n_letters >= _QUICK_LETTERS or (
        code == t.hint and t.n_letters >= _QUICK_LETTERS_WITH_HINT
    )
    return (code, round(value, 4)) if value >= _QUICK_SURE and long_enough else None


def _full_answer(t: _Text, conf: dict[str, float]) -> tuple[str, float]:
    """The detector's answer, or the declared language where the detector is unsure."""
    top, top_conf = max(conf.items(), key=lambda kv: kv[1])
    if t.hint and t.hint != top and _script_fits(t.hint, t.n_han, t.n_latin_words):
        short = t.n_letters < _SHORT_CHARS or t.n_latin_words + t.n_han < 3
        if (short or top_conf < _UNSURE) and conf.get(t.hint, 0.0) >= _HINT_FLOOR:
            return t.hint, round(conf[t.hint], 4)
    return top, round(top_conf, 4)


def detect_languages(
    texts: Sequence[str],
    hints: Sequence[str | None] | str | None = None,
    *,
    low_accuracy: bool = False,
) -> list[tuple[str, float]]:
    """`detect_language` over a list; `hints` is one hint for all, or one per text."""
    if hints is None or isinstance(hints, str):
        hints = [hints] * len(texts)
    if len(hints) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(hints)} hints")
    found = [_prepare(t, h) for t, h in zip(texts, hints, strict=True)]
    passes = [(True, _quick_answer)] if not low_accuracy else []
    for low, answer in [*passes, (low_accuracy, _full_answer)]:
        undecided = [t for t in found if t.answer is None]
        for t, conf in zip(undecided, _confidences([t.text for t in undecided], low), strict=True):
            t.answer = answer(t, conf)
    return [t.answer for t in found]


def detect_language(
    text: str, hint: str | None = None, *, low_accuracy: bool = False
) -> tuple[str, float]:
    """Detect the language of `text` -> (ISO 639-1 code, confidence in [0, 1])."""
    return detect_languages([text], [hint], low_accuracy=low_accuracy)[0]
