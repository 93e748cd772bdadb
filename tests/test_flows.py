"""Prefect flows end to end: local feeds → run → items scored with top words; reruns, broken
sources, concurrent runs and a run killed mid-way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import FEEDS
from sqlalchemy import func, select

from flows.ingest import ingest_flow
from flows.pipeline import pipeline_flow
from focusdig import pipeline
from focusdig.database import get_engine, session_scope
from focusdig.ingest.runner import ingest_sources
from focusdig.schema import FetchLog, Item, Score, ScoreToken
from focusdig.settings import Settings
from focusdig.sources import add_source, register_samples


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Item, Score, ScoreToken)
        }


def serve_feeds(server) -> list[str]:
    for name in ("rss2.xml", "atom.xml", "rss1_rdf.xml", "hostile.xml"):
        server.add(f"/{name}", (FEEDS / name).read_bytes(), etag=f'"{name}"')
    server.add("/broken", b"oops", status=404)
    return [server.url(f"/{n}") for n in ("rss2.xml", "atom.xml", "hostile.xml", "broken")]


def test_pipeline_flow_scores_everything_and_reruns_add_nothing(
    prefect_harness, database_url, tiny_champion, feed_server, monkeypatch
):
    monkeypatch.setenv("FOCUSDIG_EXPLANATION", "pooling")  # the flow's tasks pass it on
    feeds = serve_feeds(feed_server)
    summary = pipeline_flow(feeds, fetch_retries=0)

    [(broken, error)] = summary.failed_sources.items()
    assert summary.sources_ok == 3 and broken.endswith("broken") and "404" in error
    assert summary.items_new == 8 and summary.scored == 8 and summary.classifier == "clf-test-1"
    assert summary.moves and all(m.new_items > 0 for m in summary.moves)
    first = counts(tiny_champion)
    assert first["items"] == first["scores"] == 8 and first["score_tokens"] >= 8
    with session_scope(tiny_champion) as session:
        assert set(session.scalars(select(Score.explanation))) == {"pooling"}

    again = pipeline_flow(fetch_retries=0)
    assert again.items_new == 0 and again.scored == 0
    assert counts(tiny_champion) == first


def test_ingest_flow_retries_only_transient_errors(prefect_harness, database_url, feed_server):
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] == 1:
            req.send_response(503)
            req.end_headers()
            return
        body = (FEEDS / "rss2.xml").read_bytes()
        req.send_response(200)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    feed_server.route("/flaky", flaky)
    feed_server.add("/gone", b"", status=404)
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        add_source(session, feed_server.url("/flaky"), name="flaky")
        add_source(session, feed_server.url("/gone"), name="gone")
    reports = {r.name: r for r in ingest_flow(fetch_retries=2, retry_backoff=0)}
    assert reports["flaky"].new == 3 and calls["n"] == 2
    assert reports["gone"].status == "error" and feed_server.hits("/gone") == 1


def test_two_concurrent_runs_store_nothing_twice(database_url, tiny_champion, feed_server):
    feeds = serve_feeds(feed_server)
    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        ids = [add_source(session, url)[0].id for url in feeds]
    errors: list[BaseException] = []

    def one_run():
        try:
            ingest_sources(engine, settings, ids)
            pipeline.process(engine, batch_size=2)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = counts(engine)
    assert result["items"] == result["scores"] == 8
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(FetchLog)) == 8


def test_a_run_killed_mid_way_is_finished_by_the_next(
    database_url, tiny_champion, feed_server, monkeypatch
):
    feeds = serve_feeds(feed_server)
    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        ids = [add_source(session, url)[0].id for url in feeds]
    ingest_sources(engine, settings, ids)
    _, classifier = pipeline.load_champion(engine, "classifier")
    real_predict = classifier.predict
    calls = {"n": 0}

    def dying_predict(texts, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is killed during the second batch
        return real_predict(texts, **kwargs)

    monkeypatch.setattr(classifier, "predict", dying_predict)
    with pytest.raises(KeyboardInterrupt):
        pipeline.process(engine, batch_size=3)
    assert counts(engine)["scores"] == 3  # the first batch was committed, the second was not
    monkeypatch.setattr(classifier, "predict", real_predict)
    report = pipeline.process(engine, batch_size=3)
    assert report.scored == 5
    assert counts(engine)["scores"] == 8


# a scoring process that stops for kill -9 inside its second batch's transaction, after that
# batch's score rows were written (not committed)
SCORER_STOPPED_MID_WRITE = """
import threading
from focusdig import pipeline, scoring
from focusdig.database import get_engine
from focusdig.settings import Settings

real_store, calls = scoring._store_scores, []

def store_then_stop(*args, **kwargs):
    stored = real_store(*args, **kwargs)
    calls.append(stored)
    if len(calls) == 2:
        print(f"mid-write {stored}", flush=True)
        threading.Event().wait()
    return stored

scoring._store_scores = store_then_stop
pipeline.process(get_engine(Settings.from_env()), batch_size=3)
"""


def test_a_process_killed_with_sigkill_mid_write_loses_and_doubles_nothing(
    database_url, tiny_champion, feed_server
):
    feeds = serve_feeds(feed_server)
    settings = Settings.from_env()
    with session_scope(tiny_champion) as session:
        ids = [add_source(session, url)[0].id for url in feeds]
    ingest_sources(tiny_champion, settings, ids)
    child = subprocess.Popen(
        [sys.executable, "-c", SCORER_STOPPED_MID_WRITE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    _, error = child.communicate()
    assert line == "mid-write 3\n", error
    assert child.returncode == -signal.SIGKILL
    assert counts(tiny_champion)["scores"] == 3  # the first batch, not the half-written second
    report = pipeline.process(tiny_champion, batch_size=3)
    assert report.scored == 5
    with session_scope(tiny_champion) as session:
        pairs = session.execute(select(Score.item_id, Score.model_version_id)).all()
    assert len(pairs) == len(set(pairs)) == counts(tiny_champion)["items"] == 8


def test_pipeline_translates_foreign_items_once_and_scores_the_english(
    prefect_harness, tiny_champion, tiny_translator, monkeypatch
):
    from focusdig.registry import register_model
    from focusdig.schema import Translation
    from focusdig.translator import Translator

    beams = []  # the beam size of every call: FOCUSDIG_TRANSLATION_BEAM reaches the decoder
    translate = Translator.translate

    def recording(self, texts, *args, beam_size=1, **kwargs):
        beams.append(beam_size)
        return translate(self, texts, *args, beam_size=beam_size, **kwargs)

    monkeypatch.setattr(Translator, "translate", recording)
    monkeypatch.setenv("FOCUSDIG_TRANSLATION_BEAM", "2")
    with session_scope(tiny_champion) as session:
        register_model(session, "translator", tiny_translator, status="champion")
        register_samples(session)
    summary = pipeline_flow(fetch_retries=0)  # the bundled samples: en, zh, fr, de

    with session_scope(tiny_champion) as session:
        items = session.scalars(select(Item)).all()
        foreign = {i.id for i in items if i.language in ("zh", "fr", "de")}
        translations = session.scalars(select(Translation)).all()
        assert len(foreign) >= 20 and {t.item_id for t in translations} == foreign
        assert all(t.source_language in ("zh", "fr", "de") for t in translations)
        assert all(0.0 < t.confidence <= 1.0 for t in translations if t.source_text.strip())
        by_item = {t.item_id: t for t in translations}
        scores = session.scalars(select(Score)).all()
        assert {s.item_id for s in scores} == {i.id for i in items}
        for s in scores:
            if s.item_id in by_item:
                text = by_item[s.item_id].text
                assert all(text[t.start : t.end] == t.word for t in s.tokens)
    assert summary.translated == len(foreign) and summary.translator == "mt-test-1"
    assert beams and set(beams) == {2}
    again = pipeline_flow(fetch_retries=0)
    assert again.translated == 0 and again.scored == 0


def test_focusdig_run_command_end_to_end(prefect_harness, database_url, tiny_champion, feed_server):
    from typer.testing import CliRunner

    from focusdig.cli import app

    feeds = serve_feeds(feed_server)
    runner = CliRunner()
    first = runner.invoke(app, ["run", *feeds, "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output.strip().splitlines()[-1])
    assert summary["items_new"] == summary["scored"] == 8 and summary["sources_ok"] == 3
    [(broken, error)] = summary["failed_sources"].items()
    assert broken.endswith("broken") and "404" in error
    stored = counts(tiny_champion)
    assert stored["items"] == stored["scores"] == 8 and stored["score_tokens"] >= 8

    table = runner.invoke(app, ["run"])  # every enabled source, nothing new: the rich summary
    assert table.exit_code == 0, table.output
    assert "focusdig run" in table.output and "failed" in table.output
    assert counts(tiny_champion) == stored


def test_translation_runs_beside_a_first_scoring_pass_and_a_second_pass_follows():
    events: list[str] = []
    first_pass_started = threading.Event()

    def translate():
        assert first_pass_started.wait(5), "translation was not running beside scoring"
        events.append("translated")
        return 3, "mt-test"

    def score():
        events.append("score pass")
        first_pass = not first_pass_started.is_set()
        first_pass_started.set()
        return (10, "clf-test") if first_pass else (3, "clf-test")

    report = pipeline.run_steps(
        lambda: 7, lambda: pipeline.in_thread(translate), score, lambda: (0, 0, 0)
    )
    assert events == ["score pass", "translated", "score pass"]
    assert (report.languages_detected, report.translated, report.scored) == (7, 3, 13)
    assert (report.translator, report.classifier) == ("mt-test", "clf-test")


def test_scoring_takes_one_thread_while_translation_decodes_and_all_again_after(
    database_url, tiny_champion, feed_server
):
    import torch

    settings = Settings.from_env()
    with session_scope(tiny_champion) as session:
        ids = [add_source(session, url)[0].id for url in serve_feeds(feed_server)]
    ingest_sources(tiny_champion, settings, ids)
    first_batch_done = threading.Event()
    threads_per_batch: list[int] = []

    def translate():
        assert first_batch_done.wait(10)
        return 0, None

    def progress(step, n, total):
        threads_per_batch.append(torch.get_num_threads())
        first_batch_done.set()
        deadline = time.monotonic() + 10  # the future's done callback runs just after it
        while pipeline.CPU_SHARE.busy and time.monotonic() < deadline:
            time.sleep(0.01)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        report = pipeline.run_steps(
            lambda: 0,
            lambda: pipeline.in_thread(translate),
            lambda: pipeline.score_step(tiny_champion, 4, "cpu", progress),
        )
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert report.scored == counts(tiny_champion)["items"] == 8
    assert threads_per_batch == [1, 2]  # the second batch ran after translation had ended
    assert after == 2


def test_a_failed_translation_still_lets_the_first_scoring_pass_finish():
    scored = []

    def translate():
        raise RuntimeError("translator files changed")

    with pytest.raises(RuntimeError, match="translator files changed"):
        pipeline.run_steps(
            lambda: 0, lambda: pipeline.in_thread(translate), lambda: scored.append(1) or (1, "c")
        )
    assert scored == [1]
