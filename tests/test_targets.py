"""Targeted (entity-level) sentiment on tiny models: markers, the sentence-level fallback, a
short overfit proving the markers steer the prediction, training with sentfin, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from test_classifier import (  # data_dir: the fixture of a synthetic data directory
    TINY_TRAINING_MODEL,
    data_dir,  # noqa: F401
    tiny_args,
)
from test_cli import run

from focusdig.classifier import (
    Classifier,
    ClassifierConfig,
    SentimentClassifier,
    TrainingArguments,
    save_model_dir,
    train_classifier,
)
from focusdig.classifier import data as D
from focusdig.classifier import targets as T
from focusdig.classifier.tokenizer import TextEncoder, train_tokenizer
from focusdig.classifier.trainer import finetune

SENTENCES = [
    "Arvika Mining soars while Belmont Foods slumps",
    "Belmont Foods soars while Arvika Mining slumps",
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(seed: int = 0) -> tuple[SentimentClassifier, TextEncoder]:
    torch.manual_seed(seed)
    texts = SENTENCES * 20 + ["profit fell sharply. shares rose", "the meeting is on monday"] * 10
    enc = TextEncoder(train_tokenizer(texts, vocab_size=200))
    cfg = ClassifierConfig(
        vocab_size=enc.vocab_size,
        max_len=32,
        d_model=32,
        n_heads=2,
        n_layers=2,
        d_ff=64,
        pool_dim=16,
        dropout=0.0,
        pad_id=enc.pad_id,
        cls_id=enc.cls_id,
        sep_id=enc.sep_id,
        mask_id=enc.mask_id,
    )
    return SentimentClassifier(cfg), enc


def test_markers_are_vocabulary_entries_text_cannot_produce():
    model, enc = tiny()
    vocab = enc.vocab_size
    model, enc = T.enable_targets(model, enc)
    open_id, close_id = T.marker_ids(enc)
    assert (open_id, close_id) == (vocab, vocab + 1) and enc.vocab_size == vocab + 2
    assert model.encoder.tok_emb.num_embeddings == vocab + 2 and model.mlm_bias.numel() == vocab + 2
    assert T.supports_targets(model.config)
    assert not {open_id, close_id} & set(enc.encode("[TGT] Belmont [/TGT]").ids)
    again, enc2 = T.enable_targets(model, enc)  # idempotent
    assert enc2.vocab_size == vocab + 2


def test_mark_tokens_wraps_each_mention():
    _, enc = tiny()
    enc = T.add_target_tokens(enc)
    markers = T.marker_ids(enc)
    text = SENTENCES[0]
    encoded = enc.encode(text)
    spans = T.find_spans(text, "belmont foods")
    assert spans == [(26, 39)]
    ids, words = T.mark_tokens(encoded, list(range(len(encoded.ids))), spans, markers)
    assert ids.count(markers[0]) == ids.count(markers[1]) == 1
    inside = ids[ids.index(markers[0]) + 1 : ids.index(markers[1])]
    covered = [t for t, (a, b) in enumerate(encoded.offsets) if a < 39 and b > 26]
    assert inside == [encoded.ids[t] for t in covered]
    assert words[ids.index(markers[0])] == words[ids.index(markers[1])] == -1
    plain, _ = T.mark_tokens(encoded, list(range(len(encoded.ids))), spans, None)
    assert plain == encoded.ids


def test_fallback_scores_the_sentence_holding_the_mention(tmp_path):
    model, enc = tiny()
    path = save_model_dir(tmp_path / "m", model, enc, version="m", metrics={}, training_data=[])
    clf = Classifier.load(path, precision="fp32")
    assert not clf.supports_targets
    text = "Belmont Foods slumps\n\nProfit fell sharply. Arvika Mining soars."
    arvika = T.find_spans(text, "Arvika Mining")
    [target] = clf.predict_targets([text], [arvika])
    [sentence] = clf.predict(["Arvika Mining soars."])
    assert target.probs == pytest.approx(sentence.probs, abs=1e-5)
    assert all(text[t["start"] : t["end"]] == t["word"] for t in target.top_tokens)
    assert {t["word"] for t in target.top_tokens} <= {"Arvika", "Mining", "soars"}
    [whole] = clf.predict_targets([text], [[]])  # no span: the whole text
    assert whole.probs == pytest.approx(clf.predict([text])[0].probs, abs=1e-5)
    with pytest.raises(ValueError):
        clf.predict_targets([text], [])


def test_target_markers_change_the_prediction_for_two_entities_in_one_sentence(tmp_path):
    model, enc = tiny(seed=1)
    model, enc = T.enable_targets(model, enc)
    examples = []
    for text in SENTENCES:
        winner, loser = text.split(" soars while ")
        loser = loser.removesuffix(" slumps")
        examples.append(D.Example(text, "positive", "t", targets=tuple(T.find_spans(text, winner))))
        examples.append(D.Example(text, "negative", "t", targets=tuple(T.find_spans(text, loser))))
    args = TrainingArguments(
        epochs=40, batch_size=4, lr=3e-3, label_smoothing=0.0, warmup_ratio=0.0, bf16=False
    )
    args.patience = 40
    finetune(args, model, enc, {"train": examples, "val": examples})
    path = save_model_dir(tmp_path / "t", model, enc, version="t", metrics={}, training_data=[])
    clf = Classifier.load(path, precision="fp32")
    assert (
        clf.supports_targets
        and json.loads((path / "config.json").read_text())["model"]["tgt_open_id"]
        == T.marker_ids(enc)[0]
    )
    text = SENTENCES[0]
    arvika, belmont = clf.predict_targets(
        [text, text], [T.find_spans(text, "Arvika Mining"), T.find_spans(text, "Belmont Foods")]
    )
    assert (arvika.label, belmont.label) == ("positive", "negative")
    assert arvika.score > belmont.score
    for p in (arvika, belmont):  # explanations: real words with offsets into the text
        assert all(text[t["start"] : t["end"]] == t["word"] for t in p.top_tokens)
        assert not any("TGT" in t["word"] for t in p.top_tokens)
    metrics = clf.evaluate_targets(
        [ex.text for ex in examples], [ex.targets for ex in examples], [ex.label for ex in examples]
    )
    assert metrics["method"] == "target" and metrics["accuracy"] == 1.0


def test_cli_classify_and_evaluate_toward_an_entity(tiny_model, tmp_path):
    out = json.loads(
        run(
            "classify",
            SENTENCES[0],
            "--entity",
            "belmont foods",
            "--model",
            str(tiny_model),
            "--json",
        ).stdout
    )
    assert out[0]["entity"] == "belmont foods" and out[0]["spans"] == [[26, 39]]
    assert out[0]["method"] == "sentence" and out[0]["label"] in ("negative", "neutral", "positive")
    shown = run("classify", SENTENCES[0], "--entity", "Belmont Foods", "--model", str(tiny_model))
    assert "no target support" in shown.stdout
    run("classify", "Profit rose.", "--entity", "Belmont", "--model", str(tiny_model), code=2)
    gold = tmp_path / "targets.csv"
    gold.write_text(
        "text,entity,label\n"
        f"{SENTENCES[0]},Arvika Mining,positive\n"
        f"{SENTENCES[0]},Belmont Foods,negative\n"
        "Profits rose.,Nobody,neutral\n"
        "Shares fell.,,negative\n"
    )
    bad = run("evaluate", str(gold), "--model", str(tiny_model), code=2).output
    assert "line 4: entity 'Nobody' does not occur in the text" in bad
    assert "line 5: empty entity" in bad
    gold.write_text("\n".join(gold.read_text().splitlines()[:3]) + "\n")
    metrics = json.loads(run("evaluate", str(gold), "--model", str(tiny_model), "--json").stdout)
    assert metrics["n"] == 2 and metrics["method"] == "sentence"
    assert set(metrics) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}


def sentfin_file(root: Path) -> None:
    rows = ["text,entity,label,conflict"]
    for i in range(30):
        rows.append(f"Arvika Mining soars {i} while Belmont Foods slumps,Arvika Mining,positive,1")
        rows.append(f"Arvika Mining soars {i} while Belmont Foods slumps,Belmont Foods,negative,1")
        rows.append(f"Quiet day {i} for Calder Steel,Calder Steel,neutral,0")
    rows.append("Gold shines,Silver,positive,0")  # the entity is not in the text: dropped
    (root / "sentfin_targets").mkdir()
    (root / "sentfin_targets" / "train.csv").write_text("\n".join(rows) + "\n")


def test_sentfin_split_by_headline_and_joint_training(data_dir, tmp_path):  # noqa: F811
    sentfin_file(data_dir)
    examples, report = T.load_sentfin(data_dir)
    assert (report.rows, report.kept, report.not_found) == (91, 90, [92])
    assert report.headlines == 60 and report.conflicting_headlines == 30
    splits = {w: T.sentfin_split(examples, w) for w in D.SPLITS}
    assert sum(map(len, splits.values())) == 90
    by_text = [{ex.text for ex in s} for s in splits.values()]
    assert not (by_text[0] & by_text[1] or by_text[0] & by_text[2] or by_text[1] & by_text[2])
    args = tiny_args(
        tmp_path,
        data_dir,
        model={**TINY_TRAINING_MODEL, "max_len": 32},
        pretrain_minutes=0.01,
        pretrain_lines=400,
        epochs=1,
    )
    from focusdig.classifier.trainer import pretrain_only

    checkpoint = pretrain_only(args)  # the lead's recipe: fine-tune from a pretrained encoder
    args.init_from, args.targets, args.target_repeat = str(checkpoint), True, 2
    args.version = "clf-joint-1"
    path = train_classifier(args)
    clf = Classifier.load(path)
    assert clf.supports_targets and "SEntFiN" in (path / "MODEL_CARD.md").read_text()
    assert clf.predict_targets([SENTENCES[0]], [[(0, 13)]])[0].label in D.LABELS


@pytest.mark.data
@pytest.mark.skipif(not os.environ.get("FOCUSDIG_DATA_DIR"), reason="FOCUSDIG_DATA_DIR not set")
def test_real_sentfin_split_is_by_headline():
    examples, report = T.load_sentfin()
    assert report.rows == report.kept == 3114 and report.not_found == []
    test = T.sentfin_split(examples, "test")
    assert len({ex.text for ex in test}) == 130 and len(test) == 295
    assert not {ex.text for ex in test} & {ex.text for ex in T.sentfin_split(examples, "train")}
