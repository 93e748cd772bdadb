"""Classifier quality on the held-out test splits: PhraseBank 50Agree, AllAgree, Twitter.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/classifier_quality.py [--model DIR]

Prints accuracy / macro-F1 per set and writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from focusdig.classifier.evaluate import evaluate_dir
from focusdig.classifier.predict import default_model_dir

GOALS = {
    "phrasebank_50agree": {"accuracy": 0.88, "macro_f1": 0.86},
    "phrasebank_allagree": {"accuracy": 0.97},
    "twitter": {"macro_f1": 0.85},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the shipped champion)")
    p.add_argument("--data-dir", help="default $FOCUSDIG_DATA_DIR")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--name", default="classifier_quality", help="results file name")
    a = p.parse_args()
    path = Path(a.model) if a.model else default_model_dir()
    results = evaluate_dir(path, a.data_dir, which=a.split)
    print(f"model {path.name}, split {a.split}")
    print(f"{'set':22} {'n':>5} {'accuracy':>9} {'macro-F1':>9}  goal")
    for name, m in results.items():
        goal = ", ".join(f"{k} >= {v}" for k, v in GOALS[name].items())
        print(f"{name:22} {m['n']:5d} {m['accuracy']:9.4f} {m['macro_f1']:9.4f}  {goal}")
    out = Path(__file__).resolve().parent / "results" / f"{a.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"model": path.name, "split": a.split, "goals": GOALS, "results": results}, indent=2
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
