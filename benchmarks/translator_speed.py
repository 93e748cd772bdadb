"""Translator decoding speed: target tokens/s with greedy and beam-4 search.

    FOCUSDIG_DATA_DIR=../shared/data python benchmarks/translator_speed.py --threads 2 \
        [--precision fp32] [--int8] [--out FILE]

Translates the first N test-split source sentences per language (batch 32) and counts the
generated subword tokens of the outputs. Also records the process CPU time and the machine's
load average before and after (on a shared machine, wall time depends on the other jobs).
Writes benchmarks/results/translator_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from focusdig.precision import precision_name
from focusdig.translator import Translator
from focusdig.translator.data import LANGUAGES, load_pairs, split_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model directory (default: newest shipped)")
    ap.add_argument("--data-dir", default=None, help="default: $FOCUSDIG_DATA_DIR")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-language", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--precision", default="auto", help="auto, fp32, bf16 (focusdig.precision)")
    ap.add_argument(
        "--int8", action="store_true", help="int8 linear layers (auto on the CPU: --precision auto)"
    )
    ap.add_argument("--beams", default="1,4", help="beam sizes to time (1: greedy)")
    ap.add_argument(
        "--decode-threads",
        type=int,
        help="torch threads while decoding (default: the translator's cpu_decode_threads)",
    )
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "translator_speed.json")
    )
    a = ap.parse_args()
    load_kw = {"int8": True} if a.int8 else {}  # keeps the script runnable on older code
    tr = Translator.load(
        a.model, device="cpu", num_threads=a.threads, precision=a.precision, **load_kw
    )
    if a.decode_threads is not None:
        tr.cpu_decode_threads = a.decode_threads
    test = split_pairs(load_pairs(a.data_dir))["test"]
    runs = {}
    load_before = os.getloadavg()[0]
    for beam in (int(b) for b in a.beams.split(",")):
        tokens, sentences, seconds, cpu = 0, 0, 0.0, 0.0
        for lang in LANGUAGES:
            srcs = [p.src for p in test if p.lang == lang][: a.per_language]
            tr.translate(srcs[:4], src_lang=lang, beam_size=beam)  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            out = tr.translate(srcs, src_lang=lang, beam_size=beam, batch_size=a.batch_size)
            seconds += time.perf_counter() - t0
            cpu += time.process_time() - c0
            tokens += sum(len(x) for x in tr.tokenizer.encode_batch([t.text for t in out]))
            sentences += len(srcs)
        name = "greedy" if beam == 1 else f"beam{beam}"
        runs[name] = {
            "target_tokens_per_s": round(tokens / seconds, 1),
            "sentences_per_s": round(sentences / seconds, 2),
            "sentences": sentences,
            "target_tokens": tokens,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
        }
        print(
            f"{name:7s} {tokens / seconds:8.1f} target tok/s  {sentences / seconds:6.2f} sent/s"
            f"  ({sentences} sentences, {seconds:.1f}s, {cpu:.1f} CPU s)"
        )
    result = {
        "model": tr.version,
        "threads": a.threads,
        "batch_size": a.batch_size,
        "precision": precision_name(tr),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "runs": runs,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
