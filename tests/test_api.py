"""The HTTP API and the dashboard pages through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
from conftest import HOSTILE_TITLE, RECENT_ENTITY
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from test_cli import run

from focusdig.api import create_app
from focusdig.api.auth import annotator_for, parse_tokens
from focusdig.api.charts import daily_chart
from focusdig.api.highlight import Span, highlight
from focusdig.api.routers.pages import CHARTED_ENTITIES
from focusdig.database import get_engine, session_scope
from focusdig.entities.watchlist import add_entity
from focusdig.queries import ENTITY_SORTS, DayPoint, ItemFilter, list_items
from focusdig.schema import (
    Entity,
    EntityDay,
    EntityMention,
    EntityScore,
    Item,
    Label,
    Score,
    Translation,
)
from focusdig.scoring import item_text
from focusdig.settings import Settings
from focusdig.translation import is_low_confidence


def client_for(monkeypatch, token: str | None = None) -> TestClient:
    if token is None:
        monkeypatch.delenv("FOCUSDIG_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("FOCUSDIG_API_TOKEN", token)
    return TestClient(create_app(Settings.from_env()))


def all_items(client: TestClient, **params) -> list[dict]:
    body = client.get("/api/items", params={"limit": 500, **params}).json()
    assert len(body["items"]) == body["total"] and body["total_exact"]
    return body["items"]


def test_health_items_sources_models(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["champions"] == {"classifier": "clf-test-1", "translator": "mt-test-1"}
    assert health["writes_enabled"] is False

    with session_scope(shared_scored_db) as session:
        stored = session.scalar(select(func.count()).select_from(Item))
        translated = set(session.scalars(select(Translation.item_id)))
    items = all_items(client)
    assert len(items) == stored == 57
    times = [i["published_at"] or i["fetched_at"] for i in items]
    assert times == sorted(times, reverse=True)  # newest first
    assert items[0]["title"] == HOSTILE_TITLE  # the newest item: stored as text, unchanged
    assert all("entities" in i for i in items)
    for item in items:
        assert item["label"] in ("negative", "neutral", "positive")
        assert abs(sum(item["probs"].values()) - 1) < 1e-5
        assert item["model_version"] == "clf-test-1" and item["user_label"] is None
        assert 1 <= len(item["top_tokens"]) <= 5
        scored_text = item["translated_text"] or (
            item["text"] if item["kind"] == "comments" else f"{item['title']}\n\n{item['text']}"
        )
        for t in item["top_tokens"]:
            assert scored_text[t["start"] : t["end"]] == t["word"]
        assert (item["translated_text"] is not None) == (item["id"] in translated)
    foreign = [i for i in items if i["translated_text"]]
    assert {i["language"] for i in foreign} == {"zh", "fr", "de"}
    assert any(t["source_word"] for i in foreign for t in i["top_tokens"])

    one = client.get(f"/api/items/{items[3]['id']}")
    assert one.status_code == 200 and one.json() == items[3]
    assert client.get("/api/items/999999").status_code == 404

    sources = {s["name"]: s for s in client.get("/api/sources").json()}
    assert sources["sample-zh-news"]["last_status"] and sources["recent"]["enabled"] is False
    models = client.get("/api/models").json()
    assert [(m["kind"], m["version"], m["status"]) for m in models] == [
        ("classifier", "clf-test-1", "champion"),
        ("translator", "mt-test-1", "champion"),
    ]
    assert all("artifact_path" not in m for m in models)
    assert {m["backend"] for m in models} == {"focusdig"}
    assert models[0]["languages"] is None and models[1]["languages"] == ["de", "fr", "zh"]


def test_item_filters_combine_and_paginate(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    everything = all_items(client)
    for params, keep in [
        ({"source": "sample-en-markets"}, lambda i: i["source"] == "sample-en-markets"),
        ({"language": "zh"}, lambda i: i["language"] == "zh"),
        ({"label": "negative"}, lambda i: i["label"] == "negative"),
        ({"q": "BANK"}, lambda i: "bank" in (i["title"] + i["text"]).lower()),
        ({"q": "%"}, lambda i: "%" in i["title"] + i["text"]),  # a literal %, not a wildcard
        ({"q": "_"}, lambda i: "_" in i["title"] + i["text"]),
        ({"q": "DIE Börse"}, lambda i: "die börse" in (i["title"] + i["text"]).lower()),
        ({"q": "st"}, lambda i: "st" in (i["title"] + i["text"]).lower()),  # under a trigram
        (
            {"source": "sample-en-comments", "label": "positive", "q": "the"},
            lambda i: (
                i["source"] == "sample-en-comments"
                and i["label"] == "positive"
                and "the" in (i["title"] + i["text"]).lower()
            ),
        ),
        ({"source": "no-such-source"}, lambda i: False),
    ]:
        expected = [i["id"] for i in everything if keep(i)]
        assert [i["id"] for i in all_items(client, **params)] == expected, params
    assert 0 < len(all_items(client, q="%")) < len(everything)
    assert all_items(client, q="DIE Börse")  # in the German sample
    chinese = next(i for i in everything if i["language"] == "zh")["title"][:3]
    expected = [i["id"] for i in everything if chinese in i["title"] + i["text"]]
    assert expected and [i["id"] for i in all_items(client, q=chinese)] == expected

    cut = datetime(2026, 11, 24, tzinfo=UTC)
    time_of = lambda i: datetime.fromisoformat(i["published_at"] or i["fetched_at"])  # noqa: E731
    since = all_items(client, since="2026-11-24T00:00:00Z")
    assert since and all(time_of(i) >= cut for i in since)
    until = all_items(client, until="2026-11-24", language="en")  # naive dates are UTC
    assert until and all(time_of(i) < cut and i["language"] == "en" for i in until)

    pages = [client.get("/api/items", params={"limit": 10, "offset": o}).json() for o in (0, 10)]
    assert [i["id"] for p in pages for i in p["items"]] == [i["id"] for i in everything[:20]]
    assert pages[1]["total"] == len(everything) and pages[1]["offset"] == 10

    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"label": "great"}, {"since": "x"}):
        assert client.get("/api/items", params=bad).status_code == 422, bad


def test_total_is_capped_and_says_so(shared_scored_db):
    with session_scope(shared_scored_db) as session:
        every = list_items(session, limit=None).items
        label, n = Counter(i["label"] for i in every).most_common(1)[0]
        capped = list_items(session, ItemFilter(label=label), limit=2, count_cap=n - 1)
        exact = list_items(session, ItemFilter(label=label), limit=2, count_cap=n)
        whole = list_items(session, limit=2, count_cap=len(every) - 1)
    assert n > 2 and (len(capped.items), capped.total, capped.total_exact) == (2, n - 1, False)
    assert (len(exact.items), exact.total, exact.total_exact) == (2, n, True)
    assert (whole.total, whole.total_exact) == (len(every) - 1, False)


def test_writes_refused_without_a_configured_token(database_url, monkeypatch):
    client = client_for(monkeypatch)
    response = client.post("/api/labels", json={"item_id": 1, "label": "negative"})
    assert response.status_code == 403 and "FOCUSDIG_API_TOKEN" in response.json()["detail"]
    page = client.get("/label")
    assert page.status_code == 200 and "FOCUSDIG_API_TOKEN" in page.text


def test_label_posting_needs_the_token_and_validates_the_body(scored_db, monkeypatch):
    client = client_for(monkeypatch, "alice:s3cret-token, plain-token")
    item_id = all_items(client)[5]["id"]
    good = {"item_id": item_id, "label": "negative"}
    assert client.post("/api/labels", json=good).status_code == 401
    for header in ("Bearer wrong", "Bearer s3cret-token", "Basic alice:s3cret-token", "alice"):
        response = client.post("/api/labels", json=good, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"] == "Bearer"
    alice = {"Authorization": "Bearer alice:s3cret-token"}
    for body in (
        {"item_id": item_id, "label": "great"},
        {"item_id": 0, "label": "negative"},
        {"item_id": "one", "label": "negative"},
        {"label": "negative"},
        {**good, "extra": 1},
    ):
        assert client.post("/api/labels", json=body, headers=alice).status_code == 422, body
    assert client.post("/api/labels", content=b"{", headers=alice).status_code == 422
    unknown = {"item_id": 999999, "label": "neutral"}
    assert client.post("/api/labels", json=unknown, headers=alice).status_code == 404

    created = client.post("/api/labels", json=good, headers=alice)
    assert created.status_code == 201
    assert created.json() == {**good, "annotator": "alice", "stored": True}
    again = client.post("/api/labels", json=good, headers=alice)
    assert again.status_code == 200 and again.json()["stored"] is False
    plain = {"Authorization": "Bearer plain-token"}
    changed = client.post("/api/labels", json={**good, "label": "positive"}, headers=plain)
    assert changed.status_code == 201 and changed.json()["annotator"] == "api"

    with session_scope(scored_db) as session:
        rows = session.scalars(select(Label).where(Label.item_id == item_id).order_by(Label.id))
        assert [(r.label, r.annotator, r.origin) for r in rows] == [
            ("negative", "alice", "api"),
            ("positive", "api", "api"),
        ]
    assert client.get(f"/api/items/{item_id}").json()["user_label"] == "positive"
    assert item_id not in {e["item_id"] for e in client.get("/api/label-queue?n=200").json()}


def test_label_queue_shows_the_scored_text(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    queue = client.get("/api/label-queue", params={"n": 200, "strategy": "entropy"}).json()
    assert queue and len({e["item_id"] for e in queue}) == len(queue)
    translated = [e for e in queue if e["source_text"]]
    assert translated
    for entry in queue:
        for t in entry["top_tokens"]:
            assert entry["text"][t["start"] : t["end"]] == t["word"]
    assert client.get("/api/label-queue", params={"strategy": "best"}).status_code == 422


def test_token_parsing_and_constant_time_match():
    tokens = parse_tokens(" alice:one , ,two,:three")
    assert [(t.annotator, t.token) for t in tokens] == [
        ("alice", "alice:one"),
        ("api", "two"),
        ("api", ":three"),
    ]
    assert annotator_for(tokens, "alice:one") == "alice"
    assert annotator_for(tokens, "two") == "api"
    assert annotator_for(tokens, "one") is None and annotator_for(tokens, "") is None
    assert parse_tokens(None) == [] and parse_tokens(" , ") == []


def test_pages_render_and_escape_feed_text(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    hostile = all_items(client, source="recent")[0]
    assert hostile["title"] == HOSTILE_TITLE
    for path in ("/", "/items", "/items?source=recent", f"/items/{hostile['id']}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<img src=x" not in page.text and "<script>alert" not in page.text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text, path
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    overview = client.get("/").text
    source_part = overview.split('<div class="charts">')[1].split("</div>")[0]
    assert source_part.count('<svg class="chart"') == 7  # six sample sources and "recent"
    assert "<polyline" in overview and '<rect class="bar"' in overview
    zh = all_items(client, language="zh")[0]
    item_page = client.get(f"/items/{zh['id']}").text
    assert 'id="src-1"' in item_page and 'href="#src-1"' in item_page  # aligned words linked
    assert client.get("/items/999999").status_code == 404
    models = client.get("/models").text
    assert "clf-test-1" in models and "mt-test-1" in models and "current champion" in models


def test_the_explanation_is_shown_next_to_the_words(scored_db, monkeypatch):
    """Each score's and entity score's explanation (flow, the default model's default) in the
    JSON, a small label on the pages; null and no label for rows stored before it was kept."""
    client = client_for(monkeypatch)
    items = all_items(client)
    assert {i["explanation"] for i in items} == {"flow"}
    named = [e for i in items for e in i["entities"]]
    assert named and {e["explanation"] for e in named} == {"flow"}
    queue = client.get("/api/label-queue", params={"n": 5}).json()
    assert queue and {e["explanation"] for e in queue} == {"flow"}
    hostile = all_items(client, source="recent")[0]  # scored, mentions RECENT_ENTITY
    assert "explanation: flow</small></h2>" in client.get(f"/items/{hostile['id']}").text
    assert "explanation: flow" in client.get(f"/entities/{quote(RECENT_ENTITY)}").text
    with session_scope(scored_db) as session:  # as stored before the method was recorded
        session.execute(update(Score).values(explanation=None))
        session.execute(update(EntityScore).values(explanation=None))
    old = client.get(f"/api/items/{hostile['id']}").json()
    assert old["top_tokens"] and old["explanation"] is None
    assert old["entities"][0]["top_tokens"] and old["entities"][0]["explanation"] is None
    assert "explanation:" not in client.get(f"/items/{hostile['id']}").text
    assert "explanation:" not in client.get(f"/entities/{quote(RECENT_ENTITY)}").text


def test_docs_are_served_offline(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "http" not in docs.text.split("<body>")[1].lower()
    assert "'sha256-" in docs.headers["Content-Security-Policy"]
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {
        "/api/items",
        "/api/items/{item_id}",
        "/api/labels",
        "/api/label-queue",
        "/api/entities",
        "/api/entities/{name}",
    } <= set(schema["paths"])


def test_items_command_shows_label_score_and_top_words(shared_scored_db):
    import json

    rows = json.loads(run("items", "--limit", "500", "--json").stdout)
    assert len(rows) == 57 and all(r["label"] and r["top_tokens"] for r in rows)
    table = run("items", "--limit", "3").stdout
    assert "label" in table and "top words" in table and rows[1]["label"] in table


def test_highlight_segments():
    text = "Profit rose, shares rose."
    spans = [Span(0, 6, 0.5, 1), Span(7, 11, 0.1, 2), Span(3, 9, 0.05, 3), Span(20, 99, 1, 4)]
    segments = highlight(text, spans)
    assert "".join(s.text for s in segments) == text
    marked = [(s.text, s.level, s.links) for s in segments if s.level]
    assert marked == [("Profit", 5, (1,)), ("rose", 1, (2,))]  # overlap and overflow dropped
    merged = highlight("股价下跌", [Span(2, 4, 0.2, 1), Span(2, 4, 0.4, 3)])
    assert [(s.text, s.links) for s in merged] == [("股价", ()), ("下跌", (1, 3))]


def test_daily_chart_breaks_the_line_on_days_without_scores():
    first = date(2026, 11, 1)
    points = [
        DayPoint(first, 2, 0.5, 0, 1, 1),
        DayPoint(first + timedelta(days=1), 4, -0.5, 2, 0, 0),
        DayPoint(first + timedelta(days=3), 1, None, 0, 0, 0),
        DayPoint(first + timedelta(days=4), 1, 0.0, 0, 1, 0),
    ]
    chart = daily_chart(points, first, first + timedelta(days=4))
    assert len(chart.bars) == 4 and chart.busiest == 4
    assert len(chart.lines) == 1 and len(chart.lines[0].split()) == 2  # day 4 stands alone
    assert [d.sign for d in chart.dots] == ["positive", "negative", "neutral"]
    top, zero, bottom = (y for y, _ in chart.score_ticks)
    assert chart.dots[0].y == (top + zero) / 2 and chart.dots[1].y == (zero + bottom) / 2
    wide = daily_chart(points, first, first + timedelta(days=4), 760, 220)
    assert (wide.width, wide.height, wide.right, wide.bottom) == (760, 220, 730, 198)
    assert all(wide.left <= d.x <= wide.right and wide.top <= d.y <= wide.bottom for d in wide.dots)
    assert wide.bars[-1].x + wide.bars[-1].width <= wide.right and wide.bars[0].x >= wide.left


@pytest.mark.parametrize("days", [1, 366])
def test_overview_days_bounds(database_url, monkeypatch, days):
    assert client_for(monkeypatch).get("/", params={"days": days}).status_code == 422


def test_low_confidence_translations_are_flagged_everywhere(
    shared_scored_db, monkeypatch, tmp_path
):
    import pandas as pd

    from focusdig.translation import low_confidence_item, trusted_item

    monkeypatch.setenv("FOCUSDIG_MIN_TRANSLATION_CONFIDENCE", "0.5")
    items = all_items(client_for(monkeypatch))
    translated = [i for i in items if i["translated_text"] is not None]
    assert translated and all(0.0 <= i["translation_confidence"] <= 1.0 for i in translated)
    for item in items:
        expected = item["translated_text"] is not None and item["translation_confidence"] < 0.5
        assert item["translation_flagged"] is expected
    flagged = {i["id"] for i in items if i["translation_flagged"]}
    assert flagged  # the random tiny translator is never sure of itself
    monkeypatch.setenv("FOCUSDIG_MIN_TRANSLATION_CONFIDENCE", "0")
    assert not any(i["translation_flagged"] for i in all_items(client_for(monkeypatch)))

    with session_scope(shared_scored_db) as session:
        low = set(session.scalars(select(Item.id).where(low_confidence_item(0.5))))
        trusted = set(session.scalars(select(Item.id).where(trusted_item(0.5))))
    assert low == flagged and trusted == {i["id"] for i in items} - flagged

    monkeypatch.setenv("FOCUSDIG_MIN_TRANSLATION_CONFIDENCE", "0.5")
    client = client_for(monkeypatch)
    one = next(i for i in items if i["id"] in flagged)
    page = client.get(f"/items/{one['id']}").text
    assert "Low-confidence translation" in page and "chip-flag" in page
    assert "chip-flag" in client.get("/items").text
    unflagged = next(i for i in items if i["translated_text"] is None)
    assert "chip-flag" not in client.get(f"/items/{unflagged['id']}").text

    out = tmp_path / "items.csv"
    run("export", "--format", "csv", "--out", str(out))
    frame = pd.read_csv(out).set_index("item_id")
    for item in items:
        row = frame.loc[item["id"]]
        assert bool(row["translation_flagged"]) is item["translation_flagged"]
        if item["translation_confidence"] is None:
            assert pd.isna(row["translation_confidence"])
        else:
            assert row["translation_confidence"] == pytest.approx(item["translation_confidence"])


def test_translation_confidence_threshold_setting():
    from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE
    from focusdig.translation import is_low_confidence

    assert Settings.from_env({}).min_translation_confidence == DEFAULT_MIN_TRANSLATION_CONFIDENCE
    env = {"FOCUSDIG_MIN_TRANSLATION_CONFIDENCE": "0.6"}
    assert Settings.from_env(env).min_translation_confidence == 0.6
    for bad in ("1.5", "-0.1", "high", "nan"):
        with pytest.raises(ValueError, match="FOCUSDIG_MIN_TRANSLATION_CONFIDENCE"):
            Settings.from_env({"FOCUSDIG_MIN_TRANSLATION_CONFIDENCE": bad})
    assert is_low_confidence(0.2, 0.32) and not is_low_confidence(0.32, 0.32)
    assert not is_low_confidence(None, 0.32)  # unknown confidence: not flagged


def test_translation_beam_setting():
    from focusdig.settings import DEFAULT_TRANSLATION_BEAM

    assert Settings.from_env({}).translation_beam == DEFAULT_TRANSLATION_BEAM == 1
    assert Settings.from_env({"FOCUSDIG_TRANSLATION_BEAM": "4"}).translation_beam == 4
    for bad in ("0", "17", "2.5", "wide", "-1"):
        with pytest.raises(ValueError, match="FOCUSDIG_TRANSLATION_BEAM"):
            Settings.from_env({"FOCUSDIG_TRANSLATION_BEAM": bad})


def test_explanation_setting():
    assert Settings.from_env({}).explanation is None  # the model's own default
    assert Settings.from_env({"FOCUSDIG_EXPLANATION": ""}).explanation is None
    for name in ("flow", "pooling"):
        assert Settings.from_env({"FOCUSDIG_EXPLANATION": name}).explanation == name
    for bad in ("rollout", "cls", "Pooling", "none", "flow,pooling"):
        with pytest.raises(ValueError, match="FOCUSDIG_EXPLANATION must be one of flow, pooling"):
            Settings.from_env({"FOCUSDIG_EXPLANATION": bad})


# ------------------------------------------------------------------ entities


def scored_text(item: dict) -> str:
    if item["translated_text"] is not None:
        return item["translated_text"]
    return item_text(item["kind"], item["title"], item["text"])


def mentions_in_db(engine) -> tuple[dict[str, list[tuple[int, date]]], dict, dict[int, str]]:
    """Recounted from the mention and score rows, not the rollups: per entity name its
    (item id, UTC day) pairs; the newest entity score per (entity name, item id); the original
    text of each translated item."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Entity.name, Item.id, Item.published_at, Item.fetched_at)
            .join(EntityMention, EntityMention.entity_id == Entity.id)
            .join(Item, Item.id == EntityMention.item_id)
            .distinct()
        ).all()
        newest = {}
        for score, name in session.execute(
            select(EntityScore, Entity.name).join(Entity).order_by(EntityScore.id)
        ):
            newest[(name, score.item_id)] = score
        newest = {k: (s.label, s.score, s.method) for k, s in newest.items()}
        originals = dict(
            session.execute(select(Translation.item_id, Translation.source_text)).all()
        )
    per_entity: dict[str, list[tuple[int, date]]] = defaultdict(list)
    for name, item_id, published, fetched in rows:
        moment = published or fetched
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        per_entity[name].append((item_id, moment.astimezone(UTC).date()))
    return per_entity, newest, originals


def test_items_carry_their_entities_and_filter_by_entity(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    everything = all_items(client)
    per_entity, newest, originals = mentions_in_db(shared_scored_db)
    assert len(per_entity) >= 5 and RECENT_ENTITY in per_entity
    for item in everything:
        text = scored_text(item)
        names = [e["name"] for e in item["entities"]]
        assert names == sorted(names, key=str.casefold) and len(set(names)) == len(names)
        for entity in item["entities"]:
            assert entity["mentions"]
            for m in entity["mentions"]:
                where = originals[item["id"]] if m["in_source"] else text
                assert where[m["start"] : m["end"]] == m["matched"]
            label, score, method = newest[(entity["name"], item["id"])]
            assert (entity["label"], entity["score"], entity["method"]) == (label, score, method)
            assert entity["model_version"] == "clf-test-1" and entity["top_tokens"]
            for t in entity["top_tokens"]:
                assert text[t["start"] : t["end"]] == t["word"]
    with session_scope(shared_scored_db) as session:
        tickers = dict(session.execute(select(Entity.name, Entity.ticker)).all())
    for name, pairs in per_entity.items():
        expected = [i["id"] for i in everything if name in {e["name"] for e in i["entities"]}]
        assert sorted(expected) == sorted(item_id for item_id, _ in pairs)
        assert [i["id"] for i in all_items(client, entity=name)] == expected, name
        assert [i["id"] for i in all_items(client, entity=name.upper())] == expected, name
        if tickers[name]:
            assert [i["id"] for i in all_items(client, entity=tickers[name])] == expected
        with monkeypatch.context() as dense:  # the form for entities with many mentions
            dense.setattr("focusdig.queries.DENSE_ENTITY", 0)
            assert [i["id"] for i in all_items(client, entity=name)] == expected, name
    rivage = [i["id"] for i in all_items(client, entity="Banque Rivage")]
    assert rivage and [i["id"] for i in all_items(client, entity="Rivage")] == rivage  # alias
    negative = all_items(client, entity=RECENT_ENTITY, label="negative")
    assert [i["id"] for i in negative] == [
        i["id"]
        for i in all_items(client, entity=RECENT_ENTITY)
        if i["label"] == "negative"  # the item's own label, not the one toward the entity
    ]
    nobody = client.get("/api/items", params={"entity": "Nobody Inc"}).json()
    assert (nobody["items"], nobody["total"], nobody["total_exact"]) == ([], 0, True)
    one = everything[0]
    assert client.get(f"/api/items/{one['id']}").json()["entities"] == one["entities"]


def test_entity_list_sorts_pages_and_matches_the_mentions(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    body = client.get("/api/entities", params={"days": 3650, "limit": 1000}).json()
    listed = body["entities"]
    with session_scope(shared_scored_db) as session:
        watched = session.scalar(select(func.count()).select_from(Entity))
    assert body["total"] == len(listed) == watched and body["sort"] == "-mentions"
    per_entity, newest, _ = mentions_in_db(shared_scored_db)
    with session_scope(shared_scored_db) as session:  # their scores stay out of the rollups
        flagged = {
            item_id
            for item_id, confidence in session.execute(
                select(Translation.item_id, Translation.confidence)
            )
            if is_low_confidence(confidence)
        }
    for entity in listed:
        pairs = per_entity.get(entity["name"], [])
        assert entity["mentions"] == len(pairs), entity["name"]
        scores = [newest[(entity["name"], i)][1] for i, _ in pairs if i not in flagged]
        assert entity["scored"] == len(scores)
        if scores:
            assert entity["mean_score"] == pytest.approx(sum(scores) / len(scores))
        else:
            assert entity["mean_score"] is None
        last = max(day for _, day in pairs).isoformat() if pairs else None
        assert entity["last_mentioned"] == last
    assert [(e["mentions"], e["name"]) for e in listed] == sorted(
        ((e["mentions"], e["name"]) for e in listed), key=lambda p: (-p[0], p[1].casefold())
    )
    names = [e["name"] for e in listed]
    for sort in ENTITY_SORTS:
        got = client.get("/api/entities", params={"days": 3650, "limit": 1000, "sort": sort})
        ordered = got.json()["entities"]
        assert sorted(e["name"] for e in ordered) == sorted(names), sort
        field = sort.lstrip("-")
        values = [e[field] for e in ordered]
        if field == "name":
            values = [v.casefold() for v in values]
        known = [v for v in values if v is not None]
        assert values == known + [None] * (len(values) - len(known)), sort  # missing last
        assert known == sorted(known, reverse=sort.startswith("-")), sort
        page = client.get(
            "/api/entities", params={"days": 3650, "sort": sort, "limit": 4, "offset": 3}
        ).json()
        assert page["entities"] == ordered[3:7] and page["total"] == len(names), sort
    week = client.get("/api/entities", params={"days": 7, "limit": 1000}).json()["entities"]
    first = datetime.now(UTC).date() - timedelta(days=6)
    for entity in week:
        in_week = [d for _, d in per_entity.get(entity["name"], []) if d >= first]
        assert entity["mentions"] == len(in_week), entity["name"]
    for bad in ({"sort": "size"}, {"days": 0}, {"days": 3651}, {"limit": 0}, {"offset": -1}):
        assert client.get("/api/entities", params=bad).status_code == 422, bad


def test_entity_detail_series_and_items(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    listed = client.get("/api/entities", params={"days": 3650}).json()["entities"]
    top = listed[0]
    assert top["mentions"] >= 3
    detail = client.get(
        f"/api/entities/{quote(top['name'])}", params={"days": 3650, "items": 200}
    ).json()
    assert {k: detail[k] for k in top} == top and detail["days"] == 3650
    series = detail["series"]
    assert [d["date"] for d in series] == sorted({d["date"] for d in series})
    assert sum(d["mentions"] for d in series) == top["mentions"]
    assert sum(d["scored"] for d in series) == top["scored"]
    assert all(d["negative"] + d["neutral"] + d["positive"] == d["scored"] for d in series)
    expected = all_items(client, entity=top["name"])
    assert [i["id"] for i in detail["items"]] == [i["id"] for i in expected]
    for item, plain in zip(detail["items"], expected, strict=True):
        score = item.pop("entity_score")
        assert item == plain
        assert score == next(e for e in plain["entities"] if e["name"] == top["name"])
        assert score["method"] == "sentence" and score["label"] in (
            "negative",
            "neutral",
            "positive",
        )
    few = client.get(f"/api/entities/{quote(top['name'])}", params={"items": 2}).json()
    assert [i["id"] for i in few["items"]] == [i["id"] for i in expected[:2]]
    assert client.get(f"/api/entities/{quote(top['name'])}?items=0").json()["items"] == []

    ticker = client.get(f"/api/entities/{top['ticker'].lower()}", params={"days": 3650}).json()
    assert ticker["name"] == top["name"] and ticker["series"] == series
    assert client.get("/api/entities/华星", params={"days": 3650}).json()["name"] == "Huaxing"
    recent = client.get(f"/api/entities/{RECENT_ENTITY}", params={"days": 7}).json()
    today = datetime.now(UTC).date()
    assert recent["mentions"] >= 2 and all(
        date.fromisoformat(d["date"]) >= today - timedelta(days=6) for d in recent["series"]
    )
    missing = client.get("/api/entities/Nobody%20Inc")
    assert missing.status_code == 404
    assert (
        missing.json()["detail"]
        == "no entity 'Nobody Inc' on the watchlist (by name, ticker or alias)"
    )
    for bad in ("days=0", "items=-1", "items=201"):
        assert client.get(f"/api/entities/{RECENT_ENTITY}?{bad}").status_code == 422, bad


def test_entity_figures_and_trend_from_the_rollups(database_url, monkeypatch):
    client = client_for(monkeypatch)
    assert client.get("/api/entities").json() == {
        "entities": [],
        "total": 0,
        "days": 30,
        "sort": "-mentions",
        "limit": 100,
        "offset": 0,
    }
    today = datetime.now(UTC).date()
    with session_scope(get_engine(Settings.from_env())) as session:
        add_entity(session, "Acme/Widgets & Co", "ACME", ["Acme"])
        add_entity(session, "Quiet Corp", "QUIE")
        acme = session.scalar(select(Entity.id).where(Entity.ticker == "ACME"))
        for age, mentions, scored, mean in [
            (0, 2, 2, 0.5),  # recent: the last 7 days
            (3, 2, 1, -0.5),
            (10, 4, 2, -0.25),  # before
            (40, 5, 5, 1.0),  # outside a 30-day window
        ]:
            counts = {"negative": scored, "neutral": 0, "positive": 0}
            session.add(
                EntityDay(
                    entity_id=acme,
                    day=today - timedelta(days=age),
                    mentions=mentions,
                    scored=scored,
                    mean_score=mean,
                    **counts,
                )
            )
    listed = client.get("/api/entities").json()["entities"]
    assert [e["name"] for e in listed] == ["Acme/Widgets & Co", "Quiet Corp"]
    acme_row, quiet = listed
    assert acme_row["mentions"] == 8 and acme_row["scored"] == 5
    assert acme_row["mean_score"] == pytest.approx((1.0 - 0.5 - 0.5) / 5)
    assert acme_row["recent_days"] == 7 and acme_row["recent_mentions"] == 4
    assert acme_row["recent_mean_score"] == pytest.approx(0.5 / 3)
    assert acme_row["trend"] == pytest.approx(0.5 / 3 - (-0.25))
    assert acme_row["last_mentioned"] == today.isoformat()
    assert acme_row["aliases"] == ["Acme"] and acme_row["origin"] == "cli"
    assert (quiet["mentions"], quiet["mean_score"], quiet["trend"]) == (0, None, None)
    by_trend = client.get("/api/entities", params={"sort": "-trend"}).json()["entities"]
    assert [e["name"] for e in by_trend] == ["Acme/Widgets & Co", "Quiet Corp"]  # None last
    one_day = client.get("/api/entities", params={"days": 1}).json()["entities"][0]
    assert (one_day["mentions"], one_day["recent_days"], one_day["trend"]) == (2, 0, None)
    two_days = client.get("/api/entities", params={"days": 2}).json()["entities"][0]
    assert two_days["recent_days"] == 1 and two_days["trend"] is None  # nothing before
    year = client.get("/api/entities", params={"days": 365}).json()["entities"][0]
    assert year["trend"] == pytest.approx(0.5 / 3 - (-0.5 + 5.0) / 7)

    # a name with "/" and "&" is one path segment and one query value, by URL or by page
    path = "/api/entities/" + quote("Acme/Widgets & Co", safe="/")
    detail = client.get(path).json()
    assert detail["name"] == "Acme/Widgets & Co" and len(detail["series"]) == 3
    assert client.get("/api/entities/acme").json()["name"] == "Acme/Widgets & Co"
    page = client.get("/entities/" + quote("Acme/Widgets & Co", safe="/"))
    assert page.status_code == 200 and "Acme/Widgets &amp; Co" in page.text
    assert '<svg class="chart"' in page.text and "No item mentions" in page.text
    assert 'href="/entities/Acme/Widgets%20%26%20Co"' in client.get("/entities").text


def test_entity_pages_render_link_and_escape_feed_text(shared_scored_db, monkeypatch):
    client = client_for(monkeypatch)
    hostile = all_items(client, source="recent")[0]
    assert [e["name"] for e in hostile["entities"]] == [RECENT_ENTITY]
    link = f'href="/entities/{quote(RECENT_ENTITY)}"'
    page = client.get(f"/entities/{quote(RECENT_ENTITY)}")
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "<script>alert" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "script&gt;alert(2)&lt;/script" in page.text  # highlighted words are cut apart
    assert page.text.count('<svg class="chart"') == 1 and "<polyline" in page.text
    assert page.text.count('class="entity-item"') == len(all_items(client, entity=RECENT_ENTITY))
    assert 'class="hl hl-5"' in page.text  # the words that drove the score toward it
    assert f'href="/items/{hostile["id"]}"' in page.text
    assert client.get("/entities/Nobody%20Inc").status_code == 404
    assert client.get(f"/entities/{quote(RECENT_ENTITY)}?days=1").status_code == 422

    listing = client.get("/entities", params={"days": 3650, "sort": "name"})
    assert listing.status_code == 200 and link in listing.text
    assert client.get("/entities", params={"sort": "size"}).status_code == 422

    item_page = client.get(f"/items/{hostile['id']}").text
    assert link in item_page and "sentence" in item_page
    assert link in client.get("/items").text  # entity chips on item rows
    filtered = client.get("/items", params={"entity": RECENT_ENTITY}).text
    assert filtered.count('class="item-row"') == len(all_items(client, entity=RECENT_ENTITY))

    overview = client.get("/").text
    month = client.get("/api/entities", params={"days": 30}).json()["entities"]
    charted = min(CHARTED_ENTITIES, sum(1 for e in month if e["mentions"]))
    assert charted >= 1 and link in overview
    entity_part = overview.split('class="charts entity-charts"')[1].split("</div>")[0]
    assert entity_part.count('<svg class="chart"') == charted
