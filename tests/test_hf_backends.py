"""Hugging Face backends with tiny random models built offline: a FinBERT-style classifier, an
encoder fine-tuned with our pooling head, Marian translators; the registry around them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hf_models import FINBERT_LABELS, FRENCH, tiny_bert, tiny_marian  # noqa: E402
from sqlalchemy import select  # noqa: E402
from test_cli import run  # noqa: E402
from test_retrain import TINY_TRAINING, data_dir, label_file, user_labels  # noqa: E402, F401

from focusdig.api import create_app  # noqa: E402
from focusdig.artifacts import ArtifactError, describe  # noqa: E402
from focusdig.classifier import Classifier  # noqa: E402
from focusdig.classifier.artifacts import preferred_explanation  # noqa: E402
from focusdig.classifier.hf import attention_rollout, token_weights  # noqa: E402
from focusdig.database import get_engine, session_scope  # noqa: E402
from focusdig.registry import champion, champions  # noqa: E402
from focusdig.schema import Item, ModelVersion, Score, Translation  # noqa: E402
from focusdig.settings import Settings  # noqa: E402
from focusdig.translator import Translator  # noqa: E402
from focusdig.translator.generate import NO_REPEAT_NGRAM  # noqa: E402

TEXTS = [
    "Profit rose sharply to a record high, up 2,000% in Q3's results.",
    "The company filed for bankruptcy and cut jobs.",
    "Shares were unchanged after the meeting.",
]
WORD = re.compile(r"\w(?:[^\s]*\w)?")


def said(*args: str, code: int = 0) -> str:
    """What a command printed, with the console's line wrapping undone."""
    return " ".join(run(*args, code=code).output.split())


@pytest.fixture(scope="module")
def finbert_dir(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("hf") / "finbert-tiny")


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory):
    return tiny_marian(tmp_path_factory.mktemp("hf") / "opus-mt-fr-en")


def assert_whole_words(text: str, top: list[dict]) -> None:
    assert top
    words = {m.span() for m in WORD.finditer(text)}
    for t in top:
        assert text[t["start"] : t["end"]] == t["word"]
        assert (t["start"], t["end"]) in words, t  # a whole word, never a subword piece
    weights = [t["weight"] for t in top]
    assert weights == sorted(weights, reverse=True) and 0 < sum(weights) <= 1 + 1e-6


@pytest.mark.parametrize("explanation", ["rollout", "cls"])
def test_finbert_labels_are_mapped_and_explained_with_whole_words(finbert_dir, explanation):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    clf = Classifier.load(finbert_dir, device="cpu", precision="fp32", explanation=explanation)
    assert clf.labels == ("negative", "neutral", "positive")
    assert describe(finbert_dir).backend == "hf-sequence-classification"
    preds = clf.predict(TEXTS, top_k=4)
    raw_model = AutoModelForSequenceClassification.from_pretrained(finbert_dir).eval()
    tokens = AutoTokenizer.from_pretrained(finbert_dir)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        raw = torch.softmax(raw_model(**tokens).logits, -1)
    for text, pred, expected in zip(TEXTS, preds, raw, strict=True):
        for index, name in FINBERT_LABELS.items():  # FinBERT's order: positive, negative, neutral
            assert pred.probs[name] == pytest.approx(float(expected[index]), abs=1e-4)
        assert pred.score == pytest.approx(pred.probs["positive"] - pred.probs["negative"])
        assert_whole_words(text, pred.top_tokens)
    long_text = " ".join([TEXTS[0]] * 12)  # longer than the 64 positions: split into sentences
    assert_whole_words(long_text, clf.predict([long_text], top_k=5)[0].top_tokens)
    assert clf.model.explanation == explanation
    with pytest.raises(ValueError, match="unknown explanation 'flow'"):
        Classifier.load(finbert_dir, explanation="flow")
    # FOCUSDIG_EXPLANATION is a preference for focusdig's model: this one keeps its own
    assert preferred_explanation(finbert_dir, "flow") == "rollout"  # its default
    assert preferred_explanation(finbert_dir, "pooling") == "rollout"


def test_rollout_and_cls_attention_are_computed_from_every_layer():
    # layer 1 sends everything to token 1, layer 2 sends [CLS] to token 2
    first = torch.zeros(1, 1, 4, 4)
    first[..., 1] = 1.0
    second = torch.zeros(1, 1, 4, 4)
    second[..., 2] = 1.0
    a1 = 0.5 * first[0, 0] + 0.5 * torch.eye(4)
    a2 = 0.5 * second[0, 0] + 0.5 * torch.eye(4)
    expected = (a2 @ a1)[0]
    torch.testing.assert_close(attention_rollout((first, second))[0], expected)
    real = torch.tensor([[False, True, True, False]])
    rolled = token_weights((first, second), real, "rollout")[0]
    # [CLS] row of the rollout is (0.25, 0.5, 0.25, 0): token 1 reached through both layers
    torch.testing.assert_close(rolled, torch.tensor([0.0, 2 / 3, 1 / 3, 0.0]))
    last = token_weights((first, second), real, "cls")[0]
    torch.testing.assert_close(last, torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_unsafe_or_unmappable_directories_are_refused(tmp_path, database_url):
    unmapped = tiny_bert(tmp_path / "labels", id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ArtifactError, match="cannot map"):
        Classifier.load(unmapped)
    assert "cannot map" in said("models", "add", str(unmapped), code=2)

    pickled = tiny_bert(tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(ArtifactError, match="only pickle weights") as info:
        Classifier.load(pickled)
    assert "save_pretrained" in str(info.value)
    assert "only pickle weights" in said("models", "add", str(pickled), code=2)

    remote = tiny_bert(tmp_path / "remote")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling.Custom"}
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="remote code"):
        Classifier.load(remote)

    encoder = tiny_bert(tmp_path / "encoder", head=False)
    assert "train classifier --encoder" in said("models", "add", str(encoder), code=2)
    with session_scope(get_engine(Settings.from_env())) as session:
        foreign = select(ModelVersion).where(ModelVersion.backend != "focusdig")
        assert session.scalar(foreign) is None


def test_a_registered_file_that_changes_is_refused(tmp_path, database_url):
    path = tiny_bert(tmp_path / "finbert-copy")
    (path / "pytorch_model.bin").write_bytes(b"never unpickled")  # hub downloads carry both
    run("models", "add", str(path), "--name", "finbert-1", "--promote")
    with session_scope(get_engine(Settings.from_env())) as session:
        files = set(champion(session).files)
    assert "model.safetensors" in files and "config.json" in files
    assert "pytorch_model.bin" not in files
    assert json.loads(run("classify", "Profit rose.", "--json").stdout)[0]["label"]
    gold = tmp_path / "gold.csv"
    gold.write_text("text,label\nProfit rose.,positive\nLoss widened.,negative\n")
    metrics = json.loads(run("evaluate", str(gold), "--model", str(path), "--json").stdout)
    assert metrics["n"] == 2 and metrics["labels"] == ["negative", "neutral", "positive"]
    weights = path / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    weights.write_bytes(bytes(blob))
    assert "sha256" in said("classify", "Profit rose.", code=2)  # the champion
    assert "sha256" in said("classify", "Profit rose.", "--model", str(path), code=2)


def test_marian_tokenizer_matches_the_reference_and_translates_with_alignments(marian_dir):
    from transformers import MarianTokenizer

    tr = Translator.load(marian_dir, device="cpu", precision="fp32")
    assert tr.languages == ["fr"] and tr.version == "opus-mt-fr-en"
    reference = MarianTokenizer.from_pretrained(marian_dir)
    for text in [*FRENCH, "Les bénéfices ont  augmenté de 5 % (xyz)."]:
        ids, offsets = tr.tokenizer.encode_with_offsets([text])[0]
        assert ids + [reference.eos_token_id] == reference(text).input_ids
        assert all(0 <= s <= e <= len(text) and not text[s:e].startswith(" ") for s, e in offsets)
    some = list(range(3, 40))
    assert tr.tokenizer.decode_with_spans(some)[0] == reference.decode(
        some, skip_special_tokens=True
    )
    source = "Le marché est en hausse. Les investisseurs restent prudents."
    for beam in (1, 3):
        out = tr.translate([source, "Profits rose."], src_lang=["fr", "en"], beam_size=beam)
        assert out[1].text == "Profits rose." and out[1].alignment == []
        assert out[0].text and out[0].alignment and out[0].source_language == "fr"
        source_words = {m.span() for m in re.finditer(r"[^\W\d_]+|[^\w\s]", source)}
        for link in out[0].alignment:
            assert (link["src_start"], link["src_end"]) in source_words
            assert out[0].text[link["tgt_start"] : link["tgt_end"]].strip()
            assert 0 <= link["weight"] <= 1
    assert Translator.load(marian_dir, languages=["de"]).languages == ["de"]
    with pytest.raises(ValueError, match="int8"):
        Translator.load(marian_dir, int8=True)


def test_marian_confidence_is_the_models_own_probability_of_its_output(marian_dir):
    tr = Translator.load(marian_dir, device="cpu", precision="fp32")
    source = FRENCH[1]
    out = tr.translate([source, "Profits rose."], src_lang=["fr", "en"], beam_size=1)
    assert out[1].confidence is None  # English: nothing translated
    ids = tr.tokenizer.encode_batch([source])[0] + [tr.tokenizer.eos_id]
    reference = tr.model.generate(
        input_ids=torch.tensor([ids]),
        num_beams=1,
        do_sample=False,
        max_new_tokens=2 * (len(ids) - 1) + 10,
        no_repeat_ngram_size=NO_REPEAT_NGRAM,
        output_logits=True,
        return_dict_in_generate=True,
    )
    # the raw (unprocessed) logits at each generated token, </s> included, step by step
    steps = tr.model.compute_transition_scores(
        reference.sequences, reference.logits, normalize_logits=True
    )[0]
    generated = reference.sequences[0, 1:].tolist()
    n = generated.index(tr.tokenizer.eos_id) + 1 if tr.tokenizer.eos_id in generated else len(steps)
    assert tr.tokenizer.decode_with_spans(generated[: n - 1])[0] == out[0].text
    assert out[0].confidence == pytest.approx(float(steps[:n].mean().exp()), rel=1e-4)
    assert 0 < out[0].confidence <= 1


def test_register_promote_run_the_pipeline_and_roll_back(
    tmp_path, database_url, finbert_dir, marian_dir, monkeypatch
):
    mul = tiny_marian(tmp_path / "opus-mt-mul-en", source_lang=None, seed=1)
    assert "--languages" in said("models", "add", str(mul), code=2)
    run("models", "add", str(finbert_dir), "--name", "finbert-tiny", "--promote")
    run("models", "add", str(marian_dir), "--name", "opus-fr", "--promote")
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        served = {lang: row.version for lang, row in champions(session).items()}
        shipped = served["zh"]
        assert served == {"fr": "opus-fr", "zh": shipped, "de": shipped}
    run("models", "add", str(mul), "--name", "opus-mul", "--languages", "zh,de", "--promote")
    translated = json.loads(run("translate", FRENCH[0], "--from", "fr", "--json").stdout)[0]
    assert translated["text"] and translated["alignment"]  # the French champion: opus-fr
    direct = run("translate", FRENCH[0], "--model", str(marian_dir), "--beam", "1", "--json")
    assert json.loads(direct.stdout)[0]["source_language"] == "fr"
    listed = json.loads(run("models", "list", "--json").stdout)
    by_name = {(m["kind"], m["version"]): m for m in listed}
    assert by_name[("translator", shipped)]["status"] == "retired"  # zh, de and fr all taken
    assert by_name[("translator", "opus-mul")]["languages"] == ["de", "zh"]
    assert by_name[("classifier", "finbert-tiny")]["backend"] == "hf-sequence-classification"
    assert by_name[("translator", "opus-fr")]["backend"] == "marian"
    assert "marian" in run("models", "list").stdout
    client = TestClient(create_app(Settings.from_env()))
    assert client.get("/api/health").json()["champions"] == {
        "classifier": "finbert-tiny",
        "translator": "opus-fr, opus-mul",
    }
    api = {(m["kind"], m["version"]): m for m in client.get("/api/models").json()}
    assert api[("translator", "opus-mul")]["languages"] == ["de", "zh"]
    assert api[("translator", "opus-fr")]["backend"] == "marian"
    assert "marian (de, zh)" in client.get("/models").text

    run("ingest")
    # a preference for focusdig's own model: the Hugging Face champion keeps its rollout
    monkeypatch.setenv("FOCUSDIG_EXPLANATION", "pooling")
    run("score", "--batch-size", "32")
    with session_scope(engine) as session:
        used = dict(
            session.execute(
                select(Translation.source_language, ModelVersion.version)
                .join(ModelVersion, ModelVersion.id == Translation.model_version_id)
                .distinct()
            ).all()
        )
        assert used == {"fr": "opus-fr", "zh": "opus-mul", "de": "opus-mul"}
        confidences = session.scalars(select(Translation.confidence)).all()
        assert confidences and all(0 < c <= 1 for c in confidences)  # Marian's, stored
        scores = session.scalars(select(Score)).all()
        assert scores and {s.model_version.version for s in scores} == {"finbert-tiny"}
        assert {s.explanation for s in scores} == {"rollout"}
        linked = 0
        for s in scores:
            item = session.get(Item, s.item_id)
            translation = session.scalar(select(Translation).where(Translation.item_id == item.id))
            text = translation.text if translation else None
            for t in s.tokens:
                if text is not None:
                    assert text[t.start : t.end] == t.word
                    if t.source_word:
                        linked += 1
                        assert translation.source_text[t.source_start : t.source_end] == (
                            t.source_word
                        )
        assert linked > 0  # translated items keep the aligned source word
    out = tmp_path / "export.csv"
    run("export", "--format", "csv", "--out", str(out))
    frame = pd.read_csv(out)
    translated = frame[frame["translated_text"].notna()]
    assert set(translated["translation_model"]) == {"opus-fr", "opus-mul"}
    assert set(frame["model_version"].dropna()) == {"finbert-tiny"}
    assert set(frame["explanation"].dropna()) == {"rollout"}

    run("models", "rollback", "--kind", "translator", "--language", "zh")
    with session_scope(engine) as session:
        served = {lang: row.version for lang, row in champions(session).items()}
        assert served == {"fr": "opus-fr", "zh": shipped, "de": shipped}
    assert "classifier champion: clf-" in run("models", "rollback").stdout
    with session_scope(engine) as session:
        assert champion(session).backend == "focusdig"
    assert "no previous" in said("models", "rollback", code=2)


def test_encoder_is_fine_tuned_with_our_head_and_retrained(
    tmp_path,
    database_url,
    data_dir,  # noqa: F811
    monkeypatch,
):
    from focusdig.retrain import RetrainArguments, retrain

    monkeypatch.setenv("FOCUSDIG_DATA_DIR", str(data_dir))
    encoder = tiny_bert(tmp_path / "bert-tiny", head=False)
    config = tmp_path / "train.json"
    config.write_text(json.dumps({**TINY_TRAINING, "epochs": 2, "version": "clf-enc-1"}))
    out = tmp_path / "models"
    run(
        "train", "classifier", "--encoder", str(encoder), "--config", str(config), "--out", str(out)
    )
    path = out / "clf-enc-1"
    assert describe(path).backend == "hf-encoder"
    clf = Classifier.load(path, device="cpu")
    assert clf.model.explanation == "pooling"  # its only one
    with pytest.raises(ValueError, match="unknown explanation 'flow' for a hf-encoder model"):
        Classifier.load(path, explanation="flow")
    assert preferred_explanation(path, "flow") == "pooling"
    assert preferred_explanation(path, "pooling") == "pooling"
    text = "Company 7 reported zorblax results in quarter 2."
    assert_whole_words(text, clf.predict([text], top_k=3)[0].top_tokens)
    assert "hf-encoder" in run("models", "add", str(path), "--promote").stdout

    settings = Settings.from_env()
    engine = get_engine(settings)
    # users label this wording differently from the base data: only a retrained model gets it
    run("label", "import", str(label_file(tmp_path, user_labels(60, flip=True))))
    args = RetrainArguments(
        min_new_labels=10,
        gold_tolerance=1.0,
        training={**TINY_TRAINING, "epochs": 4},
        noise_confidence=1.01,
    )
    result = retrain(engine, settings, args)
    assert result.challenger and result.promoted, result.reason
    with session_scope(engine) as session:
        row = champion(session)
        assert (row.version, row.backend, row.parent_version) == (
            result.challenger,
            "hf-encoder",
            "clf-enc-1",
        )
        assert row.files and "model.safetensors" in row.files
    run("models", "rollback")
    with session_scope(engine) as session:
        assert champion(session).version == "clf-enc-1"


def test_a_finbert_champion_is_retrained_into_a_signed_hugging_face_directory(
    tmp_path,
    database_url,
    data_dir,  # noqa: F811
    monkeypatch,
):
    from focusdig.retrain import RetrainArguments, retrain

    monkeypatch.setenv("FOCUSDIG_DATA_DIR", str(data_dir))
    path = tiny_bert(tmp_path / "finbert-tiny")
    run("models", "add", str(path), "--name", "finbert-1", "--promote")
    settings = Settings.from_env()
    engine = get_engine(settings)
    run("label", "import", str(label_file(tmp_path, user_labels(60))))
    args = RetrainArguments(
        min_new_labels=10,
        gold_tolerance=1.0,
        training={**TINY_TRAINING, "epochs": 4},
        noise_confidence=1.01,
    )
    result = retrain(engine, settings, args)
    assert result.promoted, result.reason  # the random champion knows nothing
    with session_scope(engine) as session:
        row = champion(session)
        assert (row.version, row.backend) == (result.challenger, "hf-sequence-classification")
        challenger = Path(row.artifact_path)
    assert describe(challenger).backend == "hf-sequence-classification"
    assert json.loads((challenger / "config.json").read_text())["id2label"]["0"] == "positive"
    text = "User note 3 on zorblax trend"
    assert_whole_words(text, Classifier.load(challenger).predict([text])[0].top_tokens)
    (challenger / "config.json").write_text((challenger / "config.json").read_text() + " ")
    with pytest.raises(ArtifactError, match="size"):
        Classifier.load(challenger)  # its manifest.json is checked
