"""Simple translation baselines, trained on the translator's own training split.

Every translator figure is reported beside the stronger of two classic baselines:

- `TranslationMemory`: the English side of the most similar training source sentence
  (cosine of TF-IDF character 1-3-grams, per source language). Strong where test sentences
  have near-duplicates in training (Tatoeba), weak on news.
- `WordByWord`: IBM Model 1 lexical translation (EM, NULL word) and monotone word-by-word
  decoding: every source token becomes its most probable English word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer

from focusdig.translator.data import Pair

# A number with separators (1.5, 1,000), one Chinese character, a run of other word
# characters, or one other symbol.
_CJK = re.compile(r"[\u3400-\u9fff]")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[\u3400-\u9fff]|[^\W\u3400-\u9fff]+|[^\w\s]")
NULL = "<null>"
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_APOSTROPHE = re.compile(r" ' ")


def tokens(text: str) -> list[str]:
    """Words, numbers and symbols as written; Chinese text one character per token."""
    return _TOKEN.findall(text)


def _lower_tokens(text: str) -> list[str]:
    return [t.lower() for t in tokens(text)]


def detokenize(words: Sequence[str]) -> str:
    """Join words as English is written: no space before closing punctuation, first letter up."""
    text = _NO_SPACE_BEFORE.sub(r"\1", " ".join(words))
    text = _APOSTROPHE.sub("'", _NO_SPACE_AFTER.sub(r"\1", text))
    return text[:1].upper() + text[1:]


def _by_language(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    for p in pairs:
        out.setdefault(p.lang, []).append(p)
    return out


class TranslationMemory:
    """Retrieve the English of the nearest training source (TF-IDF char 1-3-grams)."""

    def __init__(self, chunk: int = 256):
        self.chunk = chunk
        self.memory: dict[str, tuple[TfidfVectorizer, csr_matrix, list[str]]] = {}

    def fit(self, pairs: Sequence[Pair]) -> TranslationMemory:
        for lang, subset in _by_language(pairs).items():
            vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
            matrix = vec.fit_transform([p.src for p in subset])  # (N, V) lower-cased, L2-normed
            self.memory[lang] = (vec, matrix.T.tocsr(), [p.en for p in subset])
        return self

    def translate(self, texts: Sequence[str], src_lang: str) -> list[str]:
        vec, matrix_t, english = self.memory[src_lang]
        out: list[str] = []
        for i in range(0, len(texts), self.chunk):
            queries = vec.transform(texts[i : i + self.chunk])  # (B, V)
            similarity = (queries @ matrix_t).toarray()  # (B, N)
            best = similarity.argmax(axis=1)
            # nothing in common with any training sentence (e.g. empty): no translation
            out += [english[j] if similarity[r, j] > 0 else "" for r, j in enumerate(best)]
        return out


class WordByWord:
    """IBM Model 1 t(english | source) by EM; each source token -> its most probable word."""

    def __init__(self, iterations: int = 5):
        self.iterations = iterations
        self.best: dict[str, dict[str, str]] = {}

    def fit(self, pairs: Sequence[Pair]) -> WordByWord:
        for lang, subset in _by_language(pairs).items():
            self.best[lang] = self._fit_language(
                [[NULL, *_lower_tokens(p.src)] for p in subset],
                [_lower_tokens(p.en) for p in subset],
            )
        return self

    def _fit_language(self, sources: list[list[str]], targets: list[list[str]]) -> dict[str, str]:
        src_vocab = {w: i for i, w in enumerate(sorted({w for s in sources for w in s}))}
        tgt_vocab = {w: i for i, w in enumerate(sorted({w for t in targets for w in t}))}
        # Every (source token, target token) pairing of every sentence pair: C rows.
        src_ids, tgt_ids, groups = [], [], []  # group = one target token of one sentence
        group = 0
        for src, tgt in zip(sources, targets, strict=True):
            s = np.array([src_vocab[w] for w in src], np.int64)
            e = np.array([tgt_vocab[w] for w in tgt], np.int64)
            src_ids.append(np.tile(s, len(e)))
            tgt_ids.append(np.repeat(e, len(s)))
            groups.append(group + np.repeat(np.arange(len(e)), len(s)))
            group += len(e)
        if not src_ids:
            return {}
        src_id, tgt_id, grp = (np.concatenate(x) for x in (src_ids, tgt_ids, groups))
        # t(e|f) lives on the distinct (f, e) pairs that co-occur: pair_of maps C rows to them.
        keys, pair_of = np.unique(src_id * len(tgt_vocab) + tgt_id, return_inverse=True)
        pair_src = keys // len(tgt_vocab)
        t = np.ones(len(keys))  # uniform start: the E-step normalises it away
        for _ in range(self.iterations):
            p = t[pair_of]  # (C,)
            p = p / np.bincount(grp, weights=p, minlength=group)[grp]  # posterior over f
            counts = np.bincount(pair_of, weights=p, minlength=len(keys))
            t = counts / np.bincount(pair_src, weights=counts)[pair_src]
        # For each source word, the target word with the largest t(e|f).
        order = np.lexsort((-t, pair_src))
        first = order[np.r_[True, pair_src[order][1:] != pair_src[order][:-1]]]
        src_words, tgt_words = list(src_vocab), list(tgt_vocab)
        pair_tgt = keys % len(tgt_vocab)
        return {src_words[pair_src[i]]: tgt_words[pair_tgt[i]] for i in first}

    def translate(self, texts: Sequence[str], src_lang: str) -> list[str]:
        best = self.best[src_lang]
        out = []
        for text in texts:
            words: list[str] = []
            previous = ""
            for tok in tokens(text):
                word = best.get(tok.lower(), tok)  # unseen tokens (names, numbers) are copied
                # two characters of one Chinese word that give the same English word: one word
                if not (words and words[-1] == word and _CJK.match(tok) and _CJK.match(previous)):
                    words.append(word)
                previous = tok
            out.append(detokenize(words))
        return out


BASELINES = {"memory": TranslationMemory, "word_by_word": WordByWord}
