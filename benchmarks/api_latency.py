"""Latency of the HTTP API on a large database: p50/p95 of ``/api/items`` with filters and of
the entity endpoints.

Builds a database of N scored items (default 1,000,000) over 20 sources and the year up to
today, each with its score and 5 top words, 30 % of them translated (zh/fr/de), 1 % labeled.
The watchlist is the built-in S&P 500 list; each item mentions one of its companies, a quarter
of them a second one, drawn with Zipf popularity (s = 1, so the most mentioned company is in
about 15 % of the items and the least mentioned in about 0.03 %, some 300 a year), each
mention with its entity score (3 top words) and the per-entity daily rollups. Then it starts
the real server (``focusdig dashboard``) and times requests over HTTP on 127.0.0.1 (keep-alive
client, one request at a time; each case is warmed up, then timed ``--requests`` times with
varying parameters). Goal: p95 <= 100 ms.

    python benchmarks/api_latency.py --engine sqlite [--items 1000000] [--requests 60]
    python benchmarks/api_latency.py --engine postgresql --url postgresql://postgres@127.0.0.1/db

PostgreSQL: the database named by --url is emptied first (its public schema dropped), and
vacuumed after loading (as autovacuum would have done).
Writes benchmarks/results/api_latency_<engine>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import text

from focusdig.database import create_db_engine, migrate
from focusdig.entities.watchlist import BUILTIN_LISTS, EntitySpec, read_watchlist_file

SOURCES = 20
WORDS = [
    "profit",
    "revenue",
    "shares",
    "outlook",
    "guidance",
    "dividend",
    "loss",
    "growth",
    "demand",
    "margin",
    "debt",
    "rating",
    "merger",
    "layoffs",
    "record",
    "forecast",
    "earnings",
    "bank",
    "rate",
    "inflation",
    "orders",
    "plant",
    "strike",
    "lawsuit",
    "recall",
    "upgrade",
    "downgrade",
    "buyback",
    "bond",
    "yield",
]
LABELS = ("negative", "neutral", "positive")
FOREIGN = ("zh", "fr", "de")
RARE_WORD = "quetzalcoatl"  # in 5 items only: a text search that has to scan
# the server's entity windows end today: the data ends now
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SECOND_ENTITY = 0.25  # the share of items that mention a second company
ZIPF_S = 1.0


@dataclass(frozen=True)
class Watchlist:
    specs: list[EntitySpec]  # entity i + 1 is specs[i]
    cum_weights: list[float]  # Zipf popularity, for random.choices
    by_rank: list[int]  # spec indexes, the most mentioned first


def watchlist(rng: random.Random) -> Watchlist:
    """The built-in S&P 500 list with Zipf popularity in a seeded random order."""
    specs = read_watchlist_file(BUILTIN_LISTS["sp500"])
    by_rank = list(range(len(specs)))
    rng.shuffle(by_rank)
    weights = [0.0] * len(specs)
    for rank, index in enumerate(by_rank, start=1):
        weights[index] = 1 / rank**ZIPF_S
    return Watchlist(specs, list(itertools.accumulate(weights)), by_rank)


def random_probs(rng: random.Random) -> tuple[str, float, float, float, float]:
    """(label, score, negative, neutral, positive) of a random prediction."""
    probs = [rng.random() for _ in range(3)]
    total = sum(probs)
    neg, neu, pos = (p / total for p in probs)
    label = LABELS[max(range(3), key=lambda k: (neg, neu, pos)[k])]
    return label, pos - neg, neg, neu, pos


def item_rows(n: int, rng: random.Random, watched: Watchlist):
    """(item, score, tokens, translation, label, mentions) tuples, oldest first; a mention is
    (entity id, start, end, name, label, score, neg, neu, pos, top tokens JSON)."""
    start = NOW - timedelta(days=365)
    step = 365 * 86400 / n
    rare = set(rng.sample(range(n), 5))
    everyone = range(len(watched.specs))
    for i in range(n):
        moment = start + timedelta(seconds=i * step + rng.random() * step)
        picked = rng.choices(everyone, cum_weights=watched.cum_weights, k=2)
        if picked[0] == picked[1] or rng.random() >= SECOND_ENTITY:
            picked = picked[:1]
        names = [watched.specs[e].name for e in picked]
        words = rng.sample(WORDS, 6)
        title = f"{names[0]} {words[0]} {words[1]} {rng.randint(1, 40)}%"
        body = f"{names[0]} said {words[2]} and {words[3]} moved; {words[4]} {words[5]}."
        if len(names) > 1:
            body += f" {names[1]} also moved."
        if i in rare:
            body += f" {RARE_WORD}"
        language = rng.choice(FOREIGN) if rng.random() < 0.3 else "en"
        published = None if rng.random() < 0.05 else moment
        item = (
            i + 1,
            i % SOURCES + 1,
            f"g{i}",
            f"https://bench.example/{i}",
            title,
            body,
            published,
            moment,
            "comments" if i % 10 == 0 else "news",
            f"{i:064x}",
            language,
        )
        label, score_value, neg, neu, pos = random_probs(rng)
        score = (i + 1, i + 1, 1, label, score_value, neg, neu, pos, moment)
        scored = f"{title}\n\n{body}"
        tokens = []
        for rank, word in enumerate(words[:5], start=1):
            at = scored.find(word)
            tokens.append((i * 5 + rank, i + 1, rank, word, 0.3 / rank, at, at + len(word)))
        mentions = []
        for entity, name in zip(picked, names, strict=True):
            at = scored.find(name, len(title) if entity != picked[0] else 0)
            driving = [
                {"word": w, "weight": round(0.4 / r, 4), "start": k, "end": k + len(w)}
                for r, w in enumerate(words[:3], start=1)
                if (k := scored.find(w)) >= 0
            ]
            mentions.append(
                (entity + 1, at, at + len(name), name, *random_probs(rng), json.dumps(driving))
            )
        translation = None
        if language != "en":
            translation = (i + 1, i + 1, 2, language, f"[{language}] {scored}", scored, moment)
        labeled = (i + 1, scored, f"{i:064x}", label) if i % 100 == 0 else None
        yield item, score, tokens, translation, labeled, mentions


TABLES = {
    "items": "id, source_id, guid, url, title, text, published_at, fetched_at, kind, "
    "content_hash, language",
    "scores": "id, item_id, model_version_id, label, score, prob_negative, prob_neutral, "
    "prob_positive, scored_at",
    "score_tokens": 'id, score_id, rank, word, weight, start, "end"',
    "translations": "id, item_id, model_version_id, source_language, source_text, text, "
    "translated_at",
    "labels": "item_id, text, text_hash, label, annotator, origin, created_at",
    "entity_mentions": 'id, item_id, entity_id, in_source, start, "end", matched, how',
    "entity_scores": "id, item_id, entity_id, model_version_id, method, label, score, "
    "prob_negative, prob_neutral, prob_positive, top_tokens, scored_at",
    "entity_daily": "entity_id, day, mentions, scored, mean_score, negative, neutral, positive, "
    "updated_at",
}


@dataclass
class DayTotals:
    mentions: int = 0
    score_sum: float = 0.0
    negative: int = 0
    neutral: int = 0
    positive: int = 0


def build(url: str, n: int, watched: Watchlist, seed: int = 0) -> tuple[float, dict[str, str]]:
    """Create the schema and load ``n`` items; returns the seconds it took and the items that
    mention the entities of each popularity group that the cases use."""
    started = time.perf_counter()
    engine = create_db_engine(url)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate(engine)
    with engine.begin() as conn:
        for s in range(1, SOURCES + 1):
            conn.execute(
                text(
                    "INSERT INTO sources (id, name, url, kind, enabled, follow_comments, "
                    "created_at) VALUES (:i, :n, :u, 'news', true, false, :t)"
                ),
                {"i": s, "n": f"bench-{s:02d}", "u": f"https://bench.example/{s}.xml", "t": NOW},
            )
        for mid, kind, version in ((1, "classifier", "clf-bench"), (2, "translator", "mt-bench")):
            conn.execute(
                text(
                    "INSERT INTO model_versions (id, kind, version, status, artifact_path, "
                    "created_at, promoted_at) VALUES (:i, :k, :v, 'champion', '/nowhere', :t, :t)"
                ),
                {"i": mid, "k": kind, "v": version, "t": NOW},
            )
        for entity_id, spec in enumerate(watched.specs, start=1):
            conn.execute(
                text(
                    "INSERT INTO entities (id, name, ticker, exchange, origin, revision, "
                    "created_at) VALUES (:i, :n, :t, :x, 'sp500', 1, :c)"
                ),
                {"i": entity_id, "n": spec.name, "t": spec.ticker, "x": spec.exchange, "c": NOW},
            )
            for alias in spec.aliases:
                conn.execute(
                    text("INSERT INTO entity_aliases (entity_id, alias) VALUES (:i, :a)"),
                    {"i": entity_id, "a": alias},
                )
    days: dict[tuple[int, date], DayTotals] = defaultdict(DayTotals)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        batch: dict[str, list] = {name: [] for name in TABLES}

        def flush() -> None:
            for name, rows in batch.items():
                if not rows:
                    continue
                if postgres:
                    with cursor.copy(f"COPY {name} ({TABLES[name]}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * len(rows[0]))
                    cursor.executemany(
                        f"INSERT INTO {name} ({TABLES[name]}) VALUES ({marks})",
                        [tuple(_sqlite(v) for v in row) for row in rows],
                    )
                rows.clear()

        rows = item_rows(n, random.Random(seed), watched)
        mention_id = 0
        for item, score, tokens, translation, labeled, mentions in rows:
            batch["items"].append(item)
            item_id, moment = item[0], item[7]
            for entity_id, start, end, name, label, value, neg, neu, pos, words in mentions:
                mention_id += 1
                batch["entity_mentions"].append(
                    (mention_id, item_id, entity_id, False, start, end, name, "name")
                )
                batch["entity_scores"].append(
                    (mention_id, item_id, entity_id, 1, "sentence", label, value, neg, neu)
                    + (pos, words, moment)
                )
                day = days[(entity_id, moment.date())]
                day.mentions += 1
                day.score_sum += value
                setattr(day, label, getattr(day, label) + 1)
            batch["scores"].append(score)
            batch["score_tokens"].extend(tokens)
            if translation:
                batch["translations"].append(translation)
            if labeled:
                batch["labels"].append((*labeled, "bench", "import", NOW))
            if len(batch["items"]) == 20_000:
                flush()
        for (entity_id, day_), t in sorted(days.items()):
            mean = t.score_sum / t.mentions
            batch["entity_daily"].append(
                (entity_id, day_, t.mentions, t.mentions, mean)
                + (t.negative, t.neutral, t.positive, NOW)
            )
        flush()
        raw.commit()
    finally:
        raw.close()
    # statistics for the planners; on PostgreSQL also the visibility map that index-only scans
    # need, as autovacuum sets it on a live database
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
    with engine.begin() as conn:
        if postgres:
            serial = [
                t for t in ("sources", "model_versions", "entities", *TABLES) if t != "entity_daily"
            ]
            for name in serial:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    engine.dispose()
    per_entity: dict[int, int] = defaultdict(int)
    for (entity_id, _), totals in days.items():
        per_entity[entity_id] += totals.mentions
    ranked = [per_entity[i + 1] for i in watched.by_rank]
    groups = {"top 5": ranked[:5], "ranks 51-100": ranked[50:100], "bottom 20": ranked[-20:]}
    spread = {name: f"{min(c):,}-{max(c):,}" for name, c in groups.items()}
    return time.perf_counter() - started, spread


def _sqlite(value):
    """SQLite stores timestamps as SQLAlchemy does: ISO text without the zone (UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def cases(rng: random.Random, items: int, watched: Watchlist) -> dict[str, object]:
    """Each case: a function of the request number giving (path, params)."""
    source = lambda k: f"bench-{k % SOURCES + 1:02d}"  # noqa: E731
    label = lambda k: LABELS[k % 3]  # noqa: E731
    ranked = [watched.specs[i].name for i in watched.by_rank]
    popular = lambda k: ranked[k % 5]  # noqa: E731
    middle = lambda k: ranked[50 + k % 50]  # noqa: E731
    rare = lambda k: ranked[-1 - k % 20]  # noqa: E731
    entity_path = lambda name: "/api/entities/" + quote(name, safe="")  # noqa: E731
    week = (NOW - timedelta(days=7)).isoformat()
    return {
        "items (newest 50)": lambda k: ("/api/items", {}),
        "items ?source": lambda k: ("/api/items", {"source": source(k)}),
        "items ?label": lambda k: ("/api/items", {"label": label(k)}),
        "items ?language=zh": lambda k: ("/api/items", {"language": "zh"}),
        "items ?since=7 days": lambda k: ("/api/items", {"since": week}),
        "items ?source&label&since": lambda k: (
            "/api/items",
            {"source": source(k), "label": label(k), "since": week},
        ),
        "items ?source&language&label": lambda k: (
            "/api/items",
            {"source": source(k), "language": FOREIGN[k % 3], "label": label(k)},
        ),
        "items ?q=common word": lambda k: ("/api/items", {"q": WORDS[k % len(WORDS)]}),
        "items ?q=rare word (scan)": lambda k: ("/api/items", {"q": RARE_WORD}),
        "items ?offset=5000": lambda k: ("/api/items", {"offset": 5000 + k}),
        "item by id": lambda k: (f"/api/items/{rng.randint(1, items)}", {}),
        "items ?entity (top 5)": lambda k: ("/api/items", {"entity": popular(k)}),
        "items ?entity (ranks 51-100)": lambda k: ("/api/items", {"entity": middle(k)}),
        "items ?entity (bottom 20)": lambda k: ("/api/items", {"entity": rare(k)}),
        "items ?entity&label (top 5)": lambda k: (
            "/api/items",
            {"entity": popular(k), "label": label(k)},
        ),
        "entities ?days=30": lambda k: ("/api/entities", {"days": 30}),
        "entities ?days=365&sort=-trend": lambda k: (
            "/api/entities",
            {"days": 365, "sort": "-trend"},
        ),
        "entity ?days=90 (top 5)": lambda k: (entity_path(popular(k)), {"days": 90}),
        "entity ?days=90 (ranks 51-100)": lambda k: (entity_path(middle(k)), {"days": 90}),
        "entity ?days=90 (bottom 20)": lambda k: (entity_path(rare(k)), {"days": 90}),
    }


def measure(
    base: str, requests: int, items: int, watched: Watchlist, only: str | None = None
) -> dict[str, dict]:
    results = {}
    rng = random.Random(1)
    with httpx.Client(base_url=base, timeout=120) as client:
        for name, make in cases(rng, items, watched).items():
            if only and only not in name:
                continue
            for k in range(3):
                path, params = make(k)
                client.get(path, params=params).raise_for_status()
            times = []
            for k in range(requests if "scan" not in name else max(5, requests // 4)):
                path, params = make(k)
                started = time.perf_counter()
                response = client.get(path, params=params)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            cuts = statistics.quantiles(times, n=20)
            results[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(cuts[18], 1),
                "max_ms": round(max(times), 1),
                "requests": len(times),
            }
            print(
                f"{name:32s} p50 {results[name]['p50_ms']:8.1f} ms  "
                f"p95 {results[name]['p95_ms']:8.1f} ms",
                flush=True,
            )
    return results


def serve(url: str, home: str) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FOCUSDIG_DATABASE_URL": url, "FOCUSDIG_HOME": home}
    process = subprocess.Popen(
        [sys.executable, "-m", "focusdig", "dashboard", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (emptied first)")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--reuse", action="store_true", help="keep an already built database")
    parser.add_argument("--only", help="time only the cases whose name contains this")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="focusdig-bench-api-")
    if args.engine == "postgresql":
        if not args.url:
            raise SystemExit("--url is required for PostgreSQL")
        url = args.url
    else:
        url = args.url or f"sqlite:///{home}/bench.db"
    watched = watchlist(random.Random(0))
    build_seconds, mentions = None, None
    if not args.reuse:
        build_seconds, mentions = build(url, args.items, watched)
        build_seconds = round(build_seconds, 1)
    print(f"database with {args.items:,} items built in {build_seconds} s", flush=True)
    print(f"items per entity: {mentions}", flush=True)
    process, base = serve(url, home)
    load_before = os.getloadavg()
    try:
        results = measure(base, args.requests, args.items, watched, args.only)
    finally:
        process.terminate()
        process.wait(10)
    out = Path(__file__).parent / "results" / f"api_latency_{args.engine}.json"
    out.write_text(
        json.dumps(
            {
                "engine": args.engine,
                "items": args.items,
                "build_seconds": build_seconds,
                "requests_per_case": args.requests,
                "goal_p95_ms": 100,
                "watchlist": len(watched.specs),
                "items_per_entity": mentions,
                "cases": results,
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
