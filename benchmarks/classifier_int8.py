"""The classifier as dynamically quantized int8 (what the pipeline runs on a CPU) against float32.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/classifier_int8.py [--model DIR]
        [--split test] [--threads 1]

On the held-out sentence sets (PhraseBank 50Agree, AllAgree, Twitter) and the targeted
``sentfin_targets`` split (overall and on conflicting headlines, scored toward each entity):
accuracy and macro-F1 of each, label agreement, the largest class-probability difference,
how often the top word is the same, and the CPU seconds of each pass (tokenizing included).
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


def compare(gold: list[str], exact: list[Prediction], fast: list[Prediction], labels) -> dict:
    m32 = classification_metrics(gold, [p.label for p in exact], labels)
    m8 = classification_metrics(gold, [p.label for p in fast], labels)
    pairs = list(zip(exact, fast, strict=True))
    diff = max(abs(a.probs[k] - b.probs[k]) for a, b in pairs for k in a.probs)
    top1 = [
        (a.top_tokens[:1] or [{}])[0].get("start") == (b.top_tokens[:1] or [{}])[0].get("start")
        for a, b in pairs
    ]
    return {
        "n": len(gold),
        "fp32": {"accuracy": round(m32["accuracy"], 4), "macro_f1": round(m32["macro_f1"], 4)},
        "int8": {"accuracy": round(m8["accuracy"], 4), "macro_f1": round(m8["macro_f1"], 4)},
        "macro_f1_points": round(100 * (m8["macro_f1"] - m32["macro_f1"]), 2),
        "label_agreement": round(float(np.mean([a.label == b.label for a, b in pairs])), 4),
        "max_prob_difference": round(float(diff), 4),
        "same_top_word": round(float(np.mean(top1)), 4),
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
    print(json.dumps(result, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
