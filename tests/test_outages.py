"""Outages and concurrency across processes: PostgreSQL stopped in the middle of `focusdig run`,
and several runs at once on one database (four on PostgreSQL, two on SQLite).

The PostgreSQL outage test stops and starts the server that `.ci/run` started; it needs
FOCUSDIG_TEST_PG_BIN, FOCUSDIG_TEST_PG_DATA, FOCUSDIG_TEST_PG_OPTIONS and FOCUSDIG_TEST_PG_LOG
(exported by `.ci/run`) and skips without them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FEEDS
from sqlalchemy import func, select

from focusdig.database import dispose_engines, get_engine, session_scope
from focusdig.schema import FetchLog, Item, Score
from focusdig.settings import Settings

PG_CONTROL = [os.environ.get(f"FOCUSDIG_TEST_PG_{k}") for k in ("BIN", "DATA", "OPTIONS", "LOG")]
FOCUSDIG = str(Path(sys.executable).with_name("focusdig"))

pytestmark = pytest.mark.timeout(300)


def pg_ctl(*args: str) -> None:
    pg_bin, data, _, _ = PG_CONTROL
    command = [f"{pg_bin}/pg_ctl", "-D", data, "-w", *args]
    if os.geteuid() == 0:  # the server belongs to the postgres user
        command = ["su", "postgres", "-c", shlex.join(command)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def start_postgres() -> None:
    _, _, options, log = PG_CONTROL
    pg_ctl("-l", log, "-o", options, "start")


def cli_env() -> dict[str, str]:
    env = {**os.environ}
    env.pop("PREFECT_LOGGING_LEVEL", None)  # as a user runs it
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "200"  # a busy machine
    return env


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Item, Score, FetchLog)
        }


@pytest.mark.skipif(not all(PG_CONTROL), reason="FOCUSDIG_TEST_PG_* not set (see .ci/run)")
@pytest.mark.timeout(600)
def test_postgres_stopped_mid_run_one_error_line_then_the_next_run_completes(
    database_url, tiny_champion, feed_server
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL outage")
    feed_server.add("/rss2.xml", (FEEDS / "rss2.xml").read_bytes())
    body = (FEEDS / "atom.xml").read_bytes()
    stopped = []

    def stop_the_database_then_answer(req):
        if not stopped:
            pg_ctl("-m", "immediate", "stop")
            stopped.append(True)
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    feed_server.route("/outage.xml", stop_the_database_then_answer)
    feeds = [feed_server.url("/rss2.xml"), feed_server.url("/outage.xml")]
    dispose_engines()  # no pooled connection of this process survives the restart
    try:
        failed = subprocess.run(
            [FOCUSDIG, "run", *feeds], env=cli_env(), capture_output=True, text=True, timeout=240
        )
    finally:
        if stopped:
            start_postgres()
    assert stopped, f"the run never fetched the feed that stops the database: {failed.stderr}"
    assert failed.returncode == 3, failed.stderr[-2000:]
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr[-2000:]
    assert lines[0].startswith("error: the database is unavailable (")

    engine = get_engine(Settings.from_env())
    before = counts(engine)
    with session_scope(engine) as session:  # each source is all or nothing
        per_source = dict(
            session.execute(select(Item.source_id, func.count()).group_by(Item.source_id)).all()
        )
    assert sorted(per_source.values()) in ([], [3], [2, 3]), per_source
    assert before["scores"] <= before["items"]

    again = subprocess.run(
        [FOCUSDIG, "run", "--json", *feeds], env=cli_env(), capture_output=True, timeout=240
    )
    assert again.returncode == 0, again.stderr[-2000:]
    after = counts(engine)
    assert after["items"] == after["scores"] == 5


CONCURRENT_RUN = textwrap.dedent(
    """
    import sys
    from focusdig.database import get_engine
    from focusdig.ingest.runner import ingest_sources
    from focusdig.settings import Settings

    settings = Settings.from_env()
    engine = get_engine(settings)
    ids = [int(i) for i in sys.argv[1:]]
    for _ in range(3):
        reports = ingest_sources(engine, settings, ids)
        assert all(r.ok for r in reports), [r.error for r in reports]
    """
)


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_runs_in_separate_processes_store_nothing_twice(database_url, feed_server, runs):
    """Separate processes, separate connections, each ingesting every source three times: no
    duplicate, no "database is locked". (Concurrent scoring is covered in test_flows.py.)"""
    if database_url.startswith("sqlite") and runs == 4:
        pytest.skip("four concurrent runs are the PostgreSQL case")
    names = ("rss2.xml", "atom.xml", "rss1_rdf.xml", "hostile.xml", "comments_rss.xml")
    for name in names:
        feed_server.add(f"/{name}", (FEEDS / name).read_bytes(), etag=f'"{name}"')
    from focusdig.sources import add_source

    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        ids = [str(add_source(session, feed_server.url(f"/{n}"))[0].id) for n in names]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_RUN, *ids],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(runs)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "database is locked" not in output
    result = counts(engine)
    with session_scope(engine) as session:
        distinct = session.scalar(select(func.count(func.distinct(Item.content_hash))))
    assert result["items"] == distinct == 11  # 12 entries, one repeated across two feeds
    assert result["fetch_log"] == 3 * runs * len(names)
