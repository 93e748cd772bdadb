"""Back-translation: English financial text -> synthetic de/fr/zh sources for training.

A translator trained with `en_to_xx` (`focusdig.translator.trainer`) also writes de/fr/zh when
its decoder is started with the target language's tag. This module samples English lines from
`fin_corpus`, translates them into each language and writes `English<TAB>source<TAB>language`
lines, which the trainer's `synthetic` argument reads as extra xx -> en pairs:

    python -m focusdig.translator.backtranslate --model runs/translator/candidates/mt-bidir \\
        --out runs/translator/bt/bt.tsv --per-language 8000 --threads 2
    python -m focusdig.translator.backtranslate --model DIR --evaluate   # en -> xx BLEU, valid
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

from focusdig.translator import data as D
from focusdig.translator.evaluate import score_hypotheses, translate_pairs
from focusdig.translator.translate import Translator

# news-like English first: WMT news (the weak part of the held-out sets) is general news
DEFAULT_SOURCES = {"reuters_ding2014": 0.7, "kaggle_cnbc_guardian_headlines": 0.3}
# the earnings calls' placeholder for names ("UNK," "UNKt"), not "UNKNOWN"
UNK = re.compile(r"\bUNK(?![A-Z])")


def english_lines(
    data_dir: str | Path | None,
    n: int,
    *,
    sources: dict[str, float] = DEFAULT_SOURCES,
    exclude: set[str] = frozenset(),
    min_words: int = 5,
    max_words: int = 40,
    seed: int = 0,
) -> list[str]:
    """`n` distinct fin_corpus lines, drawn from `sources` in the given shares (deterministic).

    Lines in `exclude` (e.g. the English of held-out pairs), lines outside [min_words,
    max_words] words and lines with the earnings calls' `UNK` placeholder are skipped; a source
    without enough such lines is a ValueError."""
    root = D.resolve_data_dir(data_dir) / "fin_corpus"
    rng = random.Random(seed)
    out: list[str] = []
    taken: set[str] = set(exclude)
    for k, (name, share) in enumerate(sources.items()):
        with gzip.open(root / f"{name}.txt.gz", "rt", encoding="utf-8") as f:
            lines = [D.clean(line) for line in f]
        rng.shuffle(lines)
        want = n - len(out) if k == len(sources) - 1 else round(n * share)
        mine = []
        for line in lines:
            if len(mine) == want:
                break
            words = len(line.split())
            if min_words <= words <= max_words and not UNK.search(line) and line not in taken:
                mine.append(line)
                taken.add(line)
        if len(mine) < want:
            raise ValueError(f"{name}: {len(mine)} usable lines, {want} wanted")
        out += mine
    return out


def usable(english: str, source: str, lang: str) -> bool:
    """Drop degenerate back-translations: empty, a copy of the English, or far off in length."""
    if not source or source == english:
        return False
    en_len = len(english)
    ratio = len(source) / max(en_len, 1)
    low, high = (0.15, 1.0) if lang == "zh" else (0.5, 2.5)  # characters, vs English
    return low <= ratio <= high


def evaluate_en_to_xx(translator: Translator, pairs: list[D.Pair]) -> dict[str, dict]:
    """BLEU / chrF of en -> xx on ``pairs`` (the validation split), reversed, per language and
    origin."""
    english_first = [D.Pair(p.en, p.src, p.lang, p.origin) for p in pairs]
    hyps = translate_pairs(translator.back_translate, english_first)
    return score_hypotheses(pairs, hyps, reference="src")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a translator trained with en_to_xx")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", help="TSV to write (English, synthetic source, language)")
    ap.add_argument("--per-language", type=int, default=8000)
    ap.add_argument("--languages", default=",".join(D.LANGUAGES))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (decoding uses one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evaluate", action="store_true", help="en -> xx BLEU on validation")
    a = ap.parse_args(argv)
    translator = Translator.load(a.model, device="cpu", num_threads=a.threads)
    pairs = D.load_pairs(a.data_dir)
    if a.evaluate:
        print(json.dumps(evaluate_en_to_xx(translator, D.split_pairs(pairs)["valid"]), indent=2))
    if not a.out:
        return
    langs = a.languages.split(",")
    lines = english_lines(
        a.data_dir,
        a.per_language * len(langs),
        exclude={p.en for p in pairs if D.held_out(p.src)},  # every held-out pair's English
        seed=a.seed,
    )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        for k, lang in enumerate(langs):  # each language gets its own English lines
            chunk = lines[k :: len(langs)]
            sources = translator.back_translate(chunk, lang)
            pairs = zip(chunk, sources, strict=True)
            kept = [(en, src) for en, src in pairs if usable(en, src, lang)]
            for en, src in kept:
                f.write(f"{en}\t{src}\t{lang}\n")
            f.flush()
            print(f"{lang}: {len(kept)} of {len(chunk)} kept", flush=True)


if __name__ == "__main__":
    main()
