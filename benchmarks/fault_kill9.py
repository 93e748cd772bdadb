"""Fault injection: kill -9 inside each phase of `focusdig run` and inside a retrain's promotion,
rerun after each kill, and count what was lost, duplicated or scored twice.

Each round appends new items to local feeds (10 % zh/fr/de, so translation has work) and aims
one kill at a phase, the phases in a shuffled, balanced order:

- ingest, translation, scoring: `focusdig run FEEDS` (the real CLI: temporary Prefect API,
  ingest, language id, translation, scoring, entities, alerts) runs with Prefect's log on
  (``PREFECT_LOGGING_LEVEL=INFO``); when the log line that opens the phase appears (the ingest
  flow begins; the language-id task finished; the translate task finished), the whole
  process group gets SIGKILL after a random delay, uniform over the phase's length in the last
  run that went through it. The phase the kill landed in is read from the log lines the run
  wrote before it died (everything in the pipe was written before the kill), and the database
  right after the kill shows what the phase left undone;
- promotion: the step that ends a retrain, ``focusdig.retrain.record_challenger`` (register
  the challenger and make it the champion in one transaction), in a child process, killed a
  random delay after it starts, uniform over the length of the last whole promotion. The
  challenger is a copy of the shipped classifier under a new version name (training a model
  is not what is tested here); after the kill the promotion is run again to the end, as a
  retrain would be.

After every kill `focusdig run` is rerun to the end, and then, against what the feeds hold:
items lost (in the feeds, not stored) 0, duplicated (stored rows beyond one per item) 0,
every item scored exactly once (FOCUSDIG_RESCORE_DAYS is 0: an item is scored by the
champion of the run that processes it) and this round's new items by the current champion,
no (item, model) scored twice, every foreign item translated once, one champion.

    python benchmarks/fault_kill9.py [--rounds 50] [--feeds 4] [--items-per-round 40] [--seed 0]
        [--database-url postgresql://...]

Writes benchmarks/results/fault_kill9.json (after every round). Uses a temporary FOCUSDIG_HOME
and PREFECT_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_throughput import COMPANIES, EN, FOREIGN  # noqa: E402

FOCUSDIG = str(Path(sys.executable).with_name("focusdig"))
TARGETS = ("ingest", "translation", "scoring", "promotion")
# the lines of a run's Prefect log that open each stretch of `focusdig run`, in order
MARKERS = (
    (re.compile(r"for flow 'ingest'"), "ingest"),
    (re.compile(r"Task run 'ingest-sources-[^']*' - Finished"), "language id"),
    (re.compile(r"Task run 'detect_languages-[^']*' - Finished"), "translation"),
    (re.compile(r"Task run 'translate-[^']*' - Finished"), "scoring"),
    (re.compile(r"Task run 'score-[^']*' - Finished"), "entities and alerts"),
)
WAIT_S = 3600  # longest wait for a marker or a whole run (a very busy machine)


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


class Watched:
    """A child in its own process group whose output lines a thread reads, timestamped."""

    def __init__(self, command: list[str], env: dict, stream: str) -> None:
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,  # the temporary Prefect API dies with the group
        )
        pipe = self.process.stdout if stream == "stdout" else self.process.stderr
        self.reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.reader.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            with self.changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, pattern: re.Pattern) -> float | None:
        """When a line matching ``pattern`` was read; None if the child ended without one."""
        end = time.monotonic() + WAIT_S
        with self.changed:
            while True:
                for moment, line in self.lines:
                    if pattern.search(line):
                        return moment
                if not self.reader.is_alive() or time.monotonic() > end:
                    return None
                self.changed.wait(1.0)

    def kill_at(self, moment: float) -> float | None:
        """SIGKILL the group at ``moment`` (monotonic) unless it ended first; the kill's time
        since start, or None when it had ended. Reads every line written before the kill."""
        try:
            self.process.wait(timeout=max(0.0, moment - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            self.process.wait()
            self.reader.join()
            return killed - self.started
        self.reader.join()
        return None

    def finish(self) -> int:
        code = self.process.wait(timeout=WAIT_S)
        self.reader.join()
        return code


def stretches(lines: list[tuple[float, str]]) -> tuple[str, dict[str, float]]:
    """The stretch of the run the last line is in, and the length of each stretch that ended."""
    current, since, lengths = "start-up", None, {}
    for moment, line in lines:
        for pattern, name in MARKERS:
            if pattern.search(line):
                if since is not None:
                    lengths[current] = moment - since
                current, since = name, moment
    return current, lengths


def make_challenger(home: Path, version: str) -> Path:
    """A copy of the shipped classifier under a new version name (config and manifest)."""
    from focusdig.classifier.artifacts import write_manifest
    from focusdig.registry import shipped_model_dir

    path = home / "models" / "classifier" / version
    shutil.copytree(shipped_model_dir("classifier"), path)
    config = json.loads((path / "config.json").read_text("utf-8"))
    (path / "config.json").write_text(json.dumps({**config, "version": version}, indent=2))
    write_manifest(path)
    return path


def promotion_child(database_url: str, path: str, parent: str) -> None:
    """The promotion a retrain ends with, in this process (killed by the parent)."""
    from focusdig.database import create_db_engine
    from focusdig.retrain import record_challenger

    engine = create_db_engine(database_url)
    print("begin", flush=True)
    record_challenger(
        engine,
        Path(path),
        parent_version=parent,
        data_fingerprint=None,
        metrics={"fault_kill9": True},
        promote_it=True,
    )
    print("end", flush=True)


def database_state(database_url: str, round_guids: list[str]) -> dict:
    """Counts that must hold after any crash (and, after a rerun, the ones that say nothing
    was lost); ``round_guids``: the items this round added."""
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
            champions = session.execute(
                select(ModelVersion.id, ModelVersion.version).where(
                    ModelVersion.kind == "classifier", ModelVersion.status == "champion"
                )
            ).all()
            statuses = dict(
                session.execute(
                    select(ModelVersion.version, ModelVersion.status).where(
                        ModelVersion.kind == "classifier"
                    )
                ).all()
            )
            per_pair = (
                select(Score.item_id, Score.model_version_id, func.count().label("n"))
                .where(Score.item_id.in_(select(items.c.id)))
                .group_by(Score.item_id, Score.model_version_id)
                .subquery()
            )
            per_item = (
                select(per_pair.c.item_id, func.sum(per_pair.c.n).label("n"))
                .group_by(per_pair.c.item_id)
                .subquery()
            )
            champion_id = champions[0][0] if len(champions) == 1 else None
            round_scored = session.scalar(
                select(func.count(func.distinct(Score.item_id)))
                .join(Item, Item.id == Score.item_id)
                .where(
                    Item.source_id.in_(fault),
                    Item.guid.in_(round_guids),
                    Score.model_version_id == champion_id,
                )
            )
            foreign = select(items.c.id).where(items.c.language.in_(["zh", "fr", "de"]))
            translations = session.execute(
                select(Translation.item_id, func.count())
                .where(Translation.item_id.in_(foreign))
                .group_by(Translation.item_id)
            ).all()
            return {
                "items": n_items,
                "distinct_items": distinct,
                "scored_items": session.scalar(select(func.count()).select_from(per_item)),
                "items_scored_more_than_once": session.scalar(
                    select(func.count()).select_from(per_item).where(per_item.c.n > 1)
                ),
                "item_model_pairs_scored_twice": session.scalar(
                    select(func.count()).select_from(per_pair).where(per_pair.c.n > 1)
                ),
                "round_items_scored_by_champion": round_scored,
                "foreign_items": session.scalar(
                    select(func.count()).select_from(foreign.subquery())
                ),
                "translated_items": len(translations),
                "translations_beyond_one": sum(c - 1 for _, c in translations),
                "champions": [v for _, v in champions],
                "classifier_statuses": statuses,
            }
    finally:
        engine.dispose()


def violations(state: dict, expected: int, round_items: int) -> list[str]:
    """What a finished rerun must not show."""
    found = []
    if state["distinct_items"] != expected:
        found.append(f"{expected - state['distinct_items']} items lost")
    if state["items"] != state["distinct_items"]:
        found.append(f"{state['items'] - state['distinct_items']} items duplicated")
    if state["scored_items"] != state["items"]:
        found.append(f"{state['items'] - state['scored_items']} items not scored")
    if state["items_scored_more_than_once"] or state["item_model_pairs_scored_twice"]:
        found.append("items scored more than once")
    if state["round_items_scored_by_champion"] != round_items:
        found.append("new items not scored by the champion")
    if state["translated_items"] != state["foreign_items"] or state["translations_beyond_one"]:
        found.append("foreign items not translated exactly once")
    if len(state["champions"]) != 1:
        found.append(f"champions: {state['champions']}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--items-per-round", type=int, default=40, help="new items per feed")
    parser.add_argument("--foreign", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="default: SQLite in the temporary home")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fault_kill9.json")
    parser.add_argument("--promotion-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.promotion_child:
        promotion_child(*args.promotion_child)
        return

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="focusdig-kill9-"))
    home = tmp / "home"
    database_url = args.database_url or f"sqlite:///{home / 'focusdig.db'}"
    env = {
        **os.environ,
        "FOCUSDIG_HOME": str(home),
        "FOCUSDIG_DATABASE_URL": database_url,
        "FOCUSDIG_RESCORE_DAYS": "0",
        "PREFECT_HOME": str(tmp / "prefect"),
        "FOCUSDIG_FETCH_RETRIES": "0",
        "PREFECT_LOGGING_LEVEL": "INFO",  # the log lines that say which phase runs
    }
    env.pop("PREFECT_API_URL", None)
    paths = [tmp / f"fault-{i}.xml" for i in range(args.feeds)]
    per_round = args.items_per_round
    run_command = [FOCUSDIG, "run", "--json", *map(str, paths)]
    schedule = [t for _ in range(-(-args.rounds // len(TARGETS))) for t in TARGETS]
    rng.shuffle(schedule)
    schedule = schedule[: args.rounds]
    started = time.time()

    def round_guids(r: int) -> list[str]:
        new = range(r * per_round, (r + 1) * per_round)
        return [f"k{f}-{i}" for f in range(args.feeds) for i in new]

    def full_run() -> tuple[int, dict[str, float], float]:
        """An uninterrupted `focusdig run`: (exit code, stretch lengths, seconds)."""
        child = Watched(run_command, env, "stderr")
        code = child.finish()
        if code != 0:
            print("\n".join(line for _, line in child.lines[-20:]), file=sys.stderr)
        return code, stretches(child.lines)[1], time.monotonic() - child.started

    def promotion(version: str, parent: str) -> Watched:
        path = home / "models" / "classifier" / version
        command = [sys.executable, __file__, "--promotion-child", database_url, str(path), parent]
        return Watched(command, env, "stdout")

    def promotion_seconds(child: Watched) -> float | None:
        begin = next((t for t, line in child.lines if line == "begin"), None)
        end = next((t for t, line in child.lines if line == "end"), None)
        return end - begin if begin is not None and end is not None else None

    # round 0 runs to the end: it sets up the databases and measures each phase; then one
    # whole promotion measures that
    write_feeds(paths, per_round, args.foreign, 1_700_000_000.0)
    code, lengths, first_run_s = full_run()
    state = database_state(database_url, round_guids(0))
    if code != 0 or (found := violations(state, args.feeds * per_round, args.feeds * per_round)):
        raise SystemExit(f"the first, uninterrupted run: exit {code}, {found}")
    make_challenger(home, "clf-kill9-0")
    child = promotion("clf-kill9-0", state["champions"][0])
    if child.finish() != 0 or (seconds := promotion_seconds(child)) is None:
        raise SystemExit("the first promotion failed")
    lengths["promotion"] = seconds

    rounds: list[dict] = []
    for r, target in enumerate(schedule, start=1):
        write_feeds(paths, per_round * (r + 1), args.foreign, 1_700_000_000.0 + 10 * r)
        expected = args.feeds * per_round * (r + 1)
        record: dict = {"round": r, "target": target}
        if target == "promotion":
            parent = database_state(database_url, [])["champions"][0]
            version = f"clf-kill9-{r}"
            make_challenger(home, version)
            child = promotion(version, parent)
            begin = child.wait_for(re.compile(r"^begin$"))
            delay = rng.uniform(0, lengths["promotion"])
            killed = child.kill_at(begin + delay) if begin is not None else None
            after_kill = database_state(database_url, [])
            status = after_kill["classifier_statuses"].get(version)
            record |= {
                "delay_s": round(delay, 4),
                "killed": killed is not None,
                "landed": "promotion"
                if killed is not None and promotion_seconds(child) is None
                else "after promotion",
                "after_kill": {"champion": "committed", None: "nothing written"}.get(
                    status, f"half-written ({status})"
                ),
                "champions_after_kill": after_kill["champions"],
            }
            rerun = promotion(version, parent)  # the retrain, run again
            assert rerun.finish() == 0, "the promotion rerun failed"
            if (seconds := promotion_seconds(rerun)) is not None and status is None:
                lengths["promotion"] = seconds
        else:
            child = Watched(run_command, env, "stderr")
            opening = next(p for p, name in MARKERS if name == target)
            seen = child.wait_for(opening)
            delay = rng.uniform(0, lengths[target])
            killed = child.kill_at(seen + delay) if seen is not None else None
            landed, done = stretches(child.lines)
            lengths |= done  # whole stretches of this round's work
            after_kill = database_state(database_url, round_guids(r))
            record |= {
                "delay_s": round(delay, 3),
                "killed": killed is not None,
                "killed_after_s": round(killed, 2) if killed is not None else None,
                "landed": landed if killed is not None else f"ended first (exit {child.finish()})",
                "left_for_rerun": {
                    "items": expected - after_kill["distinct_items"],
                    "untranslated": after_kill["foreign_items"] - after_kill["translated_items"],
                    "unscored": after_kill["items"] - after_kill["scored_items"],
                },
            }
        code, rerun_lengths, rerun_s = full_run()
        lengths["ingest"] = rerun_lengths.get("ingest", lengths["ingest"])  # whole feeds again
        state = database_state(database_url, round_guids(r))
        found = violations(state, expected, args.feeds * per_round)
        found += [f"rerun exit {code}"] if code != 0 else []
        record |= {
            "rerun_s": round(rerun_s, 1),
            "violations": found,
            "champion": state["champions"],
        }
        rounds.append(record)
        print(json.dumps(record), flush=True)
        write_result(args, rounds, state, database_url, first_run_s, started, lengths)


def write_result(args, rounds, state, database_url, first_run_s, started, lengths) -> None:
    landed: dict[str, int] = {}
    for r in rounds:
        if r["killed"]:
            landed[r["landed"]] = landed.get(r["landed"], 0) + 1
    expected = args.feeds * args.items_per_round * (len(rounds) + 1)
    result = {
        "rounds": len(rounds),
        "rounds_asked": args.rounds,
        "kills": sum(r["killed"] for r in rounds),
        "kills_by_phase": landed,
        "aimed_by_phase": {t: sum(r["target"] == t for r in rounds) for t in TARGETS},
        "rounds_with_violations": sum(bool(r["violations"]) for r in rounds),
        "promotion_kills_after_kill": {
            o: sum(r.get("after_kill") == o for r in rounds if r["killed"])
            for o in {r["after_kill"] for r in rounds if "after_kill" in r}
        },
        "items_expected": expected,
        "items_stored": state["items"],
        "items_lost": expected - state["distinct_items"],
        "items_duplicated": state["items"] - state["distinct_items"],
        "items_not_scored": state["items"] - state["scored_items"],
        "items_scored_more_than_once": state["items_scored_more_than_once"],
        "foreign_items": state["foreign_items"],
        "foreign_not_translated": state["foreign_items"] - state["translated_items"],
        "translations_duplicated": state["translations_beyond_one"],
        "champion": state["champions"],
        "first_run_s": round(first_run_s, 1),
        "last_phase_lengths_s": {k: round(v, 3) for k, v in lengths.items()},
        "wall_s": round(time.time() - started),
        "load_average_end": list(os.getloadavg()),
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "feeds": args.feeds,
        "items_per_round_per_feed": args.items_per_round,
        "seed": args.seed,
        "rounds_detail": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
