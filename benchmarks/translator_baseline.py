"""The translator beside simple baselines: same split, same scores, same downstream use.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/translator_baseline.py \
        [--split valid] [--model DIR] [--threads 2] [--beam 4]

Fits a translation memory and IBM Model 1 word-by-word translation
(`focusdig.translator.baseline`) on the translator's training split, and scores them and the
translator (decoded as `translator_quality.py` does: the pipeline's default beam, batches of 64,
repeated subword n-grams of `NO_REPEAT_NGRAM` blocked, the CPU default precision) with the same
sacrebleu BLEU / chrF per language and origin. Because focusdig translates in order to score
sentiment, each system is also scored downstream: the share of pairs whose translation gets the
shipped classifier's label for the reference English, and the mean absolute difference of the
signed scores. Writes benchmarks/results/translator_baseline[_valid].json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from focusdig.classifier import Classifier
from focusdig.precision import precision_name
from focusdig.settings import DEFAULT_TRANSLATION_BEAM
from focusdig.translator import Translator
from focusdig.translator.baseline import BASELINES
from focusdig.translator.data import Pair, load_pairs, split_pairs
from focusdig.translator.evaluate import (
    language_groups,
    score_hypotheses,
    text_translator,
    translate_pairs,
)
from focusdig.translator.generate import NO_REPEAT_NGRAM


def sentiment_agreement(
    clf: Classifier, pairs: list[Pair], hyps: list[str], ref_preds: list
) -> dict[str, dict]:
    """Per language and language/origin: how often the translation gets the reference's label.

    "label_agreement" over all pairs (a translation the classifier calls neutral agrees with
    every neutral reference), "polar_agreement" over the pairs whose reference is positive or
    negative, Cohen's kappa, and the mean absolute difference of the signed scores.
    """
    preds = clf.predict(hyps, top_k=0)
    out = {}
    for key, idx in language_groups(pairs).items():
        ref = [ref_preds[i].label for i in idx]
        hyp = [preds[i].label for i in idx]
        polar = [h == r for h, r in zip(hyp, ref, strict=True) if r != "neutral"]
        kappa = float(cohen_kappa_score(ref, hyp))  # NaN when both sides have one label
        out[key] = {
            "label_agreement": round(float(np.mean(np.array(hyp) == np.array(ref))), 4),
            "polar_agreement": round(float(np.mean(polar)), 4) if polar else None,
            "polar_n": len(polar),
            "kappa": None if np.isnan(kappa) else round(kappa, 4),
            "mean_abs_score_diff": round(
                float(np.mean([abs(preds[i].score - ref_preds[i].score) for i in idx])), 4
            ),
            "n": len(idx),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="default: $FOCUSDIG_DATA_DIR")
    ap.add_argument("--split", default="test", choices=["test", "valid"])
    ap.add_argument("--model", default=None, help="translator directory (default: newest shipped)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam", type=int, default=DEFAULT_TRANSLATION_BEAM, help="1: greedy")
    a = ap.parse_args()
    translator = Translator.load(a.model, device="cpu", num_threads=a.threads)
    clf = Classifier.load(device="cpu", num_threads=a.threads)
    training = translator.config.get("training", {})
    splits = split_pairs(
        load_pairs(a.data_dir),
        max_test=training.get("max_test", 1000),
        max_valid=training.get("max_valid", 400),
    )
    pairs = splits[a.split]
    ref_preds = clf.predict([p.en for p in pairs], top_k=0)

    systems: dict[str, tuple[float, Callable[[list[str], str], list[str]]]] = {
        translator.version: (0.0, text_translator(translator, beam_size=a.beam))
    }
    for name, cls in BASELINES.items():
        t0 = time.perf_counter()
        baseline = cls().fit(splits["train"])
        systems[name] = (time.perf_counter() - t0, baseline.translate)

    result = {
        "split": a.split,
        "train_pairs": len(splits["train"]),
        "classifier": clf.version,
        "translator_precision": precision_name(translator),
        "translator_decoding": {
            "beam": a.beam,
            "batch_size": 64,
            "no_repeat_ngram_size": NO_REPEAT_NGRAM,
        },
        "threads": a.threads,
        "systems": {},
    }
    for name, (fit_seconds, translate) in systems.items():
        hyps = translate_pairs(translate, pairs)
        scores = score_hypotheses(pairs, hyps)
        downstream = sentiment_agreement(clf, pairs, hyps, ref_preds)
        result["systems"][name] = {
            "fit_seconds": round(fit_seconds, 1),
            "scores": scores,
            "sentiment": downstream,
        }
        print(f"{name}" + (f" (fitted in {fit_seconds:.0f}s)" if fit_seconds else ""))
        for k, m in scores.items():
            d = downstream[k]
            print(
                f"  {k:12s} BLEU {m['bleu']:6.2f}  chrF {m['chrf']:6.2f}  "
                f"same label {d['label_agreement']:.3f}  polar {d['polar_agreement']} "
                f"(n {d['polar_n']:3d})  kappa {d['kappa']}  "
                f"|score diff| {d['mean_abs_score_diff']:.3f}  n {m['n']:5d}"
            )
    suffix = "" if a.split == "test" else f"_{a.split}"
    out = Path(__file__).parent / "results" / f"translator_baseline{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
