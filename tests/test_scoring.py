"""Scoring stored items, export columns, classify/evaluate, with a tiny random model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from sqlalchemy import func, select
from test_cli import run

from focusdig.classifier import ClassifierConfig, SentimentClassifier, save_model_dir
from focusdig.classifier.tokenizer import TextEncoder, train_tokenizer
from focusdig.database import get_engine, session_scope
from focusdig.labels import LabelFileError, read_labeled_csv
from focusdig.registry import register_model
from focusdig.schema import Item, Score, ScoreToken
from focusdig.scoring import item_text
from focusdig.settings import Settings

SENTENCES = [
    "Profit rose sharply to a record high.",
    "The company filed for bankruptcy and cut jobs.",
    "Shares were unchanged after the meeting.",
    "公司利润大幅增长。",
    "Les bénéfices ont augmenté.",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A randomly initialised tiny classifier saved as a real, verified model directory."""
    torch.manual_seed(0)
    encoder = TextEncoder(train_tokenizer(SENTENCES * 20, vocab_size=300))
    config = ClassifierConfig(
        vocab_size=encoder.vocab_size, max_len=32, d_model=32, n_heads=2, n_layers=1, d_ff=64,
        pool_dim=16,
    )
    path = tmp_path_factory.mktemp("models") / "clf-test-1"
    return save_model_dir(
        path, SentimentClassifier(config), encoder, version="clf-test-1", metrics={},
        training_data=["test fixture"],
    )


@pytest.fixture
def champion_db(database_url, tiny_model):
    """A database holding the sample items, with the tiny model as champion."""
    run("ingest")
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        register_model(session, "classifier", tiny_model, status="champion")
    return engine


def test_score_stores_each_item_once_with_valid_top_words(champion_db):
    first = run("score", "--batch-size", "16")
    assert "scored 54 items with clf-test-1" in first.stdout
    with session_scope(champion_db) as session:
        items = {i.id: i for i in session.scalars(select(Item))}
        scores = session.scalars(select(Score)).all()
        assert len(scores) == len(items) == 54
        for s in scores:
            assert -1 <= s.score <= 1 and s.label in ("negative", "neutral", "positive")
            assert abs(s.prob_negative + s.prob_neutral + s.prob_positive - 1) < 1e-5
            item = items[s.item_id]
            text = item_text(item.kind, item.title, item.text)
            assert 1 <= len(s.tokens) <= 5
            assert [t.rank for t in s.tokens] == list(range(1, len(s.tokens) + 1))
            for t in s.tokens:
                assert text[t.start : t.end] == t.word and t.word.strip() == t.word
    assert "scored 0 items" in run("score").stdout
    with session_scope(champion_db) as session:
        assert session.scalar(select(func.count()).select_from(Score)) == 54
        assert session.scalar(select(func.count()).select_from(ScoreToken)) <= 54 * 5


def test_export_carries_scores_and_top_tokens(champion_db, tmp_path):
    run("score")
    out = tmp_path / "scored.jsonl"
    run("export", "--format", "jsonl", "--out", str(out))
    frame = pd.read_json(out, lines=True)
    for column in ("label", "score", "prob_negative", "prob_neutral", "prob_positive",
                   "top_tokens", "model_version"):
        assert column in frame.columns
    assert set(frame["model_version"]) == {"clf-test-1"}
    tokens = json.loads(frame["top_tokens"][0])
    assert tokens and set(tokens[0]) == {"word", "weight"}


def test_classify_and_evaluate_with_an_explicit_model(tiny_model, tmp_path):
    out = json.loads(run("classify", "Profit rose sharply.", "--model", str(tiny_model),
                         "--json").stdout)
    assert out[0]["label"] in ("negative", "neutral", "positive")
    assert "top words" in run("classify", "Profit rose sharply.", "--model",
                              str(tiny_model)).stdout
    csv_file = tmp_path / "gold.csv"
    csv_file.write_text('text,label\n"Profit rose, a lot.",positive\nShares fell.,NEGATIVE\n'
                        "Nothing new.,neutral\n")
    metrics = json.loads(run("evaluate", str(csv_file), "--model", str(tiny_model),
                             "--json").stdout)
    assert metrics["n"] == 3 and 0 <= metrics["accuracy"] <= 1 and "macro_f1" in metrics
    assert len(metrics["confusion_matrix"]) == 3
    assert "macro-F1" in run("evaluate", str(csv_file), "--model", str(tiny_model)).stdout


def test_bad_label_files_are_refused_with_line_numbers(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,positive\n,neutral\nsomething,bullish\n")
    with pytest.raises(LabelFileError) as err:
        read_labeled_csv(bad)
    assert "line 3: empty text" in str(err.value)
    assert "line 4: unknown label 'bullish'" in str(err.value)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("sentence,label\nx,positive\n")
    with pytest.raises(LabelFileError, match="missing column"):
        read_labeled_csv(nocol)
    result = run("evaluate", str(bad), code=2)
    assert "line 4" in result.output
