"""The CLI contract, through typer's runner, on the bundled samples and local files."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import FEEDS
from typer.testing import CliRunner

from focusdig.cli import app
from focusdig.cli.common import console

runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def test_init_without_samples_then_with(database_url):
    run("init", "--no-samples")
    assert json.loads(run("sources", "list", "--json").stdout) == []
    run("init")
    names = {s["name"] for s in json.loads(run("sources", "list", "--json").stdout)}
    assert {"sample-en-markets", "sample-en-comments", "sample-zh-news"} <= names


def test_fresh_home_ingests_samples_offline_and_twice_adds_nothing(database_url):
    first = run("ingest")
    assert "sample-zh-news" in first.stdout
    items = json.loads(run("items", "--limit", "500", "--json").stdout)
    assert len(items) >= 50
    assert {i["kind"] for i in items} == {"news", "comments"}
    comments = [i for i in items if i["kind"] == "comments"]
    assert comments and all(c["parent_item_id"] for c in comments)
    assert any("公司" in (i["title"] + i["text"]) for i in items)  # GB2312 decoded
    run("ingest")
    assert len(json.loads(run("items", "--limit", "500", "--json").stdout)) == len(items)


def test_sources_add_list_remove(database_url, tmp_path):
    feed = shutil.copy(FEEDS / "rss2.xml", tmp_path / "mine.xml")
    run("init", "--no-samples")
    run("sources", "add", str(feed), "--name", "mine", "--language", "en")
    listed = json.loads(run("sources", "list", "--json").stdout)
    assert [(s["name"], s["language"], s["kind"]) for s in listed] == [("mine", "en", "news")]
    run("sources", "add", "ftp://example.com/feed", code=2)
    run("sources", "remove", "nope", code=2)
    run("sources", "remove", "mine")
    assert json.loads(run("sources", "list", "--json").stdout) == []


def test_ingest_explicit_files_reports_broken_ones_and_keeps_going(database_url):
    run("init", "--no-samples")
    result = run(
        "ingest",
        str(FEEDS / "rss2.xml"),
        str(FEEDS / "not_a_feed.html"),
        str(FEEDS / "truncated.xml"),
    )
    assert "not-a-feed" in result.stdout and "error" in result.stdout
    items = json.loads(run("items", "--json").stdout)
    assert len(items) >= 3  # rss2 entries + what truncated.xml still holds
    broken = run("ingest", str(FEEDS / "not_a_feed.html"), code=1)
    assert "error" in broken.stdout


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_formats(database_url, tmp_path, fmt):
    run("ingest")
    out = tmp_path / f"items.{fmt}"
    run("export", "--format", fmt, "--out", str(out))
    frame = {
        "csv": pd.read_csv,
        "parquet": pd.read_parquet,
        "jsonl": lambda p: pd.read_json(p, lines=True),
    }[fmt](out)
    for column in (
        "item_id",
        "source",
        "kind",
        "url",
        "title",
        "text",
        "language",
        "translated_text",
        "published_at",
    ):
        assert column in frame.columns
    assert len(frame) >= 50 and frame["item_id"].is_unique


def test_translate_prints_the_confidence(tiny_translator):
    args = ["translate", "--model", str(tiny_translator), "--from", "de", "--beam", "1"]
    text = "Die Aktie fiel stark. Der Gewinn steigt."
    [out] = json.loads(run(*args, text, "--json").stdout)
    assert out["source_language"] == "de" and 0.0 < out["confidence"] <= 1.0
    assert f"(confidence {out['confidence']:.2f})" in run(*args, text).stdout


def test_feed_text_and_names_are_printed_as_they_are(database_url, tmp_path, monkeypatch):
    """Brackets in feed text, source and entity names are text, never rich markup."""
    monkeypatch.setattr(console, "width", 300)  # no cell wrapping in the tables
    title = "[bold]Rally[/bold] at [red]Acme[/red]"
    feed = tmp_path / "f.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><link>https://example.com/1</link>"
        "<description>Shares rose.</description></item></channel></rss>"
    )
    run("init", "--no-samples")
    run("sources", "add", str(feed), "--name", "[i]mine[/i]", "--language", "en")
    assert "[i]mine[/i]" in run("sources", "list").stdout
    assert "[i]mine[/i]" in run("ingest").stdout
    listed = run("items").stdout
    assert title in listed and "[i]mine[/i]" in listed
    assert "added: [u]Acme[/u] Corp" in run("entities", "add", "[u]Acme[/u] Corp").stdout
    assert "[u]Acme[/u] Corp" in run("entities", "list").stdout


def test_a_step_run_in_two_passes_never_overflows_its_progress_bar(monkeypatch):
    import rich.progress

    from focusdig.cli.common import step_progress

    made: list[rich.progress.Progress] = []

    class Recording(rich.progress.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(rich.progress, "Progress", Recording)
    with step_progress() as advance:
        advance("score", 4, 5)
        advance("score", 1, 5)  # the first pass: 5 of 5
        advance("score", 2, 3)  # a second pass, for what translation added
        advance("score", 1, 3)
        advance("language id", 7, 0)  # no total known
        score, language = made[0].tasks
        assert (score.completed, score.total) == (8, 8)
        assert (language.completed, language.total) == (7, None)


def test_a_bad_setting_ends_the_command_with_one_line(database_url, monkeypatch):
    monkeypatch.setenv("FOCUSDIG_EXPLANATION", "rollout")  # a Hugging Face model's, not ours
    result = run("sources", "list", code=2)
    assert "FOCUSDIG_EXPLANATION" in result.output and "rollout" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
