"""Translator quality: sacrebleu BLEU and chrF per language on the held-out test split.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/translator_quality.py [--beam 4] \
        [--no-repeat-ngram 0] [--precision fp32] [--int8] [--split valid --model DIR] \
        [--whole-bucket]

Uses the same deterministic split as training (2 % of source sentences by hash, English side
>= 4 words, at most 1,000 pairs per language). Decodes as the pipeline does by default
(``DEFAULT_TRANSLATION_BEAM``: greedy; repeated subword n-grams of ``NO_REPEAT_NGRAM`` blocked).
Writes benchmarks/results/translator_quality.json (translator_quality_beam4.json for --beam 4,
_int8 for --int8, _fp32 for --precision fp32, _norepeatN for another --no-repeat-ngram;
translator_quality_valid_<version>.json for the validation split, on which models are chosen;
_bucket for --whole-bucket: every pair of the split's hash bucket instead of the capped list).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from focusdig.precision import precision_name
from focusdig.settings import DEFAULT_TRANSLATION_BEAM
from focusdig.translator import Translator
from focusdig.translator.data import load_pairs, split_pairs
from focusdig.translator.evaluate import evaluate_pairs
from focusdig.translator.generate import NO_REPEAT_NGRAM

# issue 18's bars on held-out data, per part (the long-term goals: news zh 15, de/fr 25)
GOALS = {
    "de/news": 10.0,
    "fr/news": 12.0,
    "zh/news": 6.0,
    "de/tatoeba": 45.0,
    "fr/tatoeba": 45.0,
    "zh/tatoeba": 26.0,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model directory (default: newest shipped)")
    ap.add_argument("--data-dir", default=None, help="default: $FOCUSDIG_DATA_DIR")
    ap.add_argument(
        "--split", default="test", choices=["test", "valid"], help="valid: for choosing models"
    )
    ap.add_argument(
        "--beam", type=int, default=DEFAULT_TRANSLATION_BEAM, help="1: greedy (default: pipeline's)"
    )
    ap.add_argument(
        "--whole-bucket",
        action="store_true",
        help="every pair of the split's hash bucket, not the first 1,000 (test) / 400 (valid) "
        "per language: no pair of the bucket is ever trained on",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--no-repeat-ngram",
        type=int,
        default=NO_REPEAT_NGRAM,
        help="blocked repeated n-grams (0: off)",
    )
    ap.add_argument("--precision", default="auto", help="auto, fp32, bf16 (focusdig.precision)")
    ap.add_argument(
        "--int8", action="store_true", help="int8 linear layers (auto on the CPU: --precision auto)"
    )
    a = ap.parse_args()
    tr = Translator.load(
        a.model, device="cpu", num_threads=a.threads, precision=a.precision, int8=a.int8 or None
    )
    training = tr.config.get("training", {})
    test = split_pairs(
        load_pairs(a.data_dir),
        max_test=10**9 if a.whole_bucket else training.get("max_test", 1000),
        max_valid=10**9 if a.whole_bucket else training.get("max_valid", 400),
    )[a.split]
    t0 = time.perf_counter()
    scores = evaluate_pairs(
        tr, test, beam_size=a.beam, batch_size=a.batch_size, no_repeat_ngram_size=a.no_repeat_ngram
    )
    seconds = time.perf_counter() - t0
    result = {
        "model": tr.version,
        "model_dir": str(tr.path),
        "split": a.split + (" (whole bucket)" if a.whole_bucket else ""),
        "decoding": "greedy" if a.beam == 1 else f"beam {a.beam}",
        "no_repeat_ngram_size": a.no_repeat_ngram,
        "precision": precision_name(tr),
        "threads": a.threads,
        "seconds": round(seconds, 1),
        "goals_bleu": GOALS,
        "scores": scores,
    }
    print(f"{tr.version}  {result['decoding']}  {seconds:.0f}s")
    print(f"{'set':14s} {'BLEU':>6s} {'chrF':>6s} {'n':>5s}  goal")
    for k, m in scores.items():
        goal = GOALS.get(k)
        print(
            f"{k:14s} {m['bleu']:6.2f} {m['chrf']:6.2f} {m['n']:5d}  "
            + (f">= {goal:.0f} {'met' if m['bleu'] >= goal else 'NOT met'}" if goal else "")
        )
    suffix = (
        ("" if a.split == "test" else f"_{a.split}_{tr.version}")
        + ("_bucket" if a.whole_bucket else "")
        + ("" if a.beam == 1 else f"_beam{a.beam}")
        + ("" if a.no_repeat_ngram == NO_REPEAT_NGRAM else f"_norepeat{a.no_repeat_ngram}")
        + ("_int8" if a.int8 else "")
        + ("" if a.precision == "auto" else f"_{a.precision}")
    )
    out = Path(__file__).parent / "results" / f"translator_quality{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
