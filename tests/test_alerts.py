"""Alerts: the detector on synthetic series, and detection, storage and webhook delivery on
SQLite and PostgreSQL with histories dated relative to now and a receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, insert, select

from focusdig.alerts.deliver import (
    SIGNATURE_HEADER,
    WebhookRefused,
    alert_text,
    check_webhook_url,
    send_test,
    verify_signature,
)
from focusdig.alerts.detect import (
    SENTIMENT_SHIFT,
    VOLUME_SPIKE,
    Bin,
    Thresholds,
    detect,
    sentiment_shift,
    volume_spike,
    window_end,
    window_series,
)
from focusdig.alerts.run import run_alerts
from focusdig.alerts.store import (
    find_candidates,
    insert_alert,
    list_alerts,
    record_alerts,
    source_histories,
)
from focusdig.database import get_engine, serialize_writers, session_scope
from focusdig.schema import Alert, AlertDelivery, Item, ModelVersion, Score, ScoreToken, Source
from focusdig.settings import Settings

# the last whole hour, where check windows end: histories end before the real now
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SECRET = "s3cret-for-tests"


# ----------------------------------------------------------------------------- the detector


def calm_events(rng: random.Random, days: int, per_day: int, mean=0.2, spread=0.3):
    """``per_day`` scores a day for ``days`` days before NOW (the last 24 hours included)."""
    return [
        (NOW - timedelta(days=day, hours=rng.uniform(0, 24)), rng.gauss(mean, spread))
        for day in range(days)
        for _ in range(per_day)
    ]


def recent(rng: random.Random, n: int, mean: float, spread=0.3):
    return [(NOW - timedelta(hours=rng.uniform(0, 20)), rng.gauss(mean, spread)) for _ in range(n)]


def test_window_series_cuts_window_and_whole_baseline_days():
    t = Thresholds()
    events = [
        (NOW - timedelta(hours=1), 0.5),
        (NOW - timedelta(hours=23, minutes=59), None),  # in the window, unscored
        (NOW - timedelta(hours=24, minutes=1), -0.5),  # newest baseline day
        (NOW - timedelta(days=15) + timedelta(minutes=1), 1.0),  # oldest baseline day
        (NOW - timedelta(days=15, minutes=1), 1.0),  # before the baseline: ignored
        (NOW, 1.0),  # not before now: ignored
    ]
    series = window_series(events, NOW, t, first_seen=NOW - timedelta(days=100))
    assert series.window == Bin(2, 1, 0.5, 0.25)
    assert len(series.baseline) == 14
    assert series.baseline[-1] == Bin(1, 1, -0.5, 0.25) and series.baseline[0].items == 1
    assert series.baseline_start == NOW - timedelta(days=15)
    # a subject first seen 3.5 days before the window: only its 3 whole days count
    young = window_series(events, NOW, t, first_seen=NOW - timedelta(days=4, hours=12))
    assert len(young.baseline) == 3
    # first_seen defaults to the earliest event
    assert len(window_series(events[:3], NOW, t).baseline) == 0
    assert window_end(NOW + timedelta(minutes=59, seconds=59)) == NOW  # one look an hour


def test_a_shift_is_found_and_calm_or_thin_data_is_not():
    rng = random.Random(1)
    t = Thresholds()
    history = calm_events(rng, 30, 20)
    calm = window_series(history, NOW, t)
    assert detect(calm, t) == []
    shifted = window_series(history + recent(rng, 15, -0.6), NOW, t)
    found = sentiment_shift(shifted, t)
    assert found is not None and found.kind == SENTIMENT_SHIFT
    assert found.direction == "negative" and found.z <= -t.z
    assert found.current_count == 15 + sum(1 for at, _ in history if at >= NOW - t.window)
    up = sentiment_shift(window_series(history + recent(rng, 40, 0.9), NOW, t), t)
    assert up is not None and up.direction == "positive"
    # too little data: 4 scored items in the window, or a 5-day history, or 9 baseline items
    few = [e for e in history if e[0] < NOW - t.window] + recent(rng, 4, -0.9)
    assert sentiment_shift(window_series(few, NOW, t), t) is None
    short = calm_events(rng, 5, 20) + recent(rng, 15, -0.9)
    assert detect(window_series(short, NOW, t), t) == []
    thin = [(NOW - timedelta(days=d, hours=2), 0.2) for d in range(2, 11)] + recent(rng, 9, -0.9)
    assert sentiment_shift(window_series(thin, NOW, t), t) is None
    # the threshold decides, and min_change keeps a tiny significant drift quiet
    assert sentiment_shift(shifted, Thresholds(z=abs(found.z) + 0.1)) is None
    busy = calm_events(rng, 20, 400, spread=0.05) + recent(rng, 400, 0.17, spread=0.05)
    assert abs(sentiment_shift(window_series(busy, NOW, t), Thresholds(min_change=0)).z) > 4
    assert sentiment_shift(window_series(busy, NOW, t), t) is None


def test_day_to_day_wander_widens_the_standard_error():
    """Days whose means wander (a shared theme per day) must not make an ordinary day alert."""
    rng = random.Random(2)
    t = Thresholds()
    events = []
    for day in range(1, 15):
        theme = 0.3 * (-1) ** day  # alternate days at +0.3 and -0.3
        events += [(NOW - timedelta(days=day, hours=rng.uniform(0, 24)), theme) for _ in range(30)]
    window = [(NOW - timedelta(hours=rng.uniform(0, 24)), -0.3) for _ in range(30)]
    series = window_series(events + window, NOW, t)
    assert sentiment_shift(series, t) is None  # one more -0.3 day: nothing new
    assert sentiment_shift(series, Thresholds(min_change=0, z=0.1)).z > -2


def test_volume_spike_needs_history_and_a_minimum_count():
    t = Thresholds()
    days = [(NOW - timedelta(days=d, hours=h), 0.1) for d in range(1, 15) for h in (3, 9, 15)]
    assert volume_spike(window_series(days, NOW, t), t) is None
    spike = [(NOW - timedelta(hours=h / 2), 0.1) for h in range(1, 31)]
    found = volume_spike(window_series(days + spike, NOW, t), t)
    assert found is not None and (found.kind, found.direction) == (VOLUME_SPIKE, "up")
    assert found.current_count == 30 and found.baseline_mean == pytest.approx(3.0)
    assert volume_spike(window_series(days + spike[:9], NOW, t), t) is None  # < min_volume
    # a new subject: all of its items in the window is not a spike
    assert volume_spike(window_series(spike, NOW, t), t) is None


def test_thresholds_refuse_nonsense():
    for bad in ({"z": 0}, {"baseline_days": 0}, {"min_baseline_days": 1}, {"window_hours": 0}):
        with pytest.raises(ValueError):
            Thresholds(**bad)
    with pytest.raises(ValueError, match="FOCUSDIG_ALERT_Z"):
        Settings.from_env({"FOCUSDIG_ALERT_Z": "high"})
    assert Settings.from_env({"FOCUSDIG_ALERT_Z": "2.5"}).alert_thresholds.z == 2.5


# ----------------------------------------------------------------------------- in a database


def add_history(
    engine, name: str, events: list[tuple[datetime, float]], title="Item", enabled=True
) -> None:
    """A source with one scored item per event (published at its time, two top words)."""
    with session_scope(engine) as session:
        model_id = session.scalar(select(ModelVersion.id).where(ModelVersion.version == "sim"))
        if model_id is None:
            model = ModelVersion(
                kind="classifier", version="sim", artifact_path="-", status="retired"
            )
            session.add(model)
            session.flush()
            model_id = model.id
        source = Source(name=name, url=f"https://{name}.example/feed", enabled=enabled)
        session.add(source)
        session.flush()
        item_ids = session.scalars(
            insert(Item).returning(Item.id, sort_by_parameter_order=True),
            [
                {
                    "source_id": source.id,
                    "guid": f"{n}",
                    "title": f"{title} {n}",
                    "content_hash": hashlib.sha256(f"{name}-{n}".encode()).hexdigest(),
                    "published_at": at,
                }
                for n, (at, _) in enumerate(events)
            ],
        ).all()
        scores = [max(-1.0, min(1.0, score)) for _, score in events]
        score_ids = session.scalars(
            insert(Score).returning(Score.id, sort_by_parameter_order=True),
            [
                {
                    "item_id": item_id,
                    "model_version_id": model_id,
                    "label": "negative" if s < -0.3 else "positive" if s > 0.3 else "neutral",
                    "score": s,
                    "prob_negative": 0.2,
                    "prob_neutral": 0.6,
                    "prob_positive": 0.2,
                    "explanation": "flow",
                }
                for item_id, s in zip(item_ids, scores, strict=True)
            ],
        ).all()
        words = (("profit", 0.6, 0, 6), ("warning", 0.3, 7, 14))
        session.execute(
            insert(ScoreToken),
            [
                {"score_id": i, "rank": r, "word": w, "weight": g, "start": a, "end": b}
                for i in score_ids
                for r, (w, g, a, b) in enumerate(words)
            ],
        )


def shifted_history(seed: int, n_shift: int = 15) -> list[tuple[datetime, float]]:
    rng = random.Random(seed)
    history = [e for e in calm_events(rng, 30, 12) if e[0] < NOW - timedelta(hours=24)]
    return history + recent(rng, n_shift, -0.6)


class Receiver:
    """A webhook receiver on 127.0.0.1 answering ``status``; records each POST."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.delay = 0.0  # seconds before answering
        self.posts: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.posts.append((dict(self.headers), body))
                time.sleep(owner.delay)
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ok_posts(self) -> list[tuple[dict[str, str], bytes]]:
        return self.posts if self.status == 200 else []

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    server = Receiver()
    monkeypatch.setenv("FOCUSDIG_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("FOCUSDIG_ALERT_WEBHOOK", server.url)
    monkeypatch.setenv("FOCUSDIG_ALERT_SECRET", SECRET)
    monkeypatch.setenv("FOCUSDIG_ALERT_RETRIES", "1")
    monkeypatch.setenv("FOCUSDIG_ALERT_BACKOFF", "0")
    monkeypatch.setenv("FOCUSDIG_ALERT_TIMEOUT", "5")
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_one_shift_makes_exactly_one_alert_delivered_once(database_url, receiver):
    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "shaky", shifted_history(3))
    add_history(engine, "calm", [e for e in calm_events(random.Random(4), 40, 12)])

    report = run_alerts(engine, settings, now=NOW)
    assert report.checked == 2
    [alert] = report.new
    assert (alert["subject_kind"], alert["subject"], alert["source"], alert["entity"]) == (
        "source",
        "shaky",
        "shaky",
        None,
    )
    assert (alert["kind"], alert["direction"]) == ("sentiment_shift", "negative")
    assert alert["z"] <= -settings.alert_thresholds.z
    assert alert["current_mean"] < alert["baseline_mean"] - 0.3
    assert alert["window_end"] == NOW and alert["window_start"] == NOW - timedelta(hours=24)
    assert 1 <= len(alert["items"]) <= 5
    scores = [i["score"] for i in alert["items"]]
    assert scores == sorted(scores) and scores[0] < -0.3  # the most negative first
    assert alert["items"][0]["top_words"][0] == {"word": "profit", "weight": 0.6}
    assert alert["items"][0]["explanation"] == "flow"  # how those words were weighted
    assert alert["delivered_at"] is not None and report.delivery.delivered == 1

    [(headers, body)] = receiver.posts
    sent = json.loads(body)
    assert sent["schema"] == "focusdig.alert/1" and sent["id"] == alert["id"]
    assert sent["subject"] == "shaky" and sent["kind"] == "sentiment_shift"
    assert sent["text"].startswith("focusdig: negative sentiment shift for source shaky")
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert headers["X-Focusdig-Delivery"].startswith(f"{alert['id']}-")

    # a rerun, and a run an hour later over the same event: nothing new, nothing sent
    assert run_alerts(engine, settings, now=NOW).new == []
    assert run_alerts(engine, settings, now=NOW + timedelta(hours=1)).new == []
    assert len(receiver.posts) == 1
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        [listed] = list_alerts(session)
        assert listed["id"] == alert["id"] and listed["delivered_at"] is not None


def test_calm_history_never_alerts_even_on_the_first_run(database_url, receiver):
    settings = Settings.from_env()
    engine = get_engine(settings)
    rng = random.Random(5)
    add_history(engine, "steady", calm_events(rng, 365, 6))  # a year, checked for the first time
    add_history(engine, "bursty", calm_events(rng, 45, 25, mean=-0.1, spread=0.5))
    add_history(engine, "new", recent(rng, 40, -0.9))  # every item in the window: too new
    young = [e for e in calm_events(rng, 4, 10) if e[0] < NOW - timedelta(hours=24)]
    add_history(engine, "young", young + recent(rng, 30, -0.9))  # 3 days of history: too little
    report = run_alerts(engine, settings, now=NOW)
    assert report.checked == 4 and report.new == []
    assert receiver.posts == []


def test_receiver_down_keeps_it_pending_then_delivers_once(database_url, receiver, monkeypatch):
    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "shaky", shifted_history(6))

    receiver.status = 500
    first = run_alerts(engine, settings, now=NOW)
    assert len(first.new) == 1 and first.new[0]["delivered_at"] is None
    assert first.delivery.failed == 1 and first.delivery.pending == 1
    assert len(receiver.posts) == 2  # one try and one retry
    assert "HTTP 500" in first.delivery.errors[f"http://127.0.0.1:{receiver.server.server_port}"]

    monkeypatch.setenv("FOCUSDIG_ALERT_WEBHOOK", closed_port_url())  # nobody listening
    down = Settings.from_env()
    with session_scope(engine) as session:  # a webhook added later: only new alerts go to it
        assert session.scalar(select(func.count()).select_from(AlertDelivery)) == 1
    assert run_alerts(engine, down, now=NOW).delivery.pending == 0

    receiver.status = 200
    receiver.posts.clear()
    again = run_alerts(engine, settings, now=NOW + timedelta(minutes=15))
    assert again.new == [] and again.delivery.delivered == 1 and again.delivery.pending == 0
    [(headers, body)] = receiver.posts
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert run_alerts(engine, settings, now=NOW + timedelta(minutes=30)).delivery.delivered == 0
    assert len(receiver.posts) == 1
    with session_scope(engine) as session:
        row = session.scalar(select(AlertDelivery))
        assert row.status == "delivered" and row.attempts == 3 and row.claimed_until is None
        assert "127.0.0.1" in row.target_label and receiver.url not in row.target


def test_a_closed_receiver_is_retried_by_the_next_run(database_url, receiver, monkeypatch):
    monkeypatch.setenv("FOCUSDIG_ALERT_WEBHOOK", closed_port_url())
    engine = get_engine(Settings.from_env())
    add_history(engine, "shaky", shifted_history(7))
    report = run_alerts(engine, Settings.from_env(), now=NOW)
    assert report.delivery.failed == 1 and report.delivery.pending == 1
    assert "ConnectError" in next(iter(report.delivery.errors.values()))
    with session_scope(engine) as session:
        assert session.scalar(select(AlertDelivery.status)) == "pending"


def test_two_concurrent_runs_make_and_deliver_one_alert(database_url, receiver):
    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "shaky", shifted_history(8))
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run(offset: int) -> None:
        try:
            barrier.wait()
            reports.append(run_alerts(engine, settings, now=NOW + timedelta(seconds=offset)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(r.new) for r in reports) == 1
    assert sum(r.delivery.delivered for r in reports) == 1
    assert len(receiver.posts) == 1
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(func.count()).select_from(AlertDelivery)) == 1


def test_a_slow_receiver_times_out_and_is_retried_after_a_backoff(receiver, monkeypatch):
    from focusdig.alerts.deliver import post, webhook_client

    monkeypatch.setenv("FOCUSDIG_ALERT_TIMEOUT", "0.3")
    monkeypatch.setenv("FOCUSDIG_ALERT_BACKOFF", "2")
    settings = Settings.from_env()
    receiver.delay = 1.5
    pauses: list[float] = []
    with webhook_client(settings) as client:
        started = time.monotonic()
        result = post(client, receiver.url, {"id": 1}, settings, "1-x", sleep=pauses.append)
    assert not result.ok and result.attempts == 2 and "Timeout" in result.error
    assert pauses == [2.0] and time.monotonic() - started < 1.5
    receiver.delay, receiver.status = 0.0, 404  # a client error is not retried
    with webhook_client(settings) as client:
        result = post(client, receiver.url, {"id": 1}, settings, "1-x", sleep=pauses.append)
    assert (result.ok, result.attempts, result.error) == (False, 1, "HTTP 404")


def test_signature_catches_tampering_and_replays(receiver):
    settings = Settings.from_env()
    assert send_test(settings) == [(f"http://127.0.0.1:{receiver.server.server_port}", None)]
    [(headers, body)] = receiver.posts
    sent = json.loads(body)
    assert sent["test"] is True and sent["schema"] == "focusdig.alert/1"
    header = headers[SIGNATURE_HEADER]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body.replace(b"focusdig-test", b"focusdig-fake"), header)
    assert not verify_signature("other-secret", body, header)
    assert not verify_signature(SECRET, body, header, now=timestamp + 301)  # a replay
    assert not verify_signature(SECRET, body, "v1=abc")


def test_webhooks_to_private_addresses_are_refused():
    from focusdig.netsafety import NetworkPolicy

    policy = NetworkPolicy()  # the default: public addresses only
    for url in (
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "http://2130706433/hook",  # 127.0.0.1 spelled as a number
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ):
        with pytest.raises(WebhookRefused):
            check_webhook_url(url, policy)
    check_webhook_url("https://93.184.216.34/hook", policy)  # a public address literal
    check_webhook_url("http://127.0.0.1:9/hook", NetworkPolicy(allow_private=True))


def test_refused_webhook_keeps_alerts_pending(database_url, receiver, monkeypatch):
    monkeypatch.delenv("FOCUSDIG_ALLOW_PRIVATE_NETWORKS")
    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "shaky", shifted_history(9))
    report = run_alerts(engine, settings, now=NOW)
    assert len(report.new) == 1 and report.delivery.pending == 1 and receiver.posts == []
    assert "FOCUSDIG_ALLOW_PRIVATE_NETWORKS" in next(iter(report.delivery.errors.values()))
    assert send_test(settings)[0][1].startswith("refused")


def test_text_is_plain_and_cannot_ping_a_channel():
    alert = {
        "subject_kind": "source",
        "subject": "<!channel> & co",
        "kind": "sentiment_shift",
        "direction": "negative",
        "window_start": NOW - timedelta(hours=24),
        "window_end": NOW,
        "baseline_mean": 0.1,
        "current_mean": -0.5,
        "count": 12,
        "z": -4.5,
        "items": [{"title": "<script>x</script>\nsecond line"}],
    }
    text = alert_text(alert)
    assert "<" not in text and ">" not in text and "&lt;!channel&gt; &amp; co" in text
    assert text.count("\n") == 1  # the title's own line break is folded


def test_the_unique_key_not_a_check_keeps_it_once(database_url):
    """Past every check, a second insert of the same subject, kind, direction and window day
    (even from another window of that day) is a no-op."""
    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "shaky", shifted_history(10))
    thresholds = settings.alert_thresholds
    since = NOW - thresholds.window - thresholds.baseline_days * timedelta(days=1)
    with session_scope(engine) as session:
        [candidate] = find_candidates(source_histories(session, since, NOW), NOW, thresholds)
    with session_scope(engine) as session:
        assert len(record_alerts(session, [candidate], ())) == 1
    later = replace(
        candidate, series=replace(candidate.series, window_end=NOW + timedelta(minutes=1))
    )
    with session_scope(engine) as session:
        assert insert_alert(session, candidate) is None
        assert insert_alert(session, later) is None
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_the_pipeline_checks_and_delivers_alerts(
    prefect_harness, database_url, tiny_champion, feed_server, receiver
):
    from conftest import FEEDS

    from flows.pipeline import pipeline_flow
    from focusdig.summary import summary_markdown

    add_history(tiny_champion, "shaky <b>", shifted_history(11), enabled=False)
    feed_server.add("/rss2.xml", (FEEDS / "rss2.xml").read_bytes())
    summary = pipeline_flow([feed_server.url("/rss2.xml")], fetch_retries=0)
    assert summary.items_new > 0
    [alert] = summary.alerts["new"]
    assert alert["subject"] == "shaky <b>" and alert["kind"] == "sentiment_shift"
    assert summary.alerts["delivered"] == 1 and summary.alerts["pending"] == 0
    assert len(receiver.posts) == 1
    markdown = summary_markdown(summary)
    assert "## New alerts" in markdown and "shaky \\<b\\>" in markdown
    assert pipeline_flow(fetch_retries=0).alerts["new"] == []
    assert len(receiver.posts) == 1


def test_cli_check_list_and_test(database_url, receiver, monkeypatch):
    from test_cli import run

    run("init", "--no-samples")
    add_history(get_engine(Settings.from_env()), "shaky", shifted_history(12), enabled=False)
    run("alerts", "check", "--z", "0", code=2)  # a threshold that makes no sense
    assert json.loads(run("alerts", "check", "--no-deliver", "--json").stdout)["new"][0][
        "subject"
    ] == ("shaky")
    assert receiver.posts == []
    [listed] = json.loads(run("alerts", "list", "--days", "1", "--json").stdout)
    assert set(listed) >= {
        "id",
        "subject",
        "entity",
        "kind",
        "direction",
        "window_start",
        "window_end",
        "baseline_mean",
        "current_mean",
        "count",
        "z",
        "items",
        "delivered_at",
    }
    assert listed["delivered_at"] is None and listed["pending_deliveries"] == 1
    checked = json.loads(run("alerts", "check", "--json").stdout)  # delivers the pending one
    assert checked["new"] == [] and checked["delivered"] == 1 and len(receiver.posts) == 1
    assert "shaky" in run("alerts", "list").stdout
    run("alerts", "test")
    assert json.loads(receiver.posts[-1][1])["test"] is True
    receiver.status = 503
    assert "HTTP 503" in run("alerts", "test", code=1).output
    monkeypatch.delenv("FOCUSDIG_ALERT_WEBHOOK")
    assert "FOCUSDIG_ALERT_WEBHOOK" in run("alerts", "test", code=2).output


def test_api_and_overview_show_alerts_as_text(database_url, monkeypatch):
    from fastapi.testclient import TestClient

    from focusdig.api import create_app

    monkeypatch.delenv("FOCUSDIG_ALERT_WEBHOOK", raising=False)
    settings = Settings.from_env()
    engine = get_engine(settings)
    hostile = "<script>alert(1)</script>"
    add_history(engine, hostile, shifted_history(13), title="<img src=x onerror=alert(2)>")
    [alert] = run_alerts(engine, settings).new
    client = TestClient(create_app(settings, engine))
    [listed] = client.get("/api/alerts").json()
    assert listed["id"] == alert["id"] and listed["subject"] == hostile
    assert listed["delivered_at"] is None and listed["pending_deliveries"] == 0
    assert listed["items"][0]["title"].startswith("<img") and listed["items"][0]["top_words"]
    assert listed["items"][0]["explanation"] == "flow"
    assert client.get("/api/alerts", params={"days": 0}).status_code == 422
    assert client.get("/api/alerts", params={"subject_kind": "entity"}).json() == []
    assert len(client.get("/api/alerts", params={"subject": hostile}).json()) == 1
    assert client.get("/api/alerts", params={"subject": "other"}).json() == []
    page = client.get("/")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert "negative sentiment shift" in page.text and "not sent (no webhook)" in page.text
    assert hostile not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(2)&gt;" in page.text
    assert '<small title="how the words were weighted">flow</small>' in page.text


def add_entity_history(engine, name: str, source: str, events, drivers=("guidance", "cut")):
    """An entity mentioned once by each item of ``source`` (made from ``events``), each with a
    score toward the entity equal to the event's score, and the daily rollups built."""
    from focusdig.entities import rollups
    from focusdig.entities.rollups import item_day
    from focusdig.schema import Entity, EntityMention, EntityScore

    add_history(engine, source, [(at, 0.0) for at, _ in events], title=f"{name} news")
    with session_scope(engine) as session:
        entity = Entity(name=name, ticker=name[:4].upper())
        session.add(entity)
        session.flush()
        items = session.execute(
            select(Item.id, Item.published_at, Item.fetched_at)
            .join(Source, Source.id == Item.source_id)
            .where(Source.name == source)
            .order_by(Item.id)
        ).all()
        model_id = session.scalar(select(ModelVersion.id).where(ModelVersion.version == "sim"))
        for (item_id, *_), (_, score) in zip(items, events, strict=True):
            session.add(
                EntityMention(
                    item_id=item_id, entity_id=entity.id, start=0, end=3, matched=name, how="name"
                )
            )
            session.add(
                EntityScore(
                    item_id=item_id,
                    entity_id=entity.id,
                    model_version_id=model_id,
                    method="target",
                    label="neutral",
                    score=max(-1.0, min(1.0, score)),
                    prob_negative=0.3,
                    prob_neutral=0.4,
                    prob_positive=0.3,
                    top_tokens=[{"word": w, "weight": 0.5, "start": 0, "end": 1} for w in drivers],
                    explanation="pooling",
                )
            )
        session.flush()
    with session_scope(engine) as session:
        serialize_writers(session, rollups.LOCK)
        rollups.recompute(session, {(entity.id, item_day(p, f)) for _, p, f in items})


def test_entities_alert_like_sources_from_their_mentions(database_url):
    from focusdig.schema import EntityDay

    settings = Settings.from_env()
    engine = get_engine(settings)
    rng = random.Random(14)
    # the source's own item scores stay calm (0.0): only the scores toward the entity shift
    add_entity_history(engine, "Acme Corp", "acme-wire", shifted_history(14))
    add_entity_history(engine, "Calm Inc", "calm-wire", calm_events(rng, 60, 10))
    young = [e for e in calm_events(rng, 4, 10) if e[0] < NOW - timedelta(hours=24)]
    add_entity_history(engine, "Young Ltd", "young-wire", young + recent(rng, 30, -0.9))
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(EntityDay)) > 60
    report = run_alerts(engine, settings, now=NOW)
    assert report.checked == 6  # three sources, three entities
    [alert] = report.new
    assert (alert["subject_kind"], alert["entity"], alert["source"]) == (
        "entity",
        "Acme Corp",
        None,
    )
    assert (alert["kind"], alert["direction"]) == ("sentiment_shift", "negative")
    assert alert["items"][0]["source"] == "acme-wire" and alert["items"][0]["score"] < -0.3
    assert [w["word"] for w in alert["items"][0]["top_words"]] == ["guidance", "cut"]
    assert alert["items"][0]["explanation"] == "pooling"  # the entity score's, not the item's
    with session_scope(engine) as session:
        stored = session.scalar(select(Alert))
        assert stored.entity_id is not None and stored.source_id is None
    assert run_alerts(engine, settings, now=NOW).new == []


def test_flagged_translations_count_for_volume_not_for_sentiment(database_url):
    """The shift of the last 24 hours comes from translations the translator doubts: no
    sentiment alert at the default threshold; with flagging off (threshold 0) it alerts."""
    from focusdig.schema import Translation

    settings = Settings.from_env()
    engine = get_engine(settings)
    add_history(engine, "translated", shifted_history(10))
    with session_scope(engine) as session:
        translator = ModelVersion(kind="translator", version="mt-sim", artifact_path="-")
        session.add(translator)
        session.flush()
        recent_ids = session.scalars(
            select(Item.id).where(Item.published_at >= NOW - timedelta(hours=24))
        ).all()
        assert len(recent_ids) >= 15
        session.add_all(
            Translation(
                item_id=item_id,
                model_version_id=translator.id,
                source_language="de",
                source_text="Die Aktie fiel.",
                text="Currently.",
                confidence=0.05,
            )
            for item_id in recent_ids
        )
    thresholds = settings.alert_thresholds
    since = NOW - thresholds.window - thresholds.baseline_days * timedelta(days=1)
    with session_scope(engine) as session:
        [history] = source_histories(session, since, NOW, settings.min_translation_confidence)
        window = [(at, s) for at, s, _ in history.events if at >= NOW - timedelta(hours=24)]
        assert len(window) == len(recent_ids) and all(s is None for _, s in window)
        assert not [
            c
            for c in find_candidates([history], NOW, thresholds)
            if c.finding.kind == SENTIMENT_SHIFT
        ]
    assert not [
        a
        for a in run_alerts(engine, settings, now=NOW, deliver=False).new
        if a["kind"] == SENTIMENT_SHIFT
    ]
    off = replace(settings, min_translation_confidence=0.0)
    kinds = {a["kind"] for a in run_alerts(engine, off, now=NOW, deliver=False).new}
    assert SENTIMENT_SHIFT in kinds
