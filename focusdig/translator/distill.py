"""Sequence-level knowledge distillation: a teacher's beam-search English for real sources.

Beam search beats greedy decoding by 1-2 BLEU on our validation split (benchmarks/README.md,
section 4), but the pipeline decodes greedily to keep its throughput. Training on the
teacher's beam output (Kim & Rush, 2016) moves that gain into the model's greedy path. This
module decodes training-split sources (never validation or test) with the teacher and writes
`English<TAB>source<TAB>language<TAB>kd` lines, which the trainer's `synthetic` argument
reads as extra xx -> en pairs:

    python -m focusdig.translator.distill --model models/translator/mt-20261127-0820 \\
        --out runs/translator/kd/kd.tsv --groups zh/tatoeba,fr/news,zh/news --beam 4

The output is appended group by group and batch by batch, and a rerun skips the sources
already in the file: a stopped run is continued by running it again.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from focusdig.translator import data as D
from focusdig.translator.backtranslate import usable
from focusdig.translator.evaluate import text_translator
from focusdig.translator.translate import Translator


def training_sources(
    data_dir: str | Path | None, groups: list[str], *, limit: int | None = None, seed: int = 0
) -> dict[str, list[str]]:
    """Distinct training-split sources per "lang/origin" group (e.g. "fr/news"), shuffled
    deterministically; at most `limit` per group."""
    train = D.split_pairs(D.load_pairs(data_dir))["train"]
    out = {}
    for group in groups:
        lang, _, origin = group.partition("/")
        if lang not in D.LANGUAGES or origin not in ("tatoeba", "news"):
            raise ValueError(f"unknown group {group!r}: expected e.g. fr/news or zh/tatoeba")
        sources = sorted({p.src for p in train if p.lang == lang and p.origin == origin})
        random.Random(f"{seed}/{group}").shuffle(sources)
        out[group] = sources[:limit]
    return out


def done_sources(path: Path) -> set[tuple[str, str]]:
    """(language, source) of the lines already written to `path` (none if it does not exist)."""
    if not path.exists():
        return set()
    return {(p.lang, p.src) for p in D.read_synthetic(path)}


def distill(
    translator: Translator,
    sources: dict[str, list[str]],
    out: Path,
    *,
    beam_size: int = 4,
    chunk: int = 256,
) -> dict[str, dict]:
    """Append the teacher's English for every source not yet in `out`; -> per group: sources,
    written, dropped (degenerate output, `backtranslate.usable`)."""
    translate = text_translator(translator, beam_size=beam_size)
    done = done_sources(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {}
    with open(out, "a", encoding="utf-8") as f:
        for group, texts in sources.items():
            lang = group.partition("/")[0]
            todo = [s for s in texts if (lang, D.clean(s)) not in done]
            written = dropped = 0
            for b in range(0, len(todo), chunk):
                batch = todo[b : b + chunk]
                for src, en in zip(batch, translate(batch, lang), strict=True):
                    en = " ".join(en.split())
                    if usable(en, src, lang):
                        f.write(f"{en}\t{src}\t{lang}\tkd\n")
                        written += 1
                    else:
                        dropped += 1
                f.flush()
            report[group] = {"sources": len(texts), "written": written, "dropped": dropped}
            print(f"{group}: {report[group]}", flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the teacher: a translator model directory")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True, help="TSV to append to (English, source, lang, kd)")
    ap.add_argument("--groups", default="zh/tatoeba,fr/news,zh/news,de/news")
    ap.add_argument("--limit", type=int, default=None, help="at most this many sources a group")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (decoding uses one)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    sources = training_sources(a.data_dir, a.groups.split(","), limit=a.limit, seed=a.seed)
    translator = Translator.load(a.model, device="cpu", num_threads=a.threads)
    distill(translator, sources, Path(a.out), beam_size=a.beam)


if __name__ == "__main__":
    main()
