"""The classifier as dynamically quantized int8 (what the pipeline runs on a CPU) against float32.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/classifier_int8.py [--model DIR]
        [--split test] [--threads 1]

On the held-out sentence sets (PhraseBank 50Agree, AllAgree, Twitter) and the targeted
``sentfin_targets`` split (overall and on conflicting headlines, scored toward each entity):
accuracy and macro-F1 of each, label agreement, the largest class-probability difference,
how often the top word is the same, and the CPU seconds of each pass (tokenizing included).
Then how much a sentence's result depends on the batch it is scored in (int8 activations are
quantized with one scale per batch; float32 has none): the sentence sets scored again in a
shuffled order, and their first 256 sentences one at a time, against the first pass.
Writes benchmarks/results/classifier_int8.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from focusdig.classifier import data as D
from focusdig.classifier.predict import Classifier, Prediction, classification_metrics
from focusdig.classifier.targets import load_sentfin, sentfin_split
from focusdig.registry import shipped_model_dir


def run(clf: Classifier, sets: dict[str, list[D.Example]]) -> tuple[dict, float]:
    """Predictions per set and the CPU seconds they took."""
    c0 = time.process_time()
    out = {}
    for name, exs in sets.items():
        texts = [e.text for e in exs]
        if exs and exs[0].targets:
            out[name] = clf.predict_targets(texts, [list(e.targets) for e in exs])
        else:
            out[name] = clf.predict(texts)
    return out, time.process_time() - c0


def differences(first: list[Prediction], other: list[Prediction]) -> dict:
    """How far ``other`` is from ``first`` (the same texts, in order; ``other`` may be a prefix)."""
    pairs = list(zip(first, other, strict=False))
    diffs = [abs(a.probs[k] - b.probs[k]) for a, b in pairs for k in a.probs]

    def same(top_k: int) -> float:
        return float(
            np.mean(
                [
                    {t["start"] for t in a.top_tokens[:top_k]}
                    == {t["start"] for t in b.top_tokens[:top_k]}
                    for a, b in pairs
                ]
            )
        )

    return {
        "n": len(pairs),
        "label_agreement": round(float(np.mean([a.label == b.label for a, b in pairs])), 4),
        "max_prob_difference": round(float(max(diffs)), 4),
        "mean_prob_difference": round(float(np.mean(diffs)), 5),
        "same_top_word": round(same(1), 4),
        "same_top5_words": round(same(5), 4),
    }


def compare(gold: list[str], exact: list[Prediction], fast: list[Prediction], labels) -> dict:
    m32 = classification_metrics(gold, [p.label for p in exact], labels)
    m8 = classification_metrics(gold, [p.label for p in fast], labels)
    return {
        "fp32": {"accuracy": round(m32["accuracy"], 4), "macro_f1": round(m32["macro_f1"], 4)},
        "int8": {"accuracy": round(m8["accuracy"], 4), "macro_f1": round(m8["macro_f1"], 4)},
        "macro_f1_points": round(100 * (m8["macro_f1"] - m32["macro_f1"]), 2),
        **differences(exact, fast),
    }


def batch_dependence(clf: Classifier, texts: list[str], first: list[Prediction]) -> dict:
    """How far re-scoring ``texts`` in other batches moves ``first`` (their batch-64 results)."""
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled = clf.predict([texts[i] for i in order])
    again = [None] * len(texts)
    for prediction, i in zip(shuffled, order, strict=True):
        again[i] = prediction
    alone = [clf.predict(t, batch_size=1)[0] for t in texts[:256]]
    return {
        "shuffled_batches": differences(first, again),
        "one_at_a_time": differences(first, alone),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the shipped champion)")
    p.add_argument("--data-dir", help="default $FOCUSDIG_DATA_DIR")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/classifier_int8.json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    path = Path(a.model) if a.model else shipped_model_dir("classifier")
    sets = D.eval_sets(a.data_dir, a.split)
    targeted = sentfin_split(load_sentfin(a.data_dir)[0], a.split)
    sets["sentfin_targets"] = targeted
    sets["sentfin_targets_conflicting"] = [e for e in targeted if e.conflict]
    exact = Classifier.load(path, device="cpu", precision="fp32")
    fast = Classifier.load(path, device="cpu", int8=True)
    run(exact, {"warm-up": sets["phrasebank_allagree"][:64]})
    run(fast, {"warm-up": sets["phrasebank_allagree"][:64]})
    pred32, cpu32 = run(exact, sets)
    pred8, cpu8 = run(fast, sets)
    result = {
        "model": exact.version,
        "split": a.split,
        "threads": a.threads,
        "cpu_s": {"fp32": round(cpu32, 2), "int8": round(cpu8, 2)},
        "sets": {
            name: compare([e.label for e in exs], pred32[name], pred8[name], exact.labels)
            for name, exs in sets.items()
        },
    }
    sentence_sets = ("phrasebank_50agree", "twitter")
    texts = [e.text for name in sentence_sets for e in sets[name]]
    result["batch_dependence"] = {
        "sets": list(sentence_sets),
        "fp32": batch_dependence(exact, texts, [p for n in sentence_sets for p in pred32[n]]),
        "int8": batch_dependence(fast, texts, [p for n in sentence_sets for p in pred8[n]]),
    }
    print(json.dumps(result, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
