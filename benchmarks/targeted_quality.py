"""Targeted (entity-level) sentiment on the held-out sentfin_targets split, against baselines.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/targeted_quality.py \
        [--model DIR] [--sentence-model DIR] [--split test] [--threads 2]

The split is by headline (``focusdig.classifier.targets.sentfin_split``: 80/10/10 by a salted
hash of the headline), so every entity of a test headline is unseen. Figures overall and on
the rows of conflicting headlines (entities with different labels):

- ``model``: ``--model`` scored toward each entity (``Classifier.evaluate_targets``; a model
  without target support falls back to the sentence's score and says so);
- ``sentence_model``: one sentence-level prediction per headline for all its entities
  (``--sentence-model``, default the shipped classifier);
- ``sentence_oracle``: the best any sentence-level labelling can do: the majority gold label
  of the headline's entities for every entity;
- ``linear_marked``: the library's TF-IDF + logistic regression baseline
  (``focusdig.classifier.baseline``, C chosen on the validation split) on the headline with the
  target replaced by a marker word and the headline's other entities by another;
- ``linear_marked_window``: the same plus the words next to the target as their own features.

Writes benchmarks/results/targeted_quality.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from focusdig.classifier import data as D
from focusdig.classifier.baseline import fit_baseline
from focusdig.classifier.predict import classification_metrics
from focusdig.classifier.targets import find_spans, load_sentfin, sentfin_split

TARGET, OTHER = "tgtentity", "otherentity"
WINDOW = 3


def marked(ex: D.Example, others: list[str]) -> str:
    """The headline with the target replaced by TARGET and the other entities by OTHER."""
    spans = [(s, e, TARGET) for s, e in ex.targets]
    for name in others:
        spans += [
            (s, e, OTHER)
            for s, e in find_spans(ex.text, name)
            if not any(a < e and s < b for a, b in ex.targets)
        ]
    text, last = [], 0
    for s, e, word in sorted(spans):
        if s >= last:
            text += [ex.text[last:s], f" {word} "]
            last = e
    return "".join([*text, ex.text[last:]])


def with_window(text: str) -> str:
    """Add the words around the target marker as L_/R_ features."""
    words = re.findall(r"\w+", text.lower())
    extra = []
    for i, w in enumerate(words):
        if w == TARGET:
            extra += [f"l_{x}" for x in words[max(0, i - WINDOW) : i] if x != TARGET]
            extra += [f"r_{x}" for x in words[i + 1 : i + 1 + WINDOW] if x != TARGET]
    return f"{text} {' '.join(extra)}"


def report(gold: list[str], pred: list[str], conflict: list[bool]) -> dict:
    def short(g, p):
        m = classification_metrics(g, p, D.LABELS)
        return {
            "n": m["n"],
            "accuracy": round(m["accuracy"], 4),
            "macro_f1": round(m["macro_f1"], 4),
        }

    pick = [i for i, c in enumerate(conflict) if c]
    return {
        "overall": short(gold, pred),
        "conflicting": short([gold[i] for i in pick], [pred[i] for i in pick]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory to evaluate toward each entity")
    parser.add_argument("--sentence-model", help="sentence-level baseline (default: shipped)")
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/targeted_quality.json")
    args = parser.parse_args()

    examples, loaded = load_sentfin()
    splits = {w: sentfin_split(examples, w) for w in D.SPLITS}
    entities = defaultdict(list)
    for ex in examples:
        entities[ex.text].append(ex.entity)
    test = splits[args.split]
    gold = [ex.label for ex in test]
    conflict = [ex.conflict for ex in test]
    result: dict = {
        "data": {
            "rows": loaded.rows,
            "kept": loaded.kept,
            "entity_not_found_lines": loaded.not_found,
            "split": args.split,
            **{f"{w}_rows": len(s) for w, s in splits.items()},
            **{f"{w}_headlines": len({ex.text for ex in s}) for w, s in splits.items()},
            "conflicting_rows": sum(conflict),
            "conflicting_headlines": len({ex.text for ex in test if ex.conflict}),
        },
        "baselines": {},
    }

    by_headline = defaultdict(list)
    for ex in test:
        by_headline[ex.text].append(ex.label)
    majority = {
        t: sorted(Counter(labels).items(), key=lambda kv: (-kv[1], D.LABELS.index(kv[0])))[0][0]
        for t, labels in by_headline.items()
    }
    result["baselines"]["sentence_oracle"] = report(
        gold, [majority[ex.text] for ex in test], conflict
    )

    def features(ex: D.Example, window: bool) -> str:
        text = marked(ex, [e for e in entities[ex.text] if e != ex.entity])
        return with_window(text) if window else text

    for name, window in (("linear_marked", False), ("linear_marked_window", True)):
        t0 = time.perf_counter()
        model, val_f1 = fit_baseline(
            [features(ex, window) for ex in splits["train"]],
            [ex.label for ex in splits["train"]],
            [features(ex, window) for ex in splits["val"]],
            [ex.label for ex in splits["val"]],
        )
        pred = list(model.predict([features(ex, window) for ex in test]))
        best_c = max(val_f1, key=val_f1.get)
        result["baselines"][name] = {
            **report(gold, pred, conflict),
            "C": best_c,
            "val_macro_f1_by_C": {str(c): round(f, 4) for c, f in val_f1.items()},
            "seconds": round(time.perf_counter() - t0, 1),
        }

    import torch

    from focusdig.classifier import Classifier
    from focusdig.registry import shipped_model_dir

    torch.set_num_threads(args.threads)
    sentence = Classifier.load(args.sentence_model or shipped_model_dir("classifier"))
    headlines = list(by_headline)
    labels = dict(
        zip(headlines, (p.label for p in sentence.predict(headlines, top_k=0)), strict=True)
    )
    result["baselines"]["sentence_model"] = {
        **report(gold, [labels[ex.text] for ex in test], conflict),
        "model_version": sentence.version,
    }
    if args.model:
        clf = Classifier.load(args.model)
        preds = clf.predict_targets([ex.text for ex in test], [ex.targets for ex in test], top_k=0)
        result["model"] = {
            **report(gold, [p.label for p in preds], conflict),
            "model_version": clf.version,
            "method": "target" if clf.supports_targets else "sentence",
        }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
