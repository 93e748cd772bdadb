"""BLEU / chrF (sacrebleu) of a `Translator` on parallel data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import sacrebleu

from focusdig.translator.data import Pair, read_tsv
from focusdig.translator.generate import NO_REPEAT_NGRAM


def corpus_scores(
    hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "13a"
) -> dict:
    """-> {"bleu", "chrf", "n"} (sacrebleu: 13a tokenization, "zh" for Chinese references;
    chrF2)."""
    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "n": 0}
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2), "n": len(hypotheses)}


def text_translator(
    translator,
    *,
    beam_size: int = 1,
    batch_size: int = 64,
    no_repeat_ngram_size: int = NO_REPEAT_NGRAM,
) -> Callable[[list[str], str], list[str]]:
    """``translate(texts, lang) -> English texts`` with the translator and this decoding."""

    def translate(texts: list[str], lang: str) -> list[str]:
        results = translator.translate(
            texts,
            src_lang=lang,
            beam_size=beam_size,
            batch_size=batch_size,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        return [t.text for t in results]

    return translate


def language_groups(pairs: Sequence[Pair]) -> dict[str, list[int]]:
    """Indices of ``pairs`` per source language and per language/origin (e.g. "fr/news")."""
    groups: dict[str, list[int]] = {}
    for lang in sorted({p.lang for p in pairs}):
        groups[lang] = [i for i, p in enumerate(pairs) if p.lang == lang]
        for origin in sorted({pairs[i].origin for i in groups[lang]}):
            groups[f"{lang}/{origin}"] = [i for i in groups[lang] if pairs[i].origin == origin]
    return groups


def translate_pairs(
    translate: Callable[[list[str], str], list[str]], pairs: Sequence[Pair]
) -> list[str]:
    """One ``translate(texts, lang)`` call per source language -> hypotheses in pair order."""
    hyps = [""] * len(pairs)
    for lang in sorted({p.lang for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p.lang == lang]
        for i, hyp in zip(idx, translate([pairs[i].src for i in idx], lang), strict=True):
            hyps[i] = hyp
    return hyps


def score_hypotheses(
    pairs: Sequence[Pair], hyps: Sequence[str], *, reference: str = "en"
) -> dict[str, dict]:
    """BLEU / chrF of ``hyps`` (in pair order) per language and per language/origin, against
    the pairs' English (``reference`` "en") or, for en -> xx, their sources ("src": Chinese
    references tokenized as sacrebleu's "zh")."""
    out = {}
    for key, idx in language_groups(pairs).items():
        refs = [getattr(pairs[i], reference) for i in idx]
        tokenize = "zh" if reference == "src" and key.startswith("zh") else "13a"
        out[key] = corpus_scores([hyps[i] for i in idx], refs, tokenize=tokenize)
    return out


def evaluate_pairs(
    translator,
    pairs: Sequence[Pair],
    *,
    beam_size: int = 1,
    batch_size: int = 64,
    no_repeat_ngram_size: int = NO_REPEAT_NGRAM,
) -> dict[str, dict]:
    """Scores per source language (and per language/origin, e.g. "fr/news")."""
    translate = text_translator(
        translator,
        beam_size=beam_size,
        batch_size=batch_size,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )
    return score_hypotheses(pairs, translate_pairs(translate, pairs))


def evaluate_tsv(
    translator, path: str | Path, src_lang: str, *, beam_size: int = 1, batch_size: int = 32
) -> dict:
    """Score `English<TAB>source[<TAB>...]` lines (plain or .gz) -> {"bleu", "chrf", "n"}."""
    rows = list(read_tsv(Path(path)))
    translate = text_translator(translator, beam_size=beam_size, batch_size=batch_size)
    return corpus_scores(translate([src for _, src in rows], src_lang), [en for en, _ in rows])
