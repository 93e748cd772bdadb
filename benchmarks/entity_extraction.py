"""Entity extraction precision and recall on hand-labelled headlines.

    python benchmarks/entity_extraction.py

The watchlist is the built-in S&P 500 list plus the sample feeds' fictional companies;
``benchmarks/data/entity_headlines.csv`` (written for focusdig: ``text,entities``, the
entities each headline names, ``|`` between, by watchlist name) holds traps on purpose:
tickers that are ordinary words, names that are ordinary words, the Dow index, foreign names.
Scored per (headline, entity): a predicted entity is right when the headline names it.
Writes benchmarks/results/entity_extraction.json.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from focusdig.entities.extract import Extractor, WatchEntry
from focusdig.entities.watchlist import BUILTIN_LISTS, SAMPLES_FILE, read_watchlist_file

HERE = Path(__file__).resolve().parent


def main() -> None:
    specs = read_watchlist_file(BUILTIN_LISTS["sp500"]) + read_watchlist_file(SAMPLES_FILE)
    entries = [WatchEntry(i, s.name, s.ticker, s.aliases, s.exchange) for i, s in enumerate(specs)]
    names = {e.id: e.name for e in entries}
    t0 = time.perf_counter()
    extractor = Extractor(entries)
    build_s = time.perf_counter() - t0
    with (HERE / "data" / "entity_headlines.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    unknown = {n for r in rows for n in r["entities"].split("|") if n} - set(names.values())
    if unknown:
        raise SystemExit(f"gold names not on the watchlist: {sorted(unknown)}")
    tp = fp = fn = 0
    errors = []
    t0 = time.perf_counter()
    found = extractor.extract_many([r["text"] for r in rows])
    extract_s = time.perf_counter() - t0
    for row, mentions in zip(rows, found, strict=True):
        gold = {n for n in row["entities"].split("|") if n}
        predicted = {names[m.entity_id] for m in mentions}
        tp += len(gold & predicted)
        fp += len(predicted - gold)
        fn += len(gold - predicted)
        if gold != predicted:
            errors.append(
                {
                    "text": row["text"],
                    "missed": sorted(gold - predicted),
                    "wrong": sorted(predicted - gold),
                }
            )
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    result = {
        "headlines": len(rows),
        "headlines_without_entity": sum(1 for r in rows if not r["entities"]),
        "gold_mentions": tp + fn,
        "watchlist_entities": len(entries),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "extractor_build_s": round(build_s, 2),
        "extract_s": round(extract_s, 4),
        "errors": errors,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    out = HERE / "results" / "entity_extraction.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
