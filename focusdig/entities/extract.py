"""Find watchlist entities in text: names, aliases, cashtags, exchange patterns and tickers.

One spaCy tokenizer (a blank English pipeline, no model download; every Han character is a
token and French elisions such as ``l'`` are split off, so Chinese, French and German names
match inside running text) and two spaCy ``PhraseMatcher`` s (exact case) do the names;
cashtags (``$BLMF``) and exchange patterns (``(NYSE: XYZ)``, ``Nasdaq: XYZ``) are regular
expressions whose ticker is looked up on the watchlist.

Rules, in order:
- names and aliases match in their exact case, and in upper case ("NVIDIA") unless the form
  is a single ordinary English word ("Target", "Apple": see ``names.is_common_word``);
- a name's legal-suffix variants match too (``names.name_forms``);
- a cashtag or an exchange pattern matches any ticker on the watchlist, however short or
  ordinary (``$A``, ``(NYSE: ALL)``);
- a bare ticker matches only when it has at least 3 characters, is written in upper case, is
  not an ordinary English word (``NOW``, ``ALL``, ``KEY``, ``LOW`` are) and the text is not
  mostly upper case (a shouted headline);
- overlapping matches: the longest wins ("Bank of America" over "America").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from focusdig.entities.names import is_common_word, name_forms

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
EXCHANGES = (
    "NYSE American|NYSE Arca|NYSE|NASDAQ|Nasdaq|NasdaqGS|NasdaqGM|NasdaqCM|AMEX|Cboe|CBOE|"
    "TSX-V|TSXV|TSX|LSE|AIM|ASX|HKEX|SEHK|Euronext Paris|Euronext Amsterdam|Euronext Brussels|"
    "Euronext|Xetra|XETRA|FWB|FRA|ETR|SIX|BME|Borsa Italiana|BIT|OMX|STO|OSE|TYO|TSE|KRX|"
    "SGX|SZSE|SSE|BSE|NSE|JSE|OTCQX|OTCQB|OTC|OTC Markets"
)
TICKER_CHARS = r"[A-Za-z0-9][A-Za-z0-9]{0,9}(?:[.\-][A-Za-z0-9]{1,3})?"
CASHTAG = re.compile(rf"(?<![\w$])\$({TICKER_CHARS})(?![\w$])")
EXCHANGE = re.compile(rf"(?<!\w)(?:{EXCHANGES})\s*:\s*({TICKER_CHARS})(?![\w-])")
MIN_BARE_TICKER = 3
SHOUTED = 0.6  # share of upper-case letters above which a text is "shouted"


@dataclass(frozen=True)
class WatchEntry:
    """What extraction needs to know of one entity."""

    id: int
    name: str
    ticker: str | None = None
    aliases: tuple[str, ...] = ()
    exchange: str | None = None


@dataclass(frozen=True)
class Mention:
    entity_id: int
    start: int
    end: int
    matched: str
    how: str  # name | alias | ticker | cashtag | exchange


def ticker_key(ticker: str) -> str:
    """Tickers compare in upper case with one class separator: BRK.B = BRK-B = brk.b."""
    return ticker.upper().replace("-", ".")


def make_tokenizer():
    """spaCy's English tokenizer, plus: each Han character a token, French elisions split."""
    import spacy
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    nlp = spacy.blank("en")
    han = rf"[{HAN}]"
    elision = r"(?i:[ldjnsc]|qu)['’](?=\w)"
    nlp.tokenizer.prefix_search = compile_prefix_regex(
        [*nlp.Defaults.prefixes, han, elision]
    ).search
    nlp.tokenizer.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, han]).search
    nlp.tokenizer.infix_finditer = compile_infix_regex([*nlp.Defaults.infixes, han]).finditer
    return nlp


_ASCII_LETTER = re.compile(r"[A-Za-z]")
_ASCII_UPPER = re.compile(r"[A-Z]")


def _shouted(text: str) -> bool:
    letters = len(_ASCII_LETTER.findall(text))
    return letters >= 12 and len(_ASCII_UPPER.findall(text)) >= SHOUTED * letters


def _keep_longest(found: list[Mention]) -> list[Mention]:
    """Drop matches overlapping a longer one (ties: earlier first); same span, all entities."""
    kept: list[Mention] = []
    for m in sorted(found, key=lambda m: (-(m.end - m.start), m.start, m.entity_id)):
        clash = [k for k in kept if k.start < m.end and m.start < k.end]
        same_span = all(k.start == m.start and k.end == m.end for k in clash)
        if same_span and not any(k.entity_id == m.entity_id for k in clash):
            kept.append(m)
    return sorted(kept, key=lambda m: (m.start, m.entity_id))


class Extractor:
    """Mentions of a fixed set of entities; build once per watchlist revision, reuse."""

    def __init__(self, entries: Sequence[WatchEntry]):
        from spacy.matcher import PhraseMatcher

        self.nlp = make_tokenizer()
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.entries = {e.id: e for e in entries}
        self.tickers: dict[str, list[int]] = {}
        self._keys: dict[str, tuple[int, str]] = {}  # match key -> (entity id, how)
        bare: list[tuple[int, str]] = []
        for e in entries:
            forms: dict[str, str] = {}
            for alias in e.aliases:
                for form in name_forms(alias):
                    forms.setdefault(form, "alias")
            for form in name_forms(e.name):
                forms[form] = "name"
            for form, how in forms.items():
                self._add(e.id, how, form)
                single_word = re.fullmatch(r"[A-Za-z]+", form) is not None
                if form.upper() != form and not (single_word and is_common_word(form)):
                    self._add(e.id, how, form.upper())
            if e.ticker:
                self.tickers.setdefault(ticker_key(e.ticker), []).append(e.id)
                if (
                    len(e.ticker) >= MIN_BARE_TICKER
                    and e.ticker.isupper()
                    and not is_common_word(e.ticker)
                ):
                    bare.append((e.id, e.ticker))
        for entity_id, ticker in bare:
            self._add(entity_id, "ticker", ticker)

    def _add(self, entity_id: int, how: str, form: str) -> None:
        key = f"{entity_id}|{how}"
        self._keys[key] = (entity_id, how)
        self.matcher.add(key, [self.nlp.make_doc(form)])

    def __len__(self) -> int:
        return len(self.entries)

    def _structured(self, text: str) -> Iterable[Mention]:
        for how, pattern in (("cashtag", CASHTAG), ("exchange", EXCHANGE)):
            for match in pattern.finditer(text):
                ids = self.tickers.get(ticker_key(match.group(1)), [])
                if how == "exchange" and len(ids) > 1:  # same ticker on two exchanges
                    listed = match.group(0).split(":")[0].strip().lower()
                    ids = [i for i in ids if (self.entries[i].exchange or "").lower() == listed]
                for entity_id in ids:
                    yield Mention(entity_id, match.start(), match.end(), match.group(0), how)

    def _mentions(self, text: str, doc) -> list[Mention]:
        """Mentions in ``text``; ``doc``: its tokens (``doc.text`` would rebuild the text)."""
        shouted = None
        found = list(self._structured(text))
        for key, start, end in self.matcher(doc):
            entity_id, how = self._keys[self.nlp.vocab.strings[key]]
            if how == "ticker":
                shouted = _shouted(text) if shouted is None else shouted
                if shouted:
                    continue
            first, last = doc[start], doc[end - 1]
            a, b = first.idx, last.idx + len(last)
            found.append(Mention(entity_id, a, b, text[a:b], how))
        return _keep_longest(found)

    def extract(self, text: str) -> list[Mention]:
        """Mentions in ``text``, by position; offsets are character offsets into ``text``."""
        text = text or ""
        return self._mentions(text, self.nlp.make_doc(text))

    def extract_many(self, texts: Sequence[str]) -> list[list[Mention]]:
        docs = self.nlp.tokenizer.pipe(texts)
        return [self._mentions(text, doc) for text, doc in zip(texts, docs, strict=True)]
