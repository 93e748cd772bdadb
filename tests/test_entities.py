"""Entities: watchlist files, extraction, entity scores, rollups (after two runs and after a
concurrent run, on SQLite and PostgreSQL), export, and the CLI's JSON shapes."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from xml.sax.saxutils import escape

import pandas as pd
import pytest
from sqlalchemy import func, select
from test_cli import run

from focusdig import pipeline
from focusdig.database import get_engine, session_scope
from focusdig.entities.extract import Extractor, WatchEntry
from focusdig.entities.names import clean_name, name_forms
from focusdig.entities.rollups import item_day
from focusdig.entities.watchlist import WatchlistError, read_watchlist_file
from focusdig.schema import (
    Entity,
    EntityDay,
    EntityMention,
    EntityScan,
    EntityScore,
    Item,
    Translation,
)
from focusdig.scoring import item_text
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE, Settings

# ------------------------------------------------------------------ extraction (no database)

WATCH = [
    WatchEntry(1, "Belmont Foods Inc.", "BLMF"),
    WatchEntry(2, "Arvika Mining", "ARVK"),
    WatchEntry(3, "Allstate", "ALL"),
    WatchEntry(4, "AT&T", "T"),
    WatchEntry(5, "Huaxing", "HXNG", ("华星公司",)),
    WatchEntry(6, "Bank of America", "BAC"),
    WatchEntry(7, "Nordstahl AG", None, ("North Steel",)),
    WatchEntry(8, "Lumière SA", "LUMI"),
    WatchEntry(9, "Target Corporation", "TGT", ("Target",)),
    WatchEntry(10, "Berkshire Hathaway", "BRK.B"),
    WatchEntry(11, "ServiceNow", "NOW"),
]


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(WATCH)


def found(extractor: Extractor, text: str) -> list[tuple[int, str, str]]:
    mentions = extractor.extract(text)
    assert all(text[m.start : m.end] == m.matched for m in mentions)  # offsets into the text
    return [(m.entity_id, m.matched, m.how) for m in mentions]


def test_names_aliases_and_suffix_variants(extractor):
    assert found(extractor, "Arvika Mining soars while Belmont Foods Inc slumps") == [
        (2, "Arvika Mining", "name"),
        (1, "Belmont Foods Inc", "name"),
    ]
    assert found(extractor, "Belmont Foods Incorporated and BELMONT FOODS") == [
        (1, "Belmont Foods Incorporated", "name"),
        (1, "BELMONT FOODS", "name"),
    ]
    assert found(extractor, "North Steel cuts jobs; Nordstahl's outlook") == [
        (7, "North Steel", "alias"),
        (7, "Nordstahl", "name"),
    ]
    # the longest match wins; possessives split off
    assert found(extractor, "Bank of America's profit") == [(6, "Bank of America", "name")]


def test_cashtags_and_exchange_patterns(extractor):
    text = "Allstate (NYSE: ALL) beat; $T fell, $brk.b and (Nasdaq:BLMF) rose"
    assert found(extractor, text) == [
        (3, "Allstate", "name"),
        (3, "NYSE: ALL", "exchange"),
        (4, "$T", "cashtag"),
        (10, "$brk.b", "cashtag"),
        (1, "Nasdaq:BLMF", "exchange"),
    ]
    assert found(extractor, "prices rose $5 to $TGT2") == []  # not cashtags of the watchlist


def test_ambiguous_tickers_only_as_cashtags_or_exchange_patterns(extractor):
    # ALL, NOW and T are ordinary words or too short: never bare tickers
    assert found(extractor, "ALL shares rose NOW, said T. Smith") == []
    assert found(extractor, "ServiceNow (NYSE: NOW) and $NOW") == [
        (11, "ServiceNow", "name"),
        (11, "NYSE: NOW", "exchange"),
        (11, "$NOW", "cashtag"),
    ]
    # a bare ticker that is no word matches, in upper case, unless the text is shouted
    assert found(extractor, "BLMF and ARVK rose") == [(1, "BLMF", "ticker"), (2, "ARVK", "ticker")]
    assert found(extractor, "blmf rose") == []
    assert found(extractor, "SHARES OF BLMF JUMP AFTER EARNINGS BEAT") == []
    # a single ordinary word matches only as written
    assert found(extractor, "Target raised; target price cut; TARGET") == [(9, "Target", "alias")]


def test_non_ascii_names_in_running_text(extractor):
    text = "华星公司利润大幅增长。Les bénéfices de Lumière SA et l'action Lumière"
    assert found(extractor, text) == [
        (5, "华星公司", "alias"),
        (8, "Lumière SA", "name"),
        (8, "Lumière", "name"),
    ]
    mentions = extractor.extract(text)
    assert (mentions[0].start, mentions[0].end) == (0, 4)


def test_name_forms_and_list_cleaning():
    assert name_forms("Belmont Foods Inc.") == {
        "Belmont Foods Inc.",
        "Belmont Foods Inc",
        "Belmont Foods Incorporated",
        "Belmont Foods",
    }
    assert "Target" not in name_forms("Target Corporation")  # an ordinary word: alias only
    assert "华星" in name_forms("华星公司")
    assert "Procter and Gamble" in name_forms("Procter & Gamble")
    assert clean_name("Home Depot (The)") == "The Home Depot"
    assert clean_name("Lilly (Eli)") == "Eli Lilly"
    assert clean_name("Alphabet Inc. (Class A)") == "Alphabet Inc."


# ------------------------------------------------------------------ watchlist files and CLI


def test_bad_watchlist_file_is_refused_with_line_numbers(database_url, tmp_path):
    bad = tmp_path / "watch.csv"
    bad.write_text(
        "name,ticker,aliases\n"
        "Belmont Foods,BLMF,Belmont|Belmont Foods Inc.\n"
        ",ARVK,\n"
        "Arvika Mining,AR VK!,\n"
        "Belmont Foods,BLM2,\n"
        "Calder Steel,CSTL,Calder||Calder AG\n"
    )
    with pytest.raises(WatchlistError) as err:
        read_watchlist_file(bad)
    message = str(err.value)
    assert "4 bad line(s), nothing imported" in message
    assert "line 3: empty name" in message
    assert "line 4: ticker 'AR VK!'" in message
    assert "line 5: 'Belmont Foods' already on line 2" in message
    assert "line 6: empty alias" in message
    run("init", "--no-samples")
    result = run("entities", "import", str(bad), code=2)
    assert "line 4" in result.output
    assert json.loads(run("entities", "list", "--json").stdout) == []  # nothing written
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("company,ticker\nX,Y\n")
    assert "missing column(s) name, aliases" in run("entities", "import", str(nocol), code=2).output


def test_entities_cli_json_shapes(database_url, tmp_path):
    run("init", "--no-samples")
    run("entities", "add", "Belmont Foods Inc.", "--ticker", "blmf", "--alias", "Belmont")
    run("entities", "add", "Belmont Foods Inc.", "--alias", "贝尔蒙特食品")  # merged
    good = tmp_path / "watch.csv"
    good.write_text("name,ticker,aliases\nArvika Mining,ARVK,Arvika|アルビカ\nCalder Steel,,\n")
    assert "added: 2" in run("entities", "import", str(good)).stdout
    assert "unchanged: 2" in run("entities", "import", str(good)).stdout
    listed = json.loads(run("entities", "list", "--json").stdout)
    assert [e["name"] for e in listed] == ["Arvika Mining", "Belmont Foods Inc.", "Calder Steel"]
    belmont = listed[1]
    assert belmont["ticker"] == "BLMF" and belmont["aliases"] == ["Belmont", "贝尔蒙特食品"]
    assert set(belmont) >= {"name", "ticker", "aliases", "mentions", "mean_score"}
    assert belmont["mentions"] == 0 and belmont["mean_score"] is None
    shown = json.loads(run("entities", "show", "blmf", "--days", "7", "--json").stdout)
    assert shown == {
        "name": "Belmont Foods Inc.",
        "ticker": "BLMF",
        "exchange": None,
        "origin": "cli",
        "aliases": ["Belmont", "贝尔蒙特食品"],
        "days": 7,
        "mentions": 0,
        "scored": 0,
        "mean_score": None,
        "recent_days": 3,
        "recent_mentions": 0,
        "recent_mean_score": None,
        "trend": None,
        "last_mentioned": None,
        "series": [],
    }
    by_mentions = json.loads(run("entities", "list", "--sort", "-name", "--json").stdout)
    assert [e["name"] for e in by_mentions] == [e["name"] for e in listed][::-1]
    assert "unknown --sort" in run("entities", "list", "--sort", "size", code=2).output
    run("entities", "show", "Nobody", code=2)
    run("entities", "remove", "Calder Steel")
    run("entities", "remove", "Calder Steel", code=2)
    run("entities", "import", code=2)  # neither a file nor --builtin
    assert "added: 500" in run("entities", "import", "--builtin", "sp500").stdout
    names = {e["name"]: e for e in json.loads(run("entities", "list", "--json").stdout)}
    assert len(names) == 502 and names["Apple Inc."]["ticker"] == "AAPL"
    assert "Google" in names["Alphabet Inc."]["aliases"]


# ------------------------------------------------------------------ the pipeline step

DAY1 = "Tue, 24 Nov 2026 09:00:00 GMT"
DAY2 = "Wed, 25 Nov 2026 09:00:00 GMT"
FIRST = [
    ("a1", DAY1, "Calloway Bank shares plunge as Kestrel Motors soars", "Losses mounted."),
    ("a2", DAY1, "Kestrel Motors recalls vehicles", "Shares of $KSTM slid 9%."),
    ("a3", DAY2, "Lumen Cloud posts strong growth", "Calloway Bank (NYSE: CLWB) was flat."),
    ("a4", None, "Markets were quiet", "Nothing to see."),
]
SECOND = [
    ("b1", DAY1, "Calloway Bank cuts dividend", "The lender reported a surprise loss."),
    ("b2", DAY2, "Kestrel Motors and Lumen Cloud sign a deal", "KSTM rose."),
]


def rss(items) -> str:
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>https://ent.example/{g}</link>"
        f"<guid>{g}</guid>{f'<pubDate>{d}</pubDate>' if d else ''}"
        f"<description>{escape(b)}</description></item>"
        for g, d, t, b in items
    )
    channel = f"<channel><title>t</title>{entries}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'


@pytest.fixture
def entity_db(database_url, tiny_champion, tiny_translator, tmp_path):
    """The sample companies on the watchlist, the tiny models as champions, no items yet."""
    from focusdig.registry import register_model

    run("init", "--no-samples")
    with session_scope(tiny_champion) as session:
        register_model(session, "translator", tiny_translator, status="champion")
        from focusdig.entities.watchlist import register_sample_entities

        register_sample_entities(session)
    return tiny_champion


def ingest_file(tmp_path, name: str, items) -> None:
    path = tmp_path / name
    path.write_text(rss(items), encoding="utf-8")
    run("ingest", str(path))


def expected_rollups(
    session, min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE
) -> dict[tuple[int, object], tuple[int, float | None, tuple]]:
    """The rollups recomputed from scratch: mentions, mean score, label counts per day (the
    scores of translations below ``min_confidence`` left out)."""
    days = {i.id: item_day(i.published_at, i.fetched_at) for i in session.scalars(select(Item))}
    flagged = {
        t.item_id
        for t in session.scalars(select(Translation))
        if t.confidence is not None and t.confidence < min_confidence
    }
    mentioned = defaultdict(set)
    for m in session.scalars(select(EntityMention)):
        mentioned[(m.entity_id, days[m.item_id])].add(m.item_id)
    latest = {}
    for s in session.scalars(select(EntityScore).order_by(EntityScore.id)):
        if s.item_id not in flagged:
            latest[(s.entity_id, s.item_id)] = s
    out = {}
    for (entity_id, day), items in mentioned.items():
        scores = [latest[(entity_id, i)] for i in items if (entity_id, i) in latest]
        mean = sum(s.score for s in scores) / len(scores) if scores else None
        labels = tuple(
            sum(s.label == lab for s in scores) for lab in ("negative", "neutral", "positive")
        )
        out[(entity_id, day)] = (len(items), mean, labels)
    return out


def stored_rollups(session):
    return {
        (r.entity_id, r.day): (r.mentions, r.mean_score, (r.negative, r.neutral, r.positive))
        for r in session.scalars(select(EntityDay))
    }


def assert_rollups_match(
    engine, min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE
) -> None:
    with session_scope(engine) as session:
        expected, stored = expected_rollups(session, min_confidence), stored_rollups(session)
    assert stored.keys() == expected.keys()
    for key, (mentions, mean, labels) in expected.items():
        assert stored[key][0] == mentions and stored[key][2] == labels
        assert mean is None and stored[key][1] is None or abs(stored[key][1] - mean) < 1e-9


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m))
            for m in (EntityMention, EntityScore, EntityScan, EntityDay)
        }


def test_entity_scores_mentions_and_rollups_after_two_runs(entity_db, tmp_path):
    ingest_file(tmp_path, "first.xml", FIRST)
    first = run("score")
    assert "entities: 4 items scanned, 7 mentions, 5 entity scores" in " ".join(
        first.stdout.split()
    )
    with session_scope(entity_db) as session:
        names = {e.id: e.name for e in session.scalars(select(Entity))}
        items = {i.guid: i for i in session.scalars(select(Item))}
        a1 = items["a1"]
        text = item_text(a1.kind, a1.title, a1.text)
        scores = {
            names[s.entity_id]: s
            for s in session.scalars(select(EntityScore))
            if s.item_id == a1.id
        }
        assert set(scores) == {"Calloway Bank", "Kestrel Motors"}
        for s in scores.values():
            # the tiny model has no target support: the sentence-level fallback, flagged
            assert s.method == "sentence" and s.label in ("negative", "neutral", "positive")
            assert abs(s.prob_negative + s.prob_neutral + s.prob_positive - 1) < 1e-5
            assert -1 <= s.score <= 1 and s.top_tokens
            assert all(text[t["start"] : t["end"]] == t["word"] for t in s.top_tokens)
        for m in session.scalars(select(EntityMention)):
            item = session.get(Item, m.item_id)
            assert item_text(item.kind, item.title, item.text)[m.start : m.end] == m.matched
        hows = {m.how for m in session.scalars(select(EntityMention))}
        assert {"name", "cashtag", "exchange"} <= hows
    assert_rollups_match(entity_db)
    calloway = json.loads(
        run("entities", "show", "Calloway Bank", "--days", "3650", "--json").stdout
    )
    assert calloway["mentions"] == 2 and [d["date"] for d in calloway["series"]] == [
        "2026-11-24",
        "2026-11-25",
    ]
    day = calloway["series"][0]
    assert day["mentions"] == 1 and day["negative"] + day["neutral"] + day["positive"] == 1

    ingest_file(tmp_path, "second.xml", SECOND)  # the second run touches the same days
    run("score")
    assert_rollups_match(entity_db)
    calloway = json.loads(
        run("entities", "show", "Calloway Bank", "--days", "3650", "--json").stdout
    )
    assert calloway["mentions"] == 3 and calloway["series"][0]["mentions"] == 2
    before = counts(entity_db)
    assert "0 items scanned" in run("score").stdout  # a rerun adds nothing
    assert counts(entity_db) == before

    out = tmp_path / "export.jsonl"
    run("export", "--format", "jsonl", "--out", str(out))
    frame = pd.read_json(out, lines=True).set_index("url")
    exported = json.loads(frame.loc["https://ent.example/a1", "entities"])
    assert {e["name"] for e in exported} == {"Calloway Bank", "Kestrel Motors"}
    assert set(exported[0]) == {"name", "ticker", "label", "score"}
    assert json.loads(frame.loc["https://ent.example/a4", "entities"]) == []


def test_rollups_converge_after_concurrent_runs(entity_db, tmp_path):
    ingest_file(tmp_path, "first.xml", FIRST + SECOND)
    engine = get_engine(Settings.from_env())
    errors: list[BaseException] = []

    def one_run():
        try:
            pipeline.process(engine, batch_size=1, entity_scan_size=1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts(engine)["entity_scores"] == 8 and counts(engine)["entity_scans"] == 6
    assert_rollups_match(engine)


def test_watchlist_change_rescans_recent_items_and_removal_cleans_up(
    entity_db, tmp_path, monkeypatch
):
    ingest_file(tmp_path, "first.xml", FIRST)
    run("score")
    run("entities", "show", "Markets", code=2)
    # a new entity: items dated within the backfill window are scanned again
    run("entities", "add", "Markets Inc.", "--alias", "Markets")
    monkeypatch.setenv("FOCUSDIG_ENTITY_BACKFILL_DAYS", "0")
    assert "0 items scanned" in run("score").stdout  # no backfill: only new items
    monkeypatch.setenv("FOCUSDIG_ENTITY_BACKFILL_DAYS", "36500")
    assert "4 items scanned, 1 mentions, 1 entity scores" in run("score").stdout
    shown = json.loads(run("entities", "show", "Markets", "--days", "36500", "--json").stdout)
    assert shown["mentions"] == 1 and shown["series"][0]["mentions"] == 1
    run("entities", "remove", "Markets Inc.")
    with session_scope(entity_db) as session:
        assert session.scalar(select(func.count()).select_from(EntityDay)) == len(
            expected_rollups(session)
        )
    assert_rollups_match(entity_db)


def test_rollups_leave_out_the_scores_of_flagged_translations(entity_db, tmp_path, monkeypatch):
    """Two Chinese items the translator doubts and one English item mention Huaxing on one
    day: all three are mentions, only the English item's score is in the day's figures."""
    from focusdig.database import serialize_writers
    from focusdig.entities import rollups

    feed = tmp_path / "zh.xml"
    zh = [("z1", DAY1, "华星公司利润大幅增长", "股价上涨。"), ("z2", DAY1, "华星公司裁员", "")]
    feed.write_text(rss(zh), encoding="utf-8")
    run("sources", "add", str(feed), "--name", "zh", "--language", "zh")
    run("ingest")
    ingest_file(tmp_path, "en.xml", [("e1", DAY1, "Huaxing shares rise", "Orders grew.")])
    monkeypatch.setenv("FOCUSDIG_MIN_TRANSLATION_CONFIDENCE", "1")  # every translation flagged
    run("score")
    with session_scope(entity_db) as session:
        huaxing = session.scalars(select(Entity).where(Entity.name == "Huaxing")).one()
        confidences = [t.confidence for t in session.scalars(select(Translation))]
        assert len(confidences) == 2 and all(c < 1 for c in confidences)
        english = session.scalars(select(Item).where(Item.guid == "e1")).one()
        scores = {s.item_id: s.score for s in session.scalars(select(EntityScore))}
        assert len(scores) == 3
        [day] = session.scalars(select(EntityDay).where(EntityDay.entity_id == huaxing.id))
        assert (day.mentions, day.scored) == (3, 1)
        assert day.negative + day.neutral + day.positive == 1
        assert abs(day.mean_score - scores[english.id]) < 1e-9
    assert_rollups_match(entity_db, min_confidence=1.0)
    shown = json.loads(run("entities", "show", "Huaxing", "--days", "3650", "--json").stdout)
    assert shown["mentions"] == 3 and abs(shown["mean_score"] - scores[english.id]) < 1e-9
    with session_scope(entity_db) as session:  # flagging off: every score counts
        serialize_writers(session, rollups.LOCK)
        rollups.recompute(session, {(huaxing.id, day.day)}, min_confidence=0.0)
    with session_scope(entity_db) as session:
        [day] = session.scalars(select(EntityDay).where(EntityDay.entity_id == huaxing.id))
        assert (day.mentions, day.scored) == (3, 3)
        assert abs(day.mean_score - sum(scores.values()) / 3) < 1e-9
    assert_rollups_match(entity_db, min_confidence=0.0)


def test_rollups_count_the_newest_score_and_drop_days_left_without_mentions(entity_db, tmp_path):
    """A rescore by a newer model replaces the old score in the day's figures; a day whose
    mentions are gone loses its row."""
    from sqlalchemy import delete

    from focusdig.database import serialize_writers
    from focusdig.entities import rollups
    from focusdig.schema import ModelVersion

    ingest_file(tmp_path, "first.xml", FIRST)
    run("score")
    with session_scope(entity_db) as session:
        kestrel = session.scalars(select(Entity).where(Entity.name == "Kestrel Motors")).one()
        old = session.scalars(
            select(EntityScore).where(EntityScore.entity_id == kestrel.id).order_by(EntityScore.id)
        ).all()
        assert len(old) == 2  # a1 and a2, both on DAY1
        newer = ModelVersion(kind="classifier", version="clf-newer", artifact_path="-")
        session.add(newer)
        session.flush()
        flipped = "negative" if old[0].label == "positive" else "positive"
        session.add(
            EntityScore(
                item_id=old[0].item_id,
                entity_id=kestrel.id,
                model_version_id=newer.id,
                method="sentence",
                label=flipped,
                score=-0.75 if flipped == "negative" else 0.75,
                prob_negative=0.8 if flipped == "negative" else 0.05,
                prob_neutral=0.15,
                prob_positive=0.05 if flipped == "negative" else 0.8,
                top_tokens=[],
            )
        )
        session.flush()
        item = session.get(Item, old[0].item_id)
        day = item_day(item.published_at, item.fetched_at)
        serialize_writers(session, rollups.LOCK)
        rollups.recompute(session, {(kestrel.id, day)})
    with session_scope(entity_db) as session:
        [row] = session.scalars(select(EntityDay).where(EntityDay.entity_id == kestrel.id))
        assert (row.mentions, row.scored) == (2, 2)
        expected = ((-0.75 if flipped == "negative" else 0.75) + old[1].score) / 2
        assert abs(row.mean_score - expected) < 1e-9
        assert getattr(row, flipped) == 1 + (old[1].label == flipped)
    assert_rollups_match(entity_db)
    with session_scope(entity_db) as session:
        session.execute(delete(EntityMention).where(EntityMention.entity_id == kestrel.id))
        serialize_writers(session, rollups.LOCK)
        assert rollups.recompute(session, {(kestrel.id, day)}) == 0
    with session_scope(entity_db) as session:
        assert not session.scalars(select(EntityDay).where(EntityDay.entity_id == kestrel.id)).all()
    assert_rollups_match(entity_db)


def test_foreign_items_match_source_language_aliases(entity_db, tmp_path):
    feed = tmp_path / "zh.xml"
    feed.write_text(
        rss([("z1", DAY1, "华星公司利润大幅增长", "公司股价上涨了百分之十。")]), encoding="utf-8"
    )
    run("sources", "add", str(feed), "--name", "zh", "--language", "zh")
    run("ingest")
    run("score")
    with session_scope(entity_db) as session:
        translation = session.scalars(select(Translation)).one()
        [mention] = session.scalars(select(EntityMention)).all()
        assert mention.in_source and mention.matched == "华星公司"
        assert translation.source_text[mention.start : mention.end] == "华星公司"
        [score] = session.scalars(select(EntityScore)).all()
        assert score.method == "sentence"
        assert all(translation.text[t["start"] : t["end"]] == t["word"] for t in score.top_tokens)
    assert (
        json.loads(run("entities", "show", "华星", "--days", "3650", "--json").stdout)["mentions"]
        == 1
    )
