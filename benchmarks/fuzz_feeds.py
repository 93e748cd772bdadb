"""Fuzz parse + store with hostile mutations of real feeds: cases, crashes, time, peak memory.

Each case mutates one of the bundled sample feeds or test fixtures (tests/feedfuzz.py:
truncation, flipped/inserted/random bytes, spliced tags, lying encodings, deep nesting, huge
fields and attributes, control characters, hostile HTML, DTD entities, many entries), parses it
and stores what parses into a SQLite database. A crash is any exception other than the
parser's NotAFeedError, or a parse result with markup, unsafe URLs or unstorable text.

    python benchmarks/fuzz_feeds.py [--cases 10000] [--seed 0]

Case i uses random.Random(seed + i): a crash is replayed with `--first i --cases 1`.
Writes benchmarks/results/fuzz_feeds.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from feedfuzz import SEEDS, check_parsed, mutate  # noqa: E402

from focusdig.database import create_db_engine, migrate, session_scope  # noqa: E402
from focusdig.ingest.parse import NotAFeedError, parse_feed  # noqa: E402
from focusdig.ingest.store import store_entries  # noqa: E402
from focusdig.schema import Source  # noqa: E402
from focusdig.sources import add_source  # noqa: E402


def run_case(engine, source_id: int, body: bytes) -> str:
    """'stored', 'partial' or 'not a feed'; raises on a crash."""
    try:
        feed = parse_feed(body, url="https://example.com/feed.xml")
    except NotAFeedError:
        return "not a feed"
    check_parsed(feed)
    with session_scope(engine) as session:
        store_entries(session, session.get(Source, source_id), feed.entries)
    return "partial" if feed.warning else "stored"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fuzz_feeds.json")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="focusdig-fuzz-")
    engine = create_db_engine(f"sqlite:///{tmp}/fuzz.db")
    migrate(engine)
    with session_scope(engine) as session:
        source_id = add_source(session, "https://example.com/feed.xml")[0].id

    outcomes: Counter[str] = Counter()
    mutations: Counter[str] = Counter()
    crashes: list[dict] = []
    slowest: list[tuple[float, int, list[str], int]] = []
    start = time.perf_counter()

    def report(done: int) -> dict:
        seconds = time.perf_counter() - start
        return {
            "cases": done,
            "cases_asked": args.cases,
            "first_case": args.first,
            "seed": args.seed,
            "crashes": outcomes["crash"],
            "outcomes": dict(outcomes),
            "mutations_applied": dict(mutations),
            "seconds": round(seconds, 1),
            "ms_per_case": round(1000 * seconds / max(1, done), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "slowest_cases": [
                {"case": i, "seconds": round(s, 2), "bytes": n, "mutations": m}
                for s, i, m, n in slowest
            ],
            "crash_details": crashes[:20],
            "seed_feeds": len(SEEDS),
        }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    for done, i in enumerate(range(args.first, args.first + args.cases), start=1):
        rng = random.Random(args.seed + i)
        body, names = mutate(rng.choice(SEEDS), rng)
        mutations.update(names)
        t0 = time.perf_counter()
        try:
            outcomes[run_case(engine, source_id, body)] += 1
        except Exception as exc:  # a crash: record and go on
            outcomes["crash"] += 1
            crashes.append({"case": i, "mutations": names, "error": repr(exc)[:300],
                            "where": traceback.format_exc(limit=-3)[-600:]})  # fmt: skip
        elapsed = time.perf_counter() - t0
        slowest = sorted([*slowest, (elapsed, i, names, len(body))], reverse=True)[:5]
        if done % 250 == 0 or done == args.cases:  # partial results survive an interruption
            result = report(done)
            args.out.write_text(json.dumps(result, indent=2) + "\n")
            print(
                f"{done} cases, {outcomes['crash']} crashes, {result['seconds']:.0f} s", flush=True
            )
    print(
        json.dumps({k: v for k, v in report(args.cases).items() if k != "crash_details"}, indent=2)
    )


if __name__ == "__main__":
    main()
