"""Evaluate a model directory on the held-out splits (PhraseBank 50Agree, AllAgree, Twitter)."""

from __future__ import annotations

import json
from pathlib import Path

from focusdig.classifier import data as D
from focusdig.classifier.artifacts import update_metrics
from focusdig.classifier.predict import Classifier


def evaluate_dir(
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    which: str = "test",
    write_metrics: bool = False,
) -> dict[str, dict]:
    """Metrics per evaluation set; with `write_metrics`, store them in the dir's metrics.json."""
    clf = Classifier.load(path)
    results = {}
    for name, examples in D.eval_sets(data_dir, which).items():
        results[name] = clf.evaluate([ex.text for ex in examples], [ex.label for ex in examples])
    if write_metrics:
        metrics = json.loads((clf.path / "metrics.json").read_text())
        metrics[which] = {
            k: {
                "accuracy": round(v["accuracy"], 4),
                "macro_f1": round(v["macro_f1"], 4),
                "n": v["n"],
            }
            for k, v in results.items()
        }
        update_metrics(clf.path, metrics)
    return results
