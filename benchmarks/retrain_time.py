"""Retraining time on this machine: a champion/challenger retrain on N new user labels.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/retrain_time.py [--labels 1000]
        [--epochs 3] [--threads 2]

The "user labels" are drawn from the Twitter validation split (never the test split, which is
the gold holdout). Uses a temporary FOCUSDIG_HOME with the shipped default as champion.
Writes benchmarks/results/retrain_time.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/retrain_time.json")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="focusdig-retrain-")
    os.environ["FOCUSDIG_HOME"] = home
    os.environ.pop("FOCUSDIG_DATABASE_URL", None)
    import torch

    torch.set_num_threads(args.threads)
    from focusdig.classifier import data as base_data
    from focusdig.database import get_engine, session_scope
    from focusdig.labels import import_labels
    from focusdig.registry import champion
    from focusdig.retrain import RetrainArguments, retrain
    from focusdig.settings import Settings

    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        version = champion(session).version
    val = base_data.split(base_data.load_twitter(settings.data_dir), "val")[: args.labels]
    path = Path(home) / "labels.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((ex.text, ex.label) for ex in val)
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        imported = import_labels(session, path, annotator="benchmark")
    t1 = time.perf_counter()
    training = {**RetrainArguments().training, "epochs": args.epochs, "num_threads": args.threads}
    result = retrain(engine, settings, RetrainArguments(min_new_labels=1, training=training))
    t2 = time.perf_counter()
    out = {
        "champion": version,
        "labels": imported.added,
        "epochs": args.epochs,
        "threads": args.threads,
        "import_s": round(t1 - t0, 2),
        "retrain_s": round(t2 - t1, 1),
        "promoted": result.promoted,
        "reason": result.reason,
        "metrics": result.metrics,
    }
    print(json.dumps(out, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
