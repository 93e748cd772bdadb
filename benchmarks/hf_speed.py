"""Speed of a BERT-base-sized Hugging Face classifier backend vs the default classifier.

    python benchmarks/hf_speed.py [--threads 2] [--precision auto] [--model DIR]

The Hugging Face model is `BertForSequenceClassification(BertConfig(num_labels=3))` with random
weights and FinBERT's label order (no download), saved as a Hugging Face directory (safetensors)
together with the default classifier's WordPiece tokenizer (so both models see about the same
number of tokens per sentence), and loaded through focusdig's backend (`Classifier.load`), as a
real FinBERT directory would be. Both are timed end to end (`Classifier.predict`: tokenization,
forward pass, explanation, whole-word offsets) on the same test sentences, sorted by length into
batches of 64; the Hugging Face model once per explanation (attention rollout, last-layer [CLS]
attention), ours over `--passes` passes through the sentences (one pass takes it about a
second), each after an untimed pass. Needs the `hf` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from classifier_speed import sentences, time_predict

from focusdig.classifier.predict import Classifier, default_model_dir
from focusdig.precision import dtype_name


def save_bert_base(path: Path, tokenizer_file: Path) -> Path:
    """A random BERT-base classifier with FinBERT's labels, as a Hugging Face directory."""
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    torch.manual_seed(0)
    labels = {0: "positive", 1: "negative", 2: "neutral"}
    config = BertConfig(num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    BertForSequenceClassification(config).save_pretrained(path, safe_serialization=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    tokenizer.save_pretrained(path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="our model dir (default: the shipped one)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1024, help="sentences (both models, the same)")
    p.add_argument("--passes", type=int, default=5, help="passes of ours through the sentences")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 (focusdig.precision)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ours_dir = Path(a.model) if a.model else default_model_dir()
    ours = Classifier.load(ours_dir, device="cpu", precision=a.precision)
    texts = sentences(a.n)
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = save_bert_base(Path(tmp) / "bert-base-random", ours_dir / "tokenizer.json")
        hf = {
            e: Classifier.load(hf_dir, device="cpu", precision=a.precision, explanation=e)
            for e in ("rollout", "cls")
        }
        for clf in (ours, *hf.values()):  # warm-up: an untimed pass over every batch shape
            time_predict(clf, texts, a.batch_size, 1)
        ours_sps = time_predict(ours, texts, a.batch_size, a.passes)
        hf_sps = {e: time_predict(c, texts, a.batch_size, 1) for e, c in hf.items()}
        hf_params = hf["rollout"].model.num_params()
        hf_tokens = [len(x) for x in hf["rollout"].encoder.ids_batch(texts, 512)]
    result = {
        "ours": ours.version,
        "threads": a.threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "batch_size": a.batch_size,
        "precision": dtype_name(ours.autocast_dtype),
        "ours_sentences_per_s": round(ours_sps, 1),
        "ours_params": ours.model.num_params(),
        "hf_bert_base_params": hf_params,
        "hf_bert_base_sentences_per_s": {e: round(v, 2) for e, v in hf_sps.items()},
        "speedup_ours_vs_hf_rollout": round(ours_sps / hf_sps["rollout"], 1),
        "mean_tokens": round(sum(hf_tokens) / len(hf_tokens), 1),
    }
    print(
        f"ours ({ours.version}, {result['ours_params'] / 1e6:.1f}M params): {ours_sps:.0f} sent/s"
    )
    for e, v in hf_sps.items():
        print(f"BERT-base HF backend ({hf_params / 1e6:.0f}M params, {e}): {v:.1f} sent/s")
    print(f"end to end, {a.threads} threads, {result['precision']}")
    name = f"hf_speed_{a.threads}threads" + ("" if a.precision == "auto" else f"_{a.precision}")
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
