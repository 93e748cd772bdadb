"""Faithfulness of the attention explanation (comprehensiveness, DeYoung et al. 2020).

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/faithfulness.py [--model DIR]
        [--explanation flow|pooling|rollout|cls] [--limit N] [--split val]

For each test text with at least `--min-words` words: delete the top-k attended words (k=5)
and, separately, k random words; the drop in the probability of the originally predicted class
is the comprehensiveness. Reports both means and their ratio (goal >= 3x). "Words" are the
tokenizer's words, punctuation marks and the pieces of a web link included; a second ratio
draws the random words only among real words (a letter or digit, not in a link), which
removing matters more.

`--model` takes any supported classifier directory (focusdig's, a fine-tuned `hf-encoder`, or a
Hugging Face sequence-classification model such as FinBERT, which needs the `hf` extra);
`--explanation` picks how words are weighted: for focusdig's own classifier `flow` (the
default: the pooling weights carried back through the last two blocks' attention) or `pooling` (the
pooling weights alone); for a Hugging Face classifier attention rollout or last-layer [CLS]
attention: run them all to choose the most faithful one for a model. Results go to
results/faithfulness[_val].json for the shipped model, else results/faithfulness[_val]
[_<version>][_<explanation>].json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

from focusdig.classifier import data as D
from focusdig.classifier.predict import Classifier
from focusdig.classifier.tokenizer import LINK_PATTERN

LINK = re.compile(LINK_PATTERN)


def word_spans(clf: Classifier, text: str) -> list[tuple[int, int]]:
    enc = clf.encoder.encode(text)
    spans: dict[int, tuple[int, int]] = {}
    for w, (s, e) in zip(enc.word_ids, enc.offsets, strict=True):
        s0, e0 = spans.get(w, (s, e))
        spans[w] = (min(s0, s), max(e0, e))
    return list(spans.values())


def real_words(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans that are words to a reader: a letter or digit, not inside a web link."""
    links = [m.span() for m in LINK.finditer(text)]
    return [
        (s, e)
        for s, e in spans
        if re.search(r"\w", text[s:e]) and not any(a <= s < b for a, b in links)
    ]


def delete(text: str, spans: list[tuple[int, int]]) -> str:
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + text[e:]
    return " ".join(text.split())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the shipped champion)")
    p.add_argument("--data-dir", help="default $FOCUSDIG_DATA_DIR")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--min-words", type=int, default=10)
    p.add_argument("--random-draws", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--explanation", help="flow or pooling (focusdig's), rollout or cls (HF)")
    p.add_argument("--limit", type=int, help="at most this many texts (a quick look)")
    p.add_argument("--split", default="test", choices=["test", "val"], help="val: for choosing")
    a = p.parse_args()
    clf = Classifier.load(a.model, explanation=a.explanation)
    sets = D.eval_sets(a.data_dir, a.split)
    texts = [ex.text for name in ("phrasebank_50agree", "twitter") for ex in sets[name]]
    texts = [t for t in texts if len(word_spans(clf, t)) >= a.min_words][: a.limit]
    preds = clf.predict(texts, top_k=a.k)
    rng, rng_real = random.Random(a.seed), random.Random(a.seed + 1)
    top_texts, rand_texts, real_texts = [], [], []
    for text, pred in zip(texts, preds, strict=True):
        top_texts.append(delete(text, [(t["start"], t["end"]) for t in pred.top_tokens]))
        spans = word_spans(clf, text)
        rand_texts += [delete(text, rng.sample(spans, a.k)) for _ in range(a.random_draws)]
        real = real_words(text, spans)
        real = real if len(real) >= a.k else spans
        real_texts += [delete(text, rng_real.sample(real, a.k)) for _ in range(a.random_draws)]
    cls_idx = [clf.labels.index(p.label) for p in preds]
    base = np.array([p.probs[p.label] for p in preds])
    top_p = clf.predict_proba(top_texts)[np.arange(len(texts)), cls_idx]

    def random_drop(deleted: list[str]) -> float:
        probs = clf.predict_proba(deleted).reshape(len(texts), a.random_draws, -1)
        return float((base - probs[np.arange(len(texts)), :, cls_idx].mean(1)).mean())

    comp_top, comp_rand = float((base - top_p).mean()), random_drop(rand_texts)
    comp_real = random_drop(real_texts)
    flip_top = float(
        np.mean(
            [
                clf.labels[i] != p.label
                for i, p in zip(clf.predict_proba(top_texts).argmax(1), preds, strict=True)
            ]
        )
    )
    explanation = clf.model.explanation
    result = {
        "model": clf.version,
        "split": a.split,
        "explanation": explanation,
        "n_texts": len(texts),
        "k": a.k,
        "min_words": a.min_words,
        "comprehensiveness_top_k": round(comp_top, 4),
        "comprehensiveness_random_k": round(comp_rand, 4),
        "ratio": round(comp_top / comp_rand, 2) if comp_rand > 0 else None,
        # the random words drawn only among real words (not punctuation, not web links)
        "comprehensiveness_random_real_words_k": round(comp_real, 4),
        "ratio_real_words": round(comp_top / comp_real, 2) if comp_real > 0 else None,
        "label_flip_rate_top_k": round(flip_top, 4),
    }
    print(f"{len(texts)} {a.split} texts with >= {a.min_words} words, k={a.k}")
    print(
        f"drop in predicted-class prob: top-{a.k} attended {comp_top:.4f}, "
        f"random {comp_rand:.4f}, ratio {result['ratio']}x (goal >= 3x); random real words "
        f"{comp_real:.4f}, ratio {result['ratio_real_words']}x"
    )
    name = "faithfulness" + ("" if a.split == "test" else f"_{a.split}")
    name += (f"_{clf.version}" if a.model else "") + (f"_{a.explanation}" if a.explanation else "")
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
