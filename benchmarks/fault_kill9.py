"""Fault injection: kill -9 `focusdig run` at random moments, rerun, and count what was lost.

Each round appends new items to local feeds (10 % zh/fr/de, so translation has work), starts
`focusdig run` on them (the real CLI: temporary Prefect API, ingest, language id, translation,
scoring) and kills its whole process group with SIGKILL after a random delay drawn from the
length of the quickest whole run seen so far, so kills land in start-up, ingestion,
translation and scoring.
After the last round one run is let finish. Then, against what the feeds contain:

- items lost: items in the feeds that are not stored;
- items duplicated: stored rows beyond one per item;
- scores: every item scored exactly once by the champion; translations: every foreign item
  translated exactly once.

    python benchmarks/fault_kill9.py [--rounds 50] [--feeds 4] [--items-per-round 40] [--seed 0]
        [--database-url postgresql://...]

Writes benchmarks/results/fault_kill9.json. Uses a temporary FOCUSDIG_HOME and PREFECT_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_throughput import COMPANIES, EN, FOREIGN  # noqa: E402

FOCUSDIG = str(Path(sys.executable).with_name("focusdig"))


def item_xml(feed: int, i: int, foreign_share: float) -> str:
    rng = random.Random(feed * 1_000_003 + i)
    c, n = rng.choice(COMPANIES), rng.randint(2, 40)
    if rng.random() < foreign_share:
        _, template, body = rng.choice(FOREIGN)
    else:
        template = rng.choice(EN)
        body = rng.choice(EN).format(c=rng.choice(COMPANIES), n=rng.randint(2, 40))
    return (
        f"<item><title>{escape(template.format(c=c, n=n))}</title>"
        f"<link>https://fault.example/{feed}/{i}</link><guid>k{feed}-{i}</guid>"
        f"<description>{escape(body)} ({feed}-{i})</description></item>"
    )


def write_feeds(paths: list[Path], items: int, foreign: float, stamp: float) -> None:
    """Every feed with its first ``items`` items; mtime ``stamp`` (so a rewrite is seen)."""
    for feed, path in enumerate(paths):
        body = "".join(item_xml(feed, i, foreign) for i in range(items))
        path.write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Fault {feed}</title>{body}</channel></rss>",
            "utf-8",
        )
        os.utime(path, (stamp, stamp))


def run_cli(paths: list[Path], env: dict, kill_after: float | None) -> tuple[float, int | None]:
    """`focusdig run FEEDS`, killed with SIGKILL after ``kill_after`` s; (seconds, exit code)."""
    start = time.monotonic()
    process = subprocess.Popen(
        [FOCUSDIG, "run", "--json", *map(str, paths)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the Prefect API child dies too
    )
    try:
        process.wait(timeout=kill_after)
        return time.monotonic() - start, process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return time.monotonic() - start, None


def database_state(database_url: str) -> dict:
    """Counts that must hold after any crash: rows, duplicates, scores and translations."""
    from sqlalchemy import func, select

    from focusdig.database import create_db_engine, session_scope
    from focusdig.schema import Item, ModelVersion, Score, Source, Translation

    engine = create_db_engine(database_url)
    try:
        with session_scope(engine) as session:
            fault = select(Source.id).where(Source.url.like("%fault-%"))
            items = select(Item).where(Item.source_id.in_(fault)).subquery()
            n_items = session.scalar(select(func.count()).select_from(items))
            pairs = select(items.c.source_id, items.c.guid).distinct().subquery()
            distinct = session.scalar(select(func.count()).select_from(pairs))
            champion = session.scalar(
                select(ModelVersion.id).where(
                    ModelVersion.kind == "classifier", ModelVersion.status == "champion"
                )
            )
            scores = session.execute(
                select(Score.item_id, func.count())
                .where(Score.item_id.in_(select(items.c.id)), Score.model_version_id == champion)
                .group_by(Score.item_id)
            ).all()
            foreign = select(items.c.id).where(items.c.language.in_(["zh", "fr", "de"]))
            n_foreign = session.scalar(select(func.count()).select_from(foreign.subquery()))
            translations = session.execute(
                select(Translation.item_id, func.count())
                .where(Translation.item_id.in_(foreign))
                .group_by(Translation.item_id)
            ).all()
            return {
                "items": n_items,
                "distinct_items": distinct,
                "scored_items": len(scores),
                "scores_beyond_one": sum(c - 1 for _, c in scores),
                "foreign_items": n_foreign,
                "translated_items": len(translations),
                "translations_beyond_one": sum(c - 1 for _, c in translations),
            }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--items-per-round", type=int, default=40, help="new items per feed")
    parser.add_argument("--foreign", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="default: SQLite in the temporary home")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fault_kill9.json")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="focusdig-kill9-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'home' / 'focusdig.db'}"
    env = {
        **os.environ,
        "FOCUSDIG_HOME": str(tmp / "home"),
        "FOCUSDIG_DATABASE_URL": database_url,
        "PREFECT_HOME": str(tmp / "prefect"),
        "FOCUSDIG_FETCH_RETRIES": "0",
    }
    env.pop("PREFECT_API_URL", None)
    paths = [tmp / f"fault-{i}.xml" for i in range(args.feeds)]
    stamp = 1_700_000_000.0

    # round 0 runs to the end: it sets up the databases and tells how long a run takes
    write_feeds(paths, args.items_per_round, args.foreign, stamp)
    full_seconds, code = run_cli(paths, env, None)
    assert code == 0, f"the uninterrupted run failed with exit code {code}"
    rounds = []
    for r in range(1, args.rounds + 1):
        stamp += 10
        write_feeds(paths, args.items_per_round * (r + 1), args.foreign, stamp)
        kill_after = rng.uniform(0.5, full_seconds)
        seconds, code = run_cli(paths, env, kill_after)
        if code is not None:  # it finished first: aim within the quickest whole run seen
            full_seconds = min(full_seconds, seconds)
        state = database_state(database_url)
        expected = args.feeds * args.items_per_round * (r + 1)
        phase = (
            "finished"
            if code is not None
            else "before or during ingest"
            if state["items"] < expected
            else "during translation or scoring"
            if state["scored_items"] < state["items"]
            or state["translated_items"] < state["foreign_items"]
            else "after processing"
        )
        rounds.append({"round": r, "killed_after_s": round(seconds, 2), "exit": code,
                       "phase": phase, **state})  # fmt: skip
        print(json.dumps(rounds[-1]), flush=True)
        assert state["items"] == state["distinct_items"], "duplicated items"
        assert state["scores_beyond_one"] == 0 and state["translations_beyond_one"] == 0

    final_seconds, code = run_cli(paths, env, None)
    final = database_state(database_url)
    expected = args.feeds * args.items_per_round * (args.rounds + 1)
    phases: dict[str, int] = {}
    for r in rounds:
        phases[r["phase"]] = phases.get(r["phase"], 0) + 1
    result = {
        "rounds": args.rounds,
        "kills": sum(1 for r in rounds if r["exit"] is None),
        "kills_by_phase": phases,
        "quickest_whole_run_s": round(full_seconds, 1),
        "final_run_s": round(final_seconds, 1),
        "final_exit": code,
        "items_expected": expected,
        "items_stored": final["items"],
        "items_lost": expected - final["distinct_items"],
        "items_duplicated": final["items"] - final["distinct_items"],
        "items_not_scored_once": final["items"] - final["scored_items"],
        "scores_duplicated": final["scores_beyond_one"],
        "foreign_items": final["foreign_items"],
        "foreign_not_translated": final["foreign_items"] - final["translated_items"],
        "translations_duplicated": final["translations_beyond_one"],
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "feeds": args.feeds,
        "items_per_round_per_feed": args.items_per_round,
        "seed": args.seed,
        "rounds_detail": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds_detail"}, indent=2))


if __name__ == "__main__":
    main()
