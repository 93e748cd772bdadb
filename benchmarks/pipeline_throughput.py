"""End-to-end throughput: 10,000 items over 100 feeds served on 127.0.0.1.

Measures ingest + process (language id → translation beside scoring → entities) in items/s
without Prefect, then the `pipeline` flow twice as `focusdig run` runs it (ephemeral Prefect):
the first call includes the Prefect start-up, the second is an unchanged rerun.

    python benchmarks/pipeline_throughput.py [--feeds 100] [--items 100] [--foreign 0.1]
        [--watchlist sp500]

Translations use the pipeline's beam (``FOCUSDIG_TRANSLATION_BEAM``; 1 for greedy), the
classifier the pipeline's explanation (``FOCUSDIG_EXPLANATION``; unset: the model's default).

With ``--watchlist sp500`` the S&P 500 list (500 companies) is on the watchlist and the items
name S&P 500 companies instead of the fictional ones (by name, short name, cashtag or
exchange pattern), so entity extraction and entity scoring are part of the timed process.

Writes benchmarks/results/pipeline_throughput.json. Uses a temporary FOCUSDIG_HOME (SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

COMPANIES = ["Northwind", "Calloway", "Meridian", "Oakridge", "Halvorsen", "Brightwater"]
EN = [
    "{c} shares jumped {n}% after record quarterly profit.",
    "{c} cut its full-year outlook as demand weakened.",
    "{c} will hold its annual meeting in {n} days.",
    "Analysts downgraded {c} after a {n}% drop in orders.",
    "{c} raised its dividend by {n}% on strong cash flow.",
    "{c} said revenue was in line with expectations.",
]
FOREIGN = [  # (language, title, body): a foreign item is foreign throughout
    ("fr", "Les actions de {c} ont augmenté de {n} %.", "Le bénéfice a dépassé les attentes."),
    ("fr", "{c} réduit ses prévisions.", "La demande reste faible en Europe."),
    ("de", "Die Aktie von {c} fiel um {n} Prozent.", "Der Umsatz ging im Quartal zurück."),
    ("de", "{c} erhöht die Dividende.", "Der Gewinn stieg deutlich."),
    ("zh", "{c}公司的利润增长了{n}%。", "分析师上调了目标价。"),
    ("zh", "{c}股价下跌{n}%。", "公司下调了全年预期。"),
]


def watchlist_mentions(name: str) -> list[str]:
    """How items name the companies of a built-in list: name, first alias, cashtag, exchange."""
    from focusdig.entities.watchlist import BUILTIN_LISTS, read_watchlist_file

    forms = []
    for spec in read_watchlist_file(BUILTIN_LISTS[name]):
        forms += [spec.name, *spec.aliases[:1]]
        forms += [f"${spec.ticker}", f"{spec.name} (NYSE: {spec.ticker})"] if spec.ticker else []
    return forms


def make_feed(
    feed: int, items: int, foreign: float, rng: random.Random, companies: list[str]
) -> bytes:
    entries = []
    for i in range(items):
        c, n = rng.choice(companies), rng.randint(2, 40)
        if rng.random() < foreign:
            _, template, body = rng.choice(FOREIGN)
        else:
            template = rng.choice(EN)
            body = rng.choice(EN).format(c=rng.choice(companies), n=rng.randint(2, 40))
        title = template.format(c=c, n=n)
        entries.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://bench.example/{feed}/{i}</link><guid>f{feed}-i{i}</guid>"
            f"<description>{escape(body)} ({feed}-{i})</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench {feed}</title>{''.join(entries)}</channel></rss>"
    ).encode()


def serve(feeds: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = feeds.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            etag = f'"{hash(body)}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--foreign", type=float, default=0.1, help="share of zh/fr/de items")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--watchlist", choices=["sp500"], help="a built-in entity list to load")
    parser.add_argument("--out", default="benchmarks/results/pipeline_throughput.json")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="focusdig-bench-")
    os.environ["FOCUSDIG_HOME"] = home
    os.environ.pop("FOCUSDIG_DATABASE_URL", None)
    os.environ["FOCUSDIG_ALLOW_PRIVATE_NETWORKS"] = "1"  # the feeds are served on 127.0.0.1
    import torch

    torch.set_num_threads(args.threads)
    from focusdig import pipeline
    from focusdig.database import get_engine, session_scope
    from focusdig.ingest.runner import ingest_sources
    from focusdig.settings import Settings
    from focusdig.sources import add_source

    rng = random.Random(0)
    companies = watchlist_mentions(args.watchlist) if args.watchlist else COMPANIES
    feeds = {
        f"/feed{i}.xml": make_feed(i, args.items, args.foreign, rng, companies)
        for i in range(args.feeds)
    }
    server = serve(feeds)
    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        for path in feeds:
            add_source(session, f"http://127.0.0.1:{server.server_port}{path}")
        if args.watchlist:
            from focusdig.entities.watchlist import import_builtin

            import_builtin(session, args.watchlist)
    # load the models and build the entity extractor before timing: a scheduled process keeps
    # them loaded (and `focusdig run` builds the extractor while its temporary API starts)
    pipeline.warm_up(engine)
    _, classifier = pipeline.load_champion(engine, "classifier", explanation=settings.explanation)
    try:
        pipeline.load_champion(engine, "translator")
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark still runs
        print(f"no translator: {exc}", file=sys.stderr)

    cpu: dict[str, float] = {}

    def step(name: str, run):
        """Run one step, keeping its CPU seconds (all threads of this process)."""
        c0 = time.process_time()
        out = run()
        cpu[name] = round(time.process_time() - c0, 2)
        return out

    t0, c0 = time.perf_counter(), time.process_time()
    reports = step("ingest", lambda: ingest_sources(engine, settings))
    t1 = time.perf_counter()
    processed = pipeline.run_steps(  # what pipeline.process runs, step by step
        lambda: step("language id", lambda: pipeline.detect_step(engine)),
        lambda: pipeline.in_thread(
            lambda: pipeline.translate_step(engine, 64, beam_size=settings.translation_beam)
        ),
        lambda: pipeline.score_step(engine, 64, explanation=settings.explanation),
        lambda: step(
            "entities",
            lambda: pipeline.entities_step(engine, 64, explanation=settings.explanation),
        ),
    )
    t2, c2 = time.perf_counter(), time.process_time()
    # translation and scoring run side by side: their CPU is counted together
    cpu["translate and score"] = round(c2 - c0 - sum(cpu.values()), 2)
    items = sum(r.new for r in reports)

    # as `focusdig run` does: ephemeral Prefect (a temporary local API started by the first flow)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_HOME"] = str(Path(home) / "prefect")
    from focusdig.prefect_env import configure_prefect, one_off_run

    configure_prefect()
    from flows.pipeline import pipeline_flow

    with one_off_run():
        t3 = time.perf_counter()
        pipeline_flow(fetch_retries=0)  # starts the temporary API; nothing changed since ingest
        t4 = time.perf_counter()
        rerun = pipeline_flow(fetch_retries=0)
        t5 = time.perf_counter()
    server.shutdown()

    result = {
        "feeds": args.feeds,
        "items": items,
        "foreign_share": args.foreign,
        "threads": args.threads,
        "ingest_s": round(t1 - t0, 2),
        "process_s": round(t2 - t1, 2),
        "process_steps_s": {k: round(v, 2) for k, v in processed.seconds.items()},
        "translated": processed.translated,
        "translation_beam": settings.translation_beam,
        "explanation": classifier.model.explanation,
        "scored": processed.scored,
        "watchlist": args.watchlist,
        "entity_items": processed.entity_items,
        "entity_mentions": processed.entity_mentions,
        "entity_scores": processed.entity_scores,
        "items_per_s": round(items / (t2 - t0), 1),
        "cpu_s": {**cpu, "ingest + process": round(c2 - c0, 2)},
        "items_per_cpu_s": round(items / (c2 - c0), 1),
        "first_flow_run_with_prefect_startup_s": round(t4 - t3, 2),
        "prefect_startup_s": round((t4 - t3) - (t5 - t4), 2),
        "unchanged_rerun_s": round(t5 - t4, 2),
        "unchanged_rerun_steps_s": {k: round(v, 2) for k, v in rerun.seconds.items()},
        "rerun_items_new": rerun.items_new,
        "classifier": processed.classifier,
        "translator": processed.translator,
        "cpu": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
