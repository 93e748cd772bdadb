"""Does the translator's confidence mean something? Spearman rank correlation of the confidence
of each translation with its sentence-level chrF, and a default flagging threshold.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/translation_confidence.py [--threads 2]

The pipeline's decoding (``--beam``, default ``FOCUSDIG_TRANSLATION_BEAM``'s default; 1 is
greedy). The correlation is measured on the held-out test
split (per language and per part: Tatoeba / WMT news); the threshold is chosen on the
validation split by the rule below and then checked on the test split:

    a translation is *bad* when its sentence chrF is below BAD_CHRF (30: at that level most of
    the meaning is lost). A logistic regression of bad on confidence, fitted on the validation
    split, estimates P(bad | confidence); the threshold is the confidence where that estimate
    is 0.5 (rounded to 0.01): a flagged translation is more likely bad than not.

Writes benchmarks/results/translation_confidence.json (_beamN.json for --beam N > 1).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import sacrebleu
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from focusdig.settings import DEFAULT_TRANSLATION_BEAM
from focusdig.translator import Translator
from focusdig.translator.data import load_pairs, split_pairs

BAD_CHRF = 30.0


def translate_pairs(tr: Translator, pairs, batch_size: int, beam_size: int) -> list[dict]:
    """One row per pair: language, part, confidence and sentence chrF of the output."""
    rows = []
    for lang in sorted({p.lang for p in pairs}):
        subset = [p for p in pairs if p.lang == lang]
        out = tr.translate(
            [p.src for p in subset], src_lang=lang, batch_size=batch_size, beam_size=beam_size
        )
        for p, t in zip(subset, out, strict=True):
            chrf = sacrebleu.sentence_chrf(t.text, [p.en]).score
            rows.append({"lang": lang, "part": p.origin, "confidence": t.confidence, "chrf": chrf})
    return rows


def correlation(rows: list[dict]) -> dict:
    rho, p_value = spearmanr([r["confidence"] for r in rows], [r["chrf"] for r in rows])
    return {"spearman": round(float(rho), 3), "p_value": float(f"{p_value:.2g}"), "n": len(rows)}


def flagging(rows: list[dict], threshold: float) -> dict:
    """What flagging below ``threshold`` does on ``rows``."""
    flagged = [r for r in rows if r["confidence"] < threshold]
    kept = [r for r in rows if r["confidence"] >= threshold]
    bad = [r for r in rows if r["chrf"] < BAD_CHRF]

    def mean_chrf(group: list[dict]) -> float | None:
        return round(sum(r["chrf"] for r in group) / len(group), 1) if group else None

    return {
        "threshold": threshold,
        "flagged_share": round(len(flagged) / len(rows), 3),
        "bad_share_of_flagged": round(sum(r["chrf"] < BAD_CHRF for r in flagged) / len(flagged), 3)
        if flagged
        else None,
        "bad_share_of_kept": round(sum(r["chrf"] < BAD_CHRF for r in kept) / len(kept), 3)
        if kept
        else None,
        "bad_caught": round(sum(r["confidence"] < threshold for r in bad) / len(bad), 3)
        if bad
        else None,
        "mean_chrf_flagged": mean_chrf(flagged),
        "mean_chrf_kept": mean_chrf(kept),
    }


def choose_threshold(rows: list[dict]) -> float:
    """The rule of the module docstring: where the fitted P(bad | confidence) crosses 0.5."""
    x = np.array([[r["confidence"]] for r in rows])
    bad = np.array([r["chrf"] < BAD_CHRF for r in rows])
    fit = LogisticRegression(C=1e6).fit(x, bad)  # practically unregularised
    return round(float(-fit.intercept_[0] / fit.coef_[0, 0]), 2)


def by_group(rows: list[dict]) -> dict[str, dict]:
    groups = {"all": rows}
    for lang in sorted({r["lang"] for r in rows}):
        groups[lang] = [r for r in rows if r["lang"] == lang]
        for part in ("tatoeba", "news"):
            groups[f"{lang}/{part}"] = [r for r in groups[lang] if r["part"] == part]
    for part in ("tatoeba", "news"):
        groups[part] = [r for r in rows if r["part"] == part]
    return {name: correlation(g) for name, g in groups.items() if len(g) > 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model directory (default: newest shipped)")
    ap.add_argument("--data-dir", default=None, help="default: $FOCUSDIG_DATA_DIR")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--beam", type=int, default=DEFAULT_TRANSLATION_BEAM, help="1: greedy")
    ap.add_argument("--out", help="default: results/translation_confidence[_beamN].json")
    a = ap.parse_args()
    tr = Translator.load(a.model, device="cpu", num_threads=a.threads)
    training = tr.config.get("training", {})
    splits = split_pairs(
        load_pairs(a.data_dir),
        max_test=training.get("max_test", 1000),
        max_valid=training.get("max_valid", 400),
    )
    t0 = time.perf_counter()
    valid = translate_pairs(tr, splits["valid"], a.batch_size, a.beam)
    test = translate_pairs(tr, splits["test"], a.batch_size, a.beam)
    threshold = choose_threshold(valid)
    grid = [round(0.1 * k, 1) for k in range(1, 10)]
    result = {
        "model": tr.version,
        "decoding": "greedy" if a.beam == 1 else f"beam {a.beam}",
        "seconds": round(time.perf_counter() - t0, 1),
        "rule": {
            "bad": f"sentence chrF < {BAD_CHRF:g}",
            "threshold": "logistic fit of bad on confidence (validation split): P(bad) = 0.5",
        },
        "threshold": threshold,
        "test_correlation": by_group(test),
        "valid_correlation": by_group(valid),
        "test_flagging_at_threshold": {
            name: flagging(group, threshold)
            for name, group in [("all", test)]
            + [(lang, [r for r in test if r["lang"] == lang]) for lang in ("zh", "fr", "de")]
            + [(part, [r for r in test if r["part"] == part]) for part in ("tatoeba", "news")]
        },
        "test_flagging_grid": [flagging(test, t) for t in grid],
    }
    print(f"{tr.version}: threshold {threshold} (chosen on {len(valid)} validation pairs)")
    print(f"{'set':14s} {'spearman':>8s} {'n':>5s}")
    for name, c in result["test_correlation"].items():
        print(f"{name:14s} {c['spearman']:8.3f} {c['n']:5d}")
    for name, f in result["test_flagging_at_threshold"].items():
        print(f"{name:8s} {json.dumps(f)}")
    suffix = "" if a.beam == 1 else f"_beam{a.beam}"
    out = Path(a.out or Path(__file__).parent / "results" / f"translation_confidence{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
