"""Shared fixtures: an isolated focusdig home, and databases on SQLite and (when available)
PostgreSQL. Set FOCUSDIG_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres)
to run every database test on PostgreSQL too; `.ci/run` does."""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import uuid
from pathlib import Path

# an isolated, offline Prefect for the whole session (before anything imports prefect)
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="focusdig-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.pop("PREFECT_API_URL", None)

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from focusdig.database import dispose_engines, normalize_url

sys.path.insert(0, str(Path(__file__).parent))
from feedserver import feed_server  # noqa: E402, F401  (fixture for every test module)

POSTGRES_URL = os.environ.get("FOCUSDIG_TEST_POSTGRES_URL")
FEEDS = Path(__file__).parent / "fixtures" / "feeds"


@pytest.fixture(autouse=True)
def focusdig_home(tmp_path, monkeypatch):
    """Every test gets its own FOCUSDIG_HOME with a SQLite database in it."""
    home = tmp_path / "home"
    monkeypatch.setenv("FOCUSDIG_HOME", str(home))
    monkeypatch.delenv("FOCUSDIG_DATABASE_URL", raising=False)
    monkeypatch.setenv("FOCUSDIG_FETCH_RETRIES", "0")  # tests that retry say so
    # every test server listens on 127.0.0.1; the network-safety tests turn this off
    monkeypatch.setenv("FOCUSDIG_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.delenv("FOCUSDIG_ALLOWED_NETWORKS", raising=False)
    yield home
    dispose_engines()


def _postgres_database():
    admin_url = normalize_url(POSTGRES_URL)
    name = f"focusdig_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, focusdig_home, monkeypatch):
    """A fresh empty database on each engine; also exported as FOCUSDIG_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{focusdig_home / 'test.db'}"
        monkeypatch.setenv("FOCUSDIG_DATABASE_URL", url)
        yield url
        return
    if not POSTGRES_URL:
        pytest.skip("FOCUSDIG_TEST_POSTGRES_URL not set")
    for url in _postgres_database():
        monkeypatch.setenv("FOCUSDIG_DATABASE_URL", url)
        yield url


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A randomly initialised tiny classifier saved as a real, verified model directory."""
    import torch

    from focusdig.classifier import ClassifierConfig, SentimentClassifier, save_model_dir
    from focusdig.classifier.tokenizer import TextEncoder, train_tokenizer

    torch.manual_seed(0)
    sentences = [
        "Profit rose sharply to a record high.",
        "The company filed for bankruptcy and cut jobs.",
        "Shares were unchanged after the meeting.",
        "公司利润大幅增长。",
        "Les bénéfices ont augmenté.",
    ]
    encoder = TextEncoder(train_tokenizer(sentences * 20, vocab_size=300))
    config = ClassifierConfig(
        vocab_size=encoder.vocab_size,
        max_len=32,
        d_model=32,
        n_heads=2,
        n_layers=1,
        d_ff=64,
        pool_dim=16,
    )
    path = tmp_path_factory.mktemp("models") / "clf-test-1"
    return save_model_dir(
        path,
        SentimentClassifier(config),
        encoder,
        version="clf-test-1",
        metrics={},
        training_data=["test fixture"],
    )


@pytest.fixture
def tiny_champion(tiny_model):
    """Register the tiny model as champion in the current test database."""
    from focusdig.database import get_engine, session_scope
    from focusdig.registry import register_model
    from focusdig.settings import Settings

    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        register_model(session, "classifier", tiny_model, status="champion")
    return engine


def tiny_translator_config(tokenizer, **sizes):
    """A TranslatorConfig for ``tokenizer`` (its vocabulary and special ids), tiny by default:
    d_model 32, 2 heads, 1 + 1 layers, d_ff 64, no dropout, 48 positions; ``sizes`` override."""
    from focusdig.translator import TranslatorConfig

    defaults = dict(d_model=32, n_heads=2, n_enc_layers=1, n_dec_layers=1, d_ff=64, max_len=48)
    return TranslatorConfig(
        vocab_size=tokenizer.vocab_size,
        dropout=0.0,
        pad_id=tokenizer.pad_id,
        bos_id=tokenizer.bos_id,
        eos_id=tokenizer.eos_id,
        **{**defaults, **sizes},
    )


def overfit_translator(pairs, *, steps: int = 300, en_to_xx: bool = False):
    """A tiny float32 Translator trained to reproduce ``pairs`` (focusdig.translator.data.Pair)
    exactly; with ``en_to_xx`` also their reverses (the trainer's bidirectional examples)."""
    import torch

    from focusdig.translator import Seq2SeqTransformer, Translator
    from focusdig.translator.tokenizer import SubwordTokenizer
    from focusdig.translator.trainer import TrainingArguments, build_training_set, collate

    torch.manual_seed(0)
    texts = [t for p in pairs for t in (p.src, p.en)] * 3
    tok = SubwordTokenizer.train(texts, ["zh", "fr", "de"], vocab_size=400)
    cfg = tiny_translator_config(
        tok, d_model=64, n_enc_layers=2, n_dec_layers=2, d_ff=128, max_len=64, label_smoothing=0.0
    )
    args = TrainingArguments(en_to_xx=en_to_xx, news_upsample=1, lang_upsample={})
    examples = build_training_set(args, tok, list(pairs))
    assert len(examples) == len(pairs) * (2 if en_to_xx else 1)  # none filtered out
    batch = collate(examples, cfg)
    model = Seq2SeqTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        _, loss = model(*batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    config = {"version": "test-0", "languages": tok.languages}
    return Translator(model, tok, config, int8=False)  # float32: the reference


def write_translator_data_dir(root, pairs, copies: int = 30, news: int = 5) -> None:
    """A data directory shaped like ../shared/data for the translator: per language, each of
    ``pairs`` ((lang, source, English)) ``copies`` times, numbered, as Tatoeba, and the first
    ``news`` of those lines as WMT news."""
    (root / "mt").mkdir(parents=True)
    (root / "mt_news").mkdir()
    lines = {lang: [] for lang in ("zh", "fr", "de")}
    for i in range(copies):
        for lang, s, e in pairs:
            lines[lang].append(f"{e} ({i})\t{s} ({i})\tCC-BY 2.0 (France) Attribution: x")
    for lang, name in (("zh", "cmn.txt"), ("fr", "fra_76k.txt"), ("de", "deu_50k.txt")):
        (root / "mt" / name).write_text("\n".join(lines[lang]) + "\n")
        with gzip.open(root / "mt_news" / f"{lang}-en.tsv.gz", "wt") as f:
            f.write("\n".join(x.rsplit("\t", 1)[0] for x in lines[lang][:news]) + "\n")


@pytest.fixture(scope="session")
def tiny_translator(tmp_path_factory):
    """A randomly initialised tiny translator saved as a real, verified model directory."""
    import torch

    from focusdig.translator import Seq2SeqTransformer
    from focusdig.translator.artifacts import save_model_dir
    from focusdig.translator.tokenizer import SubwordTokenizer

    torch.manual_seed(0)
    texts = [
        "公司利润大幅增长。",
        "Les bénéfices ont augmenté.",
        "Die Aktie fiel stark.",
        "Profits rose sharply.",
        "The shares fell.",
    ] * 20
    tokenizer = SubwordTokenizer.train(texts, ["zh", "fr", "de"], vocab_size=300)
    config = tiny_translator_config(tokenizer)
    path = tmp_path_factory.mktemp("models") / "mt-test-1"
    return save_model_dir(
        path,
        Seq2SeqTransformer(config),
        tokenizer,
        version="mt-test-1",
        metrics={},
        training_data=["test fixture"],
    )


HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
RECENT_ENTITY = "Kestrel Motors"  # a sample watchlist entity


def fill_scored_db(engine, translator_dir) -> None:
    """The bundled samples (en, zh, fr, de, comments) ingested, translated and scored by the
    tiny models (the classifier must be champion already), plus a disabled source "recent"
    whose three items are dated relative to now (so the dashboard's last-30-days charts always
    have a line), the newest with a hostile title; two of them mention the watched entity
    RECENT_ENTITY."""
    from datetime import UTC, datetime, timedelta

    from focusdig.database import session_scope
    from focusdig.ingest.runner import ingest_sources
    from focusdig.pipeline import process
    from focusdig.registry import register_model
    from focusdig.schema import Item, Source
    from focusdig.settings import Settings
    from focusdig.sources import register_samples

    now = datetime.now(UTC)
    with session_scope(engine) as session:
        register_model(session, "translator", translator_dir, status="champion")
        register_samples(session)
        recent = Source(name="recent", url="https://recent.example/feed", enabled=False)
        session.add(recent)
        session.flush()
        texts = [
            (
                HOSTILE_TITLE,
                f"<script>alert(2)</script> {RECENT_ENTITY} profit rose & shares jumped.",
            ),
            ("Shares fell sharply", f"{RECENT_ENTITY} cut its outlook."),
            ("Profit rose to a record", "Revenue grew strongly."),
        ]
        for age, (title, text) in enumerate(texts):
            session.add(
                Item(
                    source_id=recent.id,
                    guid=f"recent-{age}",
                    title=title,
                    text=text,
                    content_hash=f"{age:064d}",
                    published_at=now - timedelta(days=age, hours=1),
                )
            )
    reports = ingest_sources(engine, Settings.from_env())
    assert all(r.ok for r in reports)
    process(engine, batch_size=64)


@pytest.fixture
def scored_db(tiny_champion, tiny_translator):
    """A fresh database (each engine) filled by :func:`fill_scored_db`, for tests that write."""
    fill_scored_db(tiny_champion, tiny_translator)
    return tiny_champion


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_scored_url(request, tmp_path_factory, tiny_model, tiny_translator):
    """One database per engine filled by :func:`fill_scored_db`, shared by a module's tests
    that only read (building it takes seconds)."""
    from focusdig.database import get_engine, session_scope
    from focusdig.registry import register_model
    from focusdig.settings import Settings

    home = tmp_path_factory.mktemp("shared-home")
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{home / 'scored.db'}"])
    elif POSTGRES_URL:
        urls = _postgres_database()
    else:
        pytest.skip("FOCUSDIG_TEST_POSTGRES_URL not set")
    for url in urls:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("FOCUSDIG_HOME", str(home))
            env.setenv("FOCUSDIG_DATABASE_URL", url)
            env.setenv("FOCUSDIG_FETCH_RETRIES", "0")
            engine = get_engine(Settings.from_env())
            with session_scope(engine) as session:
                register_model(session, "classifier", tiny_model, status="champion")
            fill_scored_db(engine, tiny_translator)
            dispose_engines()
        yield url


@pytest.fixture
def shared_scored_db(shared_scored_url, monkeypatch):
    """The shared scored database as this test's FOCUSDIG_DATABASE_URL; do not write to it."""
    from focusdig.database import get_engine
    from focusdig.settings import Settings

    monkeypatch.setenv("FOCUSDIG_DATABASE_URL", shared_scored_url)
    return get_engine(Settings.from_env())
