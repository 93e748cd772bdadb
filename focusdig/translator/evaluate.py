"""BLEU / chrF (sacrebleu) of a `Translator` on parallel data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import sacrebleu

from focusdig.translator.data import Pair, read_tsv


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """-> {"bleu", "chrf", "n"} (sacrebleu defaults: 13a tokenization, chrF2)."""
    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "n": 0}
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)])
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2), "n": len(hypotheses)}


def evaluate_pairs(
    translator,
    pairs: Sequence[Pair],
    *,
    beam_size: int = 1,
    batch_size: int = 64,
    no_repeat_ngram_size: int = 3,
) -> dict[str, dict]:
    """Scores per source language (and per language/origin, e.g. "fr/news")."""

    def translate(texts: list[str], lang: str) -> list[str]:
        results = translator.translate(
            texts,
            src_lang=lang,
            beam_size=beam_size,
            batch_size=batch_size,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        return [t.text for t in results]

    return score_by_language(translate, pairs)


def score_by_language(
    translate: Callable[[list[str], str], list[str]], pairs: Sequence[Pair]
) -> dict[str, dict]:
    """`translate(texts, lang)` scored per source language and per language/origin."""
    out: dict[str, dict] = {}
    for lang in sorted({p.lang for p in pairs}):
        subset = [p for p in pairs if p.lang == lang]
        hyps = translate([p.src for p in subset], lang)
        out[lang] = corpus_scores(hyps, [p.en for p in subset])
        for origin in sorted({p.origin for p in subset}):
            idx = [i for i, p in enumerate(subset) if p.origin == origin]
            out[f"{lang}/{origin}"] = corpus_scores(
                [hyps[i] for i in idx], [subset[i].en for i in idx]
            )
    return out


def evaluate_tsv(
    translator, path: str | Path, src_lang: str, *, beam_size: int = 1, batch_size: int = 32
) -> dict:
    """Score `English<TAB>source[<TAB>...]` lines (plain or .gz) -> {"bleu", "chrf", "n"}."""
    rows = list(read_tsv(Path(path)))
    hyps = [
        t.text
        for t in translator.translate(
            [src for _, src in rows], src_lang=src_lang, beam_size=beam_size, batch_size=batch_size
        )
    ]
    return corpus_scores(hyps, [en for en, _ in rows])
