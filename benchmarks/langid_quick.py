"""How often `focusdig.langid`'s quick path (lingua's low-accuracy mode, trusted when sure) changes
an answer of lingua's high-accuracy mode, and what it saves.

Texts: both sides of 3,000 random WMT news pairs and 2,000 random Tatoeba pairs per language
(fr-en, de-en) from the data directory, 20,000 texts, seed 0. Each text is identified three
ways: with no declared language, with its true language declared (a feed that says what it
carries), and with a wrong one declared (the other of en/fr/de). For each way it counts the
texts whose answer differs between the shipped detector and the same detector with the quick
path off, and who was right. The 38 short finance headlines of
`translator_langid_compare.py` are checked the same way.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/langid_quick.py
        -> benchmarks/results/langid_quick.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from focusdig import langid
from focusdig.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TATOEBA = {"fr": "fra_76k.txt", "de": "deu_50k.txt"}


def load_texts(data_dir: Path, news: int, tatoeba: int, seed: int) -> list[tuple[str, str]]:
    """(true language, text) pairs: both sides of random news and Tatoeba pairs."""
    rng = random.Random(seed)
    texts = []
    for lang in ("fr", "de"):
        with gzip.open(data_dir / "mt_news" / f"{lang}-en.tsv.gz", "rt", encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        rng.shuffle(rows)
        with open(data_dir / "mt" / TATOEBA[lang], encoding="utf-8") as f:
            pairs = [line.rstrip("\n").split("\t")[:2] for line in f]
        rng.shuffle(pairs)
        for english, foreign in [*rows[:news], *pairs[:tatoeba]]:
            texts += [("en", english), (lang, foreign)]
    return texts


def quick_path_off():
    """A patch: the shipped detector without its quick path (the low-accuracy pass answers
    nothing and is not even computed), i.e. high accuracy for every text, as before."""
    real = langid._confidences

    def confidences(texts: list[str], low_accuracy: bool) -> list[dict[str, float]]:
        return [{} for _ in texts] if low_accuracy else real(texts, low_accuracy)

    return mock.patch.multiple(langid, _quick_answer=lambda *_: None, _confidences=confidences)


def compare(texts: list[tuple[str, str]], hints: list[str | None]) -> dict:
    """Shipped detector vs the quick path off, on the same texts and hints."""
    plain = [t for _, t in texts]
    shipped = [code for code, _ in langid.detect_languages(plain, hints)]
    with quick_path_off():
        full = [code for code, _ in langid.detect_languages(plain, hints)]
    gold = [g for g, _ in texts]

    def accuracy(answers: list[str]) -> float:
        return round(sum(a == g for a, g in zip(answers, gold, strict=True)) / len(texts), 5)

    differ = [i for i in range(len(texts)) if shipped[i] != full[i]]
    return {
        "texts": len(texts),
        "accuracy_shipped": accuracy(shipped),
        "accuracy_high_accuracy_only": accuracy(full),
        "answers_that_differ": len(differ),
        "of_those_shipped_right": sum(shipped[i] == gold[i] for i in differ),
        "of_those_high_accuracy_right": sum(full[i] == gold[i] for i in differ),
        "examples": [
            {
                "text": texts[i][1][:120],
                "gold": gold[i],
                "hint": hints[i],
                "shipped": shipped[i],
                "high_accuracy": full[i],
            }
            for i in differ[:10]
        ],  # fmt: skip
    }


def first_call_seconds(quick: bool) -> float:
    """Wall time of a fresh process's first `detect_language` on an English news sentence
    (model loading included)."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "from focusdig import langid; from langid_quick import quick_path_off\n"
        + ("" if quick else "quick_path_off().start()\n")
        + "t = time.perf_counter()\n"
        "langid.detect_language('Shares of the retailer fell after it cut its full-year "
        "outlook, citing weaker demand in Europe and higher costs.', 'en')\n"
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(out.stdout), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $FOCUSDIG_DATA_DIR")
    parser.add_argument("--news", type=int, default=3000)
    parser.add_argument("--tatoeba", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/langid_quick.json")
    args = parser.parse_args()
    data_dir = args.data_dir or Settings.from_env().data_dir
    texts = load_texts(data_dir, args.news, args.tatoeba, args.seed)
    wrong = {"en": "fr", "fr": "de", "de": "en"}
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from translator_langid_compare import SAMPLES

    started = time.perf_counter()
    result = {
        "no_hint": compare(texts, [None] * len(texts)),
        "true_hint": compare(texts, [g for g, _ in texts]),
        "wrong_hint": compare(texts, [wrong[g] for g, _ in texts]),
        "finance_headlines_true_hint": compare(SAMPLES, [g for g, _ in SAMPLES]),
        "finance_headlines_no_hint": compare(SAMPLES, [None] * len(SAMPLES)),
        "first_call_s": {
            "quick path": first_call_seconds(True),
            "high accuracy only": first_call_seconds(False),
        },  # fmt: skip
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    summary = {k: {m: v[m] for m in list(v)[:6]} for k, v in result.items() if isinstance(v, dict)}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
