"""CPU and wall of translating the bundled samples' zh/fr/de items in one process, by stage.

What the translation step of `focusdig run` on the samples does, without Prefect or a
database: parse the three foreign sample feeds (24 items), load the shipped translator, build
the sentence splitters, cut the items into pieces and decode them (``FOCUSDIG_TRANSLATION_BEAM``,
greedy by default; int8 on the CPU; one batch of up to 64 pieces). CPU is this process's (all
threads); the 1-minute load average is printed, since on a shared machine the wall time, and
with spinning OpenMP threads also the CPU, depend on it.

    python benchmarks/translate_samples.py          # set OMP_WAIT_POLICY to compare policies
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(stages: dict, name: str, work):
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    stages[name] = {
        "cpu_s": round(time.process_time() - cpu, 2),
        "wall_s": round(time.perf_counter() - wall, 2),
    }
    return result


def main() -> None:
    from focusdig.ingest.parse import parse_feed
    from focusdig.scoring import item_text
    from focusdig.settings import Settings

    texts, langs = [], []
    for lang in ("de", "fr", "zh"):
        feed = parse_feed((ROOT / f"focusdig/samples/{lang}_news.xml").read_bytes())
        texts += [item_text("news", e.title, e.text) for e in feed.entries]
        langs += [lang] * len(feed.entries)
    stages: dict = {}
    load = os.getloadavg()[0]
    from focusdig.translator import Translator

    translator = timed(stages, "load translator", Translator.load)
    pieces = timed(
        stages,
        "sentence splitters + pieces",
        lambda: [translator._pieces(t, lang) for t, lang in zip(texts, langs, strict=True)],
    )
    beam = Settings.from_env().translation_beam
    out = timed(stages, "translate (decode)", lambda: translator.translate(texts, langs, beam, 64))
    encode = translator.tokenizer.encode_batch
    spans = [(t, s, e) for t, p in zip(texts, pieces, strict=True) for s, e in p]
    result = {
        "items": len(texts),
        "pieces": sum(map(len, pieces)),
        "source_tokens": sum(len(encode([t[s:e]])[0]) for t, s, e in spans),
        "target_tokens": sum(len(encode([o.text])[0]) for o in out),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_1min_before": round(load, 2),
        "stages": stages,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
