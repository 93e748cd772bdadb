"""Classifier throughput (sentences/s) on CPU threads vs a BERT-base-sized model.

    python benchmarks/classifier_speed.py [--model DIR] [--threads 2] [--precision fp32]
        [--explanation pooling] [--out F]

Both models score the same sentences (our token ids), sorted by length into batches of 64.
Ours is timed end to end (`Classifier.predict`: tokenization, explanation, offsets) and on the
forward pass alone; BERT-base (`BertForSequenceClassification(BertConfig())`, random weights,
needs the `bench` extra `transformers`) on the forward pass alone. Our model is timed before
and after BERT and the better run kept, to even out load from other processes. `--precision`
applies to both models' forward passes, so the forward-vs-forward comparison is like for like:
auto (the default) is what the pipeline runs, i.e. dynamically quantized int8 linear layers on
a CPU (`focusdig.precision.int8_by_default`; BERT-base then gets the same quantization), and
fp32 / bf16 are floating point. `--explanation` (focusdig's model: flow, the default, or pooling)
is computed in both of our timings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from focusdig.classifier import data as D
from focusdig.classifier.predict import Classifier
from focusdig.precision import autocast, dtype_name, quantize_linear_int8

FALLBACK = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
    "The company filed for bankruptcy and cut 2,000 jobs.",
    "$AAPL shares slipped after the earnings call https://t.co/x",
    "The board will meet on Tuesday to discuss the proposal.",
]


def sentences(n: int) -> list[str]:
    try:
        sets = D.eval_sets(None, "test")
        texts = [ex.text for v in (sets["phrasebank_50agree"], sets["twitter"]) for ex in v]
    except FileNotFoundError:
        texts = FALLBACK
    return (texts * (n // len(texts) + 1))[:n]


def time_ours(clf: Classifier, texts: list[str], batch_size: int) -> float:
    clf.predict(texts[:64], batch_size=batch_size)  # warm-up
    t = time.perf_counter()
    clf.predict(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - t)


@torch.inference_mode()
def time_forward(forward, seqs: list[list[int]], batch_size: int, dtype) -> float:
    """Sentences/s of `forward(input_ids, attention_mask)` over length-sorted batches, under
    autocast to `dtype` (None: float32)."""
    seqs = sorted(seqs, key=len)
    batches = [seqs[i : i + batch_size] for i in range(0, len(seqs), batch_size)]

    def run(bs: list[list[int]]) -> None:
        for b in bs:
            T = max(map(len, b))
            ids = torch.zeros((len(b), T), dtype=torch.long)
            mask = torch.zeros((len(b), T), dtype=torch.long)
            for i, s in enumerate(b):
                ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
            with autocast(ids.device, dtype):
                forward(ids, mask)

    run(batches[:1])  # warm-up
    t = time.perf_counter()
    run(batches)
    return len(seqs) / (time.perf_counter() - t)


def bert_base():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(num_labels=3)).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the shipped champion)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1024, help="sentences for our model")
    p.add_argument("--n-bert", type=int, default=256, help="sentences for BERT-base")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 (focusdig.precision)")
    p.add_argument("--explanation", help="flow or pooling (default: the model's default)")
    p.add_argument(
        "--out",
        help="results file (default: results/classifier_speed_<N>threads[_<precision>].json)",
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    clf = Classifier.load(
        a.model, device="cpu", precision=a.precision, int8=None, explanation=a.explanation
    )
    params = Classifier.load(a.model, device="cpu", int8=False).model.num_params()  # not int8's
    dtype = clf.autocast_dtype
    texts = sentences(a.n)
    # ours before and after BERT, to even out load from other processes on the machine
    seqs = clf.encoder.ids_batch(texts, clf.max_len)
    bert = bert_base()
    bert_params = sum(p.numel() for p in bert.parameters())
    if clf.int8:  # like for like: the same dynamic quantization of its linear layers
        bert = quantize_linear_int8(bert, inplace=True)
    ours1 = time_ours(clf, texts, a.batch_size)
    fwd1 = time_forward(clf.model, seqs, a.batch_size, dtype)
    bert_sps = time_forward(
        lambda i, m: bert(input_ids=i, attention_mask=m), seqs[: a.n_bert], a.batch_size, dtype
    )
    ours = max(ours1, time_ours(clf, texts, a.batch_size))
    fwd = max(fwd1, time_forward(clf.model, seqs, a.batch_size, dtype))
    result = {
        "model": clf.version,
        "threads": a.threads,
        "cpu_count": os.cpu_count(),
        "batch_size": a.batch_size,
        "precision": "int8" if clf.int8 else dtype_name(dtype),
        "explanation": clf.model.explanation,
        "ours_sentences_per_s": round(ours, 1),
        "ours_forward_sentences_per_s": round(fwd, 1),
        "ours_params": params,
        "bert_base_sentences_per_s": round(bert_sps, 2),
        "bert_base_params": bert_params,
        "speedup_end_to_end": round(ours / bert_sps, 1),
        "speedup_forward": round(fwd / bert_sps, 1),
        "mean_tokens": round(sum(map(len, seqs)) / len(seqs), 1),
    }
    print(
        f"ours ({clf.version}, {result['ours_params'] / 1e6:.1f}M params): {ours:.0f} sent/s "
        f"end to end, {fwd:.0f} sent/s forward only"
    )
    print(f"BERT-base ({bert_params / 1e6:.0f}M params): {bert_sps:.1f} sent/s forward only")
    print(
        f"speedup: {result['speedup_end_to_end']}x end to end, {result['speedup_forward']}x "
        f"forward vs forward, on {a.threads} threads (goal >= 30x)"
    )
    name = f"classifier_speed_{a.threads}threads" + (
        "" if a.precision == "auto" else f"_{a.precision}"
    )
    out = Path(a.out) if a.out else Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
