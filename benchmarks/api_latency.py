"""Latency of the HTTP API on a large database: p50/p95 of ``/api/items`` with filters.

Builds a database of N scored items (default 1,000,000) over 20 sources and a year, each with
its score and 5 top words, 30 % of them translated (zh/fr/de), 1 % labeled; then starts the real
server (``focusdig dashboard``) and times requests over HTTP on 127.0.0.1 (keep-alive client,
one request at a time; each case is warmed up, then timed ``--requests`` times with varying
parameters). Goal: p95 <= 100 ms.

    python benchmarks/api_latency.py --engine sqlite [--items 1000000] [--requests 60]
    python benchmarks/api_latency.py --engine postgresql --url postgresql://postgres@127.0.0.1/db

PostgreSQL: the database named by --url is emptied first (its public schema dropped).
Writes benchmarks/results/api_latency_<engine>.json.

The entity endpoints (``/api/entities?days=N``, ``/api/entities/{name}?days=90``) are not
measured: they arrive with the entity layer, and with them this script must also generate
mentions and per-entity daily rollups (add them to ``build`` and their cases to ``CASES``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from focusdig.database import create_db_engine, migrate

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
COMPANIES = ["Northwind", "Calloway", "Meridian", "Oakridge", "Halvorsen", "Brightwater"]
LABELS = ("negative", "neutral", "positive")
FOREIGN = ("zh", "fr", "de")
RARE_WORD = "quetzalcoatl"  # in 5 items only: a text search that has to scan
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def item_rows(n: int, rng: random.Random):
    """(item, score, tokens, translation, label) tuples, oldest first."""
    start = NOW - timedelta(days=365)
    step = 365 * 86400 / n
    rare = set(rng.sample(range(n), 5))
    for i in range(n):
        moment = start + timedelta(seconds=i * step + rng.random() * step)
        company, words = rng.choice(COMPANIES), rng.sample(WORDS, 6)
        title = f"{company} {words[0]} {words[1]} {rng.randint(1, 40)}%"
        body = f"{company} said {words[2]} and {words[3]} moved; {words[4]} {words[5]}."
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
        probs = [rng.random() for _ in range(3)]
        total = sum(probs)
        neg, neu, pos = (p / total for p in probs)
        label = LABELS[max(range(3), key=lambda k: (neg, neu, pos)[k])]
        score = (i + 1, i + 1, 1, label, pos - neg, neg, neu, pos, moment)
        scored = f"{title}\n\n{body}"
        tokens = []
        for rank, word in enumerate(words[:5], start=1):
            at = scored.find(word)
            tokens.append((i * 5 + rank, i + 1, rank, word, 0.3 / rank, at, at + len(word)))
        translation = None
        if language != "en":
            translation = (i + 1, i + 1, 2, language, f"[{language}] {scored}", scored, moment)
        labeled = (i + 1, scored, f"{i:064x}", label) if i % 100 == 0 else None
        yield item, score, tokens, translation, labeled


TABLES = {
    "items": "id, source_id, guid, url, title, text, published_at, fetched_at, kind, "
    "content_hash, language",
    "scores": "id, item_id, model_version_id, label, score, prob_negative, prob_neutral, "
    "prob_positive, scored_at",
    "score_tokens": 'id, score_id, rank, word, weight, start, "end"',
    "translations": "id, item_id, model_version_id, source_language, source_text, text, "
    "translated_at",
    "labels": "item_id, text, text_hash, label, annotator, origin, created_at",
}


def build(url: str, n: int, seed: int = 0) -> float:
    """Create the schema and load ``n`` items; returns the seconds it took."""
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

        for item, score, tokens, translation, labeled in item_rows(n, random.Random(seed)):
            batch["items"].append(item)
            batch["scores"].append(score)
            batch["score_tokens"].extend(tokens)
            if translation:
                batch["translations"].append(translation)
            if labeled:
                batch["labels"].append((*labeled, "bench", "import", NOW))
            if len(batch["items"]) == 20_000:
                flush()
        flush()
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        if postgres:
            for name in ("sources", "model_versions", *TABLES):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    engine.dispose()
    return time.perf_counter() - started


def _sqlite(value):
    """SQLite stores timestamps as SQLAlchemy does: ISO text without the zone (UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def cases(rng: random.Random, items: int) -> dict[str, object]:
    """Each case: a function of the request number giving (path, params)."""
    source = lambda k: f"bench-{k % SOURCES + 1:02d}"  # noqa: E731
    label = lambda k: LABELS[k % 3]  # noqa: E731
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
    }


def measure(base: str, requests: int, items: int) -> dict[str, dict]:
    results = {}
    rng = random.Random(1)
    with httpx.Client(base_url=base, timeout=120) as client:
        for name, make in cases(rng, items).items():
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
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="focusdig-bench-api-")
    if args.engine == "postgresql":
        if not args.url:
            raise SystemExit("--url is required for PostgreSQL")
        url = args.url
    else:
        url = args.url or f"sqlite:///{home}/bench.db"
    build_seconds = None if args.reuse else round(build(url, args.items), 1)
    print(f"database with {args.items:,} items built in {build_seconds} s", flush=True)
    process, base = serve(url, home)
    try:
        results = measure(base, args.requests, args.items)
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
                "cases": results,
                "entity_endpoints": "not measured: the entity layer is not merged yet",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
