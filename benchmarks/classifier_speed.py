"""Classifier throughput (sentences/s) on CPU threads vs a BERT-base-sized model.

    python benchmarks/classifier_speed.py [--model DIR] [--threads 2] [--precision fp32]
        [--explanation pooling] [--rounds 5] [--passes 5] [--shape JSON] [--out F]

Both models score the same sentences (the PhraseBank 50Agree and Twitter test splits, our
token ids), sorted by length into batches of 64. Ours is timed end to end (`Classifier.predict`:
tokenization, explanation, offsets) and on the forward pass alone; BERT-base
(`BertForSequenceClassification(BertConfig())`, random weights, needs the `bench` extra
`transformers`) end to end as a pipeline without explanations would run it (tokenization by
our tokenizer, padded batches, forward, probabilities) and on the forward pass alone. Both
models are timed in turn, `--rounds` times after an untimed pass of each (the first pass over
new batch shapes is slower), ours over `--passes` passes through the sentences (5-6 s;
BERT-base's one pass takes 10-20 s); each round gives its own speedups (so load from other
processes that comes and goes hits both alike), and each figure is reported as its median
over the rounds (the speedups, with their range, are medians of the rounds' ratios, not
quotients of the median throughputs). `--precision` applies to both models' forward passes,
so the comparison is like for like: auto (the default) is what the pipeline runs, i.e.
dynamically quantized int8 linear layers on a CPU (`focusdig.precision.int8_by_default`;
BERT-base then gets the same quantization), and fp32 / bf16 are floating point.
`--explanation` (focusdig's model: flow, the default, or pooling) is computed in both of our
timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from focusdig.classifier import data as D
from focusdig.classifier.model import SentimentClassifier, collate
from focusdig.classifier.predict import Classifier
from focusdig.precision import autocast, dtype_name, quantize_linear_int8


def sentences(n: int) -> list[str]:
    """The first ``n`` of the PhraseBank 50Agree and Twitter test sentences (no repeats:
    `Classifier.predict` scores a repeated text once, which would flatter it)."""
    try:
        sets = D.eval_sets(None, "test")
    except FileNotFoundError:
        raise SystemExit("needs the test splits: set FOCUSDIG_DATA_DIR") from None
    texts = list(
        dict.fromkeys(ex.text for v in (sets["phrasebank_50agree"], sets["twitter"]) for ex in v)
    )
    if n > len(texts):
        raise SystemExit(f"only {len(texts)} distinct test sentences: use --n {len(texts)} or less")
    return texts[:n]


def time_predict(clf: Classifier, texts: list[str], batch_size: int, passes: int) -> float:
    """Sentences/s of `Classifier.predict` over `passes` passes through `texts`."""
    t = time.perf_counter()
    for _ in range(passes):
        clf.predict(texts, batch_size=batch_size)
    return passes * len(texts) / (time.perf_counter() - t)


def padded_batches(seqs: list[list[int]], batch_size: int) -> list[tuple[torch.Tensor, ...]]:
    """Length-sorted batches of (input_ids, attention_mask), padded to their longest."""
    seqs = sorted(seqs, key=len)
    return [collate(seqs[i : i + batch_size]) for i in range(0, len(seqs), batch_size)]


@torch.inference_mode()
def run_batches(forward, batches: list[tuple[torch.Tensor, ...]], dtype) -> None:
    """`forward(input_ids, attention_mask)` -> logits, softmaxed, under autocast to `dtype`."""
    for ids, mask in batches:
        with autocast(ids.device, dtype):
            logits = forward(ids, mask)
        torch.softmax(logits.float(), dim=-1)


def time_forward(forward, seqs: list[list[int]], batch_size: int, dtype, passes: int) -> float:
    """Sentences/s of the forward pass alone over `passes` passes (batches built beforehand;
    dtype None: float32)."""
    batches = padded_batches(seqs, batch_size)
    t = time.perf_counter()
    for _ in range(passes):
        run_batches(forward, batches, dtype)
    return passes * len(seqs) / (time.perf_counter() - t)


def time_bert(forward, clf: Classifier, texts: list[str], batch_size: int) -> tuple[float, float]:
    """Sentences/s of a BERT-base pipeline end to end (our tokenizer, a fast WordPiece as
    BERT's; padded batches; forward; class probabilities; no explanation, which BERT-base does
    not give) and of its forward pass alone, from one run."""
    t = time.perf_counter()
    batches = padded_batches(clf.encoder.ids_batch(texts, clf.max_len), batch_size)
    t_forward = time.perf_counter()
    run_batches(forward, batches, clf.autocast_dtype)
    done = time.perf_counter()
    return len(texts) / (done - t), len(texts) / (done - t_forward)


def bert_base():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(num_labels=3)).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model dir (default: the shipped champion)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1024, help="sentences (both models, the same)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5, help="timings of both models, in turn")
    p.add_argument(
        "--passes",
        type=int,
        default=5,
        help="passes of ours through the sentences per timing (BERT-base: one)",
    )
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 (focusdig.precision)")
    p.add_argument("--explanation", help="flow or pooling (default: the model's default)")
    p.add_argument(
        "--out",
        help="results file (default: results/classifier_speed_<N>threads[_<precision>].json)",
    )
    p.add_argument(
        "--shape",
        help="JSON config overrides, e.g. '{\"n_layers\": 2}': time a model of that shape with "
        "random weights instead (speed only; the model's tokenizer)",
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    fp32 = Classifier.load(a.model, device="cpu", int8=False, explanation=a.explanation)
    if a.shape:
        torch.manual_seed(0)
        cfg = replace(fp32.model.config, **json.loads(a.shape))
        model = SentimentClassifier(cfg, explanation=fp32.model.explanation).eval()
        config = {**fp32.config, "version": f"random weights, {a.shape}"}
        fp32 = Classifier(model, fp32.encoder, config, device="cpu", int8=False)
    params = fp32.model.num_params()  # not int8's
    clf = Classifier(
        fp32.model, fp32.encoder, fp32.config, device="cpu", precision=a.precision, int8=None
    )
    dtype = clf.autocast_dtype
    texts = sentences(a.n)
    seqs = clf.encoder.ids_batch(texts, clf.max_len)
    bert = bert_base()
    bert_params = sum(p.numel() for p in bert.parameters())
    if clf.int8:  # like for like: the same dynamic quantization of its linear layers
        bert = quantize_linear_int8(bert, inplace=True)

    def ours_forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return clf.model(ids, mask)[0]

    def bert_forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return bert(input_ids=ids, attention_mask=mask).logits

    # warm-up: a whole untimed pass of each, as the first pass over new batch shapes is slower
    time_predict(clf, texts, a.batch_size, 1)
    time_forward(ours_forward, seqs, a.batch_size, dtype, 1)
    time_bert(bert_forward, clf, texts, a.batch_size)
    rounds = []
    for _ in range(a.rounds):
        ours = time_predict(clf, texts, a.batch_size, a.passes)
        fwd = time_forward(ours_forward, seqs, a.batch_size, dtype, a.passes)
        bert_e2e, bert_fwd = time_bert(bert_forward, clf, texts, a.batch_size)
        rounds.append(
            {
                "ours_sentences_per_s": round(ours, 1),
                "ours_forward_sentences_per_s": round(fwd, 1),
                "bert_base_sentences_per_s": round(bert_e2e, 2),
                "bert_base_forward_sentences_per_s": round(bert_fwd, 2),
                "speedup_end_to_end": round(ours / bert_e2e, 2),
                "speedup_forward": round(fwd / bert_fwd, 2),
            }
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def spread(key: str) -> list[float]:
        return [min(r[key] for r in rounds), max(r[key] for r in rounds)]

    batches = padded_batches(seqs, a.batch_size)
    result = {
        "model": clf.version,
        "threads": a.threads,
        "cpu_count": os.cpu_count(),
        "sentences": len(texts),
        "batch_size": a.batch_size,
        "precision": "int8" if clf.int8 else dtype_name(dtype),
        "explanation": clf.model.explanation,
        "ours_params": params,
        "bert_base_params": bert_params,
        "mean_tokens": round(sum(map(len, seqs)) / len(seqs), 1),
        "mean_padded_tokens": round(sum(ids.numel() for ids, _ in batches) / len(seqs), 1),
        **{key: median(key) for key in rounds[0]},
        "speedup_end_to_end_range": spread("speedup_end_to_end"),
        "speedup_forward_range": spread("speedup_forward"),
        "rounds": rounds,
    }
    ours, fwd = result["ours_sentences_per_s"], result["ours_forward_sentences_per_s"]
    bert_e2e, bert_fwd = (
        result["bert_base_sentences_per_s"],
        result["bert_base_forward_sentences_per_s"],
    )
    print(
        f"ours ({clf.version}, {result['ours_params'] / 1e6:.1f}M params): {ours:.0f} sent/s "
        f"end to end, {fwd:.0f} sent/s forward only"
    )
    print(
        f"BERT-base ({bert_params / 1e6:.0f}M params): {bert_e2e:.1f} sent/s end to end, "
        f"{bert_fwd:.1f} sent/s forward only"
    )
    e2e, fw = result["speedup_end_to_end_range"], result["speedup_forward_range"]
    print(
        f"speedup (median of {a.rounds} rounds): {result['speedup_end_to_end']}x end to end "
        f"({e2e[0]}-{e2e[1]}), {result['speedup_forward']}x forward vs forward "
        f"({fw[0]}-{fw[1]}), on {a.threads} threads (goal >= 30x)"
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
